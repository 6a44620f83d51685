"""`runrgateway mcp` as an MCP client sees it: a subprocess driven by the mcp SDK's own
stdio client, against the embedded gateway in the server's process (mock://) and against
`GatewayServer` on loopback with an Ed25519 agent key."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import IO, Any

import pytest

pytest.importorskip("mcp", reason='needs the mcp extra: pip install "runrgateway[mcp]"')

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult

from runrgateway import AgentKey, SyncGatewayClient
from runrgateway.mcp import CATALOG
from runrgateway.testing import (
    EmbeddedGateway,
    GatewayOutcome,
    GatewayRequest,
    GatewayServer,
    new_mock_gateway,
)
from runrgateway.testing._tools import _SCHEMAS
from tests.test_mcp_extra import run_python

ALL_TOOLS = [
    "serpapi_search",
    "http_fetch_get",
    "http_fetch_head",
    "openai_chat",
    "openai_complete",
    "gmail_send_send",
    "gmail_send_profile",
]
EMAIL = {"to": "lead@example.com", "subject": "Hello", "body": "Hi there"}


@dataclass
class Session:
    """An initialised MCP client session and the server's stderr so far."""

    client: ClientSession
    errlog: IO[str]

    def stderr(self) -> str:
        self.errlog.flush()
        self.errlog.seek(0)
        return self.errlog.read()

    async def call(self, name: str, arguments: dict[str, Any] | None = None) -> CallToolResult:
        return await self.client.call_tool(name, arguments or {})


@asynccontextmanager
async def mcp_server(*args: str, env: Mapping[str, str] | None = None) -> AsyncIterator[Session]:
    """`python -m runrgateway mcp ARGS` with only `env` (and PATH, HOME...) set."""
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "runrgateway", "mcp", *args], env=dict(env or {})
    )
    with tempfile.TemporaryFile("w+", encoding="utf-8") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as client:
                await client.initialize()
                yield Session(client, errlog)


def text_of(result: CallToolResult) -> str:
    return " ".join(block.text for block in result.content if block.type == "text")


# ------------------------------------------------------------------ against mock://


async def test_against_mock_tools_are_listed_with_schemas_and_return_data() -> None:
    # The embedded gateway's fake tools are deterministic: what the SDK gets for the same
    # params from another mock gateway is exactly what the MCP client must get.
    expected = new_mock_gateway()
    with SyncGatewayClient(expected.url, "reference", "test-key") as gw:
        search = gw.proxy("serpapi", "search", {"query": "montreal plumber", "num": 3})
        page = gw.proxy("http_fetch", "get", {"url": "https://example.com/"})
    async with mcp_server("--intent", "lead_discovery", env={"RUNRGATEWAY_LOG": "info"}) as session:
        tools = {tool.name: tool for tool in (await session.client.list_tools()).tools}
        found = await session.call("serpapi_search", {"query": "montreal plumber", "num": 3})
        fetched = await session.call("http_fetch_get", {"url": "https://example.com/"})
        wrong = await session.call("serpapi_search", {"q": "plumbers", "num": 500})
        unknown = await session.call("slack_post", {"text": "hi"})
        stderr = session.stderr()

    assert list(tools) == ALL_TOOLS
    search_schema = tools["serpapi_search"].input_schema
    assert search_schema["required"] == ["query"]
    assert search_schema["properties"]["query"] == {
        "type": "string",
        "minLength": 1,
        "maxLength": 500,
        "description": "What to search for.",
    }
    num = search_schema["properties"]["num"]
    assert (num["type"], num["minimum"], num["maximum"]) == ("integer", 1, 100)
    assert search_schema["additionalProperties"] is False
    assert "intent" in search_schema["properties"]
    assert "idempotency_key" not in search_schema["properties"]
    send = tools["gmail_send_send"]
    assert send.input_schema["required"] == ["to", "subject", "body"]
    assert "idempotency_key" in send.input_schema["properties"]
    assert send.annotations is not None and send.annotations.read_only_hint is False
    assert tools["http_fetch_get"].annotations.read_only_hint is True  # type: ignore[union-attr]
    messages = tools["openai_chat"].input_schema["properties"]["messages"]
    assert (messages["minItems"], messages["maxItems"]) == (1, 50)
    assert all(tool.description for tool in tools.values())

    assert not found.is_error and not fetched.is_error
    assert found.structured_content == (search if isinstance(search, dict) else {"result": search})
    assert fetched.structured_content == (page if isinstance(page, dict) else {"result": page})
    assert text_of(found).startswith("serpapi:search succeeded")
    assert json.dumps(search, ensure_ascii=False)[:200] in text_of(found)
    assert found.meta is not None and found.meta["runrgateway/correlation_id"]

    assert wrong.is_error
    assert "query: required" in text_of(wrong)
    allowed = "intent, location, num, query, safe, start"
    assert f"q: unknown argument (allowed: {allowed})" in text_of(wrong)
    assert "num: 500 is greater than the maximum of 100" in text_of(wrong)
    assert "\n" not in text_of(wrong)
    assert wrong.structured_content["error"]["code"] == "VALIDATION_FAILED"  # type: ignore[index]
    assert unknown.is_error and "Unknown tool 'slack_post'" in text_of(unknown)

    assert "throwaway key" in stderr and "mock://mcp" in stderr
    assert "listing 7 tool(s)" in stderr
    assert "serpapi_search (serpapi:search): VALIDATION_FAILED" in stderr


