"""The clients' connection pools, in an async/sync pair that unasync maps one to the other.

Where the SDK owns its HTTP client, it holds an httpx2 *transport* (the connection pool
itself: `httpx2.AsyncHTTPTransport` / `httpx2.HTTPTransport`, with the proxy the
environment names, httpx2's TLS defaults and the configured limits), and each attempt
is handed to it directly: the `httpx2.Client` layer (request building from arguments,
header and cookie merging, the auth and redirect machinery, event hooks, mounts)
does nothing the SDK needs and costs on every call. A caller's `http_client` is kept
whole instead: its event hooks, auth and mounts apply; it is never closed here.

A pool belongs to the event loop that first used it: httpx2's async connections are
tied to that loop's sockets and cannot be used from another one. `AsyncPools` therefore
keeps one transport per event loop, built on first use in a loop and dropped once that
loop is closed, so one `GatewayClient` works across `asyncio.run()` calls (pytest-
asyncio's function-scoped loops, notebooks, sync wrappers). `Pools`, for the blocking
twin, has a single thread-safe transport.

`new_transport` is the one place that builds the SDK's own transport; the tests replace
it with an `httpx2.MockTransport` (tests/_async/conftest.py, `router`) so that the path
they exercise is the SDK-owned one. Nothing here sends a request: the clients do.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx2

if TYPE_CHECKING:
    import asyncio


class AsyncPools:
    """One httpx2 transport per event loop (or the caller's client, as given)."""

    def __init__(
        self,
        build: Callable[[], httpx2.AsyncBaseTransport] | None = None,
        *,
        caller_client: httpx2.AsyncClient | None = None,
    ) -> None:
        self._build = build
        self._caller = caller_client
        self._by_loop: dict[asyncio.AbstractEventLoop, httpx2.AsyncBaseTransport] = {}
        self._lock = threading.Lock()  # loops may run in several threads

    @property
    def owned(self) -> bool:
        return self._caller is None

    @property
    def caller(self) -> httpx2.AsyncClient | None:
        """The caller's `http_client`, or None when the SDK owns its pool."""
        return self._caller

    @staticmethod
    def new_transport(
        limits: httpx2.Limits, proxy: httpx2.Proxy | None
    ) -> httpx2.AsyncBaseTransport:
        """The SDK's own pool (tests replace this to plug in a mock transport).

        What `httpx2.AsyncClient(limits=limits)` would build for the gateway's URL: TLS
        verified with httpx2's defaults (`SSL_CERT_FILE`/`SSL_CERT_DIR` honoured), the
        proxy `_transport.environment_proxy` found, HTTP/1.1.
        """
        return httpx2.AsyncHTTPTransport(limits=limits, proxy=proxy)

    def transport(self) -> httpx2.AsyncBaseTransport:
        """The transport for the running event loop: built on first use in it."""
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
    """The blocking twin's pool: one thread-safe httpx2 transport (or the caller's client)."""

    def __init__(
        self,
        build: Callable[[], httpx2.BaseTransport] | None = None,
        *,
        caller_client: httpx2.Client | None = None,
    ) -> None:
        self._build = build
        self._caller = caller_client
        self._transport: httpx2.BaseTransport | None = None
        self._lock = threading.Lock()

    @property
    def owned(self) -> bool:
        return self._caller is None

    @property
    def caller(self) -> httpx2.Client | None:
        """The caller's `http_client`, or None when the SDK owns its pool."""
        return self._caller

    @staticmethod
    def new_transport(limits: httpx2.Limits, proxy: httpx2.Proxy | None) -> httpx2.BaseTransport:
        """The SDK's own pool (tests replace this to plug in a mock transport)."""
        return httpx2.HTTPTransport(limits=limits, proxy=proxy)

    def transport(self) -> httpx2.BaseTransport:
        current = self._transport
        if current is None:
            with self._lock:
                if self._transport is None:
                    assert self._build is not None
                    self._transport = self._build()
                current = self._transport
        return current

    def close(self) -> None:
        if self._caller is not None:
            return
        with self._lock:
            pool, self._transport = self._transport, None
        if pool is not None:
            pool.close()
