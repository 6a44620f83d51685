"""The CLI as a shell sees it: every command into a reader that closes early, message
prefixes, precise hints, options only where they act, and tokens kept out of argv."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.examples_support import Served, clean_env, run_cli, start_serve

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    server = start_serve("--quiet", "--rate-limit", "0")
    try:
        yield server
    finally:
        assert server.stop(signal.SIGTERM) == 0, server.stderr_lines


def closed_reader(*args: str, env: dict[str, str] | None = None, stdin: str | None = None):
    """`python -m runrgateway ARGS | reader` where the reader closes its end at once (as
    `head -c0` does), before the command writes anything: deterministic, no race."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the command starts
    try:
        return subprocess.run(
            [sys.executable, "-m", "runrgateway", *args],
            env=clean_env(env),
            stdout=write_end,
            stderr=subprocess.PIPE,
            input=stdin,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)


def _job_id(served: Served) -> str:
    started = run_cli(
        "call", "gmail_send", "send", "to=a@example.com", "subject=Hi", "body=Hello",
        "--async", env=served.env,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    return str(json.loads(started.stdout)["job_id"])


COMMANDS = {
    "demo": ["demo"],
    "keygen": ["keygen"],
    "keygen --out": ["keygen", "--out", "{tmp}/agent.pem"],
    "serve": ["serve", "--port", "0", "--quiet"],
    "call": ["call", "serpapi", "search", "q=plumbers"],
    "call --full": ["call", "serpapi", "search", "q=plumbers", "--full"],
    "call --async": ["call", "gmail_send", "send", "to=a@example.com", "subject=s", "body=b",
                     "--async"],
    "token": ["token", "--tools", "serpapi"],
    "token --json": ["token", "--tools", "serpapi", "--json"],
    "job": ["job", "{job}"],
    "job --wait": ["job", "{job}", "--wait"],
}  # fmt: skip


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_into_a_closed_pipe_ends_quietly_with_141(
    name: str, served: Served, tmp_path: Path
) -> None:
    job = _job_id(served) if name.startswith("job") else ""
    args = [arg.format(tmp=tmp_path, job=job) for arg in COMMANDS[name]]
    env = {} if name.startswith(("keygen", "serve")) else served.env
    done = closed_reader(*args, env=env)
    assert done.returncode == 141, done.stderr  # 128 + SIGPIPE, as a shell reports it
    assert done.stderr == ""


def test_a_reader_that_takes_some_lines_then_goes(served: Served) -> None:
    """`runrgateway demo | head -2` in a real shell: head's two lines, no traceback."""
    done = subprocess.run(
        ["/bin/sh", "-c", f"{sys.executable} -m runrgateway demo | head -2"],
        env=clean_env(served.env), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.stdout.splitlines()[0].startswith("4Runr Gateway demo against http://127.0.0.1")
    assert done.stderr == ""


def test_messages_are_prefixed_with_the_command() -> None:
    missing = run_cli("call", "serpapi", "search", env={"GATEWAY_URL": "https://gw.example"})
    assert missing.stderr.startswith("runrgateway call: error: ")
    demo = run_cli("demo")
    assert demo.stderr.startswith("runrgateway demo: GATEWAY_URL is not set: using")
    keygen = run_cli("keygen")
    assert keygen.stderr.startswith("runrgateway keygen: the public key (ed25519) follows")
    gone = run_cli("job", "job_nope", env={"GATEWAY_URL": "mock://prefix", "AGENT_ID": "a"})
    assert gone.returncode == 1
    assert [line for line in gone.stderr.splitlines() if not line.startswith("  ")] == [
        "runrgateway job: note: mock://prefix lives in this process only: it knows only "
        "jobs started here (set GATEWAY_URL to reach a gateway)",
        "runrgateway job: error: GatewayNotFoundError: Job not found",
    ]


def test_only_agent_id_missing_says_only_that(tmp_path: Path) -> None:
    assert run_cli("keygen", "--out", str(tmp_path / "k.pem")).returncode == 0
    done = run_cli(
        "call", "serpapi", "search",
        env={"GATEWAY_URL": "https://gw.example", "AGENT_PRIVATE_KEY_FILE": str(tmp_path / "k.pem")},
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == (
        "runrgateway call: error: GATEWAY_URL is https://gw.example but AGENT_ID is not set\n"
    )


def test_a_busy_port_suggests_port_0() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run_cli("serve", "--port", str(port), "--quiet")
    assert done.returncode == 2
    assert done.stderr.startswith(f"runrgateway serve: error: cannot listen on 127.0.0.1:{port}: ")
    assert done.stderr.rstrip().endswith("(try --port 0 for any free port)")


def test_keygen_offers_no_verbose_option() -> None:
    assert "--verbose" not in run_cli("keygen", "--help").stdout
    assert run_cli("keygen", "-v").returncode == 2
    for command in ("demo", "serve", "call", "token", "job"):
        assert "--verbose" in run_cli(command, "--help").stdout, command


def test_call_takes_its_token_from_a_file_stdin_or_the_environment(
    served: Served, tmp_path: Path
) -> None:
    minted = run_cli("token", "--tools", "serpapi", env=served.env)
    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip()
    path = tmp_path / "token"
    path.write_text(token + "\n")
    call = ["call", "serpapi", "search", "q=x", "--full"]
    runs = {
        "file": run_cli(*call, "--token-file", str(path), env=served.env),
        "env": run_cli(*call, env={**served.env, "AGENT_TOKEN": token}),
        "stdin": subprocess.run(
            [sys.executable, "-m", "runrgateway", *call, "--token-file", "-"],
            env=clean_env(served.env),
            input=token + "\n",
            capture_output=True,
            text=True,
            timeout=30,
        ),
    }
    for how, done in runs.items():
        assert done.returncode == 0, (how, done.stderr)
        # the caller's token was used: no managed token was minted for these calls
        assert json.loads(done.stdout)["token_expires_at"].endswith("Z"), how
        assert token not in done.stderr
    # A token the gateway rejects proves the token was really sent.
    bad = tmp_path / "bad"
    bad.write_text("not-a-token")
    refused = run_cli(*call, "--token-file", str(bad), env=served.env)
    assert refused.returncode == 1, refused.stderr
    assert refused.stderr.startswith(
        ("runrgateway call: error: GatewayTokenError", "runrgateway call: error: GatewayAuthError")
    ), refused.stderr


def test_token_sources_are_checked() -> None:
    both = run_cli("call", "serpapi", "search", "--token", "a", "--token-file", "b")
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    unreadable = run_cli("call", "serpapi", "search", "--token-file", "/nope/token")
    assert unreadable.returncode == 2
    assert unreadable.stderr.startswith("runrgateway call: error: cannot read --token-file")
    two = run_cli("call", "serpapi", "search", env={"AGENT_TOKEN": "a b"})
    assert two.returncode == 2 and "AGENT_TOKEN must hold one agent token" in two.stderr


def test_call_full_shows_the_managed_tokens_expiry() -> None:
    done = run_cli("call", "serpapi", "search", "q=x", "--full")
    assert done.returncode == 0, done.stderr
    expires = json.loads(done.stdout)["token_expires_at"]
    assert isinstance(expires, str) and expires.endswith("Z")  # ISO 8601 UTC, not null
