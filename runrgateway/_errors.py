"""Error classes, the gateway's error codes, and classification of error answers.

`ErrorCode` is the one home of the codes, `error_from_response()` the one reading of
an error answer, `ErrorResponse` what an error keeps of that answer. Nothing here does
I/O, and an error never keeps an httpx object: nothing on it may lead back to the
request, its token or its signature, and what it takes from an answer is masked first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ._answers import describe_foreign, json_object_or_none
from ._constants import (
    HEADER_CORRELATION_ID,
    HEADER_IDEMPOTENCY_KEY,
    HEADER_IDEMPOTENT_REPLAYED,
    HEADER_ROTATION_RECOMMENDED,
    HEADER_TOKEN_EXPIRES_AT,
)
from ._json import compact_json
from ._masking import mask_sensitive, mask_text


class ErrorCode(str, Enum):
    """Every code the SDK puts on `GatewayError.code`: ``exc.code == ErrorCode.POLICY_DENIED``.

    A `str`, so a code also compares equal to its text (``exc.code == "POLICY_DENIED"``)
    and serialises as it. This is the codes' one home: the client, the CLI, the MCP
    server and the embedded gateway all take them from here.
    """

    # Codes a gateway may put in an error body (wire.md Part B); the client also sets
    # them when it classifies an answer that has no code.
    VALIDATION_FAILED = "VALIDATION_FAILED"
    POLICY_DENIED = "POLICY_DENIED"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"
    TOKEN_INVALID = "TOKEN_INVALID"
    TOKEN_REVOKED = "TOKEN_REVOKED"
    SIGNATURE_INVALID = "SIGNATURE_INVALID"
    AGENT_NOT_FOUND = "AGENT_NOT_FOUND"
    RATE_LIMITED = "RATE_LIMITED"
    UPSTREAM_FAILED = "UPSTREAM_FAILED"
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
    NOT_FOUND = "NOT_FOUND"
    INTERNAL = "INTERNAL"
    # Codes only the client sets.
    CONFIG_INVALID = "CONFIG_INVALID"
    NETWORK_ERROR = "NETWORK_ERROR"
    TIMEOUT = "TIMEOUT"
    AUTH_FAILED = "AUTH_FAILED"
    JOBS_UNSUPPORTED = "JOBS_UNSUPPORTED"
    BAD_RESPONSE = "BAD_RESPONSE"
    CLIENT_CLOSED = "CLIENT_CLOSED"
    REDIRECT_REFUSED = "REDIRECT_REFUSED"
    POOL_FULL = "POOL_FULL"
    HTTP_CLIENT_UNUSABLE = "HTTP_CLIENT_UNUSABLE"
    GATEWAY_ERROR = "GATEWAY_ERROR"

    def __str__(self) -> str:  # the code itself in messages and f-strings, on every Python
        return self.value


def as_code(code: str) -> ErrorCode | str:
    """`code` as an `ErrorCode` when it is one; another gateway's own code stays a `str`."""
    try:
        return ErrorCode(code)
    except ValueError:
        return code


_TEXT_SNIPPET = 200

# The answer headers an `ErrorResponse` keeps: what says how to read the answer, how long
# to wait and which request it was. Anything else (cookies, a proxy's auth challenge, a
# header a gateway invents) is left out rather than trusted to masking.
SHOWN_HEADERS = (
    "content-type",
    "content-length",
    "date",
    "retry-after",
    "retry-after-ms",
    HEADER_CORRELATION_ID,
    HEADER_IDEMPOTENCY_KEY,
    HEADER_IDEMPOTENT_REPLAYED,
    HEADER_ROTATION_RECOMMENDED,
    HEADER_TOKEN_EXPIRES_AT,
)


@dataclass(frozen=True)
class ErrorResponse:
    """The gateway's answer behind an error (`GatewayError.response`), as plain values.

    It holds no httpx object, so nothing leads from an error back to the request that
    carried the token and the signature; and every value taken from the answer is
    masked, the call's own token included should the gateway echo it.
    """

    status_code: int
    """The HTTP status of the answer."""
    headers: dict[str, str] = field(default_factory=dict)
    """A copy of the answer's headers that say how to read it (names in lower case):
    content type, Retry-After, correlation and idempotency headers, token expiry."""
    body: Any = None
    """The answer's JSON body with secrets masked; None when it was not JSON."""
    text: str = ""
    """The first 200 characters of a body that is not JSON, masked ("" for JSON)."""
    correlation_id: str | None = None
    """The gateway's own ``x-correlation-id`` for this answer, when it sent one."""
    data: Any = None
    """The tool's result when the gateway ran the call but the SDK could not use the
    answer as asked (``JOBS_UNSUPPORTED``: `proxy_async` on a gateway without jobs);
    None for an error answer."""

    @classmethod
    def of(
        cls,
        status_code: int,
        content: bytes,
        headers: Mapping[str, str],
        secrets: Iterable[str] = (),
        *,
        data: Any = None,
    ) -> ErrorResponse:
        """The record of an answer: `content` and `headers` read, kept in part, masked."""
        known = tuple(secrets)
        parsed, text = parse_error_body(content)
        body = mask_sensitive(parsed, known) if parsed is not None else None
        kept = {
            name: mask_text(str(headers[name]), known) for name in SHOWN_HEADERS if name in headers
        }
        return cls(
            status_code=status_code,
            headers=kept,
            body=body,
            text="" if body is not None else mask_text(text, known),
            correlation_id=kept.get(HEADER_CORRELATION_ID),
            data=data,
        )


