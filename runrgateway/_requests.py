"""Building requests: configuration checks, bodies, headers, keys. Pure functions."""

from __future__ import annotations

import ipaddress
import platform
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import httpx2

from ._constants import (
    HEADER_CORRELATION_ID,
    HEADER_IDEMPOTENCY_KEY,
    LONGEST_WAIT_S,
    MAX_TTL_MINUTES,
    MIN_TTL_MINUTES,
    READ_ONLY_ACTIONS,
    USER_AGENT,
)
from ._environment import ENV_KEY_FILE, looks_like_path
from ._errors import GatewayConfigError, GatewayError, GatewayValidationError
from ._ids import generate_idempotency_key
from ._keys import AgentKey
from ._models import valid_ttl_minutes
from ._tokens import Credential, format_utc
from ._validation import check_number, check_text, encodable, encode_json

__all__ = ["encode_json"]  # re-exported: requests are where JSON is encoded

_SCHEMES = ("http", "https", "mock")


@dataclass(frozen=True)
class PreparedCall:
    """Everything an attempt of one call needs; the same on every retry but the signature."""

    method: str
    path: str
    url: httpx2.URL
    signed_url: str  # the URL text exactly as httpx sends it
    headers: dict[str, str]
    body: bytes | None
    correlation_id: str
    idempotent: bool
    keyed: bool = False  # the caller chose the idempotency key: retryable where keys are kept
    label: str | None = None  # "tool:action", for logs
    log_params: Any = None
    credential: Credential | None = None

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values to mask should the gateway echo them in an error."""
        if self.credential is None:
            return ()
        return tuple(s for s in (self.credential.agent_token, self.credential.proof_payload) if s)


@dataclass(frozen=True)
class Endpoint:
    """Where a client sends its calls."""

    base_url: str  # without a trailing slash
    mock_name: str | None  # the embedded gateway's name for mock:// URLs


def is_loopback_host(host: str) -> bool:
    """`localhost`, 127.0.0.0/8 or ::1: a host whose traffic never leaves the machine."""
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_base_url(base_url: Any, *, allow_insecure_http: bool = False) -> Endpoint:
    """Check `base_url`; plain http:// is refused unless loopback or explicitly allowed."""
    if not isinstance(allow_insecure_http, bool):
        raise GatewayConfigError(
            "allow_insecure_http must be True or False",
            details={"parameter": "allow_insecure_http"},
        )
    if not isinstance(base_url, str) or not base_url.strip():
        raise GatewayConfigError(
            "base_url must be a non-empty string such as https://gateway.internal"
        )
    url = base_url.strip().rstrip("/")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise GatewayConfigError("base_url is not a valid URL") from None
    if parts.scheme not in _SCHEMES:
        raise GatewayConfigError(
            f"base_url must start with http://, https:// or mock://, got scheme {parts.scheme!r}"
        )
    if not parts.netloc:
        raise GatewayConfigError("base_url has no host")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise GatewayConfigError("base_url must not carry credentials, a query or a fragment")
    if parts.scheme != "mock":
        try:  # what httpx will make of it on every call: refuse it now instead
            httpx2.URL(url + "/api")
        except (httpx2.InvalidURL, ValueError, UnicodeError):
            raise GatewayConfigError("base_url is not a valid URL") from None
        if parts.scheme == "http" and not allow_insecure_http:
            _refuse_plain_http(parts.hostname or "")
        return Endpoint(base_url=url, mock_name=None)
    if parts.path:
        raise GatewayConfigError("a mock:// base_url names a gateway and has no path")
    return Endpoint(base_url=url, mock_name=parts.netloc.lower())


def _refuse_plain_http(host: str) -> None:
    # The token, its id and the proof payload travel in every call's body, and the real
    # gateway checks no signature: a token sniffed off plain http can be replayed as is.
    if not is_loopback_host(host):
        raise GatewayConfigError(
            f"base_url uses plain http:// to {host}, which is not loopback: agent tokens "
            "would cross the network in clear text. Use https://, or pass "
            "allow_insecure_http=True (GATEWAY_ALLOW_INSECURE_HTTP=1) if this network is "
            "trusted, such as a sidecar or a private container network",
            details={"parameter": "base_url"},
        )


_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")  # visible ASCII: no spaces, controls or non-ASCII


def header_safe(value: Any) -> bool:
    """Whether `value` can travel in a header or a signature parameter as it is."""
    return isinstance(value, str) and _HEADER_SAFE.fullmatch(value) is not None


def check_agent_id(agent_id: Any) -> str:
    if not isinstance(agent_id, str) or not agent_id.strip():
        raise GatewayConfigError("agent_id must be a non-empty string")
    if not header_safe(agent_id) or '"' in agent_id or "\\" in agent_id:
        raise GatewayConfigError(
            "agent_id must be visible ASCII without spaces, quotes or backslashes "
            "(it is the signature's keyid)"
        )
    return agent_id


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


def check_default_intent(intent: Any) -> str | None:
    return check_intent(intent, "default_intent", GatewayConfigError)


