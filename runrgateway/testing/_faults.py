"""Faults on demand: failed answers, delays, dropped connections, failing tools.

Each fault is queued with a count and an optional route (``"proxy-request"``,
``"generate-token"``, ``"jobs"``, ... or a full path); the next matching requests
consume them in order. Delays are queued apart from failures and drops, so one
request can be both delayed and failed.

It decides what becomes of a request, never the answer itself: the gateway and its
transports carry the decision out.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._errors import ErrorCode
from ._messages import GatewayResponse, json_response, route_of

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    409: "Conflict",
    422: "Unprocessable Entity",
    404: "Not Found",
    408: "Request Timeout",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass
class _Queued:
    remaining: int
    route: str | None
    action: Any

    def matches(self, path: str) -> bool:
        return self.route is None or self.route in (path, route_of(path))


@dataclass(frozen=True)
class InjectedFailure:
    """Answer with this instead of handling the request."""

    status: int
    body: Any
    headers: Mapping[str, str]

    def response(self) -> GatewayResponse:
        """bytes as given; a str as text (an HTML page from a proxy, say); else JSON."""
        if isinstance(self.body, bytes):
            return GatewayResponse(self.status, dict(self.headers), self.body)
        if isinstance(self.body, str):
            headers = {"content-type": "text/plain; charset=utf-8", **self.headers}
            return GatewayResponse(self.status, headers, self.body.encode("utf-8"))
        return json_response(self.status, self.body, self.headers)


@dataclass(frozen=True)
class Drop:
    """Close the connection; before the request reaches the gateway, or after it ran."""

    before_sending: bool


@dataclass(frozen=True)
class FaultDecision:
    """The faults that apply to one request."""

    delay_s: float = 0.0
    failure: InjectedFailure | None = None
    drop: Drop | None = None


class FaultControls:
    """The fault methods a test calls, declared once with one signature each.

    `FaultPlan` has them, and `EmbeddedGateway` offers the very same methods on its own
    plan (`gateway.fail_next(...)`), so the two cannot drift apart."""

    def _fault_plan(self) -> FaultPlan:
        raise NotImplementedError

    def fail_next(
        self,
        n: int = 1,
        status: int = 503,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        route: str | None = None,
        *,
        retry_after: float | None = 0,
    ) -> None:
        """Answer the next `n` matching requests with `status` without handling them.

        `body` defaults to ``{"error": <reason>, "code": <code>}``; a `str` is sent as
        text, `bytes` as they are, anything else as JSON. 429 and 503 answers carry
        ``Retry-After: <retry_after>`` unless `headers` set it or `retry_after` is None.
        Calls queue up in order, so ``fail_next(1, 503); fail_next(1, 429)`` gives a 503
        then a 429.
        """
        all_headers = {name.lower(): value for name, value in (headers or {}).items()}
        if status in (429, 503) and retry_after is not None:
            all_headers.setdefault("retry-after", f"{retry_after:g}")
        if body is None:
            body = {"error": _REASONS.get(status, "Injected failure"), "code": _code_for(status)}
        plan = self._fault_plan()
        plan._push(plan._answers, n, route, InjectedFailure(status, body, all_headers))

    def delay_next(self, n: int, seconds: float, route: str | None = None) -> None:
        """Send the answers to the next `n` matching requests `seconds` late (handled first)."""
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        plan = self._fault_plan()
        plan._push(plan._delays, n, route, seconds)

    def drop_next(self, n: int = 1, route: str | None = None, before_sending: bool = False) -> None:
        """Drop the connection of the next `n` matching requests.

        `before_sending`: the request never reaches the gateway (a connect error);
        otherwise it is handled (side effects happen) and the answer is lost.
        """
        plan = self._fault_plan()
        plan._push(plan._answers, n, route, Drop(before_sending))

    def fail_tool_next(
        self, n: int = 1, details: Any = "Upstream unavailable", tool: str | None = None
    ) -> None:
        """Make the next `n` runs of `tool` (any tool when None; ``"tool"`` or
        ``"tool:action"``) fail: 502 External API failure."""
        plan = self._fault_plan()
        plan._push(plan._tool_failures, n, tool, details)


@dataclass
class FaultPlan(FaultControls):
    """Thread-safe queues of pending faults."""

    _answers: list[_Queued] = field(default_factory=list)
    _delays: list[_Queued] = field(default_factory=list)
    _tool_failures: list[_Queued] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _fault_plan(self) -> FaultPlan:
        return self

    def take(self, path: str) -> FaultDecision:
        """Consume the faults that apply to a request for `path`."""
        with self._lock:
            delay = self._pop(self._delays, path)
            answer = self._pop(self._answers, path)
        return FaultDecision(
            delay_s=float(delay or 0.0),
            failure=answer if isinstance(answer, InjectedFailure) else None,
            drop=answer if isinstance(answer, Drop) else None,
        )

    def take_tool_failure(self, tool: str, action: str) -> Any:
        """The details of a queued tool failure for this tool, or None."""
        with self._lock:
            for queued in self._tool_failures:
                if queued.route in (None, tool, f"{tool}:{action}"):
                    return self._consume(self._tool_failures, queued)
        return None

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()
            self._delays.clear()
            self._tool_failures.clear()

    def _push(self, target: list[_Queued], n: int, route: str | None, action: Any) -> None:
        if n < 1:
            raise ValueError("n must be at least 1")
        with self._lock:
            target.append(_Queued(n, route, action))

    def _pop(self, source: list[_Queued], path: str) -> Any:
        for queued in source:
            if queued.matches(path):
                return self._consume(source, queued)
        return None

    @staticmethod
    def _consume(source: list[_Queued], queued: _Queued) -> Any:
        queued.remaining -= 1
        if queued.remaining == 0:
            source.remove(queued)
        return queued.action


_CODES = {
    400: ErrorCode.VALIDATION_FAILED,
    401: ErrorCode.SIGNATURE_INVALID,
    404: ErrorCode.NOT_FOUND,
    409: ErrorCode.IDEMPOTENCY_CONFLICT,
    422: ErrorCode.IDEMPOTENCY_CONFLICT,
    429: ErrorCode.RATE_LIMITED,
    502: ErrorCode.UPSTREAM_FAILED,
    503: ErrorCode.UPSTREAM_FAILED,
    504: ErrorCode.UPSTREAM_FAILED,
}


def _code_for(status: int) -> str:
    return _CODES.get(status, ErrorCode.INTERNAL)
