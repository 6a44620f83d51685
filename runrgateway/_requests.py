"""Building a call: the checks of a call's arguments, its body, headers and paths.

Pure functions both twins call for every call; nothing here is settled once per client
(that is `_config`), sends anything or reads an answer (that is `_responses`).

A body or headers carrying the token leave this module sealed (`SealedBytes`,
`SealedHeaders`), never as plain values that a traceback's locals would print.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx2

from ._constants import (
    HEADER_CORRELATION_ID,
    HEADER_IDEMPOTENCY_KEY,
    READ_ONLY_ACTIONS,
)
from ._errors import GatewayError, GatewayValidationError
from ._ids import generate_idempotency_key
from ._tokens import Credential, format_utc
from ._validation import check_text, encode_json

__all__ = ["encode_json"]  # re-exported: requests are where JSON is encoded


class SealedBytes(bytes):
    """A request body that never shows itself: the proxy body holds the whole token.

    httpx sends it as the bytes it is; its repr (a traceback's local variables with
    `capture_locals`, ``pytest -l``, Sentry's frame variables) says only its length.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<{len(self)} bytes, not shown>"

    __str__ = __repr__


class SealedHeaders(dict[str, str]):
    """An attempt's signed headers: its repr names the headers, never their values (the
    Signature and Signature-Input of a request that carries the token)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<headers {', '.join(self)}: values not shown>"

    __str__ = __repr__


@dataclass(frozen=True)
class PreparedCall:
    """Everything an attempt of one call needs; the same on every retry but the signature.

    The body (with the token in it), the headers, the logged params and the credential
    are left out of its repr: a PreparedCall is a local variable of every frame an error
    passes through, and tracebacks with local variables print them.
    """

    method: str
    path: str
    url: httpx2.URL
    signed_url: str  # the URL text exactly as httpx sends it
    headers: dict[str, str] = field(repr=False)
    body: bytes | None = field(repr=False)
    correlation_id: str
    idempotent: bool
    keyed: bool = False  # the caller chose the idempotency key: retryable where keys are kept
    label: str | None = None  # "tool:action", for logs
    log_params: Any = field(default=None, repr=False)
    credential: Credential | None = field(default=None, repr=False)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values to mask should the gateway echo them in an error."""
        if self.credential is None:
            return ()
        return tuple(s for s in (self.credential.agent_token, self.credential.proof_payload) if s)


_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")  # visible ASCII: no spaces, controls or non-ASCII


def header_safe(value: Any) -> bool:
    """Whether `value` can travel in a header or a signature parameter as it is."""
    return isinstance(value, str) and _HEADER_SAFE.fullmatch(value) is not None


def check_correlation_id(correlation_id: Any) -> str:
    if not header_safe(correlation_id):
        raise GatewayValidationError(
            "correlation_id must be a non-empty string of visible ASCII (it is sent as a header)"
        )
    return str(correlation_id)


def check_intent(
    intent: Any, what: str = "intent", error: type[GatewayError] = GatewayValidationError
) -> str | None:
    if intent is None:
        return None
    if not isinstance(intent, str) or not intent.strip():
        raise error(f"{what} must be a non-empty string or None")
    return check_text(intent, what, error=error)


def check_name(value: Any, what: str) -> str:
    return check_text(value, what)


def check_params(params: Any) -> Mapping[str, Any]:
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise GatewayValidationError("params must be a dict (a JSON object)")
    return params


def choose_idempotency_key(argument: str | None, params: Mapping[str, Any]) -> tuple[str, bool]:
    """The call's idempotency key, and whether the caller chose it (making the call retryable)."""
    chosen = argument
    if chosen is None:
        from_params = params.get("idempotency_key")
        if not isinstance(from_params, str) or not from_params:
            return generate_idempotency_key(), False
        chosen = from_params
    if not header_safe(chosen):
        raise GatewayValidationError(
            "idempotency_key must be a non-empty string of visible ASCII (it is sent as a header)"
        )
    return str(chosen), True


def is_read_only(tool: str, action: str, read_only: frozenset[str] = READ_ONLY_ACTIONS) -> bool:
    return f"{tool}:{action}" in read_only


# The real gateway's validators and adapters read different names for the same value
# (wire.md, "Tool answers"): the validator wants the first name, the adapter reads the
# second. Whichever the caller gave is sent under both.
PARAM_ALIASES: dict[tuple[str, str], tuple[str, str]] = {
    ("serpapi", "search"): ("query", "q"),
    ("gmail_send", "send"): ("body", "text"),
}


def outgoing_params(
    tool: str, action: str, params: Mapping[str, Any], intent: str | None
) -> dict[str, Any]:
    """A copy of params as sent: with the intent (unless the caller set one) and the real
    gateway's name quirks smoothed over (`PARAM_ALIASES`); a name the caller set is never
    overwritten."""
    copied = dict(params)
    if intent is not None and "intent" not in copied:
        copied["intent"] = intent
    aliases = PARAM_ALIASES.get((tool, action))
    if aliases is not None:
        first, second = aliases
        if first in copied and second not in copied:
            copied[second] = copied[first]
        elif second in copied and first not in copied:
            copied[first] = copied[second]
    return copied


def proxy_body(
    *,
    tool: str,
    action: str,
    params: Mapping[str, Any],
    params_json: bytes,
    agent_token: str,
    token_id: str | None,
    proof_payload: str | None,
    run_async: bool = False,
) -> bytes:
    """The proxy-request body; `params_json` is `params` already encoded (encoded once per call)."""
    envelope: dict[str, Any] = {"agent_token": agent_token, "tool": tool, "action": action}
    if token_id is not None:
        envelope["token_id"] = token_id
        envelope["proof_payload"] = proof_payload
    # The intent, as `outgoing_params` settled it (the caller's params.intent, else the
    # client's), also travels at the top level, where the embedded gateway reads it too.
    if params.get("intent") is not None:
        envelope["intent"] = params["intent"]
    if run_async:
        envelope["async"] = True
    return SealedBytes(encode_json(envelope)[:-1] + b',"params":' + params_json + b"}")


def proof_payload_text(override: Any) -> str:
    """A caller's `proof_payload_override` as sent: text as given (bytes as UTF-8), else
    compact JSON; `GatewayValidationError` when it cannot be sent."""
    if isinstance(override, (bytes, bytearray)):
        try:
            return bytes(override).decode("utf-8")
        except UnicodeDecodeError:
            pass
        # Raised outside the except: the UnicodeDecodeError holds the proof bytes.
        raise GatewayValidationError("proof_payload_override bytes are not UTF-8")
    if isinstance(override, str):
        return check_text(override, "proof_payload_override", blank_ok=True)
    return encode_json(override, "proof_payload_override").decode()


def token_request_body(
    agent_id: str, tools: list[str], permissions: list[str], ttl_minutes: int, now: datetime
) -> dict[str, Any]:
    return {
        "agent_id": agent_id,
        "tools": list(tools),
        "permissions": list(permissions),
        "expires_at": format_utc(now + timedelta(minutes=ttl_minutes)),
    }


def request_headers(
    *, agent: str, correlation_id: str, idempotency_key: str | None, has_body: bool
) -> dict[str, str]:
    """The headers of one call, before signing: only what the gateway reads.

    No ``Accept`` (the gateway always answers JSON), no ``Accept-Encoding`` (answers
    come uncompressed: no decoder runs on a loopback or LAN answer) and no
    ``Connection`` (keep-alive is HTTP/1.1's default); ``Host`` and ``Content-Length``
    are httpx2's. ``Content-Type`` only with a body: the real gateway answers a POST
    that declares JSON without one with 400 (wire.md).
    """
    headers = {"user-agent": agent, HEADER_CORRELATION_ID: correlation_id}
    if idempotency_key is not None:
        headers[HEADER_IDEMPOTENCY_KEY] = idempotency_key
    if has_body:
        headers["content-type"] = "application/json"
    return headers


def job_path(job_id: Any) -> str:
    """`/api/jobs/{id}` with the id as exactly one path segment."""
    check_name(job_id, "job_id")
    segment = quote(job_id, safe="")
    if segment in (".", ".."):
        segment = segment.replace(".", "%2E")
    return f"/api/jobs/{segment}"


def merged_policy_path(agent_id: str) -> str:
    """`/api/policies/merged/{agent_id}` with the id as exactly one path segment."""
    segment = quote(agent_id, safe="")
    if segment in (".", ".."):
        segment = segment.replace(".", "%2E")
    return f"/api/policies/merged/{segment}"
