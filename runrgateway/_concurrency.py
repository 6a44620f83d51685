"""Concurrency primitives in async/sync pairs, so that unasync maps one name to the other.

asyncio is imported on first use, so that blocking programs never load it.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio


class AsyncLock:
    """An asyncio lock (unasync turns it into `Lock`).

    It follows the running event loop: a client reused by a later `asyncio.run()` gets
    a fresh lock instead of one bound to a loop that is gone.
    """

    def __init__(self) -> None:
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __aenter__(self) -> AsyncLock:
        import asyncio

        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:
            self._lock, self._loop = asyncio.Lock(), loop
        await self._lock.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    async def acquire(self, timeout_s: float | None = None) -> bool:
        """Take the lock within `timeout_s` seconds (None: however long it takes; at once
        when free, whatever the timeout); False if it was not free in time."""
        import asyncio

        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:
            self._lock, self._loop = asyncio.Lock(), loop
        if timeout_s is None or not self._lock.locked():
            await self._lock.acquire()
            return True
        try:
            await asyncio.wait_for(self._lock.acquire(), max(0.0, timeout_s))
        except asyncio.TimeoutError:
            return False
        return True

    def release(self) -> None:
        assert self._lock is not None
        self._lock.release()


class Lock:
    """A thread lock with the same interface as `AsyncLock`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __enter__(self) -> Lock:
        self._lock.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._lock.release()

    def acquire(self, timeout_s: float | None = None) -> bool:
        """Take the lock within `timeout_s` seconds (None: however long it takes); False
        if it was not free in time."""
        return self._lock.acquire(timeout=-1 if timeout_s is None else max(0.0, timeout_s))

    def release(self) -> None:
        self._lock.release()


class AsyncClosing:
    """Set once by `close()`; waits (backoffs, job polls) end early when it is set.

    Waiters may sit in several event loops (one client used from several loops), so
    each waiter is a future of its own loop, woken thread-safely.
    """

    def __init__(self) -> None:
        self._set = False
        self._waiters: set[asyncio.Future[None]] = set()
        self._lock = threading.Lock()

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        with self._lock:
            self._set = True
            waiters, self._waiters = self._waiters, set()
        for waiter in waiters:
            loop = waiter.get_loop()
            if not loop.is_closed():
                loop.call_soon_threadsafe(_wake, waiter)

    async def sleep(self, seconds: float) -> None:
        """Sleep `seconds`, or less if `set()` is called meanwhile."""
        import asyncio

        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._set:
                return
            self._waiters.add(waiter)
        timer = loop.call_later(max(0.0, seconds), _wake, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            with self._lock:
                self._waiters.discard(waiter)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Closing:
    """The blocking twin of `AsyncClosing`: a thread event."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def is_set(self) -> bool:
        return self._event.is_set()

    def set(self) -> None:
        self._event.set()

    def sleep(self, seconds: float) -> None:
        """Sleep `seconds`, or less if `set()` is called meanwhile."""
        self._event.wait(max(0.0, seconds))


async def async_sleep(seconds: float) -> None:
    """Sleep without blocking the event loop."""
    import asyncio

    await asyncio.sleep(seconds)


def sleep(seconds: float) -> None:
    """Block the calling thread."""
    time.sleep(seconds)
