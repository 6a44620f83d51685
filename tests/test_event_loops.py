"""One client across event loops, over a real loopback socket and on mock://.

Not twinned: the point is several `asyncio.run()` calls in a row, which a test running
inside pytest-asyncio's loop cannot do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx2
import pytest

from runrgateway import GatewayClient, GatewayError, SyncGatewayClient
from runrgateway._keys import AgentKey
from runrgateway.testing import ALLOW_BUILTIN_TOOLS, EmbeddedGateway, GatewayServer, get_gateway

EMAIL = {"to": "a@b.c", "subject": "Hello", "body": "Hi"}


@pytest.fixture(scope="module")
def server() -> Iterator[GatewayServer]:
    gateway = EmbeddedGateway("loops", default_policy=ALLOW_BUILTIN_TOOLS, rate_limit=None)
    with GatewayServer(gateway) as running:
        yield running


@pytest.fixture
def agent(server: GatewayServer) -> tuple[str, str]:
    key = AgentKey.generate("ed25519")
    created = server.gateway.create_agent("loop agent", public_key_pem=key.public_key_pem())
    return created.agent_id, key.private_key_pem()


async def _calls(gw: GatewayClient, n: int = 5) -> list[object]:
    searches = [gw.proxy("serpapi", "search", {"q": f"loop {i}"}) for i in range(n)]
    return [*await asyncio.gather(*searches), await gw.proxy("gmail_send", "send", EMAIL)]


@pytest.mark.parametrize("where", ["socket", "mock"])
def test_one_async_client_in_several_asyncio_runs_in_a_row(
    server: GatewayServer, agent: tuple[str, str], where: str
) -> None:
    url = server.url if where == "socket" else "mock://loops-mock"
    if where == "mock":
        get_gateway("loops-mock").set_rate_limit(None)
    gw = GatewayClient(url, *agent)
    for _ in range(3):  # each run has a new event loop; the old one is closed
        outcomes = asyncio.run(_calls(gw))
        assert len(outcomes) == 6 and outcomes[-1]["success"] is True
    asyncio.run(gw.close())
    with pytest.raises(GatewayError) as closed:
        asyncio.run(_calls(gw))
    assert closed.value.code == "CLIENT_CLOSED"


def test_a_pool_per_loop_drops_the_pools_of_closed_loops(
    server: GatewayServer, agent: tuple[str, str]
) -> None:
    gw = GatewayClient(server.url, *agent)
    for _ in range(4):
        asyncio.run(_calls(gw, 2))
    assert len(gw._pools._by_loop) == 1  # only the last loop's; the others were dropped
    asyncio.run(gw.close())
    assert gw._pools._by_loop == {}


def test_a_callers_client_bound_to_a_closed_loop_is_explained(
    server: GatewayServer, agent: tuple[str, str]
) -> None:
    http = httpx2.AsyncClient()
    gw = GatewayClient(server.url, *agent, http_client=http)
    asyncio.run(_calls(gw, 1))  # the pool now holds connections of that first loop
    with pytest.raises(GatewayError) as raised:
        asyncio.run(_calls(gw, 1))
    assert raised.value.code == "HTTP_CLIENT_UNUSABLE"
    assert "event loop" in str(raised.value) and "asyncio.run()" in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_the_blocking_twin_across_asyncio_runs_and_threads(
    server: GatewayServer, agent: tuple[str, str]
) -> None:
    with SyncGatewayClient(server.url, *agent) as gw:

        async def inside_a_loop() -> object:
            return gw.proxy("serpapi", "search", {"q": "blocking in a loop"})

        assert asyncio.run(inside_a_loop()) and asyncio.run(inside_a_loop())
        assert asyncio.run(asyncio.to_thread(gw.proxy, "gmail_send", "send", EMAIL))
