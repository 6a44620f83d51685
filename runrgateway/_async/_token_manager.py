from __future__ import annotations

import copy
import threading
from dataclasses import dataclass
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
    stale: bool = False


class AsyncTokenManager:
    """SDK-managed tokens: one per scope, reused until shortly before expiry.

    Concurrent callers needing the same scope share one mint (single flight); a
    rotation hint marks a token stale; a token is dropped only while it is still
    the one that failed, so a late answer cannot discard a fresh token.
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
        if entry is None or entry.stale or utc_now().timestamp() >= entry.refresh_at_s:
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
                self._entries[key] = _Entry(info, _refresh_at(info))
            return info

    def mark_stale(self, agent_token: str) -> bool:
        """Follow a rotation hint: the next call for that scope mints a new token."""
        with self._entries_lock:
            for entry in self._entries.values():
                if entry.info.agent_token == agent_token:
                    entry.stale = True
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


def _refresh_at(info: TokenInfo) -> float:
    expires = info.expires_at.timestamp()
    life = max(0.0, expires - utc_now().timestamp())
    return expires - min(TOKEN_REFRESH_MARGIN_S, TOKEN_REFRESH_MARGIN_FRACTION * life)
