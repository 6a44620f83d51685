"""Managed tokens: reuse, single flight, rotation, refresh on 403, provenance, caller tokens."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import httpx2
import pytest

from runrgateway import GatewayClient, GatewayPolicyError, GatewayTokenError
from runrgateway._concurrency import async_sleep
from runrgateway._tokens import format_utc
from tests.helpers import (
    BASE,
    async_run_concurrently,
    gateway_token,
    json_body,
    proxy_answer,
    token_answer,
)

from .conftest import Router


@pytest.fixture
async def client(agent_pem: str) -> AsyncIterator[GatewayClient]:
    async with GatewayClient(BASE, "agent-1", agent_pem) as gw:
        yield gw


async def test_twenty_calls_mint_one_token(router: Router, client: GatewayClient) -> None:
    proxy = router.post("/api/proxy-request").mock(return_value=proxy_answer())
    for _ in range(20):
        await client.proxy("serpapi", "search", {"q": "a"})
    assert router["token"].call_count == 1 and proxy.call_count == 20
    tokens = {json_body(call.request)["agent_token"] for call in proxy.calls}
    assert len(tokens) == 1


async def test_managed_tokens_are_least_privilege(router: Router, client: GatewayClient) -> None:
    router.post("/api/proxy-request").mock(return_value=proxy_answer())
    await client.proxy("serpapi", "search", {"q": "a"})
    await client.proxy("gmail_send", "send", {"to": "a@b.c", "subject": "s", "body": "b"})
    await client.proxy("serpapi", "search", {"q": "b"})
    minted = [json_body(call.request) for call in router["token"].calls]
    assert [(m["tools"], m["permissions"]) for m in minted] == [
        (["serpapi"], ["read"]),
        (["gmail_send"], ["read", "write"]),
    ]


async def test_provenance_fields_are_the_exact_payload_bytes(
    router: Router, client: GatewayClient
) -> None:
    proxy = router.post("/api/proxy-request").mock(return_value=proxy_answer())
    await client.proxy("serpapi", "search", {"q": "a"})
    minted = router["token"].calls.last.response.json()
    body = json_body(proxy.calls.last.request)
    assert body["token_id"] == minted["token_id"]
    first_segment = minted["agent_token"].split(".")[0]
    assert body["proof_payload"] == base64.b64decode(first_segment).decode()


async def test_proof_payload_override(router: Router, client: GatewayClient) -> None:
    proxy = router.post("/api/proxy-request").mock(return_value=proxy_answer())
    await client.proxy("serpapi", "search", {"q": "a"}, None, {"custom": True})
    assert json_body(proxy.calls.last.request)["proof_payload"] == '{"custom":true}'
    token = await client.get_token({"tools": ["serpapi"], "permissions": ["read"]})
    await client.proxy("serpapi", "search", {"q": "a"}, token, "raw-proof")
    body = json_body(proxy.calls.last.request)
    assert body["proof_payload"] == "raw-proof" and body["token_id"]


async def test_tokens_from_get_token_carry_provenance(
    router: Router, client: GatewayClient
) -> None:
    proxy = router.post("/api/proxy-request").mock(return_value=proxy_answer())
    info = await client.get_token_info({"tools": ["serpapi"], "permissions": ["read"]})
    await client.proxy("serpapi", "search", {"q": "a"}, info.agent_token)
    body = json_body(proxy.calls.last.request)
    assert body["token_id"] == info.token_id and body["proof_payload"] == info.proof_payload
    await client.proxy("serpapi", "search", {"q": "a"}, gateway_token(tools=["serpapi"]))
    assert "token_id" not in json_body(proxy.calls.last.request)


async def slow_token_answer(request: httpx2.Request) -> httpx2.Response:
    await async_sleep(0.05)  # long enough for every caller to be waiting on the same mint
    return token_answer(request)


async def test_concurrent_callers_share_one_mint(router: Router, client: GatewayClient) -> None:
    router["token"].side_effect = slow_token_answer
    router.post("/api/proxy-request").mock(return_value=proxy_answer())
    calls = [lambda: client.proxy("serpapi", "search", {"q": "a"}) for _ in range(50)]
    results = await async_run_concurrently(calls)
    assert len(results) == 50 and router["token"].call_count == 1


async def failing_slow_token_answer(request: httpx2.Request) -> httpx2.Response:
    await async_sleep(0.3)  # every thread of the pool has started and waits on this mint
    return httpx2.Response(404, json={"error": "Agent not found."})


async def test_concurrent_callers_share_one_failure(router: Router, client: GatewayClient) -> None:
    router["token"].side_effect = failing_slow_token_answer

    async def call() -> str:
        try:
            await client.proxy("serpapi", "search", {"q": "a"})
        except Exception as exc:
            return type(exc).__name__
        return "ok"

    outcomes = await async_run_concurrently([call for _ in range(16)])
    assert outcomes == ["GatewayAuthError"] * 16
    assert router["token"].call_count == 1


async def test_rotation_hint_makes_the_next_call_mint(
    router: Router, client: GatewayClient
) -> None:
    """The gateway says the token ends within the refresh margin: replace it now."""
    soon = datetime.now(timezone.utc) + timedelta(seconds=30)
    hint = {"x-token-rotation-recommended": "true", "x-token-expires-at": format_utc(soon)}
    proxy = router.post("/api/proxy-request").mock(
        side_effect=[proxy_answer(**hint), proxy_answer(), proxy_answer()]
    )
    first = await client.proxy_response("serpapi", "search", {"q": "a"})
    await client.proxy("serpapi", "search", {"q": "a"})
    await client.proxy("serpapi", "search", {"q": "a"})
    assert first.rotation_recommended
    assert router["token"].call_count == 2
    tokens = [json_body(call.request)["agent_token"] for call in proxy.calls]
    assert tokens[0] != tokens[1] == tokens[2]


async def test_rotation_hint_on_an_error_answer_counts_too(
    router: Router, client: GatewayClient
) -> None:
    router.post("/api/proxy-request").mock(
        side_effect=[
            httpx2.Response(400, json={"error": "Parameter validation failed"}, headers={"x-token-rotation-recommended": "true", "x-token-expires-at": format_utc(datetime.now(timezone.utc))}),
            proxy_answer(),
        ]
    )  # fmt: skip
    with pytest.raises(Exception, match="Parameter validation"):
        await client.proxy("serpapi", "search", {})
    await client.proxy("serpapi", "search", {"q": "a"})
    assert router["token"].call_count == 2


@pytest.mark.parametrize(
    "refusal",
    [
        "Token expired",
        "Token has been revoked",
        "Invalid token signature",
        "Token proof verification failed",
    ],
)
async def test_token_refused_for_a_managed_token_is_replaced_once(
    router: Router, client: GatewayClient, refusal: str
) -> None:
    proxy = router.post("/api/proxy-request").mock(
        side_effect=[httpx2.Response(403, json={"error": refusal}), proxy_answer({"ok": 1})]
    )
    assert await client.proxy("serpapi", "search", {"q": "a"}) == {"ok": 1}
    assert router["token"].call_count == 2
    first, second = (json_body(call.request)["agent_token"] for call in proxy.calls)
    assert first != second
    ids = {call.request.headers["x-correlation-id"] for call in proxy.calls}
    assert len(ids) == 1


async def test_a_refusal_of_the_new_token_is_raised(router: Router, client: GatewayClient) -> None:
    router.post("/api/proxy-request").mock(
        return_value=httpx2.Response(403, json={"error": "Token expired"})
    )
    with pytest.raises(GatewayTokenError):
        await client.proxy("serpapi", "search", {"q": "a"})
    assert router["token"].call_count == 2


async def test_a_late_refusal_does_not_discard_a_fresh_token(
    router: Router, client: GatewayClient
) -> None:
    """Two calls share token A; one refusal replaces it, the late second one keeps B."""
    refusals = 0

    async def gateway(request: httpx2.Request) -> httpx2.Response:
        nonlocal refusals
        token = json_body(request)["agent_token"]
        if token == first_token:
            refusals += 1
            await async_sleep(0.01 if refusals == 1 else 0.2)  # the second refusal comes late
            return httpx2.Response(403, json={"error": "Token expired"})
        return proxy_answer({"token": token})

    first_token = await client._tokens.get(["serpapi"], ["read"])
    first_token = first_token.agent_token
    router.post("/api/proxy-request").mock(side_effect=gateway)
    calls = [lambda: client.proxy("serpapi", "search", {"q": "a"}) for _ in range(2)]
    results = await async_run_concurrently(calls)
    assert results[0] == results[1] and results[0]["token"] != first_token
    assert router["token"].call_count == 2  # A, then B once: the late refusal kept B
    await client.proxy("serpapi", "search", {"q": "a"})
    assert router["token"].call_count == 2


async def test_caller_tokens_older_than_a_day_are_refused_unsent(
    router: Router, client: GatewayClient
) -> None:
    proxy = router.post("/api/proxy-request").mock(return_value=proxy_answer())
    now = datetime.now(timezone.utc)
    old = gateway_token(
        tools=["serpapi"], issued_at=now - timedelta(hours=25), expires_at=now + timedelta(hours=1)
    )
    expired = gateway_token(
        tools=["serpapi"],
        issued_at=now - timedelta(minutes=20),
        expires_at=now - timedelta(minutes=5),
    )
    for token in (old, expired):
        with pytest.raises(GatewayTokenError):
            await client.proxy("serpapi", "search", {"q": "a"}, token)
    assert proxy.call_count == 0 and router["token"].call_count == 0


async def test_jwt_caller_tokens_are_checked_too(router: Router, client: GatewayClient) -> None:
    import json as _json

    def b64(obj: object) -> str:
        return base64.urlsafe_b64encode(_json.dumps(obj).encode()).decode().rstrip("=")

    now = datetime.now(timezone.utc).timestamp()
    jwt = f"{b64({'alg': 'HS256'})}.{b64({'iat': now - 90000, 'exp': now + 3600})}.c2ln"
    proxy = router.post("/api/proxy-request").mock(return_value=proxy_answer())
    with pytest.raises(GatewayTokenError, match="24 h"):
        await client.proxy("serpapi", "search", {"q": "a"}, jwt)
    assert proxy.call_count == 0


def _jwt(payload: dict[str, object]) -> str:
    def b64(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64(payload)}.c2ln"


def _gateway_form(payload: dict[str, object]) -> str:
    text = base64.b64encode(json.dumps(payload).encode()).decode()
    return f"{text}.{'ab' * 32}"


def _tokens_to_refuse() -> dict[str, tuple[str, str]]:
    """Tokens a gateway would accept but the SDK can tell are wrong: (token, problem)."""
    now = datetime.now(timezone.utc)
    seconds = now.timestamp()
    in_a_while = format_utc(now + timedelta(minutes=10))
    return {
        "another agent's token": (
            gateway_token(tools=["serpapi"], agent_id="agent-2"),
            "other_agent",
        ),
        "a JWT for another agent": (
            _jwt({"sub": "agent-2", "iat": seconds, "exp": seconds + 600}),
            "other_agent",
        ),
        "a JWT in milliseconds": (
            _jwt({"sub": "agent-1", "iat": seconds * 1000, "exp": (seconds + 600) * 1000}),
            "milliseconds",
        ),
        "a JWT with digit strings": (
            _jwt({"sub": "agent-1", "iat": str(int(seconds)), "exp": str(int(seconds) + 600)}),
            "string_time",
        ),
        "no issue time": (
            _gateway_form({"agent_id": "agent-1", "tools": ["serpapi"], "expires_at": in_a_while}),
            "no_issue_time",
        ),
        "issued ten years ahead": (
            gateway_token(
                tools=["serpapi"],
                issued_at=now + timedelta(days=3650),
                expires_at=now + timedelta(days=3650, minutes=15),
            ),
            "issued_in_future",
        ),
    }


@pytest.mark.parametrize("case", sorted(_tokens_to_refuse()))
async def test_caller_tokens_the_sdk_can_tell_are_wrong_are_refused_unsent(
    router: Router, client: GatewayClient, case: str
) -> None:
    token, problem = _tokens_to_refuse()[case]
    proxy = router.post("/api/proxy-request").mock(return_value=proxy_answer())
    with pytest.raises(GatewayTokenError) as caught:
        await client.proxy("serpapi", "search", {"q": "a"}, token)
    assert caught.value.details == {"problem": problem}
    assert "nothing was sent" in str(caught.value) and token not in str(caught.value)
    assert len(router.calls) == 0 and proxy.call_count == 0


async def test_a_token_issued_a_few_seconds_ahead_is_accepted(
    router: Router, client: GatewayClient
) -> None:
    # Clocks drift by seconds: a gateway a little ahead of this machine is not an error.
    now = datetime.now(timezone.utc)
    token = gateway_token(tools=["serpapi"], issued_at=now + timedelta(seconds=20))
    proxy = router.post("/api/proxy-request").mock(return_value=proxy_answer())
    await client.proxy("serpapi", "search", {"q": "a"}, token)
    assert proxy.call_count == 1


async def test_undecodable_caller_tokens_are_sent_as_given(
    router: Router, client: GatewayClient
) -> None:
    proxy = router.post("/api/proxy-request").mock(return_value=proxy_answer())
    await client.proxy("serpapi", "search", {"q": "a"}, "opaque-token-value")
    assert json_body(proxy.calls.last.request)["agent_token"] == "opaque-token-value"


async def test_scope_guard_refuses_a_tool_outside_the_token(
    router: Router, client: GatewayClient
) -> None:
    proxy = router.post("/api/proxy-request").mock(return_value=proxy_answer())
    with pytest.raises(GatewayPolicyError, match="not scoped"):
        await client.proxy("openai", "chat", {"messages": []}, gateway_token(tools=["serpapi"]))
    assert proxy.call_count == 0


async def test_caller_token_refusal_is_not_retried(router: Router, client: GatewayClient) -> None:
    proxy = router.post("/api/proxy-request").mock(
        return_value=httpx2.Response(403, json={"error": "Token expired"})
    )
    with pytest.raises(GatewayTokenError):
        await client.proxy("serpapi", "search", {"q": "a"}, gateway_token(tools=["serpapi"]))
    assert proxy.call_count == 1 and router["token"].call_count == 0


async def test_rotation_hint_on_a_caller_token_is_a_warning(
    router: Router, client: GatewayClient, caplog: pytest.LogCaptureFixture
) -> None:
    router.post("/api/proxy-request").mock(
        return_value=proxy_answer(
            **{
                "x-token-rotation-recommended": "true",
                "x-token-expires-at": "2030-01-01T00:00:00.000Z",
            }
        )
    )
    token = gateway_token(tools=["serpapi"])
    with caplog.at_level(logging.WARNING, logger="runrgateway"):
        response = await client.proxy_response("serpapi", "search", {"q": "a"}, token)
    assert response.rotation_recommended
    assert response.token_expires_at == datetime(2030, 1, 1, tzinfo=timezone.utc)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "rotat" in warnings[0].getMessage()
    assert token not in warnings[0].getMessage()
