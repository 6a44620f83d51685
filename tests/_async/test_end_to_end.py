"""Both clients against `GatewayServer` over a real loopback socket, with real PEM keys."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import httpx2
import pytest

from runrgateway import (
    GatewayAuthError,
    GatewayClient,
    GatewayNetworkError,
    GatewayPolicyError,
    GatewayTimeoutError,
    GatewayUpstreamError,
)
from runrgateway._keys import AgentKey
from runrgateway.testing import ALLOW_BUILTIN_TOOLS, EmbeddedGateway, GatewayServer

EMAIL = {"to": "a@b.c", "subject": "Hello", "body": "Hi"}


@pytest.fixture(scope="module")
def server() -> Iterator[GatewayServer]:
    gateway = EmbeddedGateway("e2e", default_policy=ALLOW_BUILTIN_TOOLS, rate_limit=None)
    with GatewayServer(gateway) as running:
        yield running


@pytest.fixture(autouse=True)
def gateway(server: GatewayServer) -> Iterator[EmbeddedGateway]:
    """The server's gateway, reset after every test."""
    yield server.gateway
    server.gateway.reset()
    server.gateway.set_rate_limit(None)


@pytest.fixture
def ed25519() -> AgentKey:
    return AgentKey.generate("ed25519")


@pytest.fixture
async def client(
    server: GatewayServer, gateway: EmbeddedGateway, ed25519: AgentKey
) -> AsyncIterator[GatewayClient]:
    agent = gateway.create_agent("e2e agent", public_key_pem=ed25519.public_key_pem())
    async with GatewayClient(
        server.url, agent.agent_id, ed25519.private_key_pem(), timeout_ms=1000
    ) as gw:
        yield gw


