"""Gateway-side agent tokens: issuing, the provenance registry, verification.

The format is the real gateway's (wire.md, "Token format"): standard base64 of a
compact JSON payload, a dot, and the lowercase hex HMAC-SHA256 of the base64 text.
`generate-token` is open to anyone, so the registry is bounded (`GatewayLimits`): a
token is pruned once it has been expired for `expired_token_grace_s`, and each agent
keeps at most `tokens_per_agent` tokens (minting one more drops that agent's oldest,
never another agent's).

The HMAC secret is never put in an answer or a log line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from .._errors import ErrorCode
from .._json import compact_json
from ._limits import DEFAULT_LIMITS, GatewayLimits
from ._quota import OwnerQuota
from ._time import Clock, iso_utc_ms, parse_js_date

ROTATION_WINDOW_S = 300.0
"""With less than this left, answers carry the rotation hint."""

_PRUNE_EVERY_S = 60.0  # pruning scans the registry: at most once a minute, on issue


@dataclass(frozen=True)
class IssuedToken:
    """What `generate-token` hands out."""

    agent_token: str
    token_id: str
    payload: str
    """The exact JSON text inside the token: the provenance proof."""


@dataclass
class _RegistryEntry:
    agent_id: str
    payload_sha256: str
    expires_at: float
    revoked: bool = False


@dataclass(frozen=True)
class TokenRejection:
    """Why a token was refused: status, the gateway's error text and our code."""

    status: int
    error: str
    code: str


@dataclass(frozen=True)
class VerifiedToken:
    """A token whose signature checked out, with its decoded payload."""

    payload: dict[str, Any]
    expires_at: float | None

    @property
    def agent_id(self) -> Any:
        return self.payload.get("agent_id")

    def seconds_left(self, now: float) -> float | None:
        return None if self.expires_at is None else self.expires_at - now


class TokenAuthority:
    """Issues tokens with a per-gateway secret, keeps their provenance, verifies them."""

    def __init__(
        self, clock: Clock, secret: bytes | None = None, limits: GatewayLimits = DEFAULT_LIMITS
    ) -> None:
        self._clock = clock
        self.secret = secret if secret is not None else secrets.token_bytes(32)
        self._registry: OwnerQuota[str, _RegistryEntry] = OwnerQuota(
            per_owner=limits.tokens_per_agent, total=limits.tokens_total
        )
        self._grace_s = limits.expired_token_grace_s
        self._next_prune = 0.0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Tokens in the provenance registry."""
        with self._lock:
            return len(self._registry)

    def sign(self, payload_b64: str) -> str:
        """The lowercase hex HMAC-SHA256 of the base64 text."""
        return hmac.new(self.secret, payload_b64.encode("ascii"), hashlib.sha256).hexdigest()

    def issue(
        self,
        agent_id: str,
        agent_name: str,
        tools: list[Any],
        permissions: list[Any],
        expires_at: Any,
        expires_at_s: float,
    ) -> IssuedToken:
        """Mint a token; `expires_at` goes into the payload exactly as the caller sent it."""
        payload = compact_json(
            {
                "agent_id": agent_id,
                "agent_name": agent_name,
                "tools": tools,
                "permissions": permissions,
                "expires_at": expires_at,
                "nonce": str(uuid.uuid4()),
                "issued_at": iso_utc_ms(self._clock()),
            }
        )
        payload_b64 = base64.b64encode(payload.encode("utf-8")).decode("ascii")
        token_id = str(uuid.uuid4())
        digest = hashlib.sha256(payload.encode("utf-8")).hexdigest()
        with self._lock:
            self._prune()
            self._registry.put(agent_id, token_id, _RegistryEntry(agent_id, digest, expires_at_s))
        return IssuedToken(f"{payload_b64}.{self.sign(payload_b64)}", token_id, payload)

    def revoke(self, token_id: str) -> bool:
        """Mark a token revoked for the provenance check; False when the id is unknown."""
        with self._lock:
            entry = self._registry.get(token_id)
            if entry is None:
                return False
            entry.revoked = True
            return True

    def check_provenance(self, token_id: Any, proof_payload: Any) -> TokenRejection | None:
        """Step 2 of proxy-request: the proof must be the exact payload stored at issuance."""
        if not proof_payload:
            return TokenRejection(
                400,
                "Token provenance validation requires proof_payload when token_id is provided.",
                ErrorCode.VALIDATION_FAILED,
            )
        with self._lock:
            entry = self._registry.get(str(token_id))
        if entry is None:
            return TokenRejection(403, "Token not found in registry", ErrorCode.TOKEN_INVALID)
        if entry.revoked:
            return TokenRejection(403, "Token has been revoked", ErrorCode.TOKEN_REVOKED)
        proof = proof_payload if isinstance(proof_payload, str) else compact_json(proof_payload)
        if hashlib.sha256(proof.encode("utf-8")).hexdigest() != entry.payload_sha256:
            return TokenRejection(403, "Token proof verification failed", ErrorCode.TOKEN_INVALID)
        return None

    def verify(self, agent_token: str) -> VerifiedToken | TokenRejection:
        """Steps 3 and 4 of proxy-request: format, HMAC, decoding, expiry."""
        parts = agent_token.split(".")
        payload_b64 = parts[0]
        signature = parts[1] if len(parts) > 1 else ""
        if not payload_b64 or not signature:
            return TokenRejection(
                400,
                "Invalid token format. Expected: BASE64(payload).SIGNATURE",
                ErrorCode.TOKEN_INVALID,
            )
        if not hmac.compare_digest(signature.encode(), self.sign(payload_b64).encode()):
            return TokenRejection(403, "Invalid token signature", ErrorCode.TOKEN_INVALID)
        payload = decode_payload(payload_b64)
        if payload is None:
            return TokenRejection(403, "Token decoding failed", ErrorCode.TOKEN_INVALID)
        expires_at = parse_js_date(payload.get("expires_at"))
        if expires_at is not None and expires_at <= self._clock():
            return TokenRejection(403, "Token expired", ErrorCode.TOKEN_EXPIRED)
        return VerifiedToken(payload, expires_at)

    def clear(self) -> None:
        with self._lock:
            self._registry.clear()

    def _prune(self) -> None:
        now = self._clock()
        if now < self._next_prune:
            return
        self._next_prune = now + _PRUNE_EVERY_S
        cutoff = now - self._grace_s
        self._registry.drop_where(lambda entry: entry.expires_at <= cutoff)


def decode_payload(payload_b64: str) -> dict[str, Any] | None:
    """The JSON object inside a token's first segment, or None (no signature check)."""
    try:
        padded = payload_b64 + "=" * (-len(payload_b64) % 4)
        decoded = json.loads(base64.b64decode(padded).decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return decoded if isinstance(decoded, dict) else None


def claimed_agent_id(agent_token: Any) -> str | None:
    """The agent id a token claims, read without verifying it (to pick the key to check)."""
    if not isinstance(agent_token, str):
        return None
    payload = decode_payload(agent_token.split(".", 1)[0])
    agent_id = payload.get("agent_id") if payload else None
    return agent_id if isinstance(agent_id, str) else None