def test_schemas_follow_the_gateway_validators() -> None:
    """Same fields and the same required ones as the embedded gateway's validator (which
    follows the real one), plus the server's own `intent` and `idempotency_key`."""
    for spec in CATALOG:
        rules = _SCHEMAS[spec.scope]
        schema = spec.input_schema()
        own = {"idempotency_key"} if spec.side_effect else set()
        assert set(schema["properties"]) == set(rules) | own, spec.name
        assert set(schema.get("required", [])) == {n for n, r in rules.items() if r.required}
        for name, rule in rules.items():
            prop = schema["properties"][name]
            if rule.kind == "string" and rule.high is not None:
                assert prop["maxLength"] == rule.high, (spec.name, name)
            if rule.kind == "number" and rule.high is not None:
                assert prop["maximum"] == rule.high, (spec.name, name)
            if rule.kind == "number" and rule.low is not None:
                assert prop["minimum"] == rule.low, (spec.name, name)


async def test_tools_option_narrows_the_list() -> None:
    async with mcp_server("--tools", "serpapi,http_fetch_get") as session:
        names = [tool.name for tool in (await session.client.list_tools()).tools]
        refused = await session.call("gmail_send_send", EMAIL)
        stderr = session.stderr()
    assert names == ["serpapi_search", "http_fetch_get"]
    assert refused.is_error and "Unknown tool" in text_of(refused)
    assert " INFO " not in stderr and " DEBUG " not in stderr  # no RUNRGATEWAY_LOG: warnings


def test_log_records_are_masked() -> None:
    import io
    import logging

    from runrgateway.mcp._logs import configure

    stream = io.StringIO()
    logger = logging.getLogger("runrgateway")
    saved = (logger.handlers[:], logger.level)
    logger.handlers.clear()
    try:
        configure({"RUNRGATEWAY_LOG": "info"}, False, stream, ["s3cr3t-passphrase"])
        pem = AgentKey.generate("ed25519").private_key_pem()
        logging.getLogger("runrgateway.mcp").info("key %s password %s", pem, "s3cr3t-passphrase")
        logging.getLogger("runrgateway.mcp").debug("not at info")
        try:
            raise ValueError(f"Bearer abc.def.ghi and {pem}")
        except ValueError:
            logging.getLogger("runrgateway.mcp").exception("failed")
    finally:
        logger.handlers[:], logger.level = saved
    logged = stream.getvalue()
    assert "PRIVATE KEY" not in logged and "s3cr3t-passphrase" not in logged
    assert "abc.def.ghi" not in logged and "not at info" not in logged
    assert "***MASKED***" in logged and "ValueError" in logged


def test_an_unknown_tools_entry_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "runrgateway", "mcp", "--tools", "serpapi,nope"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": ""},
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "--tools: unknown tool 'nope' (known: serpapi_search," in done.stderr


