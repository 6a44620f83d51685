"""The tools' live answers (what production returns), the adapters' quirks in both
upstream modes, and the per-tool circuit breaker, on the wire (raw httpx)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from runrgateway._keys import AgentKey
from runrgateway.testing import (
    ALLOW_BUILTIN_TOOLS,
    EmbeddedGateway,
    ManualClock,
    register_gateway,
    remove_gateway,
)

from .conftest import WireClient, mock_client_for

SEARCH = {"q": "montreal plumber", "query": "montreal plumber"}
EMAIL = {"to": "prospect@company.com", "subject": "Hi", "body": "Hello", "text": "Hello"}
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Summarise: hello"}]}
OPEN = "Circuit breaker is OPEN for 30000ms"


def data(answer: Any) -> Any:
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def upstream_failure(answer: Any) -> Any:
    assert answer.status_code == 502, answer.text
    body = answer.json()
    assert body["error"] == "External API request failed" and body["code"] == "UPSTREAM_FAILED"
    return body["details"]


# Live shapes, every tool:action ------------------------------------------------------


def test_search_is_serpapis_own_json(wire: WireClient) -> None:
    found = data(wire.proxy("serpapi", "search", {**SEARCH, "num": 3}))
    assert list(found) == [
        "search_metadata",
        "search_parameters",
        "search_information",
        "organic_results",
    ]
    assert found["search_metadata"]["status"] == "Success"
    assert found["search_parameters"]["q"] == "montreal plumber"
    hits = found["organic_results"]
    assert [hit["position"] for hit in hits] == [1, 2, 3]
    assert set(hits[0]) == {"position", "title", "link", "displayed_link", "snippet", "source"}
    assert hits[0]["title"] == "montreal plumber - result 1"
    assert hits[0]["link"].startswith("https://example.com/")
    again = data(wire.proxy("serpapi", "search", {**SEARCH, "num": 3}))
    assert again == found  # deterministic: no clock reading in a search answer


def test_fetch_get_and_head_are_the_adapters_envelope(wire: WireClient) -> None:
    page = data(wire.proxy("http_fetch", "get", {"url": "https://example.com/about"}))
    assert list(page) == ["status", "statusText", "headers", "data", "url"]
    assert (page["status"], page["statusText"], page["url"]) == (
        200,
        "OK",
        "https://example.com/about",
    )
    assert page["headers"]["content-type"].startswith("text/html")
    assert page["headers"]["content-length"] == str(len(page["data"].encode()))
    assert "https://example.com/about" in page["data"]
    head = data(wire.proxy("http_fetch", "head", {"url": "https://example.com/about"}))
    assert list(head) == ["status", "statusText", "headers", "url"]
    assert head["headers"]["content-length"] == page["headers"]["content-length"]


def test_chat_and_complete_are_openais_objects(wire: WireClient) -> None:
    chat = data(wire.proxy("openai", "chat", CHAT))
    assert chat["object"] == "chat.completion" and chat["id"].startswith("chatcmpl-")
    assert chat["model"] == "gpt-4o-mini" and isinstance(chat["created"], int)
    choice = chat["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "Mock answer to: Summarise: hello"}
    assert choice["finish_reason"] == "stop"
    usage = chat["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    done = data(wire.proxy("openai", "complete", {"model": "gpt-4o-mini", "prompt": "Say hi"}))
    assert done["object"] == "text_completion" and done["id"].startswith("cmpl-")
    assert done["choices"][0]["text"] == "Mock completion of: Say hi"


def test_send_and_profile_are_the_gmail_adapters(wire: WireClient) -> None:
    sent = data(wire.proxy("gmail_send", "send", EMAIL))
    assert list(sent) == ["success", "messageId", "threadId", "to", "subject", "timestamp"]
    assert sent["success"] is True and re.fullmatch(r"[0-9a-f]{16}", sent["messageId"])
    assert (sent["to"], sent["subject"]) == (EMAIL["to"], EMAIL["subject"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", sent["timestamp"])
    profile = data(wire.proxy("gmail_send", "profile", {}))
    assert set(profile) == {"emailAddress", "messagesTotal", "threadsTotal", "historyId"}


# The adapters' quirks ----------------------------------------------------------------


def test_live_search_reads_q_not_query(wire: WireClient) -> None:
    only_query = wire.proxy("serpapi", "search", {"query": "plumbers"})  # the validator passes it
    assert upstream_failure(only_query) == 'Query parameter "q" is required'


def test_live_send_reads_text_not_body(wire: WireClient) -> None:
    body_only = {key: value for key, value in EMAIL.items() if key != "text"}
    assert upstream_failure(wire.proxy("gmail_send", "send", body_only)) == (
        "To, subject, and text are required"
    )


def test_live_openai_requires_a_model(wire: WireClient) -> None:
    chat = wire.proxy("openai", "chat", {"messages": CHAT["messages"]})
    assert upstream_failure(chat) == "Model parameter is required"
    complete = wire.proxy("openai", "complete", {"prompt": "Say hi"})
    assert upstream_failure(complete) == "Model and prompt are required"


@pytest.mark.parametrize(
    "url, allowed",
    [
        ("https://www.linkedin.com/in/someone", True),
        ("https://acme.com/", True),
        ("https://notexample.com/", True),  # the adapter's suffix test, as it is
        ("https://example.org/", False),
        ("https://not-allowed.org", False),
    ],
)
def test_live_fetch_only_fetches_the_listed_hosts(
    wire: WireClient, url: str, allowed: bool
) -> None:
    for action in ("get", "head"):
        answer = wire.proxy("http_fetch", action, {"url": url})
        if allowed:
            assert data(answer)["url"] == url
        else:
            assert upstream_failure(answer) == f"URL not allowed: {url}"


def test_mock_mode_quirks(wire: WireClient, gateway: EmbeddedGateway) -> None:
    gateway.upstream_mode = "mock"
    assert data(wire.proxy("http_fetch", "get", {"url": "https://not-allowed.org"}))["bytes"] == 120
    chat = wire.proxy("openai", "chat", CHAT)  # messages only: the mock adapter reads `input`
    assert upstream_failure(chat) == "Cannot read properties of undefined (reading 'slice')"
    with_input = data(wire.proxy("openai", "chat", {**CHAT, "input": "hello there"}))
    assert with_input == {"model": "gpt-4o-mini", "output": "SUMMARY: hello there", "tokens_est": 4}
    body_only = {key: value for key, value in EMAIL.items() if key != "text"}
    assert upstream_failure(wire.proxy("gmail_send", "send", body_only)) == (
        "Cannot read properties of undefined (reading 'length')"
    )
    undefined = data(wire.proxy("serpapi", "search", {"query": "only query", "num": 2}))
    assert "query" not in undefined
    assert [hit["title"] for hit in undefined["results"]] == [
        "Result 1 for undefined",
        "Result 2 for undefined",
    ]


def test_the_upstream_mode_is_checked() -> None:
    with pytest.raises(ValueError, match="upstream_mode"):
        EmbeddedGateway(upstream_mode="production")


# The circuit breaker ------------------------------------------------------------------


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def clocked(clock: ManualClock) -> Iterator[EmbeddedGateway]:
    gateway = register_gateway(
        EmbeddedGateway(
            f"breaker-{uuid.uuid4().hex[:8]}",
            auto_register_agents=True,
            default_policy=ALLOW_BUILTIN_TOOLS,
            rate_limit=None,
            clock=clock,
        )
    )
    yield gateway
    remove_gateway(gateway.name)


@pytest.fixture
def breaker_wire(clocked: EmbeddedGateway, wire_key: AgentKey) -> Iterator[WireClient]:
    yield from mock_client_for(clocked, wire_key)


def fail_chat(wire: WireClient, token: dict[str, Any], times: int) -> None:
    for _ in range(times):
        chat = wire.proxy("openai", "chat", {"messages": CHAT["messages"]}, token)  # no model
        assert upstream_failure(chat) == "Model parameter is required"


def test_the_breaker_opens_after_five_failed_runs_and_refuses(
    breaker_wire: WireClient, clocked: EmbeddedGateway
) -> None:
    token = breaker_wire.token()
    fail_chat(breaker_wire, token, 4)
    assert clocked.breaker_state("openai") == "closed"
    fail_chat(breaker_wire, token, 1)
    assert clocked.breaker_state("openai") == "open"
    runs = clocked.tool_runs
    for params in (CHAT, {"model": "m", "prompt": "p"}):  # every action of the tool
        action = "chat" if "messages" in params else "complete"
        assert upstream_failure(breaker_wire.proxy("openai", action, params, token)) == OPEN
    assert clocked.tool_runs == runs  # refused without running
    assert data(breaker_wire.proxy("serpapi", "search", SEARCH, token))  # other tools run
    assert clocked.breaker_state("serpapi") == "closed"


def test_refusals_before_the_tool_do_not_count(
    breaker_wire: WireClient, clocked: EmbeddedGateway
) -> None:
    token = breaker_wire.token()
    fail_chat(breaker_wire, token, 4)
    for _ in range(3):  # parameter validation, then the rate limit: the tool never runs
        assert breaker_wire.proxy("openai", "chat", {"messages": []}, token).status_code == 400
    clocked.set_rate_limit(1)
    assert data(breaker_wire.proxy("serpapi", "search", SEARCH, token))
    assert breaker_wire.proxy("openai", "chat", CHAT, token).status_code == 429
    assert clocked.breaker_state("openai") == "closed"


def test_the_breaker_half_opens_after_30_s_and_a_success_closes_it(
    breaker_wire: WireClient, clocked: EmbeddedGateway, clock: ManualClock
) -> None:
    token = breaker_wire.token()
    fail_chat(breaker_wire, token, 5)
    clock.advance(29.9)
    assert upstream_failure(breaker_wire.proxy("openai", "chat", CHAT, token)) == OPEN
    clock.advance(0.1)  # 30 s since the last failure: the next call runs
    assert data(breaker_wire.proxy("openai", "chat", CHAT, token))["object"] == "chat.completion"
    assert clocked.breaker_state("openai") == "closed"
    fail_chat(breaker_wire, token, 4)  # counting starts again from zero
    assert clocked.breaker_state("openai") == "closed"


def test_a_failure_while_half_open_opens_it_again(
    breaker_wire: WireClient, clocked: EmbeddedGateway, clock: ManualClock
) -> None:
    token = breaker_wire.token()
    clocked.fail_tool_next(5, details="SMTP down", tool="gmail_send")  # injected failures count
    for _ in range(5):
        assert upstream_failure(breaker_wire.proxy("gmail_send", "send", EMAIL, token)) == (
            "SMTP down"
        )
    clock.advance(30)
    body_only = {key: value for key, value in EMAIL.items() if key != "text"}
    assert upstream_failure(breaker_wire.proxy("gmail_send", "send", body_only, token)) == (
        "To, subject, and text are required"
    )
    assert clocked.breaker_state("gmail_send") == "open"
    assert upstream_failure(breaker_wire.proxy("gmail_send", "profile", {}, token)) == OPEN


def test_the_breaker_can_be_turned_off_or_tuned(
    breaker_wire: WireClient, clocked: EmbeddedGateway
) -> None:
    token = breaker_wire.token()
    clocked.set_circuit_breaker(False)
    fail_chat(breaker_wire, token, 8)
    assert clocked.breaker_state("openai") == "closed"
    clocked.set_circuit_breaker(True, failures=2, open_s=5)
    fail_chat(breaker_wire, token, 2)
    chat = breaker_wire.proxy("openai", "chat", CHAT, token)
    assert upstream_failure(chat) == "Circuit breaker is OPEN for 5000ms"
    assert EmbeddedGateway(circuit_breaker=False).breaker_state("openai") == "closed"


@pytest.mark.parametrize("mode", ["live", "mock"])
def test_every_builtin_scope_has_an_adapter_in_both_modes(mode: str) -> None:
    from runrgateway.testing import BUILTIN_SCOPES
    from runrgateway.testing._upstream import _ADAPTERS

    assert set(_ADAPTERS[mode]) == set(BUILTIN_SCOPES)
