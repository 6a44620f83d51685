"""The `runrgateway` command line, run as users run it: `python -m runrgateway ...` in a
subprocess, against the in-process mock and against `runrgateway serve` on loopback."""

from __future__ import annotations

import io
import json
import re
import signal
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import runrgateway.cli as cli
from runrgateway import ErrorCode, GatewayClient, GatewayError, SyncGatewayClient, __version__
from runrgateway._keys import AgentKey
from runrgateway.testing import get_gateway, remove_gateway
from tests.examples_support import Served, run_cli, secrets_absent, start_serve

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    """One `runrgateway serve` for the module (5 calls per agent per minute, as shipped):
    the tests below make 3 proxy calls through it."""
    server = start_serve()
    try:
        yield server
    finally:
        code = server.stop(signal.SIGTERM)
        assert code == 0, server.stderr_lines
        assert server.key_path is not None and not server.key_path.exists()


def served_env(served: Served) -> dict[str, str]:
    return dict(served.env)


# ------------------------------------------------------------------------ basics


def test_version() -> None:
    done = run_cli("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"runrgateway {__version__}"


def test_help_lists_every_command() -> None:
    done = run_cli("--help")
    assert done.returncode == 0
    for command in ("demo", "keygen", "serve", "call", "token", "job"):
        assert command in done.stdout


# -------------------------------------------------------------------------- demo


def test_demo_runs_the_quickstart_on_the_mock_gateway() -> None:
    done = run_cli("demo")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "mock://demo" in done.stderr and "throwaway key" in done.stderr
    assert "3 results" in out
    assert "site:linkedin.com Montreal plumber - result 1  <https://example.com/" in out
    assert re.search(r"https://example\.com/\w+: HTTP 200, \d+ characters", out)  # the page
    assert "Mock page for https://example.com/" in out
    assert "answer: Mock answer to: Summarise:" in out  # the chat answer
    assert re.search(r"job done: message [0-9a-f]{16}\n", out)  # the finished job
    assert "-----BEGIN" not in out + done.stderr


@pytest.mark.parametrize("mode", ["live", "mock"])
def test_demo_against_a_served_gateway_over_http(mode: str) -> None:
    """The env branch, over a real socket, in both upstream modes (its own server, with the
    real gateway's 5 calls a minute: the demo makes 4)."""
    server = start_serve("--quiet", "--upstream-mode", mode)
    try:
        done = run_cli("demo", env=server.env)
    finally:
        assert server.stop(signal.SIGINT) == 0
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "throwaway" not in done.stderr and "Traceback" not in done.stderr
    assert f"demo against {server.url} (a real gateway)" in out
    assert "3 results" in out and "Done: 4 proxy calls" in out
    if mode == "live":
        assert "Mock answer to:" in out
        assert re.search(r"job done: message [0-9a-f]{16}\n", out)
    else:  # the real gateway's mock mode: its own titles and page, and its chat bug
        assert "- Result 1 for site:linkedin.com Montreal plumber  <https://example.com/" in out
        assert "HTTP 200" in out and "<title>Mock</title>" in out
        assert "chat tool failed (External API request failed: Cannot read properties" in out
        assert re.search(r"job done: message mock_[0-9a-z]{11}\n", out)


def test_demo_skips_the_job_when_the_gateway_has_no_jobs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real gateway ignores `async`: the client raises JOBS_UNSUPPORTED; the demo goes on."""

    async def no_jobs(self: GatewayClient, *args: Any, **kwargs: Any) -> dict[str, Any]:
        raise GatewayError("The gateway does not support jobs", code=ErrorCode.JOBS_UNSUPPORTED)

    monkeypatch.setattr(GatewayClient, "proxy_async", no_jobs)
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["demo"], environ={"GATEWAY_URL": "mock://cli-nojobs"}, stdout=out, stderr=err)
    remove_gateway("mock://cli-nojobs")
    assert code == 0, err.getvalue()
    assert "does not run jobs" in out.getvalue()
    assert "Done: 4 proxy calls" in out.getvalue()


# ------------------------------------------------------------------------ keygen


@pytest.mark.parametrize("kind", ["ed25519", "rsa", "ec"])
def test_keygen_writes_a_private_file_the_client_accepts(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "agent.pem"
    done = run_cli("keygen", "--type", kind, "--out", str(path))
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    pem = path.read_text()
    assert "PRIVATE KEY-----" in pem
    assert done.stdout.startswith("-----BEGIN PUBLIC KEY-----")  # for registering
    assert "PRIVATE KEY-----" not in done.stdout + done.stderr
    key = AgentKey.from_pem(pem)
    assert key.public_key_pem() == done.stdout
    # Accepted by the client, and its signatures are accepted by a gateway.
    GatewayClient("https://gateway.example", "agent-1", pem)
    with SyncGatewayClient(f"mock://keygen-{kind}", "agent-1", pem) as gw:
        found = gw.proxy("serpapi", "search", {"q": "plumbers", "num": 1})
        assert found["organic_results"][0]["position"] == 1
    remove_gateway(f"mock://keygen-{kind}")


def test_keygen_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "agent.pem"
    path.write_text("precious\n")
    done = run_cli("keygen", "--out", str(path))
    assert done.returncode == 2
    assert "already exists" in done.stderr
    assert path.read_text() == "precious\n"


def test_keygen_without_out_puts_the_private_key_on_stdout_only() -> None:
    done = run_cli("keygen", "--type", "ec")
    assert done.returncode == 0
    assert done.stdout.startswith("-----BEGIN PRIVATE KEY-----")
    assert "-----BEGIN PUBLIC KEY-----" in done.stderr
    assert "PRIVATE KEY-----" not in done.stderr
    assert AgentKey.from_pem(done.stdout).alg == "ecdsa-p256-sha256"


# ------------------------------------------------- serve, and call/token/job against it


def test_serve_prints_a_usable_environment(served: Served) -> None:
    assert served.url.startswith("http://127.0.0.1:")
    assert served.env["AGENT_ID"]
    assert served.key_path is not None
    assert stat.S_IMODE(served.key_path.stat().st_mode) == 0o600
    assert served.env["AGENT_PRIVATE_KEY"] == served.key_path.read_text().strip()
    assert any(
        "rate limit: 5 proxy calls per agent per 60 s, as the real gateway (--rate-limit N" in line
        for line in served.banner
    )
    assert any("tool answers: live shapes (--upstream-mode)" in line for line in served.banner)


def test_call_against_the_served_gateway(served: Served) -> None:
    done = run_cli("call", "serpapi", "search", "query=Montreal plumber", "num=2", env=served.env)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)["organic_results"]
    assert [r["position"] for r in results] == [1, 2]
    assert results[0]["title"] == "Montreal plumber - result 1"
    assert "throwaway" not in done.stderr  # it used the printed environment
    assert any("POST /api/proxy-request 200" in line for line in served.stderr_lines)


def test_call_async_then_job_wait(served: Served) -> None:
    started = run_cli(
        "call",
        "gmail_send",
        "send",
        "to=prospect@example.com",
        "subject=Hello",
        "--json",
        '{"body": "Hi there"}',
        "--async",
        env=served.env,
    )
    assert started.returncode == 0, started.stderr
    job_id = json.loads(started.stdout)["job_id"]
    done = run_cli("job", job_id, "--wait", "--timeout", "10", env=served.env)
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert job["job_id"] == job_id and job["status"] == "done"
    assert job["result"]["success"] is True and job["result"]["subject"] == "Hello"
    assert "\r" not in done.stderr  # no progress line when stderr is not a terminal


def test_token_then_call_with_it_then_a_gateway_error(served: Served) -> None:
    minted = run_cli(
        "token", "--tools", "serpapi", "--permissions", "read", "--ttl", "5", env=served.env
    )
    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip()
    assert token.count(".") == 1 and len(token) > 40
    assert token not in minted.stderr

    ok = run_cli("call", "serpapi", "search", "query=roofers", "--token", token, env=served.env)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["organic_results"][0]["title"] == "roofers - result 1"

    # No query: the gateway's parameter validation answers 400.
    bad = run_cli("call", "serpapi", "search", "num=2", "--token", token, env=served.env)
    assert bad.returncode == 1
    assert bad.stdout == ""
    assert "error: GatewayValidationError: Parameter validation failed" in bad.stderr
    assert "query: Required" in bad.stderr
    assert "correlation id: runr-" in bad.stderr
    assert "gateway correlation id: req_" in bad.stderr
    secrets = [token, token.split(".")[1], served.env["AGENT_PRIVATE_KEY"]]
    assert secrets_absent(bad.stderr, secrets)


def test_token_json(served: Served) -> None:
    done = run_cli("token", "--tools", "serpapi,http_fetch", "--json", env=served.env)
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["tools"] == ["serpapi", "http_fetch"] and info["permissions"] == ["read"]
    assert info["token_id"] and info["expires_at"].endswith("Z")
    assert info["agent_token"] not in done.stderr


# --------------------------------------------------------------------- mock default


def test_call_defaults_to_the_mock_gateway() -> None:
    done = run_cli(
        "call",
        "openai",
        "chat",
        "model=gpt-4o-mini",
        '--json={"messages":[{"role":"user","content":"hi"}]}',
    )
    assert done.returncode == 0, done.stderr
    assert "mock://cli" in done.stderr and "throwaway key" in done.stderr
    assert json.loads(done.stdout)["choices"][0]["message"]["content"] == "Mock answer to: hi"


def test_verbose_logs_requests_without_secrets() -> None:
    done = run_cli("call", "serpapi", "search", "query=x", "num=1", "--full", "-v")
    assert done.returncode == 0, done.stderr
    full = json.loads(done.stdout)
    assert full["data"]["organic_results"][0]["position"] == 1 and full["status_code"] == 200
    assert "DEBUG" in done.stderr and "/api/proxy-request" in done.stderr
    assert full["correlation_id"] in done.stderr
    assert "agent_token" not in done.stderr or "***MASKED***" in done.stderr
    assert "PRIVATE KEY" not in done.stderr


def test_rate_limit_error_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """In process, on a mock gateway limited to 1 call: exit 1 with the wait asked."""
    gateway = get_gateway("mock://cli-ratelimit")
    gateway.set_rate_limit(1)
    environ = {"GATEWAY_URL": "mock://cli-ratelimit"}
    try:
        codes, errs = [], []
        for _ in range(2):
            err = io.StringIO()
            argv = ["call", "serpapi", "search", "query=x"]
            codes.append(cli.main(argv, environ=environ, stdout=io.StringIO(), stderr=err))
            errs.append(err.getvalue())
    finally:
        remove_gateway("mock://cli-ratelimit")
    assert codes == [0, 1]
    assert "error: GatewayRateLimitError: Rate limit exceeded" in errs[1]
    assert "retry after:" in errs[1] and "status: 429" in errs[1]


def test_job_wait_shows_progress_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    pem = AgentKey.generate().private_key_pem()
    environ = {"GATEWAY_URL": "mock://cli-tty", "AGENT_ID": "tty-agent", "AGENT_PRIVATE_KEY": pem}
    gateway = get_gateway("mock://cli-tty")
    gateway.tool_latency_s = 0.4
    try:
        with SyncGatewayClient("mock://cli-tty", "tty-agent", pem) as gw:
            job_id = gw.proxy_async("serpapi", "search", {"q": "slow"})["job_id"]
        out, err = io.StringIO(), Terminal()
        code = cli.main(["job", job_id, "--wait"], environ=environ, stdout=out, stderr=err)
    finally:
        remove_gateway("mock://cli-tty")
    assert code == 0
    assert json.loads(out.getvalue())["status"] == "done"
    progress = err.getvalue()
    assert f"\rrunrgateway job: {job_id} running" in progress or (
        f"\rrunrgateway job: {job_id} queued" in progress
    )
    assert f"\rrunrgateway job: {job_id} done" in progress and progress.endswith("\n")


def test_unknown_job_is_a_not_found_error() -> None:
    done = run_cli("job", "job_does_not_exist")
    assert done.returncode == 1
    assert done.stderr.count("error: GatewayNotFoundError") == 1 and "status: 404" in done.stderr
    assert "code: NOT_FOUND" in done.stderr


# ----------------------------------------------------------------------- bad usage


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["call"], {}, "required"),
        (["token"], {}, "--tools"),
        (["token", "--tools", "serpapi", "--ttl", "5000"], {}, "between 1 and 1440"),
        (["keygen", "--type", "dsa"], {}, "invalid choice"),
        (["call", "serpapi", "search", "oops"], {}, "expected key=value"),
        (["call", "serpapi", "search", "--json", "[1]"], {}, "must be a JSON object"),
        (["call", "serpapi", "search"], {"GATEWAY_URL": "https://gw.example"}, "AGENT_ID"),
        (["call", "serpapi", "search"], {"AGENT_ID": "a"}, "GATEWAY_URL is not set"),
        (
            ["call", "serpapi", "search"],
            {"GATEWAY_URL": "https://gw.example", "AGENT_ID": "a", "AGENT_PRIVATE_KEY": "nope"},
            "configuration error",
        ),
        (["serve", "--host", "0.0.0.0"], {}, "loopback only"),
        (["call", "serpapi", "search", "q=a", "--idempotency-key", "ключ"], {}, "visible ASCII"),
        (["nonsense"], {}, "invalid choice"),
    ],
)
def test_bad_usage_exits_2(
    args: list[str], env: dict[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """In process (argparse writes to sys.stderr itself); the subprocess test is below."""
    out, err = io.StringIO(), io.StringIO()
    try:
        code = cli.main(args, environ=env, stdout=out, stderr=err)
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    captured = capsys.readouterr()
    assert code == 2, (out.getvalue(), err.getvalue(), captured.err)
    assert message in err.getvalue() + captured.err
    assert out.getvalue() == captured.out == ""


def test_bad_usage_in_a_subprocess() -> None:
    for args in (["call"], ["call", "serpapi", "search", "oops"]):
        done = run_cli(*args)
        assert done.returncode == 2, done.stderr
        assert done.stdout == ""
        assert "usage: runrgateway call" in done.stderr or "expected key=value" in done.stderr