# --------------------------------------------------------- against GatewayServer (serve)


@pytest.fixture(scope="module")
def server() -> Iterator[GatewayServer]:
    # No default policy, as real. log_secrets: `tokens_sent` reads the whole tokens back
    # from the request log, to prove that none of them reached the server's output.
    gateway = EmbeddedGateway("mcp-e2e", rate_limit=None, log_secrets=True)
    with GatewayServer(gateway) as running:
        yield running


@pytest.fixture
def gateway(server: GatewayServer) -> Iterator[EmbeddedGateway]:
    yield server.gateway
    server.gateway.reset()
    server.gateway.set_rate_limit(None)


@dataclass
class Agent:
    agent_id: str
    env: dict[str, str]
    key: AgentKey


@pytest.fixture
def agent(server: GatewayServer, gateway: EmbeddedGateway) -> Agent:
    key = AgentKey.generate("ed25519")
    created = gateway.create_agent("mcp agent", public_key_pem=key.public_key_pem())
    env = {
        "GATEWAY_URL": server.url,
        "AGENT_ID": created.agent_id,
        "AGENT_PRIVATE_KEY": key.private_key_pem(),
        "RUNRGATEWAY_LOG": "debug",
    }
    return Agent(created.agent_id, env, key)


def tokens_sent(gateway: EmbeddedGateway) -> list[str]:
    return [
        r.json["agent_token"]
        for r in gateway.requests
        if r.route == "proxy-request" and isinstance(r.json, dict) and "agent_token" in r.json
    ]


async def test_only_the_tools_the_policy_allows_and_a_denial_with_its_reason(
    gateway: EmbeddedGateway, agent: Agent
) -> None:
    gateway.add_policy(
        ["serpapi:search", "http_fetch:get"], agent_id=agent.agent_id, intent="research"
    )
    async with mcp_server(env=agent.env) as session:
        listed = (await session.client.list_tools()).tools
        denied = await session.call("serpapi_search", {"query": "plumbers", "intent": "marketing"})
        allowed = await session.call("serpapi_search", {"query": "plumbers", "intent": "research"})
        fetched = await session.call("http_fetch_get", {"url": "https://example.com/a"})
        not_a_url = await session.call("http_fetch_get", {"url": "not a url"})
        stderr = session.stderr()
    assert [tool.name for tool in listed] == ["serpapi_search", "http_fetch_get"]
    intent_text = listed[0].input_schema["properties"]["intent"]["description"]
    assert "requires 'research'" in intent_text
    assert denied.is_error
    assert (
        "Policy denied serpapi:search: Intent mismatch. Required: research, provided: marketing"
        in text_of(denied)
    )
    error = denied.structured_content["error"]  # type: ignore[index]
    assert error["code"] == "POLICY_DENIED" and error["status"] == 403
    assert error["reason"] == "Intent mismatch. Required: research, provided: marketing"
    assert not allowed.is_error and allowed.structured_content
    assert not fetched.is_error and fetched.structured_content
    assert not_a_url.is_error  # refused by the gateway's validator, naming the field
    assert "The gateway refused the arguments of http_fetch_get: url: Invalid url" in text_of(
        not_a_url
    )
    assert not_a_url.structured_content["error"]["fields"] == ["url: Invalid url"]  # type: ignore[index]
    assert len(gateway.tool_calls) == 2  # the denied call never ran the tool
    # secrets: neither the key nor a whole token in the log or in what the model reads
    key_body = agent.key.private_key_pem().splitlines()[1]
    seen = stderr + text_of(denied) + text_of(allowed) + json.dumps(error)
    assert key_body not in seen
    assert tokens_sent(gateway) and all(token not in seen for token in tokens_sent(gateway))
    assert "GET /api/policies/merged/" in stderr or "policies/merged" in stderr


