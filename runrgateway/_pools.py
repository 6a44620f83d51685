"""The clients' connection pools, in an async/sync pair that unasync maps one to the other.

A pool belongs to the event loop that first used it: httpx2's async connections are
tied to that loop's sockets and cannot be used from another one. `AsyncPools` therefore
keeps one `httpx2.AsyncClient` per event loop, built on first use in a loop and
dropped once that loop is closed, so one `GatewayClient` works across `asyncio.run()`
calls (pytest-asyncio's function-scoped loops, notebooks, sync wrappers). `Pools`, for
the blocking twin, has a single thread-safe `httpx2.Client`.

A caller's `http_client` is used as given and never closed here: it is the caller's.

`new_http_client` is the one place that builds the SDK's own HTTP client; the tests
replace it with an `httpx2.MockTransport` (tests/_async/conftest.py, `router`) so that
the path they exercise is the SDK-owned one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx2

if TYPE_CHECKING:
    import asyncio


class AsyncPools:
    """One `httpx2.AsyncClient` per event loop (or the caller's client, as given)."""

    def __init__(
        self,
        build: Callable[[], httpx2.AsyncClient] | None = None,
        *,
        caller_client: httpx2.AsyncClient | None = None,
    ) -> None:
        self._build = build
        self._caller = caller_client
        self._by_loop: dict[asyncio.AbstractEventLoop, httpx2.AsyncClient] = {}
        self._lock = threading.Lock()  # loops may run in several threads

    @property
    def owned(self) -> bool:
        return self._caller is None

    @staticmethod
    def new_http_client(limits: httpx2.Limits) -> httpx2.AsyncClient:
        """The SDK's own HTTP client (tests replace this to plug in a mock transport)."""
        return httpx2.AsyncClient(limits=limits)

    def client(self) -> httpx2.AsyncClient:
        """The client for the running event loop: built on first use in it."""
        if self._caller is not None:
            return self._caller
        import asyncio

        loop = asyncio.get_running_loop()
        current = self._by_loop.get(loop)
        if current is not None:
            return current
        with self._lock:
            # A closed loop's connections can never be used again: drop them (their
            # sockets are closed when the garbage collector reclaims the transports).
            for old in [old for old in self._by_loop if old.is_closed()]:
                del self._by_loop[old]
            assert self._build is not None
            current = self._by_loop[loop] = self._build()
        return current

    async def aclose(self) -> None:
        """Close the pools we own: this loop's at once, others' in their own loop."""
        if self._caller is not None:
            return
        import asyncio

        with self._lock:
            pools, self._by_loop = self._by_loop, {}
        running = asyncio.get_running_loop()
        for loop, pool in pools.items():
            if loop is running:
                await pool.aclose()
            elif not loop.is_closed():
                asyncio.run_coroutine_threadsafe(pool.aclose(), loop)


class Pools:
    """The blocking twin's pool: one thread-safe `httpx2.Client` (or the caller's)."""

    def __init__(
        self,
        build: Callable[[], httpx2.Client] | None = None,
        *,
        caller_client: httpx2.Client | None = None,
    ) -> None:
        self._build = build
        self._caller = caller_client
        self._client: httpx2.Client | None = None
        self._lock = threading.Lock()

    @property
    def owned(self) -> bool:
        return self._caller is None

    @staticmethod
    def new_http_client(limits: httpx2.Limits) -> httpx2.Client:
        """The SDK's own HTTP client (tests replace this to plug in a mock transport)."""
        return httpx2.Client(limits=limits)

    def client(self) -> httpx2.Client:
        if self._caller is not None:
            return self._caller
        current = self._client
        if current is None:
            with self._lock:
                if self._client is None:
                    assert self._build is not None
                    self._client = self._build()
                current = self._client
        return current

    def close(self) -> None:
        if self._caller is not None:
            return
        with self._lock:
            pool, self._client = self._client, None
        if pool is not None:
            pool.close()
