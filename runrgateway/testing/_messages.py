"""Plain request and response values the embedded gateway works on, and answer builders.

Values and builders only: no state, no I/O.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._json import compact_json as compact_json  # `JSON.stringify`; its one home is _json

_ROUTE_PREFIX = "/api/"


@dataclass(frozen=True)
class GatewayRequest:
    """One HTTP request as the gateway sees it; header names are lower case."""

    method: str
    path: str
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    url: str = ""
    """The full URL the client used (for signature checks); built from `Host` when empty."""

    @classmethod
    def build(
        cls,
        method: str,
        path: str,
        *,
        query: str = "",
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        url: str = "",
    ) -> GatewayRequest:
        """A request with header names lower-cased."""
        lowered = {name.lower(): value for name, value in (headers or {}).items()}
        return cls(method.upper(), path, query, lowered, body, url)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def full_url(self) -> str:
        if self.url:
            return self.url
        host = self.headers.get("host", "localhost")
        return f"http://{host}{self.path}" + (f"?{self.query}" if self.query else "")

    @property
    def route(self) -> str:
        return route_of(self.path)


@dataclass
class GatewayResponse:
    """One answer: status, headers (lower-case names) and body bytes."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass(frozen=True)
class GatewayOutcome:
    """What a transport must do: send `response` (after `delay_s`), or drop the connection.

    `response` is None when the connection is dropped before the request reached the
    gateway (`dropped_before_sending`); with `drop_after` the request was handled but
    the answer never leaves.
    """

    response: GatewayResponse | None
    delay_s: float = 0.0
    drop_after: bool = False
    dropped_before_sending: bool = False

    @property
    def drops(self) -> bool:
        return self.drop_after or self.dropped_before_sending


def route_of(path: str) -> str:
    """The route name of a path: ``/api/proxy-request`` -> ``proxy-request``,
    ``/api/jobs/j1`` -> ``jobs``, ``/api/admin/tokens/t/revoke`` -> ``admin``."""
    trimmed = path.split("?", 1)[0]
    if trimmed.startswith(_ROUTE_PREFIX):
        trimmed = trimmed[len(_ROUTE_PREFIX) :]
    return trimmed.strip("/").split("/", 1)[0]


def json_response(
    status: int, body: Any, headers: Mapping[str, str] | None = None
) -> GatewayResponse:
    """A JSON answer with `content-type` set."""
    all_headers = {"content-type": "application/json; charset=utf-8"}
    all_headers.update({name.lower(): value for name, value in (headers or {}).items()})
    return GatewayResponse(status, all_headers, compact_json(body).encode("utf-8"))


def error_response(
    status: int,
    error: str,
    code: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> GatewayResponse:
    """An error answer ``{"error": ..., <extra>..., "code": ...}``."""
    return json_response(status, {"error": error, **extra, "code": code}, headers)


def js_truthy(value: Any) -> bool:
    """JavaScript truthiness: empty strings, 0, NaN, null and false are falsy; [] and {} are not."""
    if value is None or value is False:
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value != 0 and not (isinstance(value, float) and math.isnan(value))
    if isinstance(value, str):
        return value != ""
    return True
