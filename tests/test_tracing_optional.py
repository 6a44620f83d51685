"""Tracing costs nothing until the program uses OpenTelemetry: the SDK never imports it.

Each check runs in a fresh interpreter, where nothing else has imported OpenTelemetry
(it is installed here: the dev extra brings it, and so does the mcp extra).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(60)

_CALLS = """
import asyncio, sys
from runrgateway import GatewayClient, SyncGatewayClient

async def main():
    async with GatewayClient.from_env(default_base_url="mock://optional-otel", environ={}) as gw:
        await gw.proxy("serpapi", "search", {"q": "x"})
        await gw.get_job((await gw.proxy_async("serpapi", "search", {"q": "x"}))["job_id"])

asyncio.run(main())
with SyncGatewayClient.from_env(default_base_url="mock://optional-otel", environ={}) as gw:
    gw.with_options(deadline_s=5).proxy("serpapi", "search", {"q": "x"})
print(sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry"))
"""


def run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=50)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_opentelemetry_is_installed_here() -> None:
    # Otherwise the check below would pass for the wrong reason.
    assert run("import opentelemetry.trace; print('ok')") == "ok"


def test_calls_without_opentelemetry_loaded_never_import_it() -> None:
    assert run(_CALLS) == "[]"
