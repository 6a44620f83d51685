"""Managed tokens, minted on demand: one mint at a time per scope (single flight).

Only what waits lives here: the lock per scope and the mint itself. Which token serves a
scope and when it is replaced is `TokenCache`'s (`_token_cache.py`), shared with the
blocking twin; this module must never decide freshness on its own. A call with a
deadline waits for another call's mint only as long as its own deadline leaves.
"""

from __future__ import annotations

import copy
from typing import Protocol

from .._call_options import current_deadline
from .._concurrency import AsyncLock
from .._errors import GatewayError, GatewayTimeoutError
from .._models import TokenInfo, TokenOptions
from .._token_cache import ScopeKey, TokenCache, mint_wait_ran_out
from .._tokens import scope_key


class TokenMinter(Protocol):
    async def __call__(self, options: TokenOptions) -> TokenInfo: ...


class AsyncTokenManager(TokenCache):
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
        super().__init__(ttl_minutes)
        self._mint = mint
        self._locks: dict[ScopeKey, AsyncLock] = {}
        self._mints_done: dict[ScopeKey, int] = {}
        self._last_failure: dict[ScopeKey, tuple[int, GatewayError]] = {}

    async def get(
        self,
        tools: list[str],
        permissions: list[str],
        mint: TokenMinter | None = None,
        correlation_id: str | None = None,
    ) -> TokenInfo:
        """A valid token for this scope, minting one when needed: with `mint` when given
        (the calling client's, so that a `with_options` copy mints with its own timeout,
        retries and deadline), else with the manager's own. `correlation_id` is the
        calling call's, for the error of a deadline that ran out while it waited."""
        key = scope_key(tools, permissions)
        cached = self._fresh(key)
        if cached is not None:
            return cached
        mints_seen = self._mints_done.get(key, 0)
        lock = self._locks.setdefault(key, AsyncLock())
        deadline = current_deadline()
        if not await lock.acquire(None if deadline is None else deadline.left_s()):
            # Another call's mint of this scope is in flight and outlives this call's
            # deadline: waiting for it would let that call's mint set this call's time.
            assert deadline is not None  # only a bounded wait can come back empty
            raise mint_wait_ran_out(deadline, correlation_id)
        try:
            cached = self._fresh(key)
            if cached is not None:
                return cached
            failure = self._last_failure.get(key)
            if failure is not None and failure[0] > mints_seen:
                raise copy.copy(failure[1])  # the mint we waited for failed: share its error
            options = TokenOptions(list(key[0]), list(key[1]), self._ttl_minutes)
            try:
                info = await (self._mint if mint is None else mint)(options)
            except GatewayError as exc:
                self._mints_done[key] = self._mints_done.get(key, 0) + 1
                if deadline is not None and isinstance(exc, GatewayTimeoutError):
                    # Stopped by this call's deadline, perhaps: the waiters have their
                    # own time (or none), so each mints for itself rather than share it.
                    self._last_failure.pop(key, None)
                else:
                    self._last_failure[key] = (self._mints_done[key], exc)
                raise
            self._mints_done[key] = self._mints_done.get(key, 0) + 1
            self._last_failure.pop(key, None)
            self._store(key, info)
            return info
        finally:
            lock.release()
