"""The managed-token cache: which token serves a scope, and until when. No I/O.

The twins' token managers (`_async/_token_manager.py` and its generated twin) inherit
`TokenCache` and add only minting: the lock per scope and the call to the gateway. The
rule of when a token is replaced lives here, once: a token is replaced `margin` before it
expires, the margin being 60 s or 10 % of the token's life, whichever is less, so it is
never stale at birth. Nothing here mints, waits or holds a lock across I/O.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from ._call_options import Deadline
from ._constants import TOKEN_REFRESH_MARGIN_FRACTION, TOKEN_REFRESH_MARGIN_S
from ._errors import GatewayTimeoutError
from ._models import TokenInfo
from ._tokens import utc_now
from ._tracing import note_deadline

ScopeKey = tuple[tuple[str, ...], ...]


@dataclass
class _Entry:
    info: TokenInfo
    refresh_at_s: float  # POSIX seconds after which the token is refreshed
    margin_s: float  # how long before its expiry the token is refreshed


class TokenCache:
    """Tokens by scope, each with the moment it is refreshed; safe to share between threads."""

    def __init__(self, ttl_minutes: int) -> None:
        self._ttl_minutes = ttl_minutes
        self._entries: dict[ScopeKey, _Entry] = {}
        # Guards `_entries` against threads reading and replacing it at once (the blocking
        # twin is shared between threads); held only for dict work, never across I/O.
        self._entries_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(scopes={len(self._entries)})"

    def _fresh(self, key: ScopeKey) -> TokenInfo | None:
        entry = self._entries.get(key)
        if entry is None or utc_now().timestamp() >= entry.refresh_at_s:
            return None
        return entry.info

    def _store(self, key: ScopeKey, info: TokenInfo) -> None:
        with self._entries_lock:
            margin = _margin_s(info)
            self._entries[key] = _Entry(info, info.expires_at.timestamp() - margin, margin)

    def follow_rotation_hint(self, agent_token: str, expires_at: datetime | None) -> bool:
        """A rotation hint for a managed token: when the gateway says it expires at
        `expires_at`, earlier than the client thought, refresh it that much earlier
        (at once, if that moment has passed). False when the token is not managed here."""
        with self._entries_lock:
            for entry in self._entries.values():
                if entry.info.agent_token == agent_token:
                    if expires_at is not None:
                        gateway_refresh_at = expires_at.timestamp() - entry.margin_s
                        entry.refresh_at_s = min(entry.refresh_at_s, gateway_refresh_at)
                    return True
        return False

    def discard(self, agent_token: str) -> bool:
        """Drop a token the gateway refused, if it is still the cached one."""
        with self._entries_lock:
            for key, entry in self._entries.items():
                if entry.info.agent_token == agent_token:
                    del self._entries[key]
                    return True
        return False


def _margin_s(info: TokenInfo) -> float:
    """How long before its expiry a token is replaced: never at birth, whatever its life."""
    life = max(0.0, info.expires_at.timestamp() - utc_now().timestamp())
    return min(TOKEN_REFRESH_MARGIN_S, TOKEN_REFRESH_MARGIN_FRACTION * life)


def mint_wait_ran_out(deadline: Deadline, correlation_id: str | None) -> GatewayTimeoutError:
    """The error of a call whose deadline passed while another call's mint of the same
    managed token was still in flight (nothing was sent by this call: attempts 0)."""
    note_deadline(deadline_s=deadline.seconds, attempts=0, wait_s=None)
    return deadline.ran_out(
        0,
        what="POST /api/generate-token",
        why="it waited for another call's mint of the same managed token, still in flight",
        correlation_id=correlation_id,
    )
