"""The seed README's examples against the embedded gateway (mock://), whose tools answer in
the real gateway's live shapes (SerpAPI's `organic_results`, OpenAI's `choices`, ...)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from runrgateway import (
    ErrorCode,
    GatewayClient,
    GatewayConflictError,
    GatewayError,
    GatewayNotFoundError,
    GatewayPolicyError,
    GatewayRateLimitError,
    generate_idempotency_key,
)
from runrgateway.testing import EmbeddedGateway


@pytest.fixture
async def gw(runr_gateway: EmbeddedGateway) -> AsyncIterator[GatewayClient]:
    async with GatewayClient(
        base_url=runr_gateway.url,
        agent_id="test-agent",
        agent_private_key_pem="test-key",
        default_intent="lead_discovery",
    ) as client:
        yield client


async def test_quickstart(gw: GatewayClient, runr_gateway: EmbeddedGateway) -> None:
    token = await gw.get_token({"tools": ["serpapi"], "permissions": ["read"], "ttl_minutes": 15})
    results = await gw.proxy(
        "serpapi", "search", {"q": "site:linkedin.com Montreal plumber", "engine": "google"}, token
    )
    hits = results["organic_results"]
    assert len(hits) == 10
    assert hits[0]["title"].startswith("site:linkedin.com Montreal plumber")
    assert hits[0]["link"].startswith("https://")
    assert runr_gateway.count("generate-token") == 1


async def test_lead_scraper(gw: GatewayClient) -> None:
    results = await gw.proxy(
        "serpapi",
        "search",
        {
            "q": 'site:linkedin.com "software engineer" "San Francisco"',
            "engine": "google",
            "num": 10,
        },
    )
    hits = results["organic_results"]
    assert len(hits) == 10 and '"San Francisco"' in hits[0]["snippet"]


async def test_data_enricher(gw: GatewayClient) -> None:
    page = await gw.proxy("http_fetch", "get", {"url": "https://example.com"})
    content = page["data"]
    summary = await gw.proxy(
        "openai",
        "chat",
        {
            "model": "gpt-4o-mini",  # the live adapter requires one
            "messages": [{"role": "user", "content": f"Summarize this content: {content}"}],
        },
    )
    assert "Mock page for https://example.com" in content
    answer = summary["choices"][0]["message"]["content"]
    assert "Summarize this content" in answer and "example.com" in answer


async def test_email_engager_runs_the_tool_once(
    gw: GatewayClient, runr_gateway: EmbeddedGateway
) -> None:
    idempotency_key = generate_idempotency_key()
    email = {
        "to": "prospect@company.com",
        "subject": "Partnership opportunity",
        "body": "Hi there, I think we could work together...",
        "idempotency_key": idempotency_key,
    }
    runr_gateway.fail_next(1, status=503, route="proxy-request")
    runr_gateway.drop_next(1, route="proxy-request")  # lost after the tool ran
    first = await gw.proxy_response("gmail_send", "send", email)
    again = await gw.proxy_response("gmail_send", "send", email)
    assert len(first.data["messageId"]) == 16 and again.data == first.data
    assert again.idempotent_replayed
    assert runr_gateway.tool_runs == 1


async def test_proxy_async_and_wait(gw: GatewayClient) -> None:
    job = await gw.proxy_async(
        "gmail_send",
        "send",
        {"to": "user@example.com", "subject": "Test email", "body": "Hello world!"},
    )
    done = await gw.wait_for_job(job["job_id"], timeout_s=10)
    assert done.status == "done" and done.result["success"] is True
    assert (await gw.get_job(job["job_id"])).status == "done"


async def test_unknown_job_is_a_gateway_error(gw: GatewayClient) -> None:
    with pytest.raises(GatewayError) as caught:
        await gw.get_job("no-such-job")
    assert caught.value.status_code == 404 and caught.value.code == "NOT_FOUND"
    assert type(caught.value) is GatewayNotFoundError and caught.value.code is ErrorCode.NOT_FOUND


async def test_a_key_reused_with_another_body_is_a_conflict(
    gw: GatewayClient, runr_gateway: EmbeddedGateway
) -> None:
    email = {"to": "user@example.com", "subject": "Hi", "body": "first"}
    await gw.proxy("gmail_send", "send", email, idempotency_key="reused-1")
    with pytest.raises(GatewayConflictError) as caught:
        await gw.proxy("gmail_send", "send", {**email, "body": "other"}, idempotency_key="reused-1")
    assert caught.value.status_code == 422 and caught.value.code == ErrorCode.IDEMPOTENCY_CONFLICT
    assert runr_gateway.count("proxy-request") == 2  # refused, not retried


async def test_the_seed_error_handling_example(
    gw: GatewayClient, runr_gateway: EmbeddedGateway
) -> None:
    runr_gateway.add_policy(["serpapi:search"], agent_id="test-agent", intent="research")
    outcome = ""
    try:
        await gw.proxy("serpapi", "search", {"q": "test"})
    except GatewayPolicyError as exc:
        outcome = f"policy: {exc.reason}"
    assert "Intent mismatch" in outcome


async def test_twenty_calls_in_a_row_on_mock_localhost() -> None:
    """The seed's Mock Mode section, as a user's unit-test suite follows it: no rate limit."""
    from runrgateway.testing import get_gateway, remove_gateway

    remove_gateway("mock://localhost")
    try:
        async with GatewayClient(
            base_url="mock://localhost", agent_id="test-agent", agent_private_key_pem="test-key"
        ) as client:
            for number in range(20):
                await client.proxy("serpapi", "search", {"q": f"call {number}"})
        assert get_gateway("mock://localhost").count("proxy-request") == 20
    finally:
        remove_gateway("mock://localhost")


async def test_rate_limit_like_the_real_gateway_when_a_test_sets_it(
    gw: GatewayClient, runr_gateway: EmbeddedGateway
) -> None:
    runr_gateway.set_rate_limit(5)
    for _ in range(5):
        await gw.proxy("serpapi", "search", {"q": "a"})
    with pytest.raises(GatewayRateLimitError) as caught:
        await gw.proxy("serpapi", "search", {"q": "a"})
    assert caught.value.retry_after is not None and caught.value.retry_after > 20
    assert caught.value.attempts == 1


async def test_clients_sharing_a_name_share_the_gateway(runr_gateway: EmbeddedGateway) -> None:
    runr_gateway.set_rate_limit(None)
    async with (
        GatewayClient(runr_gateway.url, "agent-a", "test-key") as a,
        GatewayClient(runr_gateway.url, "agent-a", "test-key") as b,
    ):
        await a.proxy("serpapi", "search", {"q": "a"})
        await b.proxy("serpapi", "search", {"q": "b"})
    assert runr_gateway.count("proxy-request") == 2


async def test_a_job_id_with_a_slash_stays_one_segment(gw: GatewayClient) -> None:
    with pytest.raises(GatewayError) as caught:
        await gw.get_job("a/b")
    assert caught.value.status_code == 404 and caught.value.message == "Job not found"


async def test_the_mock_url_names_the_gateway_port_included() -> None:
    from runrgateway.testing import get_gateway, remove_gateway

    try:
        async with GatewayClient("mock://Named-GW:9000", "agent-a", "test-key") as client:
            await client.proxy("serpapi", "search", {"q": "a"})
        assert get_gateway("mock://named-gw:9000").count("proxy-request") == 1
    finally:
        remove_gateway("named-gw:9000")


async def test_a_slow_tool_times_out_like_over_a_socket(runr_gateway: EmbeddedGateway) -> None:
    from runrgateway import GatewayTimeoutError

    runr_gateway.set_rate_limit(None)
    email = {"to": "a@b.c", "subject": "s", "body": "b"}
    async with GatewayClient(runr_gateway.url, "agent-slow", "test-key", timeout_ms=150) as client:
        await client.proxy("gmail_send", "profile", {})  # the token, before the tool slows down
        runr_gateway.tool_latency_s = 0.4
        with pytest.raises(GatewayTimeoutError) as caught:
            await client.proxy("gmail_send", "send", email)  # no key: sent once
        assert caught.value.attempts == 1
        keyed = await client.proxy_response("gmail_send", "send", email, idempotency_key="slow-1")
    assert keyed.attempts > 1 and keyed.data["success"] is True
    runr_gateway.wait_for_jobs()
    assert sum(1 for run in runr_gateway.tool_calls if run.action == "send") == 2  # once each