async def test_an_agent_created_over_http_with_its_rsa_key(server: GatewayServer) -> None:
    async with httpx2.AsyncClient(base_url=server.url) as admin:
        answer = await admin.post(
            "/api/create-agent", json={"name": "scraper", "created_by": "t", "role": "agent"}
        )
    created = answer.json()
    assert created["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    async with GatewayClient(server.url, created["agent_id"], created["private_key"]) as gw:
        token = await gw.get_token({"tools": ["serpapi"], "permissions": ["read"]})
        results = await gw.proxy("serpapi", "search", {"q": "montreal plumber"}, token)
    hits = results["organic_results"]
    assert len(hits) == 10 and "montreal plumber" in hits[0]["title"]


async def test_managed_tokens_and_provenance_over_the_wire(
    client: GatewayClient, gateway: EmbeddedGateway
) -> None:
    for _ in range(5):
        assert await client.proxy("http_fetch", "get", {"url": "https://example.com"})
    assert gateway.count("generate-token") == 1 and gateway.count("proxy-request") == 5
    sent = gateway.requests[-1].json
    assert sent["token_id"] and sent["proof_payload"]
    assert all(r.status in (200, 201) for r in gateway.requests)


async def test_a_tampered_body_is_refused(
    server: GatewayServer, gateway: EmbeddedGateway, ed25519: AgentKey
) -> None:
    agent = gateway.create_agent("victim", public_key_pem=ed25519.public_key_pem())

    async def tamper(request: httpx2.Request) -> None:
        if request.url.path.endswith("/proxy-request"):
            body = request.content.replace(b"harmless", b"malicious")
            request.stream = httpx2.ByteStream(body)
            request._content = body  # a man in the middle edits the bytes
            request.headers["content-length"] = str(len(body))

    http = httpx2.AsyncClient(event_hooks={"request": [tamper]})
    async with GatewayClient(
        server.url, agent.agent_id, ed25519.private_key_pem(), http_client=http
    ) as gw:
        with pytest.raises(GatewayAuthError) as caught:
            await gw.proxy("serpapi", "search", {"q": "harmless"})
    await http.aclose()
    assert caught.value.status_code == 401 and caught.value.code == "SIGNATURE_INVALID"
    assert gateway.tool_runs == 0


async def test_a_foreign_key_is_refused(
    server: GatewayServer, gateway: EmbeddedGateway, ed25519: AgentKey
) -> None:
    agent = gateway.create_agent("owner", public_key_pem=ed25519.public_key_pem())
    impostor = AgentKey.generate("ed25519").private_key_pem()
    async with GatewayClient(server.url, agent.agent_id, impostor) as gw:
        with pytest.raises(GatewayAuthError) as caught:
            await gw.get_token({"tools": ["serpapi"], "permissions": ["read"]})
    assert caught.value.code == "SIGNATURE_INVALID"


async def test_policy_denial_and_intent_mismatch(
    server: GatewayServer, gateway: EmbeddedGateway, ed25519: AgentKey
) -> None:
    agent = gateway.create_agent("researcher", public_key_pem=ed25519.public_key_pem())
    gateway.add_policy(["serpapi:search"], agent_id=agent.agent_id, intent="research")
    async with GatewayClient(
        server.url, agent.agent_id, ed25519.private_key_pem(), "marketing"
    ) as gw:
        with pytest.raises(GatewayPolicyError, match="Intent mismatch") as mismatch:
            await gw.proxy("serpapi", "search", {"q": "a"})
        with pytest.raises(GatewayPolicyError, match="not allowed") as denied:
            await gw.proxy("openai", "chat", {"messages": [{"role": "user", "content": "hi"}]})
        gw.set_intent("research")
        assert await gw.proxy("serpapi", "search", {"q": "a"})
    assert mismatch.value.reason and denied.value.reason
    assert mismatch.value.server_correlation_id and mismatch.value.server_correlation_id.startswith(
        "req_"
    )


async def test_get_policy_reads_the_merged_policy_over_the_wire(
    server: GatewayServer, gateway: EmbeddedGateway, ed25519: AgentKey
) -> None:
    agent = gateway.create_agent("merged", role="analyst", public_key_pem=ed25519.public_key_pem())
    async with GatewayClient(server.url, agent.agent_id, ed25519.private_key_pem()) as gw:
        assert await gw.get_policy() == {"scopes": list(ALLOW_BUILTIN_TOOLS["scopes"])}
        gateway.add_policy(["serpapi:search"], agent_id=agent.agent_id, intent="research")
        gateway.add_policy(["http_fetch:get", "serpapi:search"], role="analyst")
        gateway.add_policy(["openai:chat"], role="someone-else")
        assert await gw.get_policy() == {
            "scopes": ["serpapi:search", "http_fetch:get"],
            "intent": "research",
        }
    gateway.set_default_policy(None)
    other = gateway.create_agent("no policy", public_key_pem=ed25519.public_key_pem())
    async with GatewayClient(server.url, other.agent_id, ed25519.private_key_pem()) as gw:
        assert await gw.get_policy() == {"scopes": [], "intent": "default_deny"}
    gateway.set_default_policy(ALLOW_BUILTIN_TOOLS)


async def test_get_policy_of_an_unknown_agent_is_a_typed_error(
    server: GatewayServer, ed25519: AgentKey
) -> None:
    async with GatewayClient(server.url, "nobody", ed25519.private_key_pem()) as gw:
        with pytest.raises(GatewayAuthError) as caught:
            await gw.get_policy()
    assert caught.value.status_code == 404
    assert caught.value.code == "AGENT_NOT_FOUND"


async def test_rate_limit_waited_out(client: GatewayClient, gateway: EmbeddedGateway) -> None:
    gateway.fail_next(1, status=429, route="proxy-request", retry_after=0.3)
    started = time.monotonic()
    response = await client.proxy_response("gmail_send", "send", EMAIL)
    assert time.monotonic() - started >= 0.29
    assert response.attempts == 2 and gateway.tool_runs == 1


async def test_real_rate_limit_over_the_cap_is_raised(
    client: GatewayClient, gateway: EmbeddedGateway
) -> None:
    from runrgateway import GatewayRateLimitError

    gateway.set_rate_limit(2, 60)
    await client.proxy("serpapi", "search", {"q": "a"})
    await client.proxy("serpapi", "search", {"q": "a"})
    with pytest.raises(GatewayRateLimitError) as caught:
        await client.proxy("serpapi", "search", {"q": "a"})
    assert caught.value.retry_after is not None and 20 < caught.value.retry_after <= 60


async def test_rotation_hint_on_a_short_lived_token(
    server: GatewayServer, gateway: EmbeddedGateway, ed25519: AgentKey
) -> None:
    """Under 300 s left, every answer hints; the token is still kept for its life."""
    agent = gateway.create_agent("short lived", public_key_pem=ed25519.public_key_pem())
    async with GatewayClient(
        server.url, agent.agent_id, ed25519.private_key_pem(), managed_token_ttl_minutes=3
    ) as gw:
        first = await gw.proxy_response("serpapi", "search", {"q": "a"})
        await gw.proxy("serpapi", "search", {"q": "a"})
    assert first.rotation_recommended and first.token_expires_at
    assert gateway.count("generate-token") == 1  # not stale at birth


async def test_jobs_run_to_done(client: GatewayClient) -> None:
    job = await client.proxy_async("gmail_send", "send", EMAIL)
    done = await client.wait_for_job(job["job_id"], timeout_s=10, poll_interval_s=0.02)
    assert done.status == "done" and done.result["success"] is True


async def test_idempotent_replay_runs_the_tool_once(
    client: GatewayClient, gateway: EmbeddedGateway
) -> None:
    first = await client.proxy_response("gmail_send", "send", EMAIL, idempotency_key="send-1")
    second = await client.proxy_response("gmail_send", "send", EMAIL, idempotency_key="send-1")
    assert second.idempotent_replayed and second.data == first.data
    assert gateway.tool_runs == 1


@pytest.mark.parametrize(
    ("header", "change"),
    [
        ("Idempotency-Key", None),
        ("Idempotency-Key", "another-key"),
        ("Content-Type", "application/json; charset=utf-16"),
    ],
)
async def test_a_path_that_strips_or_changes_a_covered_header_is_refused(
    server: GatewayServer,
    gateway: EmbeddedGateway,
    ed25519: AgentKey,
    header: str,
    change: str | None,
) -> None:
    # Someone on the path drops the key (a retried send would then run twice) or rewrites
    # a header: the signature covers both, so the gateway refuses and the tool never runs.
    async def on_the_path(request: httpx2.Request) -> None:
        if request.url.path == "/api/proxy-request":
            if change is None:
                del request.headers[header]
            else:
                request.headers[header] = change

    agent = gateway.create_agent("tampered", public_key_pem=ed25519.public_key_pem())
    async with httpx2.AsyncClient(event_hooks={"request": [on_the_path]}) as http:
        async with GatewayClient(
            server.url, agent.agent_id, ed25519.private_key_pem(), http_client=http
        ) as gw:
            with pytest.raises(GatewayAuthError) as caught:
                await gw.proxy("gmail_send", "send", EMAIL, idempotency_key="send-7")
    assert caught.value.code == "SIGNATURE_INVALID" and caught.value.attempts == 1
    assert gateway.tool_runs == 0


async def test_a_503_burst_is_survived(client: GatewayClient, gateway: EmbeddedGateway) -> None:
    gateway.fail_next(2, status=503, route="proxy-request")
    response = await client.proxy_response("gmail_send", "send", EMAIL)
    assert response.attempts == 3 and gateway.tool_runs == 1


async def test_a_longer_503_burst_is_reported(
    client: GatewayClient, gateway: EmbeddedGateway
) -> None:
    gateway.fail_next(4, status=503, route="proxy-request")
    with pytest.raises(GatewayUpstreamError) as caught:
        await client.proxy("gmail_send", "send", EMAIL)
    assert caught.value.attempts == 4 and gateway.tool_runs == 0


async def test_a_slow_answer_times_out_and_is_not_resent(
    client: GatewayClient, gateway: EmbeddedGateway
) -> None:
    await client.proxy("gmail_send", "profile", {})  # token minted beforehand
    gateway.delay_next(1, 1.6, route="proxy-request")
    started = time.monotonic()
    with pytest.raises(GatewayTimeoutError) as caught:
        await client.proxy("gmail_send", "send", EMAIL)
    assert 0.9 < time.monotonic() - started < 1.55
    assert caught.value.attempts == 1


async def test_a_slow_read_only_answer_is_retried(
    client: GatewayClient, gateway: EmbeddedGateway
) -> None:
    await client.proxy("serpapi", "search", {"q": "warm up"})
    gateway.delay_next(1, 1.6, route="proxy-request")
    response = await client.proxy_response("serpapi", "search", {"q": "a"})
    assert response.attempts == 2


async def test_a_dropped_connection(client: GatewayClient, gateway: EmbeddedGateway) -> None:
    await client.proxy("serpapi", "search", {"q": "warm up"})
    gateway.drop_next(1, route="proxy-request")
    with pytest.raises(GatewayNetworkError) as caught:
        await client.proxy("gmail_send", "send", EMAIL)
    assert caught.value.attempts == 1 and caught.value.status_code is None
    gateway.drop_next(1, route="proxy-request")
    response = await client.proxy_response("serpapi", "search", {"q": "a"})
    assert response.attempts == 2


async def test_a_refused_connection_is_a_network_error(ed25519: AgentKey) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    async with GatewayClient(
        f"http://127.0.0.1:{port}", "a", ed25519.private_key_pem(), max_retries=1
    ) as gw:
        with pytest.raises(GatewayNetworkError) as caught:
            await gw.get_token({"tools": ["serpapi"], "permissions": ["read"]})
    assert caught.value.attempts == 2 and not isinstance(caught.value, GatewayTimeoutError)
