"""A managed token is never stale at birth: about one mint per token lifetime (issue 13)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx2
import pytest

from runrgateway import GatewayClient
from runrgateway._tokens import format_utc
from runrgateway.testing import EmbeddedGateway
from tests.helpers import BASE, json_body, proxy_answer

from .conftest import Router


@pytest.mark.parametrize("ttl_minutes", [1, 5])
async def test_short_lived_managed_tokens_are_minted_once(
    runr_gateway: EmbeddedGateway, ttl_minutes: int
) -> None:
    """The gateway hints rotation on every answer for a token with < 300 s left."""
    runr_gateway.set_rate_limit(None)
    async with GatewayClient(
        runr_gateway.url, "agent-1", "test-key", managed_token_ttl_minutes=ttl_minutes
    ) as gw:
        hinted = 0
        for _ in range(50):
            response = await gw.proxy_response("serpapi", "search", {"q": "a"})
            hinted += response.rotation_recommended
    assert hinted == 50  # the gateway did ask, every time
    assert runr_gateway.count("generate-token") == 1


async def test_a_hint_with_an_earlier_expiry_is_followed(router: Router, agent_pem: str) -> None:
    """When the gateway says the token ends sooner than the client thought, trust it."""
    soon = format_utc(datetime.now(timezone.utc) + timedelta(seconds=20))
    hint = {"x-token-rotation-recommended": "true", "x-token-expires-at": soon}
    proxy = router.post("/api/proxy-request").mock(
        side_effect=[proxy_answer(**hint), proxy_answer(), proxy_answer()]
    )
    async with GatewayClient(BASE, "agent-1", agent_pem) as gw:
        for _ in range(3):
            await gw.proxy("serpapi", "search", {"q": "a"})
    assert router["token"].call_count == 2
    tokens = [json_body(call.request)["agent_token"] for call in proxy.calls]
    assert tokens[0] != tokens[1] == tokens[2]


@pytest.mark.parametrize("expires_at", [None, "2030-01-01T00:00:00.000Z", "not a date"])
async def test_a_hint_on_a_fresh_token_is_not_a_stampede(
    router: Router, agent_pem: str, expires_at: str | None
) -> None:
    hint = {"x-token-rotation-recommended": "true"}
    if expires_at is not None:
        hint["x-token-expires-at"] = expires_at
    router.post("/api/proxy-request").mock(side_effect=lambda _: proxy_answer(**hint))
    async with GatewayClient(BASE, "agent-1", agent_pem) as gw:
        for _ in range(10):
            await gw.proxy("serpapi", "search", {"q": "a"})
    assert router["token"].call_count == 1


async def test_a_token_refused_after_a_hint_is_still_replaced(
    router: Router, agent_pem: str
) -> None:
    router.post("/api/proxy-request").mock(
        side_effect=[
            proxy_answer(**{"x-token-rotation-recommended": "true"}),
            httpx2.Response(403, json={"error": "Token expired"}),
            proxy_answer(),
        ]
    )
    async with GatewayClient(BASE, "agent-1", agent_pem) as gw:
        await gw.proxy("serpapi", "search", {"q": "a"})
        await gw.proxy("serpapi", "search", {"q": "a"})
    assert router["token"].call_count == 2
