"""Hostile or foreign gateway answers end in a value or a typed `GatewayError` (issue 13).

Each case the issue lists has its own test here; tests/_async/test_answer_properties.py
generalises them with hypothesis.
"""

from __future__ import annotations

import gzip
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
from runrgateway._concurrency import async_sleep
from runrgateway.testing import EmbeddedGateway
from tests.helpers import BASE, gateway_token

from .conftest import Router

TOKEN = gateway_token(tools=["serpapi"])


@pytest.fixture
async def client(agent_pem: str) -> AsyncIterator[GatewayClient]:
    async with GatewayClient(BASE, "agent-1", agent_pem, max_retries=0) as gw:
        yield gw


async def call(client: GatewayClient) -> object:
    return await client.proxy("serpapi", "search", {"q": "a"}, TOKEN)


async def test_retry_after_http_date_with_a_huge_year(
    router: Router, client: GatewayClient
) -> None:
    router.post("/api/proxy-request").mock(
        return_value=httpx2.Response(
            429, headers={"retry-after": "Fri, 01 Jan 99999999 00:00:00 GMT"}, json={}
        )
    )
    with pytest.raises(GatewayRateLimitError) as caught:
        await call(client)
    assert caught.value.retry_after is None or caught.value.retry_after < float("inf")


async def test_retry_after_of_four_hundred_digits_in_the_body(
    router: Router, client: GatewayClient
) -> None:
    body = b'{"error": "Rate limit exceeded", "retry_after": ' + b"9" * 400 + b"}"
    router.post("/api/proxy-request").mock(return_value=httpx2.Response(429, content=body))
    with pytest.raises(GatewayRateLimitError) as caught:
        await call(client)
    assert caught.value.retry_after is not None
    assert caught.value.retry_after > client._max_retry_after_s  # reported, not waited
    assert caught.value.retry_after < float("inf")
    assert "Rate limit exceeded" in str(caught.value)


@pytest.mark.parametrize("depth", [600, 100_000])
@pytest.mark.parametrize(
    "status, prefix", [(400, b'{"error": "Bad", "details": '), (200, b'{"success": true, "data": ')]
)
async def test_body_nested_deep(
    router: Router, client: GatewayClient, depth: int, status: int, prefix: bytes
) -> None:
    body = prefix + b"[" * depth + b"]" * depth + b"}"
    router.post("/api/proxy-request").mock(return_value=httpx2.Response(status, content=body))
    with pytest.raises(GatewayError) as caught:
        await call(client)
    assert caught.value.status_code == status
    if status == 200:
        assert caught.value.code == "BAD_RESPONSE" and "nested" in str(caught.value)
    else:
        assert "could not be read as JSON" in str(caught.value)


async def test_ordinary_nesting_still_decodes(router: Router, client: GatewayClient) -> None:
    data: object = "leaf"
    for _ in range(30):  # 60 levels: deeper than any tool answer
        data = {"a": [data]}
    router.post("/api/proxy-request").mock(
        return_value=httpx2.Response(200, json={"success": True, "data": data})
    )
    assert await call(client) == data


@pytest.mark.parametrize("status", [200, 400])
async def test_gzip_marked_body_that_is_not_gzip(
    router: Router, client: GatewayClient, status: int
) -> None:
    router.post("/api/proxy-request").mock(
        side_effect=lambda _: httpx2.Response(
            status,
            headers={"content-encoding": "gzip"},
            stream=httpx2.ByteStream(b"this is not gzip"),  # read (and decoded) by the client
        )
    )
    with pytest.raises(GatewayError) as caught:
        await call(client)
    assert caught.value.code == "BAD_RESPONSE"
    assert "Content-Encoding" in str(caught.value)


async def test_real_gzip_still_decodes(router: Router, client: GatewayClient) -> None:
    router.post("/api/proxy-request").mock(
        return_value=httpx2.Response(
            200,
            headers={"content-encoding": "gzip", "content-type": "application/json"},
            content=gzip.compress(b'{"success": true, "data": {"ok": 1}}'),
        )
    )
    assert await call(client) == {"ok": 1}


async def test_wait_cap_holds_for_a_502_too(
    router: Router, agent_pem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only call's 502 asking for an hour is reported, not slept (every status)."""
    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)

    # The client module's own binding of the sleep (the twin's name after unasync).
    monkeypatch.setitem(GatewayClient._send.__globals__, async_sleep.__name__, record)
    route = router.post("/api/proxy-request").mock(
        return_value=httpx2.Response(502, headers={"retry-after": "3600"}, json={"error": "x"})
    )
    async with GatewayClient(BASE, "agent-1", agent_pem, max_retry_after_s=1) as gw:
        with pytest.raises(GatewayUpstreamError):
            await gw.proxy("serpapi", "search", {"q": "a"}, TOKEN)
    assert slept == [] and route.call_count == 1


