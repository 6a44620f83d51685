"""Soak: both clients under chaos, against `runrgateway serve` in a separate process.

Between the client and the server sits a fault-injecting proxy (a third process, this
script with ``--proxy``): it answers 5xx (before the server acted, or a 502 after),
429 with Retry-After, relays some answers past the client's timeout, drops connections
before and after the server acted, and resets them (RST). The async client runs up to
200 tasks with random cancellations (``asyncio.wait_for`` with short timeouts); the
blocking twin runs up to 32 threads. Each phase is bounded in calls and time. After the
churn the faults stop and 5 plain calls go through the same client: a wedged pool
fails them.

Printed per twin: calls, faults injected, duplicated side effects (from the server's
request log: a keyed email answered 200 more than once without being a replay), hung
calls, exceptions that are not `GatewayError`, file descriptors before the client and
after its close(), RSS, token requests per 1,000 calls, and the 5 plain calls.

    python benchmarks/soak.py            # full: 200 tasks, 32 threads
    python benchmarks/soak.py --quick    # CI: small and short, same checks

Exit status 1 on any duplicate, hang, escape, wedge or file descriptor left open.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import json
import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runrgateway import GatewayClient, GatewayError, SyncGatewayClient
from runrgateway._keys import AgentKey

TIMEOUT_MS = 800  # per attempt; the proxy's slow answers take longer than this
SLOW_S = 1.2
HANG_S = 45.0  # no call may take this long: 4 attempts, their waits and a pool wait fit
# Fault mix at the proxy, per request: name -> probability.
FAULTS = {
    "503": 0.04,  # answered by the proxy: the server never saw it
    "429": 0.03,  # with Retry-After
    "502_after": 0.03,  # the server acted; the client gets a 502
    "slow": 0.04,  # the server acted; the answer leaves after the client's timeout
    "drop_before": 0.03,
    "drop_after": 0.03,  # the server acted; the connection closes instead of answering
    "reset_before": 0.02,
    "reset_after": 0.02,
}


@dataclass(frozen=True)
class Settings:
    quick: bool
    tasks: int
    threads: int
    calls: int  # per twin
    seconds: float  # per twin, churn only
    cancel_p: float
    seed: int


QUICK = dict(tasks=40, threads=8, calls=400, seconds=12.0)
FULL = dict(tasks=200, threads=32, calls=4000, seconds=90.0)


# ------------------------------------------------------------------------ the proxy


def _content_length(head: bytes) -> int:
    match = re.search(rb"\r\ncontent-length:\s*(\d+)", head, re.IGNORECASE)
    return int(match.group(1)) if match else 0


def _canned(status: int, reason: str, body: dict[str, Any], **headers: str) -> bytes:
    text = json.dumps(body).encode()
    lines = [f"HTTP/1.1 {status} {reason}", "content-type: application/json"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    lines.append(f"content-length: {len(text)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + text


ANSWERS = {
    "503": _canned(503, "Service Unavailable", {"error": "Service Unavailable"}, retry_after="0"),
    "429": _canned(
        429,
        "Too Many Requests",
        {"error": "Rate limit exceeded", "code": "RATE_LIMITED"},
        retry_after="1",
    ),
    "502_after": _canned(502, "Bad Gateway", {"error": "Bad Gateway"}),
}


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class Chaos:
    def __init__(self, upstream: tuple[str, int], seed: int) -> None:
        self.upstream = upstream
        self.rng = random.Random(seed)
        self.active = True
        self.counts: collections.Counter[str] = collections.Counter()

    def pick(self) -> str | None:
        if not self.active:
            return None
        draw = self.rng.random()
        for name, p in FAULTS.items():
            if draw < p:
                return name
            draw -= p
        return None

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = _content_length(head)
                    body = await reader.readexactly(length) if length else b""
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
                    return
                fault = self.pick()
                if fault is not None:
                    self.counts[fault] += 1
                if fault in ("503", "429"):
                    writer.write(ANSWERS[fault])
                    await writer.drain()
                    continue
                if fault == "drop_before":
                    return
                if fault == "reset_before":
                    _reset(writer)
                    return
                answer = await self._forward(head + body)
                if fault == "drop_after":
                    return
                if fault == "reset_after":
                    _reset(writer)
                    return
                if fault == "502_after":
                    answer = ANSWERS["502_after"]
                if fault == "slow":
                    await asyncio.sleep(SLOW_S)
                writer.write(answer)
                await writer.drain()
        except OSError:
            return
        finally:
            writer.close()

    async def _forward(self, request: bytes) -> bytes:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        try:
            up_writer.write(request)
            await up_writer.drain()
            head = await up_reader.readuntil(b"\r\n\r\n")
            length = _content_length(head)
            body = await up_reader.readexactly(length) if length else b""
        finally:
            up_writer.close()
        # One upstream connection per request: tell the client to keep its own open.
        head = re.sub(rb"\r\nconnection:[^\r]*", b"", head, flags=re.IGNORECASE)
        return head + body


def run_proxy(upstream_url: str, seed: int) -> None:
    """``--proxy``: listen on a free port, print it, inject faults until SIGTERM.
    SIGUSR1 stops the faults and prints the counts so far; SIGUSR2 starts them again."""
    host, port = upstream_url.split("//", 1)[1].rsplit(":", 1)
    chaos = Chaos((host, int(port)), seed)

    async def main() -> None:
        server = await asyncio.start_server(chaos.serve, "127.0.0.1", 0, backlog=1024)
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        def calm() -> None:
            chaos.active = False
            print(json.dumps(dict(chaos.counts)), flush=True)
            chaos.counts.clear()

        def stir() -> None:
            chaos.active = True

        loop.add_signal_handler(signal.SIGUSR1, calm)
        loop.add_signal_handler(signal.SIGUSR2, stir)
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        print(server.sockets[0].getsockname()[1], flush=True)
        async with server:
            await stop.wait()

    asyncio.run(main())


# ---------------------------------------------------------------- the processes


@dataclass
class Stack:
    server: subprocess.Popen[str]
    proxy: subprocess.Popen[str]
    log_path: Path
    url: str  # the proxy's
    agent_id: str
    pem: str

    def calm(self) -> dict[str, int]:
        """Stop the faults; the counts injected since the last calm()."""
        self.proxy.send_signal(signal.SIGUSR1)
        assert self.proxy.stdout is not None
        return dict(json.loads(self.proxy.stdout.readline()))

    def stir(self) -> None:
        self.proxy.send_signal(signal.SIGUSR2)

    def log_lines(self) -> list[str]:
        return self.log_path.read_text().splitlines()

    def stop(self) -> None:
        for process in (self.proxy, self.server):
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def start_stack(workdir: Path, seed: int) -> Stack:
    key = AgentKey.generate("ed25519")
    key_file = workdir / "agent.pem"
    key_file.write_text(key.private_key_pem())
    key_file.chmod(0o600)
    log_path = workdir / "server.log"
    banner_path = workdir / "banner.txt"
    with log_path.open("w") as log, banner_path.open("w") as banner:
        server = subprocess.Popen(
            [sys.executable, "-m", "runrgateway", "serve", "--port", "0", "--rate-limit", "0",
             "--agent-key", str(key_file)],
            stdout=banner, stderr=log, text=True,
        )  # fmt: skip
    deadline = time.monotonic() + 30
    url = agent_id = None
    while time.monotonic() < deadline and (url is None or agent_id is None):
        text = banner_path.read_text()
        url_match = re.search(r"listening on (http://\S+)", text)
        agent_match = re.search(r"# agent (\S+) may use", text)
        url = url_match.group(1) if url_match else None
        agent_id = agent_match.group(1) if agent_match else None
        if server.poll() is not None:
            raise SystemExit(f"runrgateway serve exited: {log_path.read_text()}")
        time.sleep(0.05)
    if url is None or agent_id is None:
        raise SystemExit("runrgateway serve did not start in 30 s")
    proxy = subprocess.Popen(
        [sys.executable, __file__, "--proxy", url, "--seed", str(seed)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proxy.stdout is not None
    port = int(proxy.stdout.readline())
    url = f"http://127.0.0.1:{port}"
    return Stack(server, proxy, log_path, url, agent_id, key.private_key_pem())


# ------------------------------------------------------------------- the clients


@dataclass
class Tally:
    calls: int = 0
    ok: int = 0
    cancelled: int = 0
    hung: int = 0
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    escapes: collections.Counter[str] = field(default_factory=collections.Counter)
    escape_samples: list[str] = field(default_factory=list)
    sends: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def escaped(self, exc: BaseException) -> None:
        with self.lock:
            self.escapes[type(exc).__name__] += 1
            if len(self.escape_samples) < 3:
                self.escape_samples.append("".join(traceback.format_exception(exc)))


def _operation(rng: random.Random, number: int) -> tuple[str, str, dict[str, Any], str | None]:
    """A search (read-only) or a keyed email (a side effect that must run once)."""
    if rng.random() < 0.5:
        return "serpapi", "search", {"q": f"soak {number}", "num": 3}, None
    email = {"to": "soak@example.com", "subject": f"soak {number}", "body": "chaos"}
    return "gmail_send", "send", email, f"soak-send-{number}-{rng.getrandbits(32):08x}"


def _fds() -> int:
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _record(tally: Tally, outcome: BaseException | None, is_send: bool) -> None:
    with tally.lock:
        tally.calls += 1
        tally.sends += is_send
        if outcome is None:
            tally.ok += 1
        elif isinstance(outcome, GatewayError):
            tally.errors[outcome.code] += 1
    if outcome is not None and not isinstance(outcome, GatewayError):
        tally.escaped(outcome)


async def async_phase(settings: Settings, stack: Stack) -> dict[str, Any]:
    tally = Tally()
    rng = random.Random(settings.seed)
    fds_before = _fds()
    gw = GatewayClient(
        stack.url, stack.agent_id, stack.pem, timeout_ms=TIMEOUT_MS, max_retry_after_s=2
    )
    started = time.monotonic()
    numbers = iter(range(settings.calls))

    async def one(number: int) -> None:
        tool, action, params, key = _operation(rng, number)
        call = gw.proxy(tool, action, params, idempotency_key=key)
        try:
            if rng.random() < settings.cancel_p:  # a user's own timeout cancels the call
                await asyncio.wait_for(call, rng.uniform(0.001, 1.5))
            else:
                await call
        except asyncio.TimeoutError:
            with tally.lock:
                tally.calls += 1
                tally.cancelled += 1
            return
        except Exception as exc:
            _record(tally, exc, key is not None)
            return
        _record(tally, None, key is not None)

    async def worker() -> None:
        for number in numbers:
            if time.monotonic() - started > settings.seconds:
                return
            task = asyncio.ensure_future(one(number))
            done, _ = await asyncio.wait({task}, timeout=HANG_S)
            if not done:
                tally.hung += 1
                task.cancel()

    await asyncio.gather(*(worker() for _ in range(settings.tasks)))
    churn_s = time.monotonic() - started
    faults = stack.calm()
    plain = 0
    for i in range(5):
        try:
            await asyncio.wait_for(gw.proxy("serpapi", "search", {"q": f"plain {i}"}), HANG_S)
            plain += 1
        except Exception as exc:
            print(f"  plain call {i + 1} failed: {type(exc).__name__}: {exc}")
    rss = _rss_mb()
    await gw.close()
    return _summary(tally, faults, plain, churn_s, fds_before, _fds(), rss)


def sync_phase(settings: Settings, stack: Stack) -> dict[str, Any]:
    tally = Tally()
    rng = random.Random(settings.seed + 1)
    rng_lock = threading.Lock()
    fds_before = _fds()
    gw = SyncGatewayClient(
        stack.url, stack.agent_id, stack.pem, timeout_ms=TIMEOUT_MS, max_retry_after_s=2
    )
    started = time.monotonic()
    numbers = iter(range(settings.calls))
    numbers_lock = threading.Lock()
    running: dict[int, float] = {}

    def worker() -> None:
        while time.monotonic() - started <= settings.seconds:
            with numbers_lock:
                number = next(numbers, None)
            if number is None:
                return
            with rng_lock:
                tool, action, params, key = _operation(rng, number)
            running[threading.get_ident()] = time.monotonic()
            try:
                gw.proxy(tool, action, params, idempotency_key=key)
            except Exception as exc:
                _record(tally, exc, key is not None)
            else:
                _record(tally, None, key is not None)
            finally:
                running.pop(threading.get_ident(), None)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(settings.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, started + settings.seconds + HANG_S - time.monotonic()))
    now = time.monotonic()
    tally.hung = sum(1 for since in list(running.values()) if now - since >= HANG_S)
    churn_s = time.monotonic() - started
    faults = stack.calm()
    plain = 0
    for i in range(5):
        try:
            gw.proxy("serpapi", "search", {"q": f"plain {i}"})
            plain += 1
        except Exception as exc:
            print(f"  plain call {i + 1} failed: {type(exc).__name__}: {exc}")
    rss = _rss_mb()
    gw.close()
    return _summary(tally, faults, plain, churn_s, fds_before, _fds(), rss)


def _summary(
    tally: Tally,
    faults: dict[str, int],
    plain: int,
    churn_s: float,
    fds_before: int,
    fds_after: int,
    rss: float,
) -> dict[str, Any]:
    return {
        "tally": tally,
        "faults": faults,
        "plain": plain,
        "churn_s": churn_s,
        "fds_before": fds_before,
        "fds_after": fds_after,
        "rss_mb": rss,
    }


# --------------------------------------------------------------- the server log

_LINE = re.compile(
    r"POST (/api/proxy-request|/api/generate-token) (\S+) correlation_id=\S+ "
    r"idempotency_key=(\S+)( replayed)?"
)


def read_log(lines: list[str]) -> tuple[int, int, int]:
    """(side effects run, duplicated side effects, token requests) in these log lines."""
    ran: collections.Counter[str] = collections.Counter()
    tokens = 0
    for line in lines:
        match = _LINE.search(line)
        if match is None:
            continue
        path, status, key, replayed = match.groups()
        if path == "/api/generate-token":
            tokens += 1
        elif status == "200" and key.startswith("soak-send-") and not replayed:
            ran[key] += 1
    return len(ran), sum(count - 1 for count in ran.values() if count > 1), tokens


# ---------------------------------------------------------------------- main


def report(name: str, result: dict[str, Any], ran: int, duplicates: int, tokens: int) -> list[str]:
    tally: Tally = result["tally"]
    per_k = tokens * 1000 / max(1, tally.calls)
    faults = result["faults"]
    print(f"{name}:")
    print(
        f"  calls {tally.calls} in {result['churn_s']:.1f} s: {tally.ok} ok, "
        f"{sum(tally.errors.values())} GatewayError {dict(tally.errors.most_common())}, "
        f"{tally.cancelled} cancelled by the caller; {tally.sends} keyed emails"
    )
    print(f"  faults injected {sum(faults.values())}: {faults}")
    print(f"  duplicated side effects {duplicates} (keyed emails the server ran: {ran})")
    print(f"  hung calls {tally.hung}")
    print(f"  non-GatewayError exceptions {sum(tally.escapes.values())} {dict(tally.escapes)}")
    for sample in tally.escape_samples:
        print("    " + sample.replace("\n", "\n    "))
    print(f"  fds before the client {result['fds_before']}, after close() {result['fds_after']}")
    print(f"  RSS {result['rss_mb']:.1f} MB")
    print(f"  token requests per 1,000 calls {per_k:.1f} ({tokens} for {tally.calls})")
    print(f"  plain calls after the churn {result['plain']} of 5")
    problems = []
    if duplicates:
        problems.append(f"{name}: {duplicates} duplicated side effects")
    if tally.hung:
        problems.append(f"{name}: {tally.hung} hung calls")
    if tally.escapes:
        problems.append(f"{name}: exceptions that are not GatewayError")
    if result["plain"] != 5:
        problems.append(f"{name}: wedged ({result['plain']} of 5 plain calls)")
    if result["fds_after"] > result["fds_before"]:
        problems.append(f"{name}: {result['fds_after'] - result['fds_before']} fds left open")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="CI: small and short")
    parser.add_argument("--tasks", type=int, help="concurrent async tasks (full: 200)")
    parser.add_argument("--threads", type=int, help="threads for the blocking twin (full: 32)")
    parser.add_argument("--calls", type=int, help="calls per twin")
    parser.add_argument("--seconds", type=float, help="churn time bound per twin")
    parser.add_argument("--cancel", type=float, default=0.1, help="share of cancelled calls")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--proxy", metavar="UPSTREAM", help=argparse.SUPPRESS)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    if args.proxy:
        run_proxy(args.proxy, seed)
        return 0
    base = QUICK if args.quick else FULL
    settings = Settings(
        quick=args.quick,
        tasks=args.tasks or int(base["tasks"]),
        threads=args.threads or int(base["threads"]),
        calls=args.calls or int(base["calls"]),
        seconds=args.seconds or float(base["seconds"]),
        cancel_p=args.cancel,
        seed=seed,
    )
    print(
        f"soak ({'quick' if settings.quick else 'full'}, seed {seed}): {settings.tasks} tasks, "
        f"{settings.threads} threads, <= {settings.calls} calls and {settings.seconds:g} s "
        f"per twin; timeout_ms={TIMEOUT_MS}, slow answers {SLOW_S} s; "
        f"faults {sum(FAULTS.values()):.0%} of requests"
    )
    started = time.monotonic()
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="runrgateway-soak-") as workdir:
        stack = start_stack(Path(workdir), seed)
        try:
            phases: list[tuple[str, Callable[[], dict[str, Any]]]] = [
                ("async GatewayClient", lambda: asyncio.run(async_phase(settings, stack))),
                ("blocking SyncGatewayClient", lambda: sync_phase(settings, stack)),
            ]
            for name, phase in phases:
                stack.stir()
                mark = len(stack.log_lines())
                result = phase()
                time.sleep(SLOW_S + 0.2)  # late answers reach the server's log
                ran, duplicates, tokens = read_log(stack.log_lines()[mark:])
                problems += report(name, result, ran, duplicates, tokens)
        finally:
            stack.stop()
    print(f"soak finished in {time.monotonic() - started:.1f} s")
    for problem in problems:
        print(f"FAIL {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
