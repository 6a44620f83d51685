"""`with_options` copies and the deadline over a whole call, against `GatewayServer` over
a real loopback socket.

The deadline tests measure wall time with wide bounds (the machine is shared): what they
check is the order of magnitude, a call that ends near its deadline instead of after
every retry, or at once instead of after a wait it would not survive.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import pytest

from runrgateway import (
    GatewayClient,
    GatewayConfigError,
    GatewayError,
    GatewayTimeoutError,
    GatewayUpstreamError,
)
from runrgateway._keys import AgentKey
from runrgateway.testing import ALLOW_BUILTIN_TOOLS, EmbeddedGateway, GatewayServer
from tests.helpers import async_run_with

pytestmark = pytest.mark.timeout(60)

SEARCH = {"q": "montreal plumber"}


@pytest.fixture(scope="module")
def server() -> Iterator[GatewayServer]:
    gateway = EmbeddedGateway("options", default_policy=ALLOW_BUILTIN_TOOLS, rate_limit=None)
    with GatewayServer(gateway) as running:
        yield running


@pytest.fixture
def gateway(server: GatewayServer) -> Iterator[EmbeddedGateway]:
    yield server.gateway
    server.gateway.reset()


@pytest.fixture
def agent(gateway: EmbeddedGateway) -> tuple[str, str]:
    key = AgentKey.generate("ed25519")
    created = gateway.create_agent("options agent", public_key_pem=key.public_key_pem())
    return created.agent_id, key.private_key_pem()


@pytest.fixture
async def client(server: GatewayServer, agent: tuple[str, str]) -> AsyncIterator[GatewayClient]:
    async with GatewayClient(server.url, *agent, max_retries=10) as gw:
        yield gw


async def _nothing() -> None:
    pass


# ------------------------------------------------------------------------ with_options


async def test_copies_share_the_token_cache_one_mint_for_all(
    client: GatewayClient, gateway: EmbeddedGateway
) -> None:
    fast = client.with_options(timeout_ms=2000, deadline_s=10)
    careful = fast.with_options(max_retries=0)
    for gw in (client, fast, careful, client.with_options(max_retry_after_s=1)):
        assert (await gw.proxy("serpapi", "search", SEARCH))["organic_results"]
    assert gateway.count("generate-token") == 1
    assert gateway.count("proxy-request") == 4
    assert repr(fast) == repr(client)  # same gateway, same agent


async def test_a_copy_shares_the_pool(
    server: GatewayServer, gateway: EmbeddedGateway, agent: tuple[str, str]
) -> None:
    # One connection in the pool: a copy with a pool of its own would not wait for it.
    async with GatewayClient(
        server.url, *agent, max_connections=1, pool_timeout_ms=200, timeout_ms=5000
    ) as gw:
        await gw.proxy("serpapi", "search", {"q": "warm up"})
        copy = gw.with_options(timeout_ms=4000)
        gateway.delay_next(1, 1.0, route="proxy-request")
        outcomes = await async_run_with(
            [
                lambda: gw.proxy("serpapi", "search", {"q": "slow"}),
                lambda: copy.proxy("serpapi", "search", {"q": "waits for the connection"}),
            ],
            _nothing,
            after_s=0.0,
        )
    full = [outcome for outcome in outcomes if isinstance(outcome, GatewayTimeoutError)]
    assert len(full) == 1 and full[0].code == "POOL_FULL", outcomes
    assert gateway.count("generate-token") == 1


async def test_a_copy_changes_only_its_own_calls(
    client: GatewayClient, gateway: EmbeddedGateway
) -> None:
    once = client.with_options(max_retries=0)
    gateway.fail_next(1, 503, route="proxy-request")
    with pytest.raises(GatewayUpstreamError) as raised:
        await once.proxy("serpapi", "search", SEARCH)
    assert raised.value.attempts == 1
    gateway.fail_next(1, 503, route="proxy-request")
    response = await client.proxy_response("serpapi", "search", SEARCH)
    assert response.attempts == 2  # the original still retries


async def test_closing_a_copy_closes_nothing_shared(
    client: GatewayClient, gateway: EmbeddedGateway
) -> None:
    async with client.with_options(deadline_s=5) as copy:
        await copy.proxy("serpapi", "search", SEARCH)
    with pytest.raises(GatewayError) as closed:
        await copy.proxy("serpapi", "search", SEARCH)
    assert closed.value.code == "CLIENT_CLOSED"
    other = client.with_options(timeout_ms=3000)
    await client.proxy("serpapi", "search", SEARCH)  # the pool and the tokens live on
    await other.proxy("serpapi", "search", SEARCH)
    await client.close()  # the original owns the pool: its copies close with it
    with pytest.raises(GatewayError) as after:
        await other.proxy("serpapi", "search", SEARCH)
    assert after.value.code == "CLIENT_CLOSED"
    with pytest.raises(GatewayError):
        client.with_options(deadline_s=1)
    assert gateway.count("generate-token") == 1


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"timeout_ms": 0}, "timeout_ms"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retry_after_s": float("nan")}, "max_retry_after_s"),
        ({"deadline_s": 0}, "deadline_s"),
        ({"deadline_s": "2"}, "deadline_s"),
    ],
)
async def test_bad_options_are_refused_by_name(
    client: GatewayClient, server: GatewayServer, agent: tuple[str, str], change: dict, named: str
) -> None:
    with pytest.raises(GatewayConfigError, match=named):
        client.with_options(**change)
    if named == "deadline_s":
        with pytest.raises(GatewayConfigError, match=named):
            GatewayClient(server.url, *agent, **change)


# ---------------------------------------------------------------------------- deadline


async def test_a_deadline_ends_retries_on_503_with_retry_after(
    server: GatewayServer, gateway: EmbeddedGateway, agent: tuple[str, str]
) -> None:
    async with GatewayClient(server.url, *agent, max_retries=10, deadline_s=1.0) as gw:
        await gw.get_token({"tools": ["serpapi"], "permissions": ["read"]})  # warm the pool
        gateway.fail_next(20, 503, route="proxy-request", retry_after=0.4)
        started = time.monotonic()
        with pytest.raises(GatewayTimeoutError) as raised:
            await gw.proxy("serpapi", "search", SEARCH)
        elapsed = time.monotonic() - started
    error = raised.value
    assert 0.6 <= elapsed <= 2.0, elapsed  # about the deadline, not 10 retries' worth
    assert elapsed >= 0.4 * (error.attempts - 1)  # every wait before a retry was waited
    assert "the deadline of 1 s (deadline_s) ran out after" in error.message
    assert f"after {error.attempts} attempts of serpapi:search" in error.message
    assert "0.4 s, asked by the gateway" in error.message and "503" in error.message
    assert error.attempts in (2, 3)  # 3 on a machine that is not too loaded
    assert gateway.count("proxy-request") == error.attempts
    assert error.details["last_status_code"] == 503
    assert error.correlation_id == gateway.requests[-1].headers["x-correlation-id"]


async def test_a_deadline_does_not_start_a_wait_it_would_not_survive(
    client: GatewayClient, gateway: EmbeddedGateway
) -> None:
    await client.proxy("serpapi", "search", SEARCH)  # token minted, connection open
    patient = client.with_options(max_retry_after_s=60, deadline_s=1.0)
    gateway.fail_next(1, 503, route="proxy-request", retry_after=30)
    started = time.monotonic()
    with pytest.raises(GatewayTimeoutError) as raised:
        await patient.proxy("serpapi", "search", SEARCH)
    elapsed = time.monotonic() - started
    assert elapsed < 0.9, elapsed  # not 30 s, and not even until the deadline
    assert raised.value.attempts == 1
    assert "ran out after 1 attempt of serpapi:search" in raised.value.message
    assert "(30 s, asked by the gateway) would end past it" in raised.value.message
    assert gateway.count("proxy-request") == 2  # the warm-up, and this call's one attempt


async def test_a_deadline_cuts_a_slow_attempt_short(
    client: GatewayClient, gateway: EmbeddedGateway
) -> None:
    await client.proxy("serpapi", "search", SEARCH)  # token minted, connection open
    gateway.delay_next(1, 3.0, route="proxy-request")
    started = time.monotonic()
    with pytest.raises(GatewayTimeoutError) as raised:
        await client.with_options(timeout_ms=6000, deadline_s=1.0).proxy(
            "serpapi", "search", SEARCH
        )
    elapsed = time.monotonic() - started
    assert 0.8 <= elapsed <= 2.0, elapsed  # the 6 s attempt timeout was clipped
    assert "ran out after 1 attempt of serpapi:search" in raised.value.message
    assert "cut short at the deadline" in raised.value.message


async def test_a_token_mint_counts_against_the_call_deadline(
    client: GatewayClient, gateway: EmbeddedGateway
) -> None:
    gateway.delay_next(1, 3.0, route="generate-token")
    started = time.monotonic()
    with pytest.raises(GatewayTimeoutError) as raised:
        await client.with_options(deadline_s=1.0).proxy("serpapi", "search", SEARCH)
    elapsed = time.monotonic() - started
    assert 0.8 <= elapsed <= 2.0, elapsed
    assert "POST /api/generate-token" in raised.value.message
    assert gateway.count("proxy-request") == 0  # the call never got its token


async def test_deadline_none_in_a_copy_lifts_the_client_deadline(
    server: GatewayServer, gateway: EmbeddedGateway, agent: tuple[str, str]
) -> None:
    async with GatewayClient(server.url, *agent, deadline_s=0.3) as gw:
        unbounded = gw.with_options(deadline_s=None)
        await unbounded.proxy("serpapi", "search", SEARCH)  # token minted, connection open
        gateway.fail_next(2, 503, route="proxy-request", retry_after=0.4)
        with pytest.raises(GatewayTimeoutError):  # the first wait would cross 0.3 s
            await gw.proxy("serpapi", "search", SEARCH)
        gateway.fail_next(1, 503, route="proxy-request", retry_after=0.4)
        response = await unbounded.proxy_response("serpapi", "search", SEARCH)
    assert response.attempts == 3  # the fault left from the first call, then this one


async def test_waiting_on_another_calls_mint_counts_against_the_deadline(
    client: GatewayClient, gateway: EmbeddedGateway
) -> None:
    # One call (no deadline) mints the managed token slowly; a second call for the same
    # scope, with a deadline, waits on that single-flight mint: the wait is bounded by
    # the second call's deadline, not by the first call's mint.
    gateway.delay_next(1, 3.0, route="generate-token")
    bounded = client.with_options(deadline_s=0.5)
    seen: dict[str, object] = {}

    async def bounded_call() -> None:
        started = time.monotonic()
        try:
            await bounded.proxy("serpapi", "search", SEARCH, correlation_id="runr-waiter-1")
        except GatewayTimeoutError as exc:
            seen["error"] = exc
        seen["elapsed"] = time.monotonic() - started

    outcomes = await async_run_with(
        [lambda: client.proxy("serpapi", "search", SEARCH)], bounded_call, after_s=0.3
    )
    assert outcomes[0]["organic_results"]  # type: ignore[index]  # the slow mint's call
    error = seen.get("error")
    assert isinstance(error, GatewayTimeoutError), seen
    assert seen["elapsed"] < 2.0, seen  # about the 0.5 s deadline, not the 3 s mint
    assert "the deadline of 0.5 s (deadline_s) ran out" in error.message
    assert "another call's mint" in error.message
    assert error.attempts == 0
    assert error.correlation_id == "runr-waiter-1"  # the waiting call's id, for support
    assert gateway.count("generate-token") == 1  # the waiter never minted a token
    assert gateway.count("proxy-request") == 1


async def test_a_copy_mints_its_managed_token_with_its_own_settings(
    server: GatewayServer, gateway: EmbeddedGateway, agent: tuple[str, str]
) -> None:
    # The copy lifts the client's deadline and retries more: the managed-token mint made
    # for its call follows the copy's settings, not those of the client it was made from.
    async with GatewayClient(server.url, *agent, deadline_s=0.5, max_retries=0) as gw:
        patient = gw.with_options(deadline_s=None, max_retries=2)
        gateway.delay_next(1, 1.0, route="generate-token")
        gateway.fail_next(1, 503, route="generate-token", retry_after=0.1)
        assert (await patient.proxy("serpapi", "search", SEARCH))["organic_results"]
        assert gateway.count("generate-token") == 2  # the 503, then the slow success
        with pytest.raises(GatewayUpstreamError):  # the original's settings are its own
            gateway.fail_next(1, 503, route="proxy-request", retry_after=0.1)
            await gw.proxy("serpapi", "search", SEARCH)


async def test_a_mint_stopped_by_one_calls_deadline_is_not_shared_with_its_waiters(
    client: GatewayClient, gateway: EmbeddedGateway
) -> None:
    # A call with a short deadline mints the managed token and its deadline stops the
    # mint; a call without a deadline, waiting on that mint, mints its own token instead
    # of failing with the other call's deadline error.
    gateway.delay_next(1, 2.0, route="generate-token")
    hurried = client.with_options(deadline_s=0.5)
    seen: dict[str, object] = {}

    async def unbounded_call() -> None:
        seen["data"] = await client.proxy("serpapi", "search", SEARCH)

    outcomes = await async_run_with(
        [lambda: hurried.proxy("serpapi", "search", SEARCH)], unbounded_call, after_s=0.1
    )
    assert isinstance(outcomes[0], GatewayTimeoutError)  # the hurried call's own deadline
    assert "the deadline of 0.5 s (deadline_s) ran out" in outcomes[0].message
    assert seen["data"]["organic_results"]  # type: ignore[index]
    assert gateway.count("generate-token") == 2  # the stopped mint, then the waiter's own
