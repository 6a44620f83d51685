"""Property: any argument of any type ends in a value or a documented error, and a refused
argument sends nothing (not even a generate-token request)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from runrgateway import (
    GatewayClient,
    GatewayConfigError,
    GatewayError,
    GatewayValidationError,
)
from tests.helpers import BASE, gateway_token, proxy_answer
from tests.strategies import anything, token_strings

from .conftest import Router

TOKEN = gateway_token(tools=["serpapi"])


def maybe(valid: Any) -> st.SearchStrategy[Any]:
    """Mostly a valid value, else anything at all: each example breaks a few arguments."""
    return st.one_of(st.just(valid), st.just(valid), anything)


@pytest.fixture
def sent(router: Router) -> Router:
    router.post("/api/proxy-request").mock(side_effect=lambda _: proxy_answer({"ok": 1}))
    router.route(method="GET").mock(
        side_effect=lambda request: httpx2.Response(
            200, json={"job_id": request.url.path.rsplit("/", 1)[-1], "status": "done"}
        )
    )
    return router


@pytest.fixture
async def client(agent_pem: str) -> AsyncIterator[GatewayClient]:
    async with GatewayClient(BASE, "agent-1", agent_pem, max_retries=0) as gw:
        yield gw


async def outcome(sent: Router, call: Any) -> Any:
    """Run `call`; a refusal must be a documented error, with no request sent."""
    before = sent.calls.call_count
    try:
        return await call()
    except (GatewayValidationError, GatewayConfigError) as refused:
        assert isinstance(refused, ValueError)
        if refused.status_code is None:  # refused by the client, not by the gateway
            assert sent.calls.call_count == before, f"sent, then refused: {refused}"
        return refused
    except GatewayError as error:  # the gateway's own answer (a 4xx the test router gave)
        assert error.status_code is not None or error.code != "GATEWAY_ERROR", error
        return error


@given(
    base_url=st.one_of(st.sampled_from([BASE, "mock://properties", f"{BASE}/api"]), anything),
    agent_id=maybe("agent-1"),
    pem=st.one_of(st.just("pem"), anything),
    default_intent=st.one_of(st.none(), maybe("research")),
    timeout_ms=maybe(6000),
    max_retries=maybe(3),
    max_retry_after_s=maybe(20.0),
    key_password=st.one_of(st.none(), anything),
    read_only_actions=st.one_of(st.just(()), st.lists(anything, max_size=3), anything),
    ttl=maybe(15),
)
async def test_constructor_arguments(
    sent: Router,
    agent_pem: str,
    base_url: Any,
    agent_id: Any,
    pem: Any,
    default_intent: Any,
    timeout_ms: Any,
    max_retries: Any,
    max_retry_after_s: Any,
    key_password: Any,
    read_only_actions: Any,
    ttl: Any,
) -> None:
    before = sent.calls.call_count
    try:
        client = GatewayClient(
            base_url,
            agent_id,
            agent_pem if pem == "pem" else pem,
            default_intent,
            timeout_ms,
            max_retries=max_retries,
            max_retry_after_s=max_retry_after_s,
            key_password=key_password,
            read_only_actions=read_only_actions,
            managed_token_ttl_minutes=ttl,
        )
    except GatewayConfigError as refused:
        assert isinstance(refused, ValueError) and refused.status_code is None
        assert "PRIVATE KEY" not in str(refused)
        assert sent.calls.call_count == before
        return
    async with client:  # a client that was accepted works: a value or a GatewayError
        assert sent.calls.call_count == before
        if client.base_url == BASE:
            await outcome(sent, lambda: client.proxy("serpapi", "search", {"q": "a"}, TOKEN))


@given(
    tool=maybe("serpapi"),
    action=maybe("search"),
    params=st.one_of(st.just({"q": "a"}), st.dictionaries(st.text(max_size=5), anything), anything),
    agent_token=st.one_of(st.none(), st.just(TOKEN), token_strings, anything),
    proof=st.one_of(st.none(), anything),
    idempotency_key=st.one_of(st.none(), anything),
    correlation_id=st.one_of(st.none(), anything),
    method=st.sampled_from(["proxy", "proxy_response", "proxy_async"]),
)
async def test_call_arguments(
    sent: Router,
    client: GatewayClient,
    tool: Any,
    action: Any,
    params: Any,
    agent_token: Any,
    proof: Any,
    idempotency_key: Any,
    correlation_id: Any,
    method: str,
) -> None:
    async def call() -> Any:
        if method == "proxy_async":
            return await client.proxy_async(
                tool, action, params, agent_token,
                idempotency_key=idempotency_key, correlation_id=correlation_id,
            )  # fmt: skip
        return await getattr(client, method)(
            tool, action, params, agent_token, proof,
            idempotency_key=idempotency_key, correlation_id=correlation_id,
        )  # fmt: skip

    await outcome(sent, call)


@given(opts=st.one_of(
    st.fixed_dictionaries(
        {"tools": maybe(["serpapi"]), "permissions": maybe(["read"])},
        optional={"ttl_minutes": maybe(15)},
    ),
    st.dictionaries(anything.filter(lambda key: _hashable(key)), anything, max_size=4),
    anything,
))  # fmt: skip
async def test_token_options(sent: Router, client: GatewayClient, opts: Any) -> None:
    async def call() -> Any:
        return await client.get_token(opts)

    await outcome(sent, call)


@given(
    job_id=maybe("job-1"),
    timeout_s=maybe(5.0),
    poll_interval_s=maybe(0.01),
    on_poll=st.one_of(st.none(), st.just(lambda job, elapsed: None), anything),
    method=st.sampled_from(["get_job", "wait_for_job"]),
)
async def test_job_arguments(
    sent: Router,
    client: GatewayClient,
    job_id: Any,
    timeout_s: Any,
    poll_interval_s: Any,
    on_poll: Any,
    method: str,
) -> None:
    async def call() -> Any:
        if method == "get_job":
            return await client.get_job(job_id)
        return await client.wait_for_job(
            job_id, timeout_s=timeout_s, poll_interval_s=poll_interval_s, on_poll=on_poll
        )

    await outcome(sent, call)


@given(intent=anything)
async def test_set_intent(sent: Router, client: GatewayClient, intent: Any) -> None:
    def call() -> Any:
        client.set_intent(intent)

    async def run() -> Any:
        return call()

    await outcome(sent, run)
    await outcome(sent, lambda: client.proxy("serpapi", "search", {"q": "a"}, TOKEN))


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True