async def test_a_rate_limit_comes_back_with_its_wait(
    gateway: EmbeddedGateway, agent: Agent
) -> None:
    gateway.add_policy(["serpapi:search"], agent_id=agent.agent_id)
    gateway.set_rate_limit(1, 60.0)
    async with mcp_server(env=agent.env) as session:
        first = await session.call("serpapi_search", {"query": "one"})
        limited = await session.call("serpapi_search", {"query": "two"})
    assert not first.is_error
    assert limited.is_error
    error = limited.structured_content["error"]  # type: ignore[index]
    assert error["code"] == "RATE_LIMITED" and error["status"] == 429
    assert 50 < error["retry_after"] <= 60
    assert f"retry after {error['retry_after']:g} s" in text_of(limited)
    assert gateway.count("proxy-request") == 2  # a wait over the cap is reported, not slept


async def test_side_effects_are_never_repeated(gateway: EmbeddedGateway, agent: Agent) -> None:
    """Without a key: a failed send is not resent (the SDK's rule for a gateway that keeps
    no keys). With the `idempotency_key` argument: a repeat is answered, not re-sent."""
    gateway.add_policy(["gmail_send:send"], agent_id=agent.agent_id)
    gateway.fail_tool_next(1, "SMTP relay unavailable", tool="gmail_send")
    keyed = {**EMAIL, "idempotency_key": "welcome-lead-42"}
    async with mcp_server("--intent", "outreach", env=agent.env) as session:
        failed = await session.call("gmail_send_send", EMAIL)
        runs_after_failure = len(gateway.tool_calls)
        first = await session.call("gmail_send_send", keyed)
        again = await session.call("gmail_send_send", keyed)

    assert failed.is_error
    assert "SMTP relay unavailable" in text_of(failed)
    assert "not retried" in text_of(failed)
    assert failed.structured_content["error"]["code"] == "UPSTREAM_FAILED"  # type: ignore[index]
    assert runs_after_failure == 1  # run once, although a retry would have succeeded

    assert not first.is_error and not again.is_error
    assert first.structured_content == again.structured_content
    assert len(gateway.tool_calls) == 2  # the failure, then one keyed send; the repeat replayed
    proxied = [r for r in gateway.requests if r.route == "proxy-request"]
    assert [r.headers.get("idempotency-key") for r in proxied[1:]] == ["welcome-lead-42"] * 2
    assert all("idempotency_key" not in r.json["params"] for r in proxied)
    assert {r.json["params"]["intent"] for r in proxied} == {"outreach"}  # from --intent


class GatewayKeepingNoKeys(EmbeddedGateway):
    """Answers without the Idempotency-Key echo: to a client, a gateway that keeps no keys
    (as the real one: it ignores the header)."""

    def handle(self, request: GatewayRequest) -> GatewayOutcome:
        outcome = super().handle(request)
        if outcome.response is not None:
            outcome.response.headers.pop("idempotency-key", None)
        return outcome


async def test_a_keyed_email_to_a_failing_gateway_that_keeps_no_keys_is_sent_once() -> None:
    key = AgentKey.generate("ed25519")
    with GatewayServer(GatewayKeepingNoKeys("mcp-keyless", rate_limit=None)) as server:
        gateway = server.gateway
        agent = gateway.create_agent("keyless", public_key_pem=key.public_key_pem())
        gateway.add_policy(["gmail_send:send"], agent_id=agent.agent_id)
        gateway.fail_tool_next(1, "SMTP relay unavailable", tool="gmail_send")
        env = {
            "GATEWAY_URL": server.url,
            "AGENT_ID": agent.agent_id,
            "AGENT_PRIVATE_KEY": key.private_key_pem(),
        }
        async with mcp_server(env=env) as session:
            failed = await session.call("gmail_send_send", {**EMAIL, "idempotency_key": "k-1"})
        runs = [run for run in gateway.tool_calls if run.tool == "gmail_send"]
    assert failed.is_error and "SMTP relay unavailable" in text_of(failed)
    assert "not retried" in text_of(failed)
    assert len(runs) == 1  # a retry would have succeeded, and sent a second email