class GatewayError(Exception):
    """Base of every error the SDK raises."""

    default_code: ErrorCode = ErrorCode.GATEWAY_ERROR

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        correlation_id: str | None = None,
        server_correlation_id: str | None = None,
        reason: str | None = None,
        details: Any = None,
        attempts: int = 1,
        response: ErrorResponse | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code: ErrorCode | str = as_code(code) if code else self.default_code
        """What went wrong, as an `ErrorCode` (a gateway's unknown code stays a `str`)."""
        self.correlation_id = correlation_id
        self.server_correlation_id = server_correlation_id
        self.reason = reason
        self.details = details
        self.attempts = attempts
        self.response = response
        """The answer the error came from, as a masked `ErrorResponse` (None when no
        answer came: a network error, a timeout, an argument refused before sending)."""

    def __str__(self) -> str:
        parts = [self.message]
        if self.status_code is not None:
            parts.append(f"status={self.status_code}")
        if self.correlation_id:
            parts.append(f"correlation_id={self.correlation_id}")
        if self.attempts > 1:
            parts.append(f"attempts={self.attempts}")
        return parts[0] if len(parts) == 1 else f"{parts[0]} ({', '.join(parts[1:])})"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, status_code={self.status_code!r}, "
            f"code={str(self.code)!r}, correlation_id={self.correlation_id!r})"
        )


class GatewayConfigError(GatewayError, ValueError):
    """A constructor setting is wrong."""

    default_code = ErrorCode.CONFIG_INVALID


class GatewayValidationError(GatewayError, ValueError):
    """Call arguments are wrong (client side), or the gateway rejected the parameters."""

    default_code = ErrorCode.VALIDATION_FAILED


class GatewayAuthError(GatewayError):
    """The gateway did not accept who is asking."""

    default_code = ErrorCode.AUTH_FAILED


class GatewayTokenError(GatewayAuthError):
    """The agent token is expired, revoked, malformed, unverifiable or too old."""

    default_code = ErrorCode.TOKEN_INVALID


class GatewayPolicyError(GatewayError):
    """A policy (scope, intent, guard) denied the call."""

    default_code = ErrorCode.POLICY_DENIED


class GatewayRateLimitError(GatewayError):
    """Too many requests; `retry_after` is the wait the gateway asked for, in seconds."""

    default_code = ErrorCode.RATE_LIMITED

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after

    def __str__(self) -> str:
        text = super().__str__()
        return text if self.retry_after is None else f"{text} [retry_after={self.retry_after:g} s]"


class GatewayUpstreamError(GatewayError):
    """The gateway or the outside API behind it failed."""

    default_code = ErrorCode.UPSTREAM_FAILED

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class GatewayConflictError(GatewayError):
    """The idempotency key was already used: with another request (422), or the first
    call with it is still running (409). The call did not run again."""

    default_code = ErrorCode.IDEMPOTENCY_CONFLICT


class GatewayNotFoundError(GatewayError):
    """What the call names does not exist: an unknown job id, token id or route (404).
    An unknown agent is a `GatewayAuthError` (``AGENT_NOT_FOUND``)."""

    default_code = ErrorCode.NOT_FOUND


class GatewayNetworkError(GatewayError):
    """No usable answer: connection refused or reset, DNS failure, protocol error."""

    default_code = ErrorCode.NETWORK_ERROR


class GatewayTimeoutError(GatewayNetworkError):
    """An attempt timed out, or `wait_for_job` ran out of time."""

    default_code = ErrorCode.TIMEOUT


_CODE_CLASSES: dict[str, type[GatewayError]] = {
    ErrorCode.VALIDATION_FAILED: GatewayValidationError,
    ErrorCode.POLICY_DENIED: GatewayPolicyError,
    ErrorCode.TOKEN_EXPIRED: GatewayTokenError,
    ErrorCode.TOKEN_INVALID: GatewayTokenError,
    ErrorCode.TOKEN_REVOKED: GatewayTokenError,
    ErrorCode.SIGNATURE_INVALID: GatewayAuthError,
    ErrorCode.AGENT_NOT_FOUND: GatewayAuthError,
    ErrorCode.RATE_LIMITED: GatewayRateLimitError,
    ErrorCode.UPSTREAM_FAILED: GatewayUpstreamError,
    ErrorCode.IDEMPOTENCY_CONFLICT: GatewayConflictError,
    ErrorCode.NOT_FOUND: GatewayNotFoundError,
    ErrorCode.INTERNAL: GatewayError,
}

_TOKEN_PHRASES = (
    "token expired",
    "token has been revoked",
    "token not found in registry",
    "token proof verification failed",
    "invalid token signature",
    "token decoding failed",
    "invalid token format",
)
_POLICY_PHRASES = ("policy", "scope", "intent")


