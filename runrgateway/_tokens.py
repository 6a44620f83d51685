"""Agent token parsing: the gateway's `base64(json).hex` form and JWTs. No I/O."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from . import _json
from ._constants import MAX_TOKEN_AGE_S, TOKEN_CLOCK_SKEW_S
from ._errors import ErrorCode, GatewayPolicyError, GatewayTokenError

_HEX = re.compile(r"^[0-9a-fA-F]+$")


@dataclass(frozen=True)
class TokenClaims:
    """What a decodable token says about itself."""

    form: str  # "gateway" or "jwt"
    payload: dict[str, Any]
    raw_payload: bytes  # exact decoded bytes of the first segment (the provenance proof)
    agent_id: str | None
    tools: tuple[str, ...] | None
    permissions: tuple[str, ...] | None
    issued_at: datetime | None
    expires_at: datetime | None

    def __repr__(self) -> str:  # the payload identifies the token: keep it out of reprs
        return f"TokenClaims(form={self.form!r}, agent_id={self.agent_id!r}, tools={self.tools!r})"

    def age_s(self, now: datetime) -> float | None:
        return None if self.issued_at is None else (now - self.issued_at).total_seconds()

    def seconds_left(self, now: datetime) -> float | None:
        return None if self.expires_at is None else (self.expires_at - now).total_seconds()


@dataclass(frozen=True)
class Credential:
    """The token a call is made with, and what to send alongside it."""

    agent_token: str
    token_id: str | None = None
    proof_payload: str | None = None
    managed: bool = False
    expires_at: datetime | None = None  # when known: a managed token, a decodable one

    def __repr__(self) -> str:
        return f"Credential(token_id={self.token_id!r}, managed={self.managed!r})"


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def format_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and `Z`, as the gateway writes it."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_timestamp(value: Any) -> datetime | None:
    """A timezone-aware datetime from ISO 8601 text or Unix seconds; naive text is read as UTC."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(float(value), timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _b64decode(segment: str, *, urlsafe: bool) -> bytes | None:
    padded = segment + "=" * (-len(segment) % 4)
    try:
        if urlsafe:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None


def _json_object(raw: bytes | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = _json.loads(raw)  # bounded: a payload nested 100,000 deep is not a token
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _str_tuple(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    return None


def decode_token(token: str) -> TokenClaims | None:
    """Decode a token without verifying it; None when it is neither form."""
    if not isinstance(token, str):
        return None
    parts = token.split(".")
    if len(parts) == 2 and _HEX.match(parts[1]):
        raw = _b64decode(parts[0], urlsafe=False)
        payload = _json_object(raw)
        if payload is not None and raw is not None:
            return _claims("gateway", payload, raw, "issued_at", "expires_at")
    if len(parts) == 3:
        raw = _b64decode(parts[1], urlsafe=True)
        header = _json_object(_b64decode(parts[0], urlsafe=True))
        payload = _json_object(raw)
        if header is not None and payload is not None and raw is not None:
            return _claims("jwt", payload, raw, "iat", "exp")
    return None


def _claims(
    form: str, payload: dict[str, Any], raw: bytes, issued_field: str, expiry_field: str
) -> TokenClaims:
    agent = payload.get("agent_id", payload.get("sub"))
    return TokenClaims(
        form=form,
        payload=payload,
        raw_payload=raw,
        agent_id=agent if isinstance(agent, str) else None,
        tools=_str_tuple(payload.get("tools")),
        permissions=_str_tuple(payload.get("permissions")),
        issued_at=parse_timestamp(payload.get(issued_field, payload.get("issued_at"))),
        expires_at=parse_timestamp(payload.get(expiry_field, payload.get("expires_at"))),
    )


# Unix seconds past this are milliseconds: as seconds, they would be after the year 5000.
_MILLISECONDS_FROM = 100_000_000_000


def check_caller_token(
    claims: TokenClaims | None, now: datetime, *, agent_id: str | None = None
) -> None:
    """Refuse, before anything is sent, a caller's token the gateway should not see.

    Refused: a token for another agent than `agent_id`; times written as strings or in
    milliseconds (a JWT's `iat`/`exp` are Unix seconds); no issue time; an issue time in
    the future beyond a small clock skew; expired; older than 24 h. A token the SDK cannot
    decode is left to the gateway. Each refusal is a `GatewayTokenError` whose
    `details["problem"]` says which.
    """
    if claims is None:
        return
    if agent_id is not None and claims.agent_id is not None and claims.agent_id != agent_id:
        raise _refused(
            "other_agent",
            f"Agent token was issued to agent {claims.agent_id!r}, not to this client's "
            f"agent {agent_id!r}",
        )
    _check_time_fields(claims)
    if claims.issued_at is None:
        raise _refused("no_issue_time", "Agent token says nothing about when it was issued")
    if claims.issued_at > now + timedelta(seconds=TOKEN_CLOCK_SKEW_S):
        raise _refused(
            "issued_in_future",
            f"Agent token claims to be issued at {format_utc(claims.issued_at)}, in the future",
        )
    left = claims.seconds_left(now)
    if left is not None and left <= 0:
        raise GatewayTokenError(
            "Agent token has expired; mint a new one with get_token()",
            code=ErrorCode.TOKEN_EXPIRED,
            details={"problem": "expired"},
        )
    age = claims.age_s(now)
    if age is not None and age > MAX_TOKEN_AGE_S:
        raise _refused(
            "too_old",
            f"Agent token was issued {age / 3600:.1f} h ago; tokens older than 24 h are "
            "refused to force rotation",
        )


def _check_time_fields(claims: TokenClaims) -> None:
    """A JWT's times are Unix seconds; the gateway's own form writes ISO 8601 text."""
    fields = ("iat", "exp", "nbf") if claims.form == "jwt" else ("issued_at", "expires_at")
    for name in fields:
        value = claims.payload.get(name)
        if claims.form == "jwt" and isinstance(value, str):
            raise _refused(
                "string_time", f"Agent token's {name!r} is a string; a JWT's times are numbers"
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if abs(value) >= _MILLISECONDS_FROM:
            raise _refused(
                "milliseconds",
                f"Agent token's {name!r} looks like milliseconds; token times are seconds",
            )


def _refused(problem: str, message: str) -> GatewayTokenError:
    return GatewayTokenError(
        f"{message}; nothing was sent", code=ErrorCode.TOKEN_INVALID, details={"problem": problem}
    )


def check_scope(claims: TokenClaims | None, tool: str) -> None:
    """Refuse a call whose tool the token was not minted for (when the token says)."""
    if claims is None or claims.tools is None:
        return
    if tool not in claims.tools and "*" not in claims.tools:
        raise GatewayPolicyError(
            f"Token not scoped for tool {tool!r} (token tools: {', '.join(claims.tools)})",
            reason=f"Token not scoped for {tool}",
        )


def scope_key(tools: Sequence[str], permissions: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    """The cache key of a managed token: sorted tools and sorted permissions."""
    return (tuple(sorted(set(tools))), tuple(sorted(set(permissions))))
