"""Optional OpenTelemetry: a span per call, its waits and retries as events, and the
W3C trace context sent with each request.

OpenTelemetry is used only once the program has imported it (``opentelemetry.trace``
is in ``sys.modules``: setting up a tracer provider, or `opentelemetry-instrument`,
does that). This module never imports it first: without it, a call costs one dict
look-up here, and the cold start loads nothing of OpenTelemetry, installed or not. A
program that never imported it has no tracer provider and no current span, so there
would be nothing to record or propagate anyway.

What a span holds, and the rule that keeps it safe: names (the ``tool:action`` or the
operation), ids (the correlation ids, a job id), counts, statuses and class names.
Never a parameter value, a token, a key, a signature or an error's message (a message
may quote what the gateway echoed back); a failed call's status description is the
error's `code`, a constant.

Trace headers are added to a request's headers before it is signed, so the signature
covers ``traceparent`` and ``tracestate`` (`_signing.COVERED_WHEN_SENT`). A propagator
never replaces a header the SDK set.

No I/O here.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, MutableMapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from ._constants import HEADER_CORRELATION_ID
from ._errors import GatewayConfigError
from ._version import __version__

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer, TracerProvider

    class _Answer(Protocol):
        """What a span reads of an answer (an httpx2 response; not imported here)."""

        @property
        def status_code(self) -> int: ...

        @property
        def headers(self) -> Mapping[str, str]: ...


SCOPE_NAME = "runrgateway"

# Attribute names (OpenTelemetry semantic conventions where one exists).
ATTR_TOOL = "runrgateway.tool"
ATTR_ACTION = "runrgateway.action"
ATTR_TOOLS = "runrgateway.tools"
ATTR_PERMISSIONS = "runrgateway.permissions"
ATTR_JOB_ID = "runrgateway.job_id"
ATTR_ASYNC = "runrgateway.async"
ATTR_ATTEMPTS = "runrgateway.attempts"
ATTR_ATTEMPT = "runrgateway.attempt"
ATTR_CORRELATION_ID = "runrgateway.correlation_id"
ATTR_SERVER_CORRELATION_ID = "runrgateway.server_correlation_id"
ATTR_WAIT_S = "runrgateway.wait_s"
ATTR_WAIT_REASON = "runrgateway.wait_reason"
ATTR_DEADLINE_S = "runrgateway.deadline_s"
ATTR_METHOD = "http.request.method"
ATTR_STATUS = "http.response.status_code"
ATTR_ERROR_TYPE = "error.type"

# Event names: a wait starts, a retry (attempt 2, 3, ...) starts, the deadline stops the call.
EVENT_WAIT = "wait"
EVENT_RETRY = "retry"
EVENT_DEADLINE = "deadline"


class _Otel:
    """The parts of OpenTelemetry a call uses, looked up once it is loaded."""

    def __init__(self) -> None:
        from opentelemetry import context, propagate, trace

        self.trace = trace
        self.context = context
        self.propagate = propagate
        self.client_kind = trace.SpanKind.CLIENT
        self._tracers: dict[int, tuple[TracerProvider, Tracer]] = {}

    def tracer(self, provider: TracerProvider | None) -> Tracer:
        """The SDK's tracer from `provider`, or from the global provider when None.

        Looked up per call and kept per provider: the global provider may be set (once)
        after our first call, and a proxy tracer would pin the provider it found.
        """
        if provider is None:
            provider = self.trace.get_tracer_provider()
        kept = self._tracers.get(id(provider))
        if kept is None or kept[0] is not provider:
            if len(self._tracers) >= _PROVIDERS_KEPT:
                self._tracers.clear()
            kept = (provider, provider.get_tracer(SCOPE_NAME, __version__))
            self._tracers[id(provider)] = kept
        return kept[1]


_otel: _Otel | None = None
_PROVIDERS_KEPT = 8  # the global one and a few of clients' own (tests make many)


def check_tracer_provider(provider: Any) -> Any:
    """None (the global provider) or an OpenTelemetry `TracerProvider` (duck-typed:
    checking its class would import OpenTelemetry)."""
    if provider is not None and not callable(getattr(provider, "get_tracer", None)):
        raise GatewayConfigError(
            "tracer_provider must be an OpenTelemetry TracerProvider or None, got a "
            f"{type(provider).__name__}",
            details={"parameter": "tracer_provider"},
        )
    return provider


def _loaded() -> _Otel | None:
    """OpenTelemetry's API when the program has imported it, else None (never imports it)."""
    global _otel
    if _otel is not None:
        return _otel
    if "opentelemetry.trace" not in sys.modules:
        return None
    try:
        _otel = _Otel()
    except Exception:  # a broken or half-imported install: trace nothing rather than fail
        return None
    return _otel


