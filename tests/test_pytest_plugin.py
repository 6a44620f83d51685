"""The `runr_gateway` fixture in async agent tests, as the docs tell users to write them.

The docs name pytest-asyncio (``asyncio_mode = "auto"``, or ``@pytest.mark.asyncio``
per test). This suite runs in auto mode; the pytester run below uses a user's default
(strict) configuration, with the marker, to prove the recipe as written.
"""

from __future__ import annotations

import pytest

from runrgateway import GatewayClient, SyncGatewayClient
from runrgateway.testing import EmbeddedGateway

pytest_plugins = ["pytester"]


async def test_runr_gateway_in_an_async_test_with_both_clients(
    runr_gateway: EmbeddedGateway,
) -> None:
    async with GatewayClient(runr_gateway.url, "agent-1", "test-key") as gw:
        found = await gw.proxy("serpapi", "search", {"q": "async"})
    # the blocking client works inside the running loop too (it never calls asyncio.run)
    with SyncGatewayClient(runr_gateway.url, "agent-1", "test-key") as sync_gw:
        page = sync_gw.proxy("http_fetch", "get", {"url": "https://example.com"})
    assert found and page
    assert runr_gateway.count("proxy-request") == 2


USER_TEST = """
import pytest
from runrgateway import GatewayClient, GatewayRateLimitError


@pytest.mark.asyncio
async def test_my_agent(runr_gateway):
    runr_gateway.set_rate_limit(1)
    async with GatewayClient(runr_gateway.url, "agent-1", "test-key") as gw:
        await gw.proxy("serpapi", "search", {"q": "a"})
        with pytest.raises(GatewayRateLimitError):
            await gw.proxy("serpapi", "search", {"q": "b"})
    assert runr_gateway.count("proxy-request") == 2


@pytest.mark.asyncio
async def test_each_test_gets_a_fresh_gateway(runr_gateway):
    assert runr_gateway.count() == 0
"""


def test_a_users_async_tests_with_pytest_asyncio(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_agent=USER_TEST)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    result = pytester.runpytest_subprocess("-p", "asyncio", "-q")
    result.assert_outcomes(passed=2)


def test_without_a_plugin_pytest_refuses_async_tests(pytester: pytest.Pytester) -> None:
    """The failure the docs prevent (and proof the run above needed the plugin)."""
    pytester.makepyfile(test_agent=USER_TEST)
    result = pytester.runpytest_subprocess("-p", "no:asyncio", "-q")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*async def functions are not natively supported*"])
