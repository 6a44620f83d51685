"""The MCP server is an optional extra: the base install neither loads nor needs `mcp`,
and without it `runrgateway mcp` says how to install it. (No mcp needed to run these.)"""

from __future__ import annotations

import subprocess
import sys

WITHOUT_MCP = "import sys; sys.modules['mcp'] = None; "  # `import mcp` now fails


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": ""},
    )


def test_importing_the_sdk_and_its_cli_loads_no_mcp() -> None:
    done = run_python(
        "import sys, runrgateway, runrgateway.cli, runrgateway.testing; "
        "runrgateway.cli.build_parser(); "
        "print(sorted(m for m in sys.modules if m == 'mcp' or m.startswith(('mcp.', 'mcp_types', "
        "'runrgateway.mcp', 'jsonschema'))))"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_without_the_extra_the_command_says_how_to_install_it() -> None:
    done = run_python(WITHOUT_MCP + "from runrgateway.cli import main; sys.exit(main(['mcp']))")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        'runrgateway mcp: the MCP server needs the mcp extra: pip install "runrgateway[mcp]"\n'
    )


def test_without_the_extra_the_package_raises_a_clear_import_error() -> None:
    done = run_python(
        WITHOUT_MCP + "import runrgateway.mcp as m; print(len(m.CATALOG)); "
        "from runrgateway.mcp import run_stdio"
    )
    assert done.stdout.strip() == "7"  # the catalogue needs no mcp
    assert done.returncode == 1
    assert (
        'ImportError: runrgateway.mcp: the MCP server needs the mcp extra: pip install "runrgateway[mcp]"'
        in done.stderr
    )