class CallSpan:
    """One call's span, current while the call runs (a mint inside it is its child)."""

    __slots__ = ("_otel", "_span", "_token")

    def __init__(self, otel: _Otel, span: Span) -> None:
        self._otel = otel
        self._span = span
        self._token: object = None

    def __enter__(self) -> CallSpan:
        self._token = self._otel.context.attach(self._otel.trace.set_span_in_context(self._span))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc is not None:
                self._failed(exc)
        finally:
            self._otel.context.detach(self._token)
            self._span.end()

    def succeeded(self, response: _Answer, attempts: int) -> None:
        """The call got its answer (`response`, an httpx2 response) after `attempts`."""
        span = self._span
        span.set_attribute(ATTR_STATUS, response.status_code)
        span.set_attribute(ATTR_ATTEMPTS, attempts)
        server_id = response.headers.get(HEADER_CORRELATION_ID)
        if server_id:
            span.set_attribute(ATTR_SERVER_CORRELATION_ID, server_id)

    def _failed(self, exc: BaseException) -> None:
        span = self._span
        span.set_attribute(ATTR_ERROR_TYPE, type(exc).__name__)
        # Read by name, not by class: this module stays free of the error classes' imports.
        status_code = getattr(exc, "status_code", None)
        if isinstance(status_code, int):
            span.set_attribute(ATTR_STATUS, status_code)
        attempts = getattr(exc, "attempts", None)
        if isinstance(attempts, int):
            span.set_attribute(ATTR_ATTEMPTS, attempts)
        server_id = getattr(exc, "server_correlation_id", None)
        if isinstance(server_id, str) and server_id:
            span.set_attribute(ATTR_SERVER_CORRELATION_ID, server_id)
        code = getattr(exc, "code", None)
        # The error's code, never its message (see the module docstring).
        status = self._otel.trace.Status(
            self._otel.trace.StatusCode.ERROR, code if isinstance(code, str) else None
        )
        span.set_status(status)


class _NoSpan:
    """What a call gets when OpenTelemetry is not loaded: every method does nothing."""

    __slots__ = ()

    def __enter__(self) -> _NoSpan:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def succeeded(self, response: _Answer, attempts: int) -> None:
        return None


NO_SPAN = _NoSpan()
AnySpan = CallSpan | _NoSpan


def call_span(
    name: str, provider: Any, *, correlation_id: str, method: str, **attributes: Any
) -> AnySpan:
    """A span for one call (enter it with ``with``); `NO_SPAN` without OpenTelemetry.

    `provider` is the client's `tracer_provider` (None: the global one).
    `attributes` are ``tool``, ``action``, ``tools``, ``permissions``, ``job_id`` or
    ``run_async``: names and ids only (see the module docstring).
    """
    otel = _loaded()
    if otel is None:
        return NO_SPAN
    attrs: dict[str, Any] = {ATTR_CORRELATION_ID: correlation_id, ATTR_METHOD: method}
    for key, value in attributes.items():
        if value is not None:
            attrs[_ATTRIBUTE_NAMES[key]] = value
    span = otel.tracer(provider).start_span(name, kind=otel.client_kind, attributes=attrs)
    return CallSpan(otel, span)


_ATTRIBUTE_NAMES = {
    "tool": ATTR_TOOL,
    "action": ATTR_ACTION,
    "tools": ATTR_TOOLS,
    "permissions": ATTR_PERMISSIONS,
    "job_id": ATTR_JOB_ID,
    "run_async": ATTR_ASYNC,
}


def add_trace_headers(headers: MutableMapping[str, str]) -> None:
    """Add the current trace context's headers (``traceparent``, ``tracestate``, whatever
    the global propagator writes) to `headers`, before signing; a header the SDK set
    is never replaced. Nothing without OpenTelemetry or without a current span."""
    otel = _loaded()
    if otel is None:
        return
    carrier: dict[str, str] = {}
    otel.propagate.inject(carrier)
    for name, value in carrier.items():
        key = name.lower()
        if key not in headers:
            headers[key] = value


def _event(name: str, attributes: Mapping[str, Any]) -> None:
    otel = _loaded()
    if otel is not None:
        otel.trace.get_current_span().add_event(name, attributes)


def note_wait(
    *,
    attempt: int,
    wait_s: float,
    server_asked: bool,
    status_code: int | None = None,
    failure: str | None = None,
) -> None:
    """A wait before the next attempt starts: how long, why, and what attempt `attempt` got."""
    if _otel is None and "opentelemetry.trace" not in sys.modules:
        return  # the common case, decided without a call
    attributes: dict[str, Any] = {
        ATTR_ATTEMPT: attempt,
        ATTR_WAIT_S: wait_s,
        ATTR_WAIT_REASON: "retry-after" if server_asked else "backoff",
    }
    if status_code is not None:
        attributes[ATTR_STATUS] = status_code
    if failure is not None:
        attributes[ATTR_ERROR_TYPE] = failure
    _event(EVENT_WAIT, attributes)


def note_retry(attempt: int) -> None:
    """Attempt number `attempt` (2 or more) starts."""
    if _otel is None and "opentelemetry.trace" not in sys.modules:
        return
    _event(EVENT_RETRY, {ATTR_ATTEMPT: attempt})


def note_deadline(*, deadline_s: float, attempts: int, wait_s: float | None) -> None:
    """The deadline stopped the call after `attempts`; `wait_s` is the wait not started."""
    if _otel is None and "opentelemetry.trace" not in sys.modules:
        return
    attributes: dict[str, Any] = {ATTR_DEADLINE_S: deadline_s, ATTR_ATTEMPTS: attempts}
    if wait_s is not None:
        attributes[ATTR_WAIT_S] = wait_s
    _event(EVENT_DEADLINE, attributes)
