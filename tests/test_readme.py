"""The README's ```python blocks, run for real.

A block preceded by ``<!-- runnable: NAME -->`` is executed against the embedded gateway
(``GATEWAY_URL=mock://readme``, an agent id and a generated key in the environment), in
README order, in one namespace and on one event loop, so later blocks use what earlier
ones made (`gw`, `token`, `job_id`), as a reader would. A bare top-level ``await`` is
allowed. Each block has an expectation below, checked on what it printed and assigned.
A block preceded by ``<!-- real-gateway -->`` needs a real gateway: it is only compiled.
Every python block carries one of the two markers.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from runrgateway import GatewayClient, GatewayError
from runrgateway._signing import AgentKey
from runrgateway.testing import get_gateway, new_mock_gateway, remove_gateway
from tests.examples_support import GATEWAY_ENV, ROOT

README = ROOT / "README.md"
MARKER = re.compile(r"^<!--\s*(runnable:\s*(?P<name>[\w-]+)|(?P<real>real-gateway))\s*-->$")
FENCE = re.compile(r"^```python\s*$")

pytestmark = pytest.mark.timeout(60)


@dataclass
class Block:
    name: str | None  # None: needs a real gateway
    line: int
    source: str


@dataclass
class Run:
    block: Block
    stdout: str = ""
    error: BaseException | None = None
    assigned: dict[str, Any] = field(default_factory=dict)


def readme_blocks() -> list[Block]:
    lines = README.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        if FENCE.match(lines[index]):
            start = index
            end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("```"))
            previous = next((lines[i] for i in range(start - 1, -1, -1) if lines[i].strip()), "")
            marker = MARKER.match(previous.strip())
            if marker is None:
                raise AssertionError(
                    f"README.md:{start + 1}: a python block without <!-- runnable: NAME --> "
                    "or <!-- real-gateway --> on the line before it"
                )
            source = "\n".join(lines[start + 1 : end]) + "\n"
            blocks.append(Block(marker.group("name"), start + 2, source))
            index = end
        index += 1
    return blocks


BLOCKS = readme_blocks()
RUNNABLE = [block for block in BLOCKS if block.name is not None]


def compile_block(block: Block) -> Any:
    return compile(
        block.source,
        f"README.md:{block.line}",
        "exec",
        flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
        dont_inherit=True,
    )


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[str, Run]]:
    """Execute every runnable block once, in order; the tests below check each."""
    yield from run_blocks("live")


@pytest.fixture(scope="module")
def mock_mode_runs() -> Iterator[dict[str, Run]]:
    """The same blocks against a gateway answering as the real one's mock mode."""
    yield from run_blocks("mock")


def run_blocks(upstream_mode: str) -> Iterator[dict[str, Run]]:
    remove_gateway("mock://readme")
    get_gateway("mock://readme").upstream_mode = upstream_mode  # mock://: no rate limit
    environ = {
        "GATEWAY_URL": "mock://readme",
        "AGENT_ID": "readme-agent",
        "AGENT_PRIVATE_KEY": AgentKey.generate("ed25519").private_key_pem(),
    }
    namespace: dict[str, Any] = {"__name__": "__main__"}
    results: dict[str, Run] = {}
    loop = asyncio.new_event_loop()
    with pytest.MonkeyPatch.context() as patch:
        for name in GATEWAY_ENV:
            patch.delenv(name, raising=False)
        for name, value in environ.items():
            patch.setenv(name, value)
        try:
            for block in RUNNABLE:
                assert block.name is not None
                run = results[block.name] = Run(block)
                before = dict(namespace)
                out = io.StringIO()
                try:
                    with contextlib.redirect_stdout(out):
                        outcome = eval(compile_block(block), namespace)
                        if inspect.iscoroutine(outcome):
                            loop.run_until_complete(outcome)
                except BaseException as exc:
                    run.error = exc
                run.stdout = out.getvalue()
                run.assigned = {
                    key: value
                    for key, value in namespace.items()
                    if key not in before or before[key] is not value
                }
            yield results
        finally:
            loop.close()
            remove_gateway("mock://readme")
            remove_gateway("mock://localhost")


def test_every_python_block_is_marked_and_named_once() -> None:
    names = [block.name for block in RUNNABLE]
    assert len(names) == len(set(names)), names
    assert len(RUNNABLE) >= 15
    assert set(names) == set(EXPECTATIONS), set(names) ^ set(EXPECTATIONS)


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.name is None], ids=lambda b: b.line)
def test_real_gateway_blocks_compile(block: Block) -> None:
    compile_block(block)


# ------------------------------------------------------------------- expectations


def _quickstart(run: Run) -> None:
    assert run.stdout == "site:linkedin.com Montreal plumber - result 1\n"


def _quickstart_sync(run: Run) -> None:
    assert run.stdout.startswith("https://example.com 200 <html><body>Mock page for https://ex")


def _configuration(run: Run) -> None:
    assert isinstance(run.assigned["gw"], GatewayClient)
    assert run.stdout == "GatewayClient(base_url='mock://readme', agent_id='readme-agent')\n"


def _set_intent(run: Run) -> None:
    assert run.stdout == "lead_discovery\n"


