"""What the client does about the real gateway (contract sections 4 and 5): a key makes a
side effect retryable only where the gateway echoes it, an open circuit breaker's wait,
and the cap on every wait. Over the wire: the `router` fixture for a gateway that keeps no keys, the
embedded gateway (mock:// and a loopback server) for one that does."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx2
import pytest

from runrgateway import (
    GatewayClient,
    GatewayError,
    GatewayNetworkError,
    GatewayUpstreamError,
)
from runrgateway._keys import AgentKey
from runrgateway.testing import (
    ALLOW_BUILTIN_TOOLS,
    EmbeddedGateway,
    GatewayServer,
    new_mock_gateway,
    remove_gateway,
)
from tests.helpers import BASE, gateway_token, keeping_keys, proxy_answer

from .conftest import Router

EMAIL = {"to": "prospect@company.com", "subject": "Hi", "body": "Hello"}
FAILED = {"error": "External API request failed", "details": "Gmail send failed: socket hang up"}


@pytest.fixture
async def client(agent_pem: str) -> AsyncIterator[GatewayClient]:
    async with GatewayClient(BASE, "agent-1", agent_pem, max_retries=3) as gw:
        yield gw


def email_token() -> str:
    return gateway_token(tools=["gmail_send"], permissions=["read", "write"])


def breaker_open(ms: int) -> httpx2.Response:
    details = f"Circuit breaker is OPEN for {ms}ms"
    return httpx2.Response(502, json={"error": "External API request failed", "details": details})


# A key alone does not make a retry safe ------------------------------------------------


async def test_a_keyed_send_to_a_gateway_that_keeps_no_keys_is_sent_once(
    router: Router, client: GatewayClient
) -> None:
    """The real gateway ignores Idempotency-Key: a 502 after sending may mean it was sent."""
    route = router.post("/api/proxy-request").mock(return_value=httpx2.Response(502, json=FAILED))
    with pytest.raises(GatewayUpstreamError) as caught:
        await client.proxy("gmail_send", "send", EMAIL, email_token(), idempotency_key="k-1")
    assert route.call_count == 1 and caught.value.attempts == 1
    assert "socket hang up" in caught.value.message
    assert route.calls.last.request.headers["idempotency-key"] == "k-1"  # sent all the same


async def test_a_lost_answer_to_a_keyed_send_is_raised_without_an_echo(
    router: Router, client: GatewayClient
) -> None:
    route = router.post("/api/proxy-request").mock(
        side_effect=[proxy_answer(), httpx2.ReadTimeout("slow")]
    )
    token = email_token()
    await client.proxy("gmail_send", "profile", {}, token)  # answered, but no echo
    with pytest.raises(GatewayNetworkError) as caught:
        await client.proxy("gmail_send", "send", EMAIL, token, idempotency_key="k-2")
    assert route.call_count == 2 and caught.value.attempts == 1


async def test_an_echo_on_an_earlier_call_makes_a_keyed_send_retryable(
    router: Router, client: GatewayClient
) -> None:
    route = router.post("/api/proxy-request").mock(
        side_effect=keeping_keys(proxy_answer(), httpx2.ReadTimeout("slow"), proxy_answer())
    )
    token = email_token()
    await client.proxy("gmail_send", "profile", {}, token)  # echoed: this gateway keeps keys
    sent = await client.proxy_response("gmail_send", "send", EMAIL, token, idempotency_key="k-3")
    assert sent.attempts == 2 and route.call_count == 3


async def test_an_echo_of_another_key_proves_nothing(router: Router, client: GatewayClient) -> None:
    wrong_echo = httpx2.Response(502, json=FAILED, headers={"idempotency-key": "someone-else"})
    route = router.post("/api/proxy-request").mock(return_value=wrong_echo)
    with pytest.raises(GatewayUpstreamError):
        await client.proxy("gmail_send", "send", EMAIL, email_token(), idempotency_key="k-4")
    assert route.call_count == 1


async def test_without_a_key_a_send_is_never_retried_even_where_keys_are_kept(
    router: Router, client: GatewayClient
) -> None:
    route = router.post("/api/proxy-request").mock(
        side_effect=keeping_keys(proxy_answer(), httpx2.Response(502, json=FAILED))
    )
    token = email_token()
    await client.proxy("gmail_send", "profile", {}, token)
    with pytest.raises(GatewayUpstreamError):
        await client.proxy("gmail_send", "send", EMAIL, token)  # the SDK's own key: not chosen
    assert route.call_count == 2


async def test_a_keyed_send_is_retried_by_the_embedded_gateway_and_runs_once() -> None:
    gateway = new_mock_gateway("echo")
    try:
        gateway.fail_next(1, 502, route="proxy-request")  # the gateway failed; nothing sent
        async with GatewayClient(gateway.url, "agent-1", "test-key") as gw:
            sent = await gw.proxy_response("gmail_send", "send", EMAIL, idempotency_key="k-5")
            assert sent.attempts == 2 and sent.data["success"] is True
            assert gateway.tool_runs == 1
            # Known to keep keys now: a lost answer after the email went out is replayed.
            gateway.drop_next(1, route="proxy-request")
            again = await gw.proxy_response("gmail_send", "send", EMAIL, idempotency_key="k-6")
        assert again.attempts == 2 and again.idempotent_replayed
        assert gateway.tool_runs == 2  # one email per key
        assert all(r.headers.get("idempotency-key") for r in gateway.requests[1:])
    finally:
        remove_gateway(gateway.name)


async def test_a_keyed_send_is_retried_over_a_socket_and_runs_once() -> None:
    key = AgentKey.generate("ed25519")
    gateway = EmbeddedGateway("echo-server", default_policy=ALLOW_BUILTIN_TOOLS)
    agent = gateway.create_agent("mailer", public_key_pem=key.public_key_pem())
    with GatewayServer(gateway) as server:
        gateway.fail_next(1, 502, route="proxy-request")
        async with GatewayClient(server.url, agent.agent_id, key.private_key_pem()) as gw:
            sent = await gw.proxy_response("gmail_send", "send", EMAIL, idempotency_key="k-7")
    assert sent.attempts == 2 and gateway.tool_runs == 1
    assert [run.params["text"] for run in gateway.tool_calls] == ["Hello"]  # body sent as text


# An open circuit breaker, and the cap on every wait --------------------------------------


async def test_an_open_breaker_is_waited_for_as_it_asks(
    router: Router, client: GatewayClient
) -> None:
    route = router.post("/api/proxy-request").mock(side_effect=[breaker_open(80), proxy_answer()])
    started = time.monotonic()
    await client.proxy("serpapi", "search", {"q": "a"}, gateway_token(tools=["serpapi"]))
    assert time.monotonic() - started >= 0.08
    assert route.call_count == 2


async def test_an_open_breaker_longer_than_the_cap_is_raised_at_once(
    router: Router, client: GatewayClient
) -> None:
    """The real gateway says 30000 ms: retrying sooner would only spend the rate limit."""
    route = router.post("/api/proxy-request").mock(return_value=breaker_open(30000))
    started = time.monotonic()
    with pytest.raises(GatewayUpstreamError) as caught:
        await client.proxy("serpapi", "search", {"q": "a"}, gateway_token(tools=["serpapi"]))
    assert time.monotonic() - started < 1.0
    assert route.call_count == 1 and caught.value.retry_after == 30.0


@pytest.mark.parametrize("status", [409, 500, 502, 503, 504])
async def test_every_wait_is_capped_whatever_the_status(
    router: Router, agent_pem: str, status: int
) -> None:
    long_wait = httpx2.Response(status, json={"error": "busy"}, headers={"retry-after": "3"})
    route = router.post("/api/proxy-request").mock(side_effect=keeping_keys(long_wait, long_wait))
    async with GatewayClient(BASE, "agent-1", agent_pem, max_retry_after_s=1.0) as gw:
        started = time.monotonic()
        with pytest.raises(GatewayError) as caught:
            await gw.proxy("serpapi", "search", {"q": "a"}, gateway_token(tools=["serpapi"]))
    assert time.monotonic() - started < 1.0
    assert route.call_count == 1 and caught.value.status_code == status