async def test_html_page_from_another_service(router: Router, client: GatewayClient) -> None:
    page = (
        "<!DOCTYPE html>\n<html><head><title>Welcome to nginx!</title></head>\n<body>"
        + "<p>filler text</p>\n" * 500
        + "</body></html>"
    )
    router.post("/api/proxy-request").mock(
        return_value=httpx2.Response(
            404, text=page, headers={"content-type": "text/html; charset=utf-8"}
        )
    )
    with pytest.raises(GatewayError) as caught:
        await call(client)
    message = str(caught.value)
    assert "not from a 4Runr Gateway" in message
    assert "404" in message and "text/html" in message
    assert "Welcome to nginx!" in message
    assert "\n" not in message and len(message) < 400
    assert message.count("filler text") <= 1


async def test_html_page_on_a_success_status(router: Router, client: GatewayClient) -> None:
    router.post("/api/proxy-request").mock(
        return_value=httpx2.Response(
            200, text="<html><body>" + "x" * 5000 + "</body></html>",
            headers={"content-type": "text/html"},
        )
    )  # fmt: skip
    with pytest.raises(GatewayError) as caught:
        await call(client)
    assert caught.value.code == "BAD_RESPONSE"
    message = str(caught.value)
    assert "not from a 4Runr Gateway" in message and "text/html" in message
    assert len(message) < 400 and "\n" not in message


async def test_base_url_ending_in_api_gets_a_hint(router: Router, agent_pem: str) -> None:
    router.post("/api/api/generate-token").mock(
        return_value=httpx2.Response(
            404,
            json={"message": "Route POST:/api/api/generate-token not found", "error": "Not Found",
                  "statusCode": 404},
        )
    )  # fmt: skip
    async with GatewayClient(f"{BASE}/api", "agent-1", agent_pem) as gw:
        with pytest.raises(GatewayError) as caught:
            await gw.get_token({"tools": ["serpapi"], "permissions": ["read"]})
    message = str(caught.value)
    assert "Route POST:/api/api/generate-token not found" in message
    assert f"base_url={BASE!r}" in message


async def test_network_error_names_the_url(router: Router, client: GatewayClient) -> None:
    router.post("/api/proxy-request").mock(
        side_effect=httpx2.ConnectError("All connection attempts failed")
    )
    with pytest.raises(GatewayNetworkError) as caught:
        await call(client)
    assert f"{BASE}/api/proxy-request" in str(caught.value)


async def test_network_error_url_has_no_query(agent_pem: str) -> None:
    """A job id with `?` stays in the path; the URL named has no query and no credentials."""
    async with GatewayClient(
        "http://127.0.0.1:9", "agent-1", agent_pem, max_retries=0, timeout_ms=2000
    ) as gw:
        with pytest.raises(GatewayNetworkError) as caught:
            await gw.get_job("a?b=c")
    message = str(caught.value)
    assert "http://127.0.0.1:9/api/jobs/a%3Fb%3Dc" in message
    assert "?" not in message.split("http://")[1].split(" ")[0]


async def test_read_only_call_timing_out_then_meeting_409(
    runr_gateway: EmbeddedGateway,
) -> None:
    runr_gateway.set_rate_limit(None)
    """The caller set no key: the 409s its retries met are the SDK's business, not theirs.
    (The gateway asks for 1 s after each 409; the tool takes 2.5 s.)"""
    runr_gateway.tool_latency_s = 2.5
    async with GatewayClient(
        runr_gateway.url, "agent-1", "test-key", timeout_ms=300, max_retries=2
    ) as gw:
        with pytest.raises(GatewayTimeoutError) as caught:
            await gw.proxy("serpapi", "search", {"q": "slow"})
    message = str(caught.value)
    assert "the first attempt is still running on the gateway" in message
    assert caught.value.attempts == 3 and caught.value.code == "TIMEOUT"


@pytest.mark.parametrize(
    "text",
    [
        "a=" * 1000,  # a value scanned again inside itself, 1000 levels down
        "x:" * 1000,
        '{"password": "hun\\"ter2-secret"}x',  # a quoted value with an escaped quote
    ],
)
async def test_error_text_that_nests_name_value_pairs(
    router: Router, client: GatewayClient, text: str
) -> None:
    router.post("/api/proxy-request").mock(return_value=httpx2.Response(500, content=text.encode()))
    with pytest.raises(GatewayError) as caught:
        await call(client)
    assert caught.value.status_code == 500
    assert "ter2-secret" not in str(caught.value) + repr(caught.value)
