"""Helpers shared by the async tests and their generated sync twins."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


async def async_run_concurrently(calls: list[Callable[[], Awaitable[T]]]) -> list[T]:
    """Run the calls at once as asyncio tasks (unasync: `run_concurrently`, threads)."""
    return list(await asyncio.gather(*(call() for call in calls)))


def run_concurrently(calls: list[Callable[[], T]], max_workers: int = 16) -> list[T]:
    """Run the calls at once on threads; results in order."""
    with ThreadPoolExecutor(max_workers=max_workers) as pool:
        futures = [pool.submit(call) for call in calls]
        return [future.result() for future in futures]
