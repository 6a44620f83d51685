"""Every ```python block of README.md and docs/**/*.md, run for real.

The blocks of one file run in order, in one namespace and on one event loop, so later
blocks use what earlier ones made, as a reader would; a bare top-level ``await`` is
allowed. They run with no gateway variables in the environment: what they show works
out of the box, against the embedded gateway (``mock://``).

- A block passes when it runs without an exception.
- A block followed by ``<!-- prints -->`` and a ```text block must print exactly that
  text; a ``...`` in it stands for anything (doctest's ELLIPSIS).
- Functions named ``test_*`` that a block defines are run as pytest would, with the
  ``runr_gateway`` fixture when they take it (async ones on the file's loop).
- A block marked ``<!-- needs: real-gateway -->`` on the line before is compiled and
  skipped (counted as a skip): it needs a gateway this suite cannot have.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from runrgateway.testing import get_gateway, new_mock_gateway, remove_gateway
from tests.examples_support import ROOT

ENVIRONMENT = (
    "GATEWAY_URL",
    "AGENT_ID",
    "AGENT_PRIVATE_KEY",
    "AGENT_PRIVATE_KEY_FILE",
    "AGENT_KEY_PASSWORD",
    "AGENT_INTENT",
    "AGENT_TOKEN",
    "RUNRGATEWAY_LOG",
)
FENCE = re.compile(r"^```(?P<lang>[\w-]*)")
NEEDS_REAL = "<!-- needs: real-gateway -->"
PRINTS = "<!-- prints -->"
MOCK_URL = re.compile(r"mock://[\w.-]+")

pytestmark = pytest.mark.timeout(120)


@dataclass
class Block:
    path: Path
    line: int  # of the first line of code
    source: str
    real_gateway: bool = False
    prints: str | None = None

    @property
    def where(self) -> str:
        shown = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{shown}:{self.line}"


@dataclass
class Outcome:
    stdout: str = ""
    error: BaseException | None = None
    tests_run: list[str] = field(default_factory=list)


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _previous_nonblank(lines: list[str], index: int) -> str:
    return next((lines[i].strip() for i in range(index - 1, -1, -1) if lines[i].strip()), "")


def parse_blocks(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    fences: list[tuple[str, int, int]] = []  # (lang, opening line index, closing index)
    index = 0
    while index < len(lines):
        match = FENCE.match(lines[index].lstrip())
        if match:
            end = next(
                (i for i in range(index + 1, len(lines)) if lines[i].strip().startswith("```")),
                None,
            )
            if end is None:
                raise AssertionError(f"{path}:{index + 1}: a code fence that never closes")
            fences.append((match.group("lang"), index, end))
            index = end
        index += 1
    blocks: list[Block] = []
    for position, (lang, start, end) in enumerate(fences):
        if lang not in ("python", "py"):
            continue
        block = Block(
            path,
            start + 2,
            "\n".join(lines[start + 1 : end]) + "\n",
            real_gateway=_previous_nonblank(lines, start) == NEEDS_REAL,
        )
        following = fences[position + 1] if position + 1 < len(fences) else None
        if following is not None and _previous_nonblank(lines, following[1]) == PRINTS:
            between = [line for line in lines[end + 1 : following[1]] if line.strip()]
            if between == [PRINTS]:
                block.prints = "\n".join(lines[following[1] + 1 : following[2]]) + "\n"
        blocks.append(block)
    return blocks


BLOCKS = {path: parse_blocks(path) for path in doc_files()}
ALL = [block for blocks in BLOCKS.values() for block in blocks]


def _compile(block: Block) -> Any:
    return compile(
        block.source, block.where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True
    )


def _matches(expected: str, actual: str) -> bool:
    pattern = ".*".join(re.escape(piece) for piece in expected.split("..."))
    return re.fullmatch(pattern, actual, flags=re.DOTALL) is not None


def _run_tests(defined: dict[str, Any], loop: asyncio.AbstractEventLoop, outcome: Outcome) -> None:
    for name, function in defined.items():
        if not (name.startswith("test_") and inspect.isfunction(function)):
            continue
        gateway = new_mock_gateway()
        try:
            wants = inspect.signature(function).parameters
            kwargs = {"runr_gateway": gateway} if "runr_gateway" in wants else {}
            result = function(**kwargs)
            if inspect.iscoroutine(result):
                loop.run_until_complete(result)
        finally:
            remove_gateway(gateway.name)
        outcome.tests_run.append(name)


def _run_file(blocks: list[Block]) -> dict[int, Outcome]:
    outcomes: dict[int, Outcome] = {}
    text = blocks[0].path.read_text(encoding="utf-8") if blocks else ""
    urls = sorted(set(MOCK_URL.findall(text)))
    for url in urls:
        remove_gateway(url)
        # A page makes more calls as one agent than a real gateway's 5 per minute.
        get_gateway(url).set_rate_limit(None)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    loop = asyncio.new_event_loop()
    try:
        for block in blocks:
            if block.real_gateway:
                continue
            outcome = outcomes[block.line] = Outcome()
            before = dict(namespace)
            out = io.StringIO()
            try:
                with contextlib.redirect_stdout(out):
                    result = eval(_compile(block), namespace)
                    if inspect.iscoroutine(result):
                        loop.run_until_complete(result)
                    defined = {k: v for k, v in namespace.items() if before.get(k) is not v}
                    _run_tests(defined, loop, outcome)
            except BaseException as exc:
                outcome.error = exc
            outcome.stdout = out.getvalue()
    finally:
        loop.close()
        for url in urls:
            remove_gateway(url)
    return outcomes


@pytest.fixture(scope="module")
def outcomes() -> Iterator[dict[tuple[Path, int], Outcome]]:
    results: dict[tuple[Path, int], Outcome] = {}
    with pytest.MonkeyPatch.context() as patch:
        for name in ENVIRONMENT:
            patch.delenv(name, raising=False)
        for path, blocks in BLOCKS.items():
            for line, outcome in _run_file(blocks).items():
                results[(path, line)] = outcome
    yield results


def test_the_readme_and_the_docs_have_python_blocks() -> None:
    assert len(BLOCKS[ROOT / "README.md"]) >= 4
    assert len([b for b in ALL if b.path.parent.name == "docs"]) >= 10


@pytest.mark.parametrize("block", ALL, ids=lambda block: block.where)
def test_block(block: Block, outcomes: dict[tuple[Path, int], Outcome]) -> None:
    _compile(block)  # a block that needs a real gateway must still be valid Python
    if block.real_gateway:
        pytest.skip("needs a real gateway (<!-- needs: real-gateway -->)")
    outcome = outcomes[(block.path, block.line)]
    if outcome.error is not None:
        raise AssertionError(f"{block.where} raised {outcome.error!r}") from outcome.error
    if block.prints is not None:
        assert _matches(block.prints, outcome.stdout), (
            f"{block.where} printed:\n{outcome.stdout}\nthe docs say:\n{block.prints}"
        )


def test_the_quickstart_needs_no_configuration(
    outcomes: dict[tuple[Path, int], Outcome],
) -> None:
    """The README's first block ran with no gateway variable set, and printed a result."""
    quickstart = BLOCKS[ROOT / "README.md"][0]
    assert "from_env" in quickstart.source and not quickstart.real_gateway
    outcome = outcomes[(quickstart.path, quickstart.line)]
    assert outcome.error is None and outcome.stdout.strip()


def test_the_readme_testing_example_ran_its_tests(
    outcomes: dict[tuple[Path, int], Outcome],
) -> None:
    ran = [
        name
        for (path, _), o in outcomes.items()
        if path.name == "README.md"
        for name in o.tests_run
    ]
    assert {"test_my_agent_searches", "test_my_agent_backs_off"} <= set(ran)


def test_a_wrong_prints_block_is_caught(tmp_path: Path) -> None:
    """The runner can fail: a block whose output differs from its prints block."""
    page = tmp_path / "page.md"
    page.write_text('```python\nprint("hello")\n```\n\n<!-- prints -->\n```text\nbye\n```\n')
    (block,) = parse_blocks(page)
    assert block.prints == "bye\n"
    (outcome,) = _run_file([block]).values()
    assert outcome.stdout == "hello\n" and not _matches(block.prints, outcome.stdout)
    assert _matches("he...\n", outcome.stdout)
