"""Client configuration: the constructor's checks, the gateway's `Endpoint`, the agent key.

Everything a client settles once, in `__init__`, before any call: each setting is
checked here and a bad one raises `GatewayConfigError` naming the parameter. Both twins
call these functions, so a setting means the same to both. No I/O happens here (a key
arrives as PEM text, never as a path to read) and nothing is built per call: that is
`_requests`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx2

from ._constants import LONGEST_WAIT_S, MAX_TTL_MINUTES, MIN_TTL_MINUTES, USER_AGENT
from ._environment import ENV_KEY_FILE, is_mock_url, looks_like_path
from ._errors import GatewayConfigError
from ._models import valid_ttl_minutes
from ._requests import check_intent, header_safe
from ._validation import check_number, encodable

if TYPE_CHECKING:  # cryptography loads with the first key, not with `import runrgateway`
    from ._keys import AgentKey

_SCHEMES = ("http", "https", "mock")


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
    if not is_mock_url(url):
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


def check_agent_id(agent_id: Any) -> str:
    if not isinstance(agent_id, str) or not agent_id.strip():
        raise GatewayConfigError("agent_id must be a non-empty string")
    if not header_safe(agent_id) or '"' in agent_id or "\\" in agent_id:
        raise GatewayConfigError(
            "agent_id must be visible ASCII without spaces, quotes or backslashes "
            "(it is the signature's keyid)"
        )
    return agent_id


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
    """``runrgateway/<version>``: short, it travels with every request."""
    return USER_AGENT


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
    from ._keys import AgentKey  # here, not at import: it pulls in cryptography

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
