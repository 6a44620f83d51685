"""The async -> sync replacement table that scripts/unasync.py applies.

Only the generator reads it: the build ships the committed twin and never regenerates
(scripts/check_wheel.py proves the wheel's `_sync/` is the checked one).
"""

from __future__ import annotations

from typing import Any

# Every entry must be used somewhere in the async sources: scripts/unasync.py --check
# fails on an unused one, so the table cannot rot.
REPLACEMENTS: dict[str, str] = {
    # httpx2
    "AsyncClient": "Client",
    "aclose": "close",
    "aread": "read",
    "handle_async_request": "handle_request",
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


def all_rules() -> list[Any]:
    """unasync rules for the package and the tests."""
    import unasync

    return [
        unasync.Rule(src, dst, additional_replacements=REPLACEMENTS)
        for src, dst in (PACKAGE_DIRS, TEST_DIRS)
    ]
