"""What `runrgateway serve` holds under unauthenticated abuse, at full size.

Against `runrgateway serve` in a child process (default `GatewayLimits`), over
127.0.0.1:

- **memory**: the child's RSS (from /proc) before and after ten 10 MB JSON POSTs to an
  unknown route (the old request log parsed and kept each one), and after a 20 MB
  chunked body (the old server read chunked bodies without a cap);
- **slow clients**: 300 connections that each send half a request and stall; while they
  hang on, `/api/health` is asked 20 times on fresh connections (median and worst
  latency); then the time until the server has released all 300 (its deadline is 30 s
  from the connection opening);
- **nonce store**: the memory of a full `NonceStore` (100,000 nonces of 64 characters),
  measured in process with tracemalloc.

    python benchmarks/bench_serve_bounds.py           # full size: about 40 s
    python benchmarks/bench_serve_bounds.py --quick   # CI: small, and the deadline cut to 2 s

Exit status 1 when a bound is exceeded (growth of 100 MB or more, a health answer of 2 s
or more, clients held past the deadline plus 10 s).
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import httpx2

from runrgateway._signing import MAX_NONCE_LENGTH, NonceStore
from runrgateway.testing import EmbeddedGateway, GatewayLimits, GatewayServer

MIB = 1024 * 1024


def rss(pid: int) -> int:
    found = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    return int(found.group(1)) * 1024 if found else 0


def start_serve() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "runrgateway", "serve", "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    found = re.search(r"listening on (http://\S+)", process.stdout.readline())
    if not found:
        process.kill()
        raise SystemExit("runrgateway serve did not start")
    return process, found.group(1)


def address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


def chunked_post(url: str, total: int, chunk: int = 64 * 1024) -> str:
    host, port = address(url)
    piece = f"{chunk:x}\r\n".encode() + b"x" * chunk + b"\r\n"
    with socket.create_connection((host, port), timeout=30.0) as sock:
        sock.sendall(
            f"POST /api/no-such-route HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        try:
            for _ in range(total // chunk):
                sock.sendall(piece)
            sock.sendall(b"0\r\n\r\n")
            return sock.recv(200).split(b"\r\n", 1)[0].decode()
        except OSError as exc:
            return f"connection closed by the server ({type(exc).__name__})"


def memory(posts: int, chunked_mb: int) -> bool:
    process, url = start_serve()
    try:
        payload = b"[" + b",".join([b'"abcdefgh"'] * (10 * MIB // 11)) + b"]"
        with httpx2.Client(timeout=60.0) as http:
            http.get(f"{url}/api/health")
            before = rss(process.pid)
            for _ in range(posts):
                http.post(f"{url}/api/no-such-route", content=payload)
            after_posts = rss(process.pid)
        answer = chunked_post(url, chunked_mb * MIB)
        after_chunked = rss(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=10)
    grow_posts, grow_chunked = (after_posts - before) / MIB, (after_chunked - before) / MIB
    print(f"serve RSS at start: {before / MIB:.0f} MB")
    print(f"after {posts} x 10 MB JSON POSTs to an unknown route: +{grow_posts:.1f} MB")
    print(f"after a {chunked_mb} MB chunked body: +{grow_chunked:.1f} MB ({answer})")
    return grow_posts < 100 and grow_chunked < 100


def slow_clients(url: str, clients: int, deadline_s: float, asks: int) -> bool:
    host, port = address(url)
    started = time.monotonic()
    sockets = []
    for _ in range(clients):
        sock = socket.create_connection((host, port), timeout=deadline_s + 30)
        sock.sendall(
            f"POST /api/proxy-request HTTP/1.1\r\nHost: {host}:{port}\r\n"
            'Content-Length: 1000\r\n\r\n{"agent'.encode()
        )
        sockets.append(sock)
    latencies = []
    ask = f"GET /api/health HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
    for _ in range(asks):
        asked = time.monotonic()
        with socket.create_connection((host, port), timeout=10.0) as probe:  # a new one each time
            probe.sendall(ask.encode())
            if not probe.recv(100).startswith(b"HTTP/1.1 200"):
                raise SystemExit("/api/health did not answer 200")
        latencies.append(time.monotonic() - asked)
        time.sleep(0.1)
    for sock in sockets:
        try:
            while sock.recv(4096):
                pass
        except OSError:
            pass
        sock.close()
    released = time.monotonic() - started
    median, worst = statistics.median(latencies) * 1000, max(latencies) * 1000
    print(f"{clients} half-sent clients: /api/health median {median:.1f} ms, worst {worst:.1f} ms")
    print(f"all {clients} released after {released:.1f} s (deadline {deadline_s:.0f} s)")
    return worst < 2000 and released < deadline_s + 10


def nonce_memory(count: int) -> None:
    tracemalloc.start()
    store = NonceStore(max_entries=count, clock=lambda: 0.0)
    for i in range(count):
        store.use("a" * 36, f"{i:0{MAX_NONCE_LENGTH}d}", 300.0)
    used, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"a full nonce store ({count:,} nonces of {MAX_NONCE_LENGTH} chars): {used / MIB:.1f} MB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="small and short, for CI")
    quick = parser.parse_args().quick
    ok = memory(posts=2 if quick else 10, chunked_mb=12 if quick else 20)
    if quick:  # the same shape in process, with the deadline cut so that it ends soon
        limits = GatewayLimits(request_deadline_s=2.0)
        with GatewayServer(EmbeddedGateway("bench", limits=limits)) as server:
            ok = slow_clients(server.url, clients=50, deadline_s=2.0, asks=5) and ok
    else:
        process, url = start_serve()
        try:
            ok = slow_clients(url, clients=300, deadline_s=30.0, asks=20) and ok
        finally:
            process.terminate()
            process.wait(timeout=10)
    nonce_memory(10_000 if quick else 100_000)
    if not ok:
        print("a bound was exceeded", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
