"""The async -> sync replacement table, shared by scripts/unasync.py and setup.py."""

from __future__ import annotations

from typing import Any

# Every entry must be used somewhere in the async sources: scripts/unasync.py --check
# fails on an unused one, so the table cannot rot.
REPLACEMENTS: dict[str, str] = {
    # httpx2
    "AsyncClient": "Client",
    "aclose": "close",
    # tenacity
    "AsyncRetrying": "Retrying",
    # runrgateway shared pairs (runrgateway/_concurrency.py)
    "AsyncLock": "Lock",
    "AsyncClosing": "Closing",
    "async_sleep": "sleep",
    "async_run_concurrently": "run_concurrently",
    "async_run_with": "run_with",
    # runrgateway's own classes
    "AsyncPools": "Pools",
    "GatewayClient": "SyncGatewayClient",
    "AsyncTokenManager": "TokenManager",
    "AsyncGatewayMockTransport": "GatewayMockTransport",
}

PACKAGE_DIRS = ("runrgateway/_async/", "runrgateway/_sync/")
TEST_DIRS = ("tests/_async/", "tests/_sync/")


def package_rules() -> list[Any]:
    """unasync rules for the package only (used at build time)."""
    import unasync

    return [unasync.Rule(PACKAGE_DIRS[0], PACKAGE_DIRS[1], additional_replacements=REPLACEMENTS)]


def all_rules() -> list[Any]:
    """unasync rules for the package and the tests."""
    import unasync

    return [
        unasync.Rule(src, dst, additional_replacements=REPLACEMENTS)
        for src, dst in (PACKAGE_DIRS, TEST_DIRS)
    ]
