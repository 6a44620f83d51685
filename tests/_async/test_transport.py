"""The transport over a real loopback socket: http_client checks, redirects, close() with
calls in flight, a full pool."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest

from runrgateway import GatewayClient, GatewayConfigError, GatewayError, GatewayTimeoutError
from runrgateway._concurrency import async_sleep
from runrgateway._keys import AgentKey
from runrgateway.testing import ALLOW_BUILTIN_TOOLS, EmbeddedGateway, GatewayServer
from tests.helpers import async_run_with

EMAIL = {"to": "a@b.c", "subject": "Hello", "body": "Hi"}


@pytest.fixture(scope="module")
def server() -> Iterator[GatewayServer]:
    gateway = EmbeddedGateway("transport", default_policy=ALLOW_BUILTIN_TOOLS, rate_limit=None)
    with GatewayServer(gateway) as running:
        yield running


@pytest.fixture
def gateway(server: GatewayServer) -> Iterator[EmbeddedGateway]:
    yield server.gateway
    server.gateway.reset()


@pytest.fixture
def agent(gateway: EmbeddedGateway) -> tuple[str, str]:
    key = AgentKey.generate("ed25519")
    created = gateway.create_agent("transport agent", public_key_pem=key.public_key_pem())
    return created.agent_id, key.private_key_pem()


async def _nothing() -> None:
    pass


async def _until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        await async_sleep(0.01)


class _HttpxLookalike:
    """Stands for an encode-httpx client (httpx itself is not installed)."""


_HttpxLookalike.__module__ = "httpx._client"


def _other_twins_http_client() -> Any:
    """An httpx2 client of the other kind (blocking here, async in the generated twin)."""
    kinds = httpx2._client.BaseClient.__subclasses__()
    return next(kind for kind in kinds if kind is not httpx2.AsyncClient)()


@pytest.mark.parametrize(
    "make_wrong",
    [_other_twins_http_client, lambda: "x", lambda: 1.5, object, _HttpxLookalike],
    ids=["other-twin", "str", "float", "object", "encode-httpx"],
)
async def test_a_wrong_http_client_is_refused_before_anything_is_sent(
    server: GatewayServer,
    gateway: EmbeddedGateway,
    agent: tuple[str, str],
    make_wrong: Callable[[], Any],
) -> None:
    wrong = make_wrong()
    with pytest.raises(GatewayConfigError) as raised:
        GatewayClient(server.url, *agent, http_client=wrong)
    assert "httpx2." + httpx2.AsyncClient.__name__ in str(raised.value)  # what is accepted
    if isinstance(wrong, _HttpxLookalike):
        assert "encode httpx client is not accepted" in str(raised.value)
    assert gateway.requests == []


async def test_a_closed_http_client_is_refused(
    server: GatewayServer, gateway: EmbeddedGateway, agent: tuple[str, str]
) -> None:
    http = httpx2.AsyncClient()
    await http.aclose()
    with pytest.raises(GatewayConfigError, match="already closed"):
        GatewayClient(server.url, *agent, http_client=http)
    assert gateway.requests == []


@pytest.mark.parametrize("callers_client", [False, True], ids=["own-pool", "callers-client"])
async def test_a_307_is_never_followed(
    server: GatewayServer, gateway: EmbeddedGateway, agent: tuple[str, str], callers_client: bool
) -> None:
    elsewhere = EmbeddedGateway("elsewhere", default_policy=ALLOW_BUILTIN_TOOLS, rate_limit=None)
    with GatewayServer(elsewhere) as target:
        gateway.fail_next(
            1, 307, body="", headers={"location": f"{target.url}/api/proxy-request"},
            route="proxy-request",
        )  # fmt: skip
        http = httpx2.AsyncClient(follow_redirects=True) if callers_client else None
        async with GatewayClient(server.url, *agent, http_client=http) as gw:
            with pytest.raises(GatewayError) as raised:
                await gw.proxy("gmail_send", "send", EMAIL)
        if http is not None:
            await http.aclose()
        assert raised.value.code == "REDIRECT_REFUSED" and raised.value.status_code == 307
        assert "307" in str(raised.value) and "'127.0.0.1'" in str(raised.value)
        assert gateway.count("proxy-request") == 1  # not re-sent, not retried
        assert elsewhere.requests == []  # nothing went on to the target


async def test_close_with_50_calls_in_flight_ends_each_with_client_closed(
    server: GatewayServer, gateway: EmbeddedGateway, agent: tuple[str, str]
) -> None:
    gw = GatewayClient(server.url, *agent, timeout_ms=8000)
    await gw.proxy("serpapi", "search", {"q": "warm up"})  # the token is minted
    gateway.delay_next(50, 4.0, route="proxy-request")
    calls = [lambda: gw.proxy("serpapi", "search", {"q": "slow"}) for _ in range(50)]

    async def close_once_all_arrived() -> None:
        await _until(lambda: gateway.count("proxy-request") == 51)
        await gw.close()

    outcomes = await async_run_with(calls, close_once_all_arrived, after_s=0.0)
    codes = [getattr(outcome, "code", type(outcome).__name__) for outcome in outcomes]
    assert codes == ["CLIENT_CLOSED"] * 50
    assert all("in flight" in str(outcome) for outcome in outcomes)
    with pytest.raises(GatewayError) as later:
        await gw.proxy("serpapi", "search", {"q": "after"})
    assert later.value.code == "CLIENT_CLOSED"


async def test_close_ends_a_call_waiting_in_a_backoff(
    server: GatewayServer, gateway: EmbeddedGateway, agent: tuple[str, str]
) -> None:
    gateway.fail_next(1, 503, route="proxy-request", retry_after=10)
    gw = GatewayClient(server.url, *agent, max_retry_after_s=30)

    async def close_once_answered() -> None:
        await _until(lambda: gateway.count("proxy-request") == 1)
        await async_sleep(0.2)  # the 503 is read; the call waits its 10 s
        await gw.close()

    outcomes = await async_run_with(
        [lambda: gw.proxy("serpapi", "search", {"q": "later"})], close_once_answered, after_s=0.0
    )
    assert [getattr(outcome, "code", outcome) for outcome in outcomes] == ["CLIENT_CLOSED"]
    assert gateway.count("proxy-request") == 1  # no attempt started after close()


async def test_a_full_pool_says_so_with_its_limits(
    server: GatewayServer, gateway: EmbeddedGateway, agent: tuple[str, str]
) -> None:
    async with GatewayClient(
        server.url, *agent, max_connections=1, pool_timeout_ms=200, timeout_ms=5000
    ) as gw:
        await gw.proxy("serpapi", "search", {"q": "warm up"})
        gateway.delay_next(1, 1.0, route="proxy-request")
        calls = [lambda: gw.proxy("serpapi", "search", {"q": "busy"}) for _ in range(2)]
        outcomes = await async_run_with(calls, _nothing, after_s=0.0)
    full = [outcome for outcome in outcomes if isinstance(outcome, GatewayTimeoutError)]
    assert len(full) == 1, outcomes
    assert full[0].code == "POOL_FULL"
    assert "connection pool was full" in str(full[0]) and "max_connections=1" in str(full[0])


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"max_connections": 0}, "max_connections"),
        ({"max_connections": "10"}, "max_connections"),
        ({"max_keepalive_connections": -1}, "max_keepalive_connections"),
        ({"max_connections": 2, "max_keepalive_connections": 3}, "max_keepalive_connections"),
        ({"pool_timeout_ms": 0}, "pool_timeout_ms"),
        ({"pool_timeout_ms": True}, "pool_timeout_ms"),
        ({"max_connections": 5, "http_client": httpx2.AsyncClient()}, "http_client"),
    ],
)
async def test_pool_settings_are_checked(
    server: GatewayServer, agent: tuple[str, str], kwargs: dict[str, Any], named: str
) -> None:
    with pytest.raises(GatewayConfigError, match=named):
        GatewayClient(server.url, *agent, **kwargs)
