"""``RUNRGATEWAY_LOG=debug|info`` turns on the SDK's logs without code (a fresh process
each time: the variable is read when `runrgateway` is imported)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.examples_support import clean_env

SCRIPT = """
from runrgateway import SyncGatewayClient
with SyncGatewayClient("mock://log-env", "agent-1", "test-key") as gw:
    gw.proxy("serpapi", "search", {"q": "plumbers", "api_key": "sk-live-123456789abcdef"})
print("done")
"""


def _run(value: str | None) -> subprocess.CompletedProcess[str]:
    env = clean_env()
    env.pop("RUNRGATEWAY_LOG", None)
    if value is not None:
        env["RUNRGATEWAY_LOG"] = value
    return subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=30
    )


def test_debug_logs_every_attempt_masked() -> None:
    done = _run("debug")
    assert done.returncode == 0 and done.stdout == "done\n", done.stderr
    lines = [line for line in done.stderr.splitlines() if " runrgateway DEBUG " in line]
    assert any("POST /api/proxy-request call=serpapi:search" in line for line in lines), lines
    assert "'api_key': '***MASKED***'" in done.stderr
    assert "sk-live-123456789abcdef" not in done.stderr


@pytest.mark.parametrize("value", [None, "", "INFO", "info"])
def test_info_or_unset_shows_no_per_request_lines(value: str | None) -> None:
    done = _run(value)
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_an_unknown_value_is_a_warning_not_a_crash() -> None:
    done = _run("verbose")
    assert done.returncode == 0 and done.stdout == "done\n"
    assert "RUNRGATEWAY_LOG='verbose' is not 'debug' or 'info': ignored" in done.stderr
    assert "DEBUG" not in done.stderr
