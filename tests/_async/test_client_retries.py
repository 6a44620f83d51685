"""Retries: what is retried, how often, how long we wait, and that side effects run once."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx2
import pytest

from runrgateway import (
    GatewayClient,
    GatewayError,
    GatewayNetworkError,
    GatewayRateLimitError,
    GatewayTimeoutError,
    GatewayUpstreamError,
)
from tests.helpers import BASE, gateway_token, keeping_keys, proxy_answer, token_answer

from .conftest import Router

EMAIL = {"to": "a@b.c", "subject": "s", "body": "b"}


@pytest.fixture
async def client(agent_pem: str) -> AsyncIterator[GatewayClient]:
    async with GatewayClient(BASE, "agent-1", agent_pem, max_retries=3) as gw:
        yield gw


def search_token() -> str:
    return gateway_token(tools=["serpapi"])


def email_token() -> str:
    return gateway_token(tools=["gmail_send"], permissions=["read", "write"])


def rate_limited(**headers: str) -> httpx2.Response:
    return httpx2.Response(
        429, json={"error": "Rate limit exceeded", "retry_after": 52}, headers=headers
    )


async def test_503_is_retried_even_for_a_side_effect(router: Router, client: GatewayClient) -> None:
    route = router.post("/api/proxy-request").mock(
        side_effect=[httpx2.Response(503), httpx2.Response(503), proxy_answer({"id": "m1"})]
    )
    response = await client.proxy_response("gmail_send", "send", EMAIL, email_token())
    assert response.data == {"id": "m1"} and response.attempts == 3
    sent = route.calls
    assert len({call.request.headers["x-correlation-id"] for call in sent}) == 1
    assert len({call.request.headers["idempotency-key"] for call in sent}) == 1
    assert len({call.request.headers["signature"] for call in sent}) == 3  # signed afresh


@pytest.mark.parametrize("status", [408, 500, 502, 504])
async def test_gmail_send_without_key_is_sent_once(
    router: Router, client: GatewayClient, status: int
) -> None:
    route = router.post("/api/proxy-request").mock(return_value=httpx2.Response(status))
    with pytest.raises(GatewayError) as caught:
        await client.proxy("gmail_send", "send", EMAIL, email_token())
    assert route.call_count == 1 and caught.value.attempts == 1
    assert caught.value.status_code == status


@pytest.mark.parametrize("status", [408, 500, 502, 504])
async def test_read_only_calls_are_retried(
    router: Router, client: GatewayClient, status: int
) -> None:
    route = router.post("/api/proxy-request").mock(
        side_effect=[httpx2.Response(status), proxy_answer()]
    )
    await client.proxy("serpapi", "search", {"q": "a"}, search_token())
    assert route.call_count == 2


@pytest.mark.parametrize("status", [408, 500, 502, 504])
async def test_keyed_calls_are_retried_where_the_gateway_keeps_keys(
    router: Router, client: GatewayClient, status: int
) -> None:
    route = router.post("/api/proxy-request").mock(
        side_effect=keeping_keys(httpx2.Response(status), proxy_answer())
    )
    await client.proxy("gmail_send", "send", EMAIL, email_token(), idempotency_key="k-1")
    assert route.call_count == 2
    assert [call.request.headers["idempotency-key"] for call in route.calls] == ["k-1", "k-1"]


async def test_retries_stop_after_max_retries(router: Router, client: GatewayClient) -> None:
    route = router.post("/api/proxy-request").mock(return_value=httpx2.Response(503))
    with pytest.raises(GatewayUpstreamError) as caught:
        await client.proxy("serpapi", "search", {"q": "a"}, search_token())
    assert route.call_count == 4 and caught.value.attempts == 4


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_other_4xx_are_never_retried(
    router: Router, client: GatewayClient, status: int
) -> None:
    route = router.post("/api/proxy-request").mock(
        return_value=httpx2.Response(status, json={"error": "nope"})
    )
    with pytest.raises(GatewayError):
        await client.proxy("serpapi", "search", {"q": "a"}, search_token(), idempotency_key="k")
    assert route.call_count == 1


async def test_rate_limit_wait_above_the_cap_is_not_waited(
    router: Router, client: GatewayClient
) -> None:
    route = router.post("/api/proxy-request").mock(return_value=rate_limited())
    started = time.monotonic()
    with pytest.raises(GatewayRateLimitError) as caught:
        await client.proxy("serpapi", "search", {"q": "a"}, search_token())
    assert time.monotonic() - started < 1.0
    assert caught.value.retry_after == 52 and route.call_count == 1
    assert caught.value.status_code == 429 and "Rate limit exceeded" in str(caught.value)


@pytest.mark.parametrize(
    "headers, body_wait",
    [
        ({"retry-after": "0.2"}, 52),
        ({"retry-after-ms": "200"}, 52),
        ({}, 0.2),
    ],
)
async def test_rate_limit_waits_what_the_server_asks(
    router: Router, client: GatewayClient, headers: dict[str, str], body_wait: float
) -> None:
    route = router.post("/api/proxy-request").mock(
        side_effect=[
            httpx2.Response(
                429,
                json={"error": "Rate limit exceeded", "retry_after": body_wait},
                headers=headers,
            ),
            proxy_answer(),
        ]
    )
    started = time.monotonic()
    await client.proxy("gmail_send", "send", EMAIL, email_token())
    assert time.monotonic() - started >= 0.19
    assert route.call_count == 2


async def test_503_with_a_long_retry_after_fails_at_once(
    router: Router, client: GatewayClient
) -> None:
    router.post("/api/proxy-request").mock(
        return_value=httpx2.Response(503, headers={"retry-after": "120"})
    )
    with pytest.raises(GatewayUpstreamError) as caught:
        await client.proxy("serpapi", "search", {"q": "a"}, search_token())
    assert caught.value.retry_after == 120 and caught.value.attempts == 1


async def test_connect_errors_are_always_retried(router: Router, client: GatewayClient) -> None:
    route = router.post("/api/proxy-request").mock(
        side_effect=[httpx2.ConnectError("refused"), httpx2.ConnectTimeout("slow"), proxy_answer()]
    )
    await client.proxy("gmail_send", "send", EMAIL, email_token())
    assert route.call_count == 3


async def test_connect_errors_give_up_as_network_errors(
    router: Router, client: GatewayClient
) -> None:
    route = router.post("/api/proxy-request").mock(side_effect=httpx2.ConnectError("refused"))
    with pytest.raises(GatewayNetworkError) as caught:
        await client.proxy("gmail_send", "send", EMAIL, email_token())
    assert route.call_count == 4 and caught.value.attempts == 4
    assert caught.value.status_code is None and not isinstance(caught.value, GatewayTimeoutError)


@pytest.mark.parametrize(
    "failure, error",
    [
        (httpx2.ReadTimeout("slow"), GatewayTimeoutError),
        (httpx2.RemoteProtocolError("dropped"), GatewayNetworkError),
        (httpx2.ReadError("reset"), GatewayNetworkError),
    ],
)
async def test_failures_after_sending_retry_only_idempotent_calls(
    router: Router,
    client: GatewayClient,
    failure: Exception,
    error: type[GatewayError],
) -> None:
    route = router.post("/api/proxy-request").mock(side_effect=failure)
    with pytest.raises(error) as caught:
        await client.proxy("gmail_send", "send", EMAIL, email_token())
    assert route.call_count == 1 and caught.value.attempts == 1
    route.side_effect = [failure, proxy_answer({"r": 1})]
    assert await client.proxy("serpapi", "search", {"q": "a"}, search_token()) == {"r": 1}
    assert route.call_count == 3


async def test_generate_token_is_retried(router: Router, client: GatewayClient) -> None:
    route = router.post("/api/generate-token").mock(
        side_effect=[httpx2.Response(502), httpx2.ReadTimeout("slow"), token_answer]
    )
    token = await client.get_token({"tools": ["serpapi"], "permissions": ["read"]})
    assert token and route.call_count == 3


async def test_extra_read_only_actions_are_retried(router: Router, agent_pem: str) -> None:
    route = router.post("/api/proxy-request").mock(
        side_effect=[httpx2.Response(500), proxy_answer()]
    )
    async with GatewayClient(BASE, "agent-1", agent_pem, read_only_actions={"crm:lookup"}) as gw:
        await gw.proxy("crm", "lookup", {"id": 1}, gateway_token(tools=["crm"]))
    assert route.call_count == 2


async def test_max_retries_zero_sends_once(router: Router, agent_pem: str) -> None:
    route = router.post("/api/proxy-request").mock(return_value=httpx2.Response(503))
    async with GatewayClient(BASE, "agent-1", agent_pem, max_retries=0) as gw:
        with pytest.raises(GatewayUpstreamError):
            await gw.proxy("serpapi", "search", {"q": "a"}, search_token())
    assert route.call_count == 1


async def test_each_attempt_has_its_own_timeout(router: Router, agent_pem: str) -> None:
    route = router.post("/api/proxy-request").mock(return_value=proxy_answer())
    async with GatewayClient(BASE, "agent-1", agent_pem, timeout_ms=1234) as gw:
        await gw.proxy("serpapi", "search", {"q": "a"}, search_token())
    timeout = route.calls.last.request.extensions["timeout"]
    # The wait for a free pool connection has its own bound (10 s unless set).
    assert timeout == {"connect": 1.234, "read": 1.234, "write": 1.234, "pool": 10.0}


async def test_the_pool_wait_is_bounded_on_its_own(router: Router, agent_pem: str) -> None:
    route = router.post("/api/proxy-request").mock(return_value=proxy_answer())
    async with GatewayClient(
        BASE, "agent-1", agent_pem, timeout_ms=1234, pool_timeout_ms=250
    ) as gw:
        await gw.proxy("serpapi", "search", {"q": "a"}, search_token())
    timeout = route.calls.last.request.extensions["timeout"]
    assert timeout == {"connect": 1.234, "read": 1.234, "write": 1.234, "pool": 0.25}


async def test_a_keyed_call_still_running_on_the_gateway_is_waited_for(
    router: Router, client: GatewayClient
) -> None:
    still_running = httpx2.Response(
        409,
        json={
            "error": "A request with this Idempotency-Key is still running",
            "code": "IDEMPOTENCY_CONFLICT",
        },
    )
    route = router.post("/api/proxy-request").mock(
        side_effect=keeping_keys(
            proxy_answer(), httpx2.ReadTimeout("slow"), still_running, proxy_answer({"id": "m1"})
        )
    )
    token = email_token()
    await client.proxy("gmail_send", "profile", {}, token)  # its echo: this gateway keeps keys
    response = await client.proxy_response(
        "gmail_send", "send", EMAIL, token, idempotency_key="k-9"
    )
    assert response.data == {"id": "m1"} and response.attempts == 3
    assert {call.request.headers["idempotency-key"] for call in route.calls[1:]} == {"k-9"}
