"""The embedded gateway's request log: what tests read back, bounded and masked.

A long-running `serve` takes requests from anyone, so the log is bounded by count
and by bytes (`GatewayLimits.log_max_requests`, `log_max_bytes`), and keeps copies,
never the requests themselves: secrets masked (`runrgateway._masking`: tokens,
proofs, `Signature`, credentials), header values cut to `log_header_chars`, bodies
over `log_body_bytes` recorded by size only. This module must never keep a whole
token or signature unless the gateway was made with ``log_secrets=True``.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._constants import HEADER_CORRELATION_ID
from .._json import compact_json, loads_or_none
from .._masking import mask_sensitive, mask_text
from ._limits import GatewayLimits
from ._messages import GatewayRequest, GatewayResponse, route_of

# What a record costs beyond its text (the objects and dict slots), so that the byte
# bound holds for many small requests as well as for a few large ones.
_RECORD_OVERHEAD = 400
_HEADER_OVERHEAD = 100
_CUT_MARK = "...(cut)"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the gateway saw it, and how it was answered.

    `status` is None when the connection was dropped before an answer left. Secrets are
    masked in `path`, `headers` and `body` (tokens, proofs, `Signature`, credentials) unless the
    gateway was made with ``log_secrets=True``; header values are cut to
    `GatewayLimits.log_header_chars`, and a body over `GatewayLimits.log_body_bytes` is
    not kept (`truncated`; its size is in `body_size`).
    """

    method: str
    path: str
    route: str
    headers: Mapping[str, str]
    body: bytes = field(repr=False)
    status: int | None
    time: float
    correlation_id: str | None = None
    dropped: bool = False
    body_size: int = 0
    truncated: bool = False

    @property
    def json(self) -> Any:
        """The body parsed as JSON (masked as `body` is), or None."""
        return loads_or_none(self.body)


class RequestLog:
    """The latest requests within the count and byte bounds, oldest first. Thread-safe."""

    def __init__(self, limits: GatewayLimits, *, log_secrets: bool = False) -> None:
        self._limits = limits
        self._log_secrets = log_secrets
        self._records: deque[tuple[RecordedRequest, int]] = deque()  # (record, its size)
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """The estimated bytes the kept records hold."""
        with self._lock:
            return self._bytes

    def records(self) -> list[RecordedRequest]:
        with self._lock:
            return [record for record, _ in self._records]

    def count(self, route: str | None = None) -> int:
        with self._lock:
            return sum(1 for r, _ in self._records if route is None or route in (r.route, r.path))

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._bytes = 0

    def record(
        self,
        request: GatewayRequest,
        response: GatewayResponse | None,
        now: float,
        *,
        dropped: bool,
    ) -> None:
        headers, body, truncated = self._loggable(request)
        record = RecordedRequest(
            method=request.method,
            path=self._cut(request.path if self._log_secrets else mask_text(request.path)),
            route=route_of(request.path),
            headers=headers,
            body=body,
            status=None if response is None else response.status,
            time=now,
            correlation_id=None
            if response is None
            else response.headers.get(HEADER_CORRELATION_ID),
            dropped=dropped,
            body_size=len(request.body),
            truncated=truncated,
        )
        size = _RECORD_OVERHEAD + len(body) + len(record.path) + len(record.route)
        size += sum(_HEADER_OVERHEAD + len(name) + len(value) for name, value in headers.items())
        limits = self._limits
        with self._lock:
            self._records.append((record, size))
            self._bytes += size
            while len(self._records) > limits.log_max_requests or (
                self._bytes > limits.log_max_bytes and len(self._records) > 1
            ):
                self._bytes -= self._records.popleft()[1]

    def _cut(self, text: str) -> str:
        limit = self._limits.log_header_chars
        return text if len(text) <= limit else text[:limit] + _CUT_MARK

    def _loggable(self, request: GatewayRequest) -> tuple[dict[str, str], bytes, bool]:
        """The headers and body as the log keeps them: masked, cut short, or left out."""
        headers: Mapping[str, Any] = request.headers
        if not self._log_secrets:
            headers = mask_sensitive(dict(headers))
        kept = {self._cut(str(name)): self._cut(str(value)) for name, value in headers.items()}
        body = request.body
        if len(body) > self._limits.log_body_bytes:
            return kept, b"", True
        if self._log_secrets or not body:
            return kept, body, False
        parsed = loads_or_none(body)
        if parsed is not None:
            return kept, compact_json(mask_sensitive(parsed)).encode("utf-8"), False
        masked = mask_sensitive(body)  # not JSON: secrets masked inside the text
        return kept, masked if isinstance(masked, bytes) else b"", False
