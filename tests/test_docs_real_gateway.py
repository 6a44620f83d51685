"""The Python blocks of docs/tool-answers.md and docs/real-gateway.md run as written
against mock:// (none of them needs a real gateway), and print what the pages say."""

from __future__ import annotations

import contextlib
import io
import re

import pytest

from tests.examples_support import ROOT

PAGES = ("tool-answers.md", "real-gateway.md")
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def run_blocks(page: str) -> str:
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    blocks = BLOCK.findall(text)
    assert blocks, f"no python block in docs/{page}"
    assert "needs: real-gateway" not in text
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for number, source in enumerate(blocks, 1):
            exec(compile(source, f"docs/{page}:block {number}", "exec"), {"__name__": "__main__"})
    return out.getvalue()


@pytest.mark.parametrize("page", PAGES)
def test_the_pages_blocks_run(page: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GATEWAY_URL", "AGENT_ID", "AGENT_PRIVATE_KEY"):
        monkeypatch.delenv(name, raising=False)
    printed = run_blocks(page).splitlines()
    if page == "tool-answers.md":
        live, mock = printed
        assert re.fullmatch(
            r"live Montreal plumber - result 1 \| https://example.com/\w+ 200 \| [0-9a-f]{16}", live
        )
        assert re.fullmatch(
            r"mock Result 1 for Montreal plumber \| https://example.com/Montreal%20plumber/1 200"
            r" \| mock_[0-9a-z]{11}",
            mock,
        )
    else:
        assert printed == [
            "mock mode: External API request failed: Cannot read properties of undefined "
            "(reading 'slice')",
            "live: Mock answer to: Hi",
        ]
