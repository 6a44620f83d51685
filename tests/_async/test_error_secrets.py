"""No secret in an error's chain, its traceback's locals, or a repr.

A review found the whole token in `GatewayNetworkError.__context__.request.content`
(`raise ... from None` hides the chain only when printed) and in `PreparedCall`'s repr,
which `pytest -l`, `traceback` with `capture_locals` and Sentry's local variables show.
Each failure kind here is forced over the wire, then everything a tool could print of
the error is searched for the managed token, the Signature headers sent and the key.
"""

from __future__ import annotations

import traceback
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest

from runrgateway import (
    GatewayClient,
    GatewayError,
    GatewayNetworkError,
    GatewayPolicyError,
    GatewayTimeoutError,
    GatewayTokenError,
)
from tests.helpers import BASE, gateway_token, proxy_answer

from .conftest import Router

EMAIL = {"to": "user@example.com", "subject": "Hi", "body": "Hello"}


@pytest.fixture
async def client(agent_pem: str) -> AsyncIterator[GatewayClient]:
    async with GatewayClient(BASE, "agent-1", agent_pem, max_retries=1) as gw:
        yield gw


async def failure_of(client: GatewayClient, tool: str, action: str) -> GatewayError:
    """The error of one call. Made here, in a frame that holds no secret of the test's own
    (the PEM fixture), so that whatever its traceback shows comes from the SDK's frames."""
    params = EMAIL if tool == "gmail_send" else {"q": "plumbers"}
    try:
        await client.proxy(tool, action, params)
    except GatewayError as exc:
        return exc
    raise AssertionError("the call did not fail")


def chain(error: BaseException) -> list[BaseException]:
    """The error and everything reachable from it by __cause__ and __context__."""
    found: list[BaseException] = []
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or any(current is seen for seen in found):
            continue
        found.append(current)
        pending += [current.__cause__, current.__context__]
    return found


def printed(error: GatewayError) -> str:
    """Everything a person or a tool may print of the error."""
    shown = traceback.TracebackException.from_exception(error, capture_locals=True)
    texts = ["".join(shown.format())]
    for exc in chain(error):
        texts += [str(exc), repr(exc), repr(vars(exc))]
    texts += [repr(error.response), repr(error.details)]
    return "\n".join(texts)


def secrets_sent(router: Router, agent_pem: str) -> list[str]:
    """The managed tokens minted (and their payload half), the Signature and
    Signature-Input headers of every request, and the key's PEM lines."""
    found: list[str] = []
    for call in router["token"].calls:
        assert call.response is not None
        token = call.response.json()["agent_token"]
        found += [token, token.split(".")[0]]
    for call in router.calls:
        found += [call.request.headers["signature"], call.request.headers["signature-input"]]
    found += [line for line in agent_pem.splitlines() if line and not line.startswith("-----")]
    assert len(found) >= 6  # a token, its payload, two signed requests' headers, the key
    return found


def assert_nothing_leaks(error: GatewayError, secrets: list[str]) -> None:
    for exc in chain(error):
        # No httpx object (and so no request with the token in it) hangs off the chain.
        assert type(exc).__module__.split(".")[0] not in ("httpx2", "httpcore2"), repr(exc)
        assert isinstance(exc, GatewayError), repr(exc)
    text = printed(error)
    leaked = [secret[:12] + "..." for secret in secrets if secret in text]
    assert leaked == []


# (what the gateway does to the proxy call, the error class, the call). A read is retried
# once (max_retries=1), through the retry loop; a send is not retried, and fails on its
# first attempt.
FAILURES: list[tuple[str, list[Any], type[GatewayError], tuple[str, str]]] = [
    ("a retry, then refused", [httpx2.Response(503, headers={"retry-after": "0"}),
                               httpx2.ConnectError("All connection attempts failed")],
     GatewayNetworkError, ("serpapi", "search")),
    ("read timeout", [httpx2.ReadTimeout("timed out")], GatewayTimeoutError,
     ("gmail_send", "send")),
    ("connection dropped", [httpx2.RemoteProtocolError("peer closed the connection")],
     GatewayNetworkError, ("gmail_send", "send")),
    ("an HTML page", [httpx2.Response(200, text="<html><title>Proxy</title></html>")],
     GatewayError, ("serpapi", "search")),
    ("a cut JSON body", [httpx2.Response(200, content=b'{"success": true, "data": {')],
     GatewayError, ("serpapi", "search")),
    ("policy denied", [httpx2.Response(403, json={
        "error": "Policy denied", "reason": "Scope 'serpapi:search' not allowed"})],
     GatewayPolicyError, ("serpapi", "search")),
]  # fmt: skip


@pytest.mark.parametrize(
    "effects, error_class, call", [f[1:] for f in FAILURES], ids=[f[0] for f in FAILURES]
)
async def test_no_secret_in_the_chain_the_locals_or_a_repr(
    router: Router,
    client: GatewayClient,
    request: pytest.FixtureRequest,
    effects: list[Any],
    error_class: type[GatewayError],
    call: tuple[str, str],
) -> None:
    route = router.post("/api/proxy-request").mock(side_effect=effects)
    error = await failure_of(client, *call)
    assert type(error) is error_class
    assert route.call_count == len(effects)
    assert_nothing_leaks(error, secrets_sent(router, request.getfixturevalue("agent_pem")))


async def test_the_check_finds_a_token_in_the_locals(
    router: Router, client: GatewayClient, request: pytest.FixtureRequest
) -> None:
    """The search above can fail: a token held in a plain local shows up."""
    router.post("/api/proxy-request").mock(side_effect=[proxy_answer()])
    await client.proxy("serpapi", "search", {"q": "a"})
    token = router["token"].calls.last.response.json()["agent_token"]  # type: ignore[union-attr]
    try:
        raise GatewayError("boom")
    except GatewayError as exc:
        error = exc
    assert token in printed(error)  # `token` is a local of this very frame


async def test_a_callers_token_stays_out_of_the_chain_and_the_reprs(
    router: Router, client: GatewayClient
) -> None:
    """With the caller's own token the caller's frames hold it (it is their variable), so
    only the chain and the reprs are searched: refused unsent, and failed on the wire."""
    mine = gateway_token(tools=["serpapi"])
    other = gateway_token(tools=["serpapi"], agent_id="agent-2")
    router.post("/api/proxy-request").mock(
        side_effect=[httpx2.ReadTimeout("timed out"), httpx2.ReadTimeout("timed out")]
    )
    errors = []
    for token in (other, mine):
        try:
            await client.proxy("serpapi", "search", {"q": "a"}, token)
        except GatewayError as exc:
            errors.append(exc)
    refused, timed_out = errors
    assert isinstance(refused, GatewayTokenError) and isinstance(timed_out, GatewayTimeoutError)
    for error, token in ((refused, other), (timed_out, mine)):
        assert [type(exc).__module__ for exc in chain(error)] == ["runrgateway"]
        shown = "\n".join(
            [str(error), repr(error), repr(vars(error)), repr(error.response), repr(error.details)]
        )
        assert token not in shown and token.split(".")[0] not in shown
