"""Property: any answer, however malformed, ends in a value or a `GatewayError`.

Arbitrary (status, headers, body bytes) come back over a mock transport to every kind of
call; nothing else may escape (no RecursionError, OverflowError, DecodingError...).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from runrgateway import GatewayClient, GatewayError
from tests.helpers import BASE, gateway_token
from tests.strategies import answer_bodies, answer_headers, statuses

from .conftest import Router

TOKEN = gateway_token(tools=["serpapi"])


class Answers:
    """The answer every route gives, replaced by each example."""

    def __init__(self) -> None:
        self.next: tuple[int, dict[str, str], bytes] = (200, {}, b"{}")
        self.served = 0

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.served += 1
        status, headers, body = self.next
        # A stream, so that the client (not the test) reads and decodes the body.
        return httpx2.Response(status, headers=headers, stream=httpx2.ByteStream(body))


@pytest.fixture
def answers(router: Router) -> Answers:
    served = Answers()
    router["token"].mock(side_effect=served)
    router.post("/api/proxy-request").mock(side_effect=served)
    router.get("/api/jobs/job-1").mock(side_effect=served)
    return served


@pytest.fixture
async def client(agent_pem: str) -> AsyncIterator[GatewayClient]:
    # No retries: a retry would only repeat the same answer (and may wait what it asks).
    async with GatewayClient(BASE, "agent-1", agent_pem, max_retries=0) as gw:
        yield gw


async def make_call(client: GatewayClient, operation: str) -> Any:
    if operation == "proxy":
        return await client.proxy("serpapi", "search", {"q": "a"}, TOKEN)
    if operation == "proxy_response":
        return await client.proxy_response("serpapi", "search", {"q": "a"}, TOKEN)
    if operation == "proxy_async":
        return await client.proxy_async("serpapi", "search", {"q": "a"}, TOKEN)
    if operation == "get_token":
        return await client.get_token({"tools": ["serpapi"], "permissions": ["read"]})
    return await client.get_job("job-1")


@given(
    status=statuses,
    headers=answer_headers,
    body=answer_bodies,
    operation=st.sampled_from(["proxy", "proxy_response", "proxy_async", "get_token", "job"]),
)
async def test_any_answer_is_a_value_or_a_gateway_error(
    answers: Answers,
    client: GatewayClient,
    status: int,
    headers: dict[str, str],
    body: bytes,
    operation: str,
) -> None:
    answers.next = (status, headers, body)
    served_before = answers.served
    try:
        result = await make_call(client, operation)
    except GatewayError as error:
        assert error.attempts == 1
        text = str(error)  # every error can be shown, and briefly
        assert len(error.message) < 2000, text
        if 200 <= status < 300:
            assert error.code in ("BAD_RESPONSE", "JOBS_UNSUPPORTED"), text
    else:
        assert 200 <= status < 300  # only a success answer gives a value
        assert result is not None or operation == "proxy"
    assert answers.served == served_before + 1  # one attempt each: nothing else went out


@given(retry_after=st.one_of(st.integers(min_value=0, max_value=10**500), st.floats()))
async def test_body_retry_after_is_reported_finite(
    answers: Answers, client: GatewayClient, retry_after: float
) -> None:
    """`retry_after` on the error is always a finite number of seconds, or None."""
    body = b'{"error": "Rate limit exceeded", "retry_after": ' + json.dumps(retry_after).encode()
    answers.next = (429, {"content-type": "application/json"}, body + b"}")
    with pytest.raises(GatewayError) as caught:
        await make_call(client, "proxy")
    wait = getattr(caught.value, "retry_after", None)
    assert wait is None or 0.0 <= wait < float("inf")
