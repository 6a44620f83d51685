"""Helpers for the CLI, examples and README tests: a clean environment, the CLI in a
subprocess, and `runrgateway serve` on a free loopback port with its printed env parsed."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
GATEWAY_ENV = ("GATEWAY_URL", "AGENT_ID", "AGENT_PRIVATE_KEY", "AGENT_PRIVATE_KEY_FILE")
SUBPROCESS_TIMEOUT_S = 30.0


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any gateway settings (never a real gateway by
    accident), plus `extra`."""
    env = {name: value for name, value in os.environ.items() if name not in GATEWAY_ENV}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def run_cli(
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: float = SUBPROCESS_TIMEOUT_S,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """`python -m runrgateway ARGS` with a clean environment plus `env`."""
    return subprocess.run(
        [sys.executable, "-m", "runrgateway", *args],
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


def run_script(
    path: Path, *args: str, env: Mapping[str, str] | None = None, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(path), *args],
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=path.parent,
    )


def shell_exports(line: str) -> dict[str, str]:
    """What an ``export ...`` line printed by `serve` sets, evaluated by a real shell."""
    names = ("GATEWAY_URL", "AGENT_ID", "AGENT_PRIVATE_KEY")
    script = f'{line}\nprintf "%s\\0" ' + " ".join(f'"${name}"' for name in names)
    done = subprocess.run(
        ["/bin/sh", "-c", script],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    values = done.stdout.split("\0")[: len(names)]
    return dict(zip(names, values, strict=True))


@dataclass
class Served:
    """A running `runrgateway serve` subprocess and what it printed."""

    process: subprocess.Popen[str]
    banner: list[str]
    env: dict[str, str]
    key_path: Path | None
    stderr_lines: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.env["GATEWAY_URL"]

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
            raise


def start_serve(*args: str, timeout: float = 15.0) -> Served:
    """Start `runrgateway serve --port 0 ARGS` and wait for its ``export`` line."""
    process = subprocess.Popen(
        [sys.executable, "-m", "runrgateway", "serve", "--port", "0", *args],
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    stderr_lines: list[str] = []

    def pump_stdout() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    def pump_stderr() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            stderr_lines.append(line.rstrip("\n"))

    threading.Thread(target=pump_stdout, daemon=True).start()
    threading.Thread(target=pump_stderr, daemon=True).start()
    banner: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            if line is None:
                raise RuntimeError(f"serve exited early: {banner} {stderr_lines}")
            banner.append(line)
            if line.startswith("export "):
                break
        # The banner's last line (the hint) follows at once.
        banner.append(lines.get(timeout=5) or "")
    except BaseException:
        process.kill()
        process.wait(timeout=5)
        raise
    env = shell_exports(next(line for line in banner if line.startswith("export ")))
    key_path = next(
        (Path(line.split("$(cat ", 1)[1].split(")", 1)[0]) for line in banner if "$(cat " in line),
        None,
    )
    return Served(process, banner, env, key_path, stderr_lines)


def secrets_absent(text: str, secrets: Sequence[str]) -> bool:
    """No secret, nor a long piece of one (a PEM body line), appears in `text`."""
    for secret in secrets:
        if not secret:
            continue
        if secret in text:
            return False
        for piece in secret.splitlines():
            if len(piece) >= 24 and "-----" not in piece and piece in text:
                return False
    return True
