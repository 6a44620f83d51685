"""How much RFC 9421 request signing costs, next to a loopback HTTP round trip.

For each key type, the median time of `RequestSigner.sign` on a typical proxy request
(~300-byte JSON body), and that time as a share of the median httpx2 POST round trip to a
stdlib HTTP server on 127.0.0.1 over a kept-alive connection, measured in the same run.
Rounds interleave all measurements so drifts (CPU frequency, noise) hit each alike.

    python benchmarks/bench_signing.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx2

from runrgateway._keys import AgentKey
from runrgateway._signing import RequestSigner

KEY_TYPES = (
    ("ed25519", "ed25519"),
    ("ecdsa p256", "ec"),
    ("ecdsa p384", "ec-p384"),
    ("rsa 2048", "rsa"),
)
REPLY = json.dumps(
    {"success": True, "data": {"ok": True}, "metadata": {"tool": "serpapi", "action": "search"}}
).encode()


def typical_body() -> bytes:
    """A proxy-request body of about 300 bytes, as the client sends it."""
    body = {
        "agent_token": "eyJhZ2VudF9pZCI6ImFnZW50LTEyMyIsInRvb2xzIjpbInNlcnBhcGkiXX0=.9f8e7d6c5b4a",
        "tool": "serpapi",
        "action": "search",
        "params": {
            "q": "rfc 9421 http message signatures in python",
            "num": 10,
            "intent": "research",
        },
        "token_id": "3f1c2b9e-8a7d-4c6b-9e5f-1a2b3c4d5e6f",
        "intent": "research",
        "async": False,
    }
    return json.dumps(body, separators=(",", ":")).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(REPLY)))
        self.end_headers()
        self.wfile.write(REPLY)

    def log_message(self, format: str, *args: object) -> None:
        """Silence the per-request log lines."""


def _samples(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def run(rounds: int, per_round: int) -> tuple[dict[str, float], float]:
    """Median seconds per signature for each key type, and the median round trip."""
    body = typical_body()
    headers = {
        "Content-Type": "application/json",
        "X-Correlation-Id": "corr_1700000000000_abcdefghi",
        "Idempotency-Key": "idem_4f3c2b1a0f9e8d7c",
        "User-Agent": "runrgateway/bench",
    }
    signers = {
        name: RequestSigner(AgentKey.generate(kind), "agent-123") for name, kind in KEY_TYPES
    }
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/api/proxy-request"
    sign_times: dict[str, list[float]] = {name: [] for name in signers}
    rtt_times: list[float] = []
    try:
        with httpx2.Client() as client:

            def post() -> None:
                client.post(url, content=body, headers=headers).raise_for_status()

            _samples(post, 20)  # warm up: connect once, then keep the connection
            for signer in signers.values():
                _samples(lambda s=signer: s.sign("POST", url, headers, body), 5)
            for index in range(rounds):
                order = list(signers)
                order = order[index % len(order) :] + order[: index % len(order)]
                if index % 2:
                    rtt_times += _samples(post, per_round)
                for name in order:
                    signer = signers[name]
                    sign_times[name] += _samples(
                        lambda s=signer: s.sign("POST", url, headers, body), per_round
                    )
                if not index % 2:
                    rtt_times += _samples(post, per_round)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    medians = {name: statistics.median(times) for name, times in sign_times.items()}
    return medians, statistics.median(rtt_times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few iterations (CI smoke run)")
    args = parser.parse_args(argv)
    rounds, per_round = (4, 15) if args.quick else (40, 150)
    started = time.perf_counter()
    medians, rtt = run(rounds, per_round)
    body_len = len(typical_body())
    print(f"loopback round trip (httpx2 POST, keep-alive, {body_len} B body): {rtt * 1e6:.1f} us")
    for name, seconds in medians.items():
        print(
            f"sign {name:<11} median {seconds * 1e6:8.1f} us "
            f"= {seconds / rtt * 100:5.1f}% of a loopback round trip"
        )
    print(
        f"({rounds} rounds x {per_round} calls per figure, medians; "
        f"{time.perf_counter() - started:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