async def test_a_gateway_that_cannot_say_lists_every_builtin_tool(
    gateway: EmbeddedGateway, agent: Agent
) -> None:
    from cryptography.hazmat.primitives import serialization

    gateway.fail_next(1, 404, body={"error": "Not Found", "code": "NOT_FOUND"}, route="policies")
    key = serialization.load_pem_private_key(agent.key.private_key_pem().encode(), None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"correct horse"),
    ).decode()
    env = {**agent.env, "AGENT_PRIVATE_KEY": encrypted, "AGENT_KEY_PASSWORD": "correct horse"}
    gateway.add_policy(["gmail_send:profile"], agent_id=agent.agent_id)
    async with mcp_server("--tools", "serpapi_search,gmail_send", env=env) as session:
        names = [tool.name for tool in (await session.client.list_tools()).tools]
        profile = await session.call("gmail_send_profile")
        stderr = session.stderr()
    assert names == ["serpapi_search", "gmail_send_send", "gmail_send_profile"]
    assert "did not say which tools" in stderr
    assert not profile.is_error  # signed with the encrypted key, opened with the password
    assert "correct horse" not in stderr


def test_stdout_is_protocol_only_and_the_server_exits_when_stdin_closes(
    gateway: EmbeddedGateway, agent: Agent
) -> None:
    """Raw JSON-RPC lines in; every stdout line is a JSON-RPC message; stdin closed while a
    call is still running at the gateway: the server exits 0 within 2 s."""
    gateway.add_policy(["gmail_send:profile", "serpapi:search"], agent_id=agent.agent_id)
    process = subprocess.Popen(
        [sys.executable, "-m", "runrgateway", "mcp", "-v"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": "", **agent.env},
    )
    assert process.stdin is not None and process.stdout is not None
    initialize = {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"},
    }
    messages: list[dict[str, Any]] = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": initialize},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "gmail_send_profile", "arguments": {}},
        },
    ]
    slow_call = {
        "jsonrpc": "2.0",
        "id": 4,
        "method": "tools/call",
        "params": {"name": "serpapi_search", "arguments": {"query": "slow"}},
    }
    try:
        answers = []
        for message in messages:
            process.stdin.write(json.dumps(message) + "\n")
            process.stdin.flush()
            if "id" in message:
                answers.append(json.loads(process.stdout.readline()))
        gateway.delay_next(1, 10.0, route="proxy-request")
        process.stdin.write(json.dumps(slow_call) + "\n")
        process.stdin.flush()
        deadline = time.monotonic() + 10
        while gateway.count("proxy-request") < 2 and time.monotonic() < deadline:
            time.sleep(0.02)  # until the slow call has reached the gateway
        process.stdin.close()
        started = time.monotonic()
        code = process.wait(timeout=10)
        exited_after_s = time.monotonic() - started
        rest = process.stdout.read()
        stderr = process.stderr.read() if process.stderr else ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert [answer["id"] for answer in answers] == [1, 2, 3]
    assert answers[0]["result"]["serverInfo"]["name"] == "runrgateway"
    assert [tool["name"] for tool in answers[1]["result"]["tools"]] == [
        "serpapi_search",
        "gmail_send_profile",
    ]
    assert answers[2]["result"]["isError"] is False
    assert answers[2]["result"]["structuredContent"]
    for line in rest.splitlines():  # nothing but JSON-RPC on stdout
        assert json.loads(line)["jsonrpc"] == "2.0"
    assert code == 0
    assert exited_after_s < 2.0
    assert "stdin closed: stopping" in stderr
    assert "POST /api/proxy-request" in stderr  # -v: one DEBUG line per attempt
    assert agent.key.private_key_pem().splitlines()[1] not in stderr


def test_the_python_block_of_docs_mcp_runs_as_written() -> None:
    """docs/mcp.md's `mcp-client` block, run as a script."""
    from pathlib import Path

    page = (Path(__file__).parent.parent / "docs" / "mcp.md").read_text(encoding="utf-8")
    block = page.split("<!-- runnable: mcp-client -->\n```python\n", 1)[1].split("```", 1)[0]
    done = run_python(block)
    assert done.returncode == 0, done.stderr
    listed, called = done.stdout.splitlines()
    assert listed == "['serpapi_search']"
    assert called.startswith("False serpapi:search succeeded: ")  # is_error False
    assert "throwaway key" in done.stderr