def _get_token(run: Run) -> None:
    token = run.assigned["token"]
    assert isinstance(token, str) and token.count(".") == 1
    info = run.assigned["info"]
    assert info.tools == ("openai",)
    assert run.stdout.startswith(f"{info.token_id} {info.expires_at.isoformat()} ('openai',)")


def _proxy(run: Run) -> None:
    assert run.stdout.startswith("10 https://example.com/")
    assert run.assigned["hits"][0]["title"] == "openai canada - result 1"


def _proxy_response(run: Run) -> None:
    lines = run.stdout.splitlines()
    assert lines[0] == "200 serpapi 1"
    assert re.fullmatch(r"runr-[0-9a-f]{32} req_\d+_\w+", lines[1])


def _proxy_async(run: Run) -> None:
    assert run.assigned["job_id"].startswith("job_")


def _jobs(run: Run) -> None:
    first, second = run.stdout.splitlines()
    assert first in ("queued", "running", "done")
    assert re.fullmatch(r"done [0-9a-f]{16}", second)


def _context_manager(run: Run) -> None:
    assert run.stdout == "test - result 1\n"
    assert run.assigned["client"]._http.is_closed


def _helpers(run: Run) -> None:
    first, second = run.stdout.splitlines()
    assert first == "True 36"
    assert second == (
        "{'to': 'a@example.com', 'api_key': '***MASKED***', 'auth': {'token': '***MASKED***'}}"
    )


def _errors(run: Run) -> None:
    assert run.stdout == "10 results\n"


def _error_attributes(run: Run) -> None:
    error = run.assigned["error"]
    lines = run.stdout.splitlines()
    assert lines[0] == "GatewayValidationError 400 VALIDATION_FAILED"
    assert lines[1].startswith("Parameter validation failed")
    assert "messages" in lines[1]
    assert lines[2] == f"{error.correlation_id} {error.server_correlation_id} 1"
    assert error.server_correlation_id.startswith("req_")


def _idempotency(run: Run) -> None:
    assert run.stdout == "True True\n"


def _sent_once(run: Run) -> None:
    assert run.stdout.splitlines() == [
        "without a key: 1 attempt, 1 email sent",
        "with a key: 2 attempts, replayed=True, 1 email sent",
    ]


def _keys(run: Run) -> None:
    assert "'emailAddress': 'agent@mock.4runr.local'" in run.stdout
    agent = get_gateway("mock://readme").get_agent("ec-agent")
    assert agent is not None


def _scope_guard(run: Run) -> None:
    assert run.stdout.startswith("refused before sending: Token not scoped for tool 'http_fetch'")


def _mock_mode(run: Run) -> None:
    assert run.stdout == "Mock answer to: Hi\n"


def _testing_helpers(run: Run) -> None:
    first, second = run.stdout.splitlines()
    assert first == "3 4"  # two 503s then a success; then the denied call
    assert second.startswith("Scope 'openai:chat' not allowed")
    assert run.assigned["answer"].data["organic_results"][0]["position"] == 1


def _pytest_fixture(run: Run) -> None:
    test = run.assigned["test_my_agent_backs_off"]
    gateway = new_mock_gateway("readme-fixture")
    try:
        test(gateway)  # what pytest does with the `runr_gateway` fixture
    finally:
        remove_gateway(gateway.name)


def _gateway_server(run: Run) -> None:
    assert run.stdout == "over a real socket - result 1\n"


EXPECTATIONS: dict[str, Callable[[Run], None]] = {
    "quickstart": _quickstart,
    "quickstart-sync": _quickstart_sync,
    "configuration": _configuration,
    "set-intent": _set_intent,
    "get-token": _get_token,
    "proxy": _proxy,
    "proxy-response": _proxy_response,
    "proxy-async": _proxy_async,
    "jobs": _jobs,
    "context-manager": _context_manager,
    "helpers": _helpers,
    "errors": _errors,
    "error-attributes": _error_attributes,
    "idempotency": _idempotency,
    "sent-once": _sent_once,
    "keys": _keys,
    "scope-guard": _scope_guard,
    "mock-mode": _mock_mode,
    "testing-helpers": _testing_helpers,
    "pytest-fixture": _pytest_fixture,
    "gateway-server": _gateway_server,
}


@pytest.mark.parametrize("name", [block.name for block in RUNNABLE])
def test_readme_block(name: str, runs: dict[str, Run]) -> None:
    run = runs[name]
    if run.error is not None:
        kind = "gateway error" if isinstance(run.error, GatewayError) else "error"
        raise AssertionError(
            f"README.md:{run.block.line} ({name}) raised a {kind}: {run.error!r}"
        ) from run.error
    EXPECTATIONS[name](run)


@pytest.mark.parametrize("name", [block.name for block in RUNNABLE])
def test_readme_block_against_the_real_gateways_mock_mode(
    name: str, mock_mode_runs: dict[str, Run]
) -> None:
    """Unchanged, the blocks also run where the tools answer in the mock-mode shapes."""
    run = mock_mode_runs[name]
    if run.error is not None:
        raise AssertionError(
            f"README.md:{run.block.line} ({name}) raised in mock mode: {run.error!r}"
        ) from run.error
    if name == "quickstart":
        assert run.stdout == "Result 1 for site:linkedin.com Montreal plumber\n"
    if name == "jobs":
        assert re.fullmatch(r"done mock_[0-9a-z]{11}", run.stdout.splitlines()[-1])
