from __future__ import annotations

import copy
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from .._concurrency import AsyncLock
from .._constants import TOKEN_REFRESH_MARGIN_FRACTION, TOKEN_REFRESH_MARGIN_S
from .._errors import GatewayError
from .._models import TokenInfo, TokenOptions
from .._tokens import scope_key, utc_now

ScopeKey = tuple[tuple[str, ...], ...]


class TokenMinter(Protocol):
    async def __call__(self, options: TokenOptions) -> TokenInfo: ...


@dataclass
class _Entry:
    info: TokenInfo
    refresh_at_s: float  # POSIX seconds after which the token is refreshed
    margin_s: float  # how long before its expiry the token is refreshed


class AsyncTokenManager:
    """SDK-managed tokens: one per scope, reused until shortly before expiry.

    Concurrent callers needing the same scope share one mint (single flight); a
    token is dropped only while it is still the one that failed, so a late answer
    cannot discard a fresh token.

    Refresh rule: a token is replaced `margin` before it expires, the margin being 60 s
    or 10 % of the token's life, whichever is less. A rotation hint from the gateway
    (which hints for any token with under 300 s left: every short-lived token, from
    birth) only moves that moment earlier when the gateway names an earlier expiry
    than the client knows; it never makes a token stale at birth. So any lifetime
    from 1 minute up costs about one mint per lifetime.
    """

    def __init__(self, mint: TokenMinter, ttl_minutes: int) -> None:
        self._mint = mint
        self._ttl_minutes = ttl_minutes
        self._entries: dict[ScopeKey, _Entry] = {}
        self._locks: dict[ScopeKey, AsyncLock] = {}
        self._mints_done: dict[ScopeKey, int] = {}
        self._last_failure: dict[ScopeKey, tuple[int, GatewayError]] = {}
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

    async def get(self, tools: list[str], permissions: list[str]) -> TokenInfo:
        """A valid token for this scope, minting one when needed."""
        key = scope_key(tools, permissions)
        cached = self._fresh(key)
        if cached is not None:
            return cached
        mints_seen = self._mints_done.get(key, 0)
        lock = self._locks.setdefault(key, AsyncLock())
        async with lock:
            cached = self._fresh(key)
            if cached is not None:
                return cached
            failure = self._last_failure.get(key)
            if failure is not None and failure[0] > mints_seen:
                raise copy.copy(failure[1])  # the mint we waited for failed: share its error
            options = TokenOptions(list(key[0]), list(key[1]), self._ttl_minutes)
            try:
                info = await self._mint(options)
            except GatewayError as exc:
                self._mints_done[key] = self._mints_done.get(key, 0) + 1
                self._last_failure[key] = (self._mints_done[key], exc)
                raise
            self._mints_done[key] = self._mints_done.get(key, 0) + 1
            self._last_failure.pop(key, None)
            with self._entries_lock:
                margin = _margin_s(info)
                self._entries[key] = _Entry(info, info.expires_at.timestamp() - margin, margin)
            return info

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
