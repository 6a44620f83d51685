"""The token manager under threads and across event loops (beyond what the wire tests reach)."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from runrgateway import GatewayClient
from runrgateway._models import TokenInfo, TokenOptions
from runrgateway._sync._token_manager import TokenManager
from runrgateway.testing import EmbeddedGateway


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Switch threads as often as possible, to make races show."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def test_rotation_hints_while_other_threads_mint(fast_switching: None) -> None:
    minted = 0

    def mint(options: TokenOptions) -> TokenInfo:
        nonlocal minted
        minted += 1
        expires = datetime.now(timezone.utc) + timedelta(minutes=15)
        return TokenInfo(agent_token=f"token-{minted}", token_id=None, expires_at=expires)

    manager = TokenManager(mint, 15)
    for index in range(2000):
        manager.get([f"tool{index}"], ["read"])
    errors: list[BaseException] = []
    done = threading.Event()

    def add_scopes() -> None:
        for index in range(2000, 6000):  # bounded, whatever happens to the readers
            if done.is_set():
                return
            manager.get([f"tool{index}"], ["read"])

    def follow_hints() -> None:
        try:
            for _ in range(1000):  # unknown tokens: each call walks every scope
                manager.follow_rotation_hint("no-such-token", None)
                manager.discard("no-such-token")
        except BaseException as exc:  # a RuntimeError here is the bug
            errors.append(exc)

    writer = threading.Thread(target=add_scopes)
    writer.start()
    readers = [threading.Thread(target=follow_hints) for _ in range(2)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(timeout=30)
    done.set()
    writer.join(timeout=30)
    assert errors == []
    assert manager.follow_rotation_hint("token-1", datetime.now(timezone.utc))  # expires now
    assert manager.get(["tool0"], ["read"]).agent_token != "token-1"  # the hint was followed


def test_an_async_client_reused_by_a_second_event_loop(runr_gateway: EmbeddedGateway) -> None:
    """asyncio.run() twice with one client (a script, a notebook cell): no lock bound to a
    dead loop. The token is revoked between bursts, so the second burst mints too."""
    runr_gateway.set_rate_limit(None)
    client = GatewayClient(runr_gateway.url, "agent-1", "test-key", managed_token_ttl_minutes=3)

    async def burst() -> list[object]:
        runr_gateway.delay_next(1, 0.05, route="generate-token")  # callers queue on the lock
        calls = [client.proxy("serpapi", "search", {"q": "x"}) for _ in range(3)]
        return list(await asyncio.gather(*calls))

    assert len(asyncio.run(burst())) == 3
    for request in runr_gateway.requests:
        if request.route == "proxy-request":
            runr_gateway.revoke_token(request.json["token_id"])
    assert len(asyncio.run(burst())) == 3
    assert runr_gateway.count("generate-token") == 2