def token_code_for(text: str) -> str | None:
    """The token error code a gateway message means, or None when it is not about the token."""
    lowered = text.lower()
    if "token expired" in lowered:
        return ErrorCode.TOKEN_EXPIRED
    if "revoked" in lowered and "token" in lowered:
        return ErrorCode.TOKEN_REVOKED
    if any(phrase in lowered for phrase in _TOKEN_PHRASES):
        return ErrorCode.TOKEN_INVALID
    return None


def parse_error_body(content: bytes) -> tuple[dict[str, Any] | None, str]:
    """The body as a JSON object (or None: not JSON, not an object, nested too deep) and
    its text (the first 200 characters when it is not a JSON object)."""
    parsed = json_object_or_none(content)
    text = content.decode("utf-8", errors="replace")
    if parsed is not None:
        return parsed, text
    return None, text.strip()[:_TEXT_SNIPPET]


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return compact_json(value, default=str)


def _message_from(
    body: dict[str, Any] | None, text: str, status_code: int, headers: Mapping[str, str]
) -> str:
    """The gateway's useful text: `error`, then `reason`, `details` or a framework `message`
    (the body is masked already); for a body that is not a JSON object, what it is."""
    if body is None:
        return describe_foreign(status_code, headers, text)
    headline = _as_text(body.get("error")) or f"HTTP {status_code}"
    extras = [
        _as_text(body.get(field))
        for field in ("reason", "details", "message")
        if body.get(field) not in (None, "", [], {}) and _as_text(body.get(field)) != headline
    ]
    return ": ".join([headline, *extras])


def _class_for(
    status_code: int, body: dict[str, Any] | None, text: str
) -> tuple[type[GatewayError], str | None]:
    code = body.get("code") if body else None
    if isinstance(code, str) and code in _CODE_CLASSES:
        return _CODE_CLASSES[code], code
    everything = text.lower() if body is None else _as_text(body).lower()
    headline = _as_text(body.get("error")).lower() if body else ""
    if body and body.get("reason") and status_code in (400, 403):
        return GatewayPolicyError, ErrorCode.POLICY_DENIED
    if status_code == 429:
        return GatewayRateLimitError, ErrorCode.RATE_LIMITED
    if status_code in (502, 503, 504) or "external api" in everything:
        return GatewayUpstreamError, ErrorCode.UPSTREAM_FAILED
    if status_code in (401, 403):
        token_code = token_code_for(headline or everything)
        if token_code:
            return GatewayTokenError, token_code
        if "policy" in headline:
            return GatewayPolicyError, ErrorCode.POLICY_DENIED
        if "agent" in headline:
            return GatewayAuthError, ErrorCode.AGENT_NOT_FOUND
        return GatewayAuthError, None
    if status_code == 400:
        token_code = token_code_for(headline)
        if token_code:
            return GatewayTokenError, token_code
        if any(word in headline for word in _POLICY_PHRASES):
            return GatewayPolicyError, ErrorCode.POLICY_DENIED
        return GatewayValidationError, ErrorCode.VALIDATION_FAILED
    if status_code == 404:
        if "agent" in headline:
            return GatewayAuthError, ErrorCode.AGENT_NOT_FOUND
        return GatewayNotFoundError, ErrorCode.NOT_FOUND
    if status_code in (409, 422):
        if "idempot" in everything:
            return GatewayConflictError, ErrorCode.IDEMPOTENCY_CONFLICT
        return GatewayError, None
    if status_code == 408:
        return GatewayTimeoutError, ErrorCode.TIMEOUT
    return GatewayError, None


def error_from_response(
    status_code: int,
    content: bytes,
    headers: Mapping[str, str],
    *,
    correlation_id: str | None = None,
    retry_after: float | None = None,
    attempts: int = 1,
    secrets: Iterable[str] = (),
    hint: str | None = None,
) -> GatewayError:
    """Build the typed error for a gateway answer that is not a success.

    Everything taken from the answer is masked: sensitive keys, PEM keys, bearer
    credentials and `secrets` (the call's token, should a gateway echo it). `hint`, when
    given, ends the message (what the caller may have got wrong).
    """
    raw_body, raw_text = parse_error_body(content)
    cls, code = _class_for(status_code, raw_body, raw_text)
    known = tuple(secrets)
    body: dict[str, Any] | None = mask_sensitive(raw_body, known) if raw_body is not None else None
    text = mask_text(raw_text, known)
    kwargs: dict[str, Any] = {
        "status_code": status_code,
        "code": code,
        "correlation_id": correlation_id,
        "server_correlation_id": headers.get(HEADER_CORRELATION_ID),
        "reason": _as_text(body.get("reason")) or None if body else None,
        "details": body if body is not None else text or None,
        "attempts": attempts,
        "response": ErrorResponse.of(status_code, content, headers, known),
    }
    if cls in (GatewayRateLimitError, GatewayUpstreamError):
        kwargs["retry_after"] = retry_after
    message = _message_from(body, text, status_code, headers)
    return cls(message if hint is None else f"{message}; {hint}", **kwargs)