def check_read_only_actions(actions: Any) -> frozenset[str]:
    """Extra ``"tool:action"`` pairs that only read (a lone string is refused, not split)."""
    if isinstance(actions, (str, bytes)) or not isinstance(actions, Iterable):
        raise GatewayConfigError('read_only_actions must be a collection of "tool:action" strings')
    pairs = []
    for pair in actions:  # checked one by one before hashing: a list entry is refused too
        tool, _, action = pair.partition(":") if isinstance(pair, str) else ("", "", "")
        if not tool or not action or not encodable(pair):
            shown = repr(pair) if isinstance(pair, str) and encodable(pair) else type(pair).__name__
            raise GatewayConfigError(
                f'read_only_actions entries must look like "tool:action", got {shown}'
            )
        pairs.append(pair)
    return frozenset(pairs)


def check_timeout_ms(timeout_ms: Any) -> float:
    """The per-attempt timeout in seconds."""
    milliseconds = check_number(
        timeout_ms, "timeout_ms", error=GatewayConfigError,
        maximum=LONGEST_WAIT_S * 1000, unit=" (milliseconds)",
    )  # fmt: skip
    return milliseconds / 1000.0


def check_retry_settings(max_retries: Any, max_retry_after_s: Any) -> float:
    """Checks both; returns `max_retry_after_s` as a float."""
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise GatewayConfigError("max_retries must be an integer >= 0")
    return check_number(
        max_retry_after_s, "max_retry_after_s", error=GatewayConfigError,
        above_minimum=False, maximum=LONGEST_WAIT_S, unit=" (seconds)",
    )  # fmt: skip


def check_ttl_minutes(ttl_minutes: Any) -> int:
    if not valid_ttl_minutes(ttl_minutes):
        raise GatewayConfigError(
            "managed_token_ttl_minutes must be an integer from "
            f"{MIN_TTL_MINUTES} to {MAX_TTL_MINUTES}"
        )
    return int(ttl_minutes)


def user_agent() -> str:
    return f"{USER_AGENT} python/{platform.python_version()} httpx/{httpx2.__version__}"


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
    intent: str | None,
    run_async: bool = False,
) -> bytes:
    """The proxy-request body; `params_json` is `params` already encoded (encoded once per call)."""
    envelope: dict[str, Any] = {"agent_token": agent_token, "tool": tool, "action": action}
    if token_id is not None:
        envelope["token_id"] = token_id
        envelope["proof_payload"] = proof_payload
    effective_intent = params.get("intent", intent)
    if effective_intent is not None:
        envelope["intent"] = effective_intent
    if run_async:
        envelope["async"] = True
    return encode_json(envelope)[:-1] + b',"params":' + params_json + b"}"


def proof_payload_text(override: Any) -> str:
    """A caller's `proof_payload_override` as sent: text as given (bytes as UTF-8), else
    compact JSON; `GatewayValidationError` when it cannot be sent."""
    if isinstance(override, (bytes, bytearray)):
        try:
            return bytes(override).decode("utf-8")
        except UnicodeDecodeError:
            raise GatewayValidationError("proof_payload_override bytes are not UTF-8") from None
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
    headers = {
        "user-agent": agent,
        "accept": "application/json",
        HEADER_CORRELATION_ID: correlation_id,
    }
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


def load_agent_key(pem: Any, password: Any, *, mock: bool) -> AgentKey:
    """The agent's signing key; a placeholder (not PEM) is accepted only for mock:// URLs."""
    if password is not None and not isinstance(password, (str, bytes)):
        raise GatewayConfigError("key_password must be str or bytes")
    if isinstance(password, str) and not encodable(password):
        raise GatewayConfigError("key_password holds a lone surrogate (not valid Unicode)")
    if not isinstance(pem, (str, bytes)) or not pem:
        raise GatewayConfigError("agent_private_key_pem must be a PEM private key (str or bytes)")
    if isinstance(pem, str) and not encodable(pem):
        raise GatewayConfigError(
            "agent_private_key_pem holds a lone surrogate (not valid Unicode): not a PEM key"
        )
    looks_like_pem = b"-----BEGIN" in (pem if isinstance(pem, bytes) else pem.encode())
    if looks_like_path(pem):
        raise GatewayConfigError(
            "agent_private_key_pem looks like a file path, not PEM text: pass the file's "
            f"contents, or set {ENV_KEY_FILE} to the path and use from_env()",
            details={"parameter": "agent_private_key_pem"},
        )
    if mock and not looks_like_pem:
        return AgentKey.generate("ed25519")
    if not looks_like_pem:
        raise GatewayConfigError(
            "agent_private_key_pem is not a PEM private key (placeholders are accepted only "
            "with a mock:// base_url)"
        )
    return AgentKey.from_pem(unescape_pem(pem), password, parameter="agent_private_key_pem")


def unescape_pem(pem: str | bytes) -> str | bytes:
    """PEM text whose line breaks were written as the two characters ``\\n`` (the usual
    way to put a key on one line of a ``.env`` file or a CI secret), with real ones.

    A backslash never occurs in PEM (base64 and header lines), so the replacement cannot
    change a well-formed key.
    """
    if isinstance(pem, bytes):
        return pem.replace(b"\\r\\n", b"\n").replace(b"\\n", b"\n") if b"\\" in pem else pem
    return pem.replace("\\r\\n", "\n").replace("\\n", "\n") if "\\" in pem else pem
