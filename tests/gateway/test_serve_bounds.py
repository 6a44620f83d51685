"""`runrgateway serve` and the embedded gateway stay bounded in memory, threads and time.

Each test reproduces one finding of the security review over real 127.0.0.1 sockets
(raw httpx or raw sockets, no SDK client). Where the real figure would make the test
slow (30 s deadlines, 100,000 nonces) the bound is shrunk through `GatewayLimits`; the
full-size figures are printed by `benchmarks/bench_serve_bounds.py`.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from runrgateway._constants import MASK
from runrgateway._keys import AgentKey
from runrgateway._signing import RequestSigner
from runrgateway.testing import (
    ALLOW_BUILTIN_TOOLS,
    EmbeddedGateway,
    GatewayLimits,
    GatewayServer,
    ManualClock,
)

from .conftest import WireClient, utc_in

MIB = 1024 * 1024
SEARCH = {"q": "plumbers", "query": "plumbers"}  # both names, as the SDK sends


def serve(limits: GatewayLimits, **gateway_options: Any) -> GatewayServer:
    """A real-gateway-like server (unknown agents 404) with the given bounds."""
    return GatewayServer(EmbeddedGateway("bounds", limits=limits, **gateway_options)).start()


@pytest.fixture
def http() -> Iterator[httpx2.Client]:
    with httpx2.Client(timeout=10.0) as client:
        yield client


def register(http: httpx2.Client, url: str, key: AgentKey, name: str) -> str:
    """Register an agent with its own key, as anyone may on `serve`; its id."""
    body = {
        "name": name,
        "created_by": "test",
        "role": "agent",
        "public_key": key.public_key_pem(),
    }
    answer = http.post(f"{url}/api/create-agent", json=body)
    assert answer.status_code == 201, answer.text
    agent_id: str = answer.json()["agent_id"]
    return agent_id


def signed_token_request(url: str, key: AgentKey, agent_id: str) -> tuple[bytes, dict[str, str]]:
    """The exact bytes and headers of a signed `generate-token` (what a sniffer captures)."""
    body = json.dumps(
        {
            "agent_id": agent_id,
            "tools": ["serpapi"],
            "permissions": ["read"],
            "expires_at": utc_in(600),
        }
    ).encode()
    headers = {"content-type": "application/json", "x-correlation-id": uuid.uuid4().hex}
    target = f"{url}/api/generate-token"
    headers.update(RequestSigner(key, agent_id).sign("POST", target, headers, body))
    return body, headers


# ------------------------------------------------------------------------------ nonces


def test_a_captured_request_stays_refused_after_an_attacker_fills_the_nonce_store(
    http: httpx2.Client,
) -> None:
    victim_key, attacker_key = AgentKey.generate("ed25519"), AgentKey.generate("ed25519")
    with serve(GatewayLimits(max_nonces=40), rate_limit=None) as server:
        url = server.url
        victim = register(http, url, victim_key, "victim")
        attacker = register(http, url, attacker_key, "attacker")
        body, headers = signed_token_request(url, victim_key, victim)
        assert (
            http.post(f"{url}/api/generate-token", content=body, headers=headers).status_code == 201
        )

        # The attacker signs with a key of its own until the store holds no more.
        statuses = []
        for _ in range(60):
            flood_body, flood_headers = signed_token_request(url, attacker_key, attacker)
            answer = http.post(
                f"{url}/api/generate-token", content=flood_body, headers=flood_headers
            )
            statuses.append(answer.status_code)
        assert statuses.count(201) == 39  # the victim's nonce holds the 40th slot
        assert set(statuses[39:]) == {503}
        assert 1 <= int(answer.headers["retry-after"]) <= 400
        assert answer.json()["code"] == "RATE_LIMITED"

        replay = http.post(f"{url}/api/generate-token", content=body, headers=headers)
        assert replay.status_code == 401  # remembered, not evicted: still a replay
        assert replay.json()["code"] == "SIGNATURE_INVALID"


def test_a_nonce_longer_than_64_characters_is_refused_and_takes_no_slot(
    http: httpx2.Client,
) -> None:
    key = AgentKey.generate("ed25519")
    with serve(GatewayLimits(max_nonces=1)) as server:
        agent = register(http, server.url, key, "long-nonce")
        body, headers = signed_token_request(server.url, key, agent)
        nonce = headers["Signature-Input"].split('nonce="', 1)[1].split('"', 1)[0]
        headers["Signature-Input"] = headers["Signature-Input"].replace(nonce, "n" * 60_000)
        answer = http.post(f"{server.url}/api/generate-token", content=body, headers=headers)
        assert answer.status_code == 401
        body, headers = signed_token_request(server.url, key, agent)  # the one slot is free
        answer = http.post(f"{server.url}/api/generate-token", content=body, headers=headers)
        assert answer.status_code == 201


# ------------------------------------------------------------------- memory (`serve`)


def rss_bytes(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    assert match, status
    return int(match.group(1)) * 1024


@pytest.fixture
def serve_process() -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`runrgateway serve --port 0 --quiet` in a child process, and its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "runrgateway", "serve", "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        found = re.search(r"listening on (http://\S+)", banner)
        assert found, banner
        yield process, found.group(1)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from /proc")
def test_serve_memory_stays_flat_under_large_bodies(
    serve_process: tuple[subprocess.Popen[str], str],
) -> None:
    process, url = serve_process
    # JSON the old log parsed and kept: a list of many small strings
    payload = b"[" + b",".join([b'"abcdefgh"'] * (10 * MIB // 11)) + b"]"
    assert len(payload) <= 10 * MIB
    with httpx2.Client(timeout=30.0) as http:
        assert http.get(f"{url}/api/health").status_code == 200
        before = rss_bytes(process.pid)
        for _ in range(10):
            answer = http.post(
                f"{url}/api/no-such-route",
                content=payload,
                headers={"content-type": "application/json"},
            )
            assert answer.status_code == 404
        after_posts = rss_bytes(process.pid)

    status = send_chunked(url, total=20 * MIB, chunk=64 * 1024)
    after_chunked = rss_bytes(process.pid)
    assert status in (413, None)  # None: the refusal raced our unread chunks (a reset)
    with httpx2.Client(timeout=5.0) as http:
        assert http.get(f"{url}/api/health").status_code == 200
    assert after_posts - before < 100 * MIB, (before, after_posts)
    assert after_chunked - before < 100 * MIB, (before, after_chunked)


def send_chunked(url: str, *, total: int, chunk: int) -> int | None:
    """POST `total` bytes as chunks over a raw socket; the status read back, or None."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10.0) as sock:
        sock.sendall(
            f"POST /api/no-such-route HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        piece = f"{chunk:x}\r\n".encode() + b"x" * chunk + b"\r\n"
        try:
            for _ in range(total // chunk):
                sock.sendall(piece)
            sock.sendall(b"0\r\n\r\n")
            return status_of(sock.recv(4096))
        except OSError:
            return None


def status_of(head: bytes) -> int | None:
    match = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    return int(match.group(1)) if match else None


# ------------------------------------------------------------------- bodies and Host


def raw_exchange(server: GatewayServer, data: bytes) -> bytes:
    """Send `data` whole, then read the answer until the server closes."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5.0) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


@pytest.fixture
def server() -> Iterator[GatewayServer]:
    with serve(GatewayLimits(max_body_bytes=1 * MIB)) as running:
        yield running


def chunked_request(server: GatewayServer, body: bytes) -> bytes:
    host = server.url.removeprefix("http://")
    return (
        f"POST /api/no-such-route HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode() + body


@pytest.mark.parametrize(
    "chunks",
    [b"zz\r\nhello\r\n0\r\n\r\n", b"-5\r\nhello\r\n0\r\n\r\n", b"\r\n", b"5" * 2000 + b"\r\n"],
    ids=["not-hex", "negative", "empty", "endless"],
)
def test_a_malformed_chunk_size_is_a_400(server: GatewayServer, chunks: bytes) -> None:
    answer = raw_exchange(server, chunked_request(server, chunks))
    assert status_of(answer) == 400 and b"malformed chunk" in answer
    assert httpx2.get(f"{server.url}/api/health").status_code == 200


def test_a_chunked_body_over_the_cap_is_a_413(server: GatewayServer) -> None:
    declared = raw_exchange(server, chunked_request(server, b"200000\r\n"))  # 2 MiB at once
    assert status_of(declared) == 413
    many = b"".join(b"10000\r\n" + b"x" * 0x10000 + b"\r\n" for _ in range(17))  # 1.06 MiB
    status = send_chunked(server.url, total=len(many), chunk=0x10000)
    assert status in (413, None)
    assert server.gateway.count() == 0  # neither reached the gateway
    ok = raw_exchange(
        server,
        chunked_request(server, b"5\r\nhello\r\n0\r\n\r\n").replace(
            b"chunked\r\n", b"chunked\r\nConnection: close\r\n"
        ),
    )
    assert status_of(ok) == 404 and server.gateway.requests[-1].body_size == 5


def test_content_length_over_the_cap_is_a_413_and_both_framings_a_400(
    server: GatewayServer,
) -> None:
    host = server.url.removeprefix("http://")
    big = raw_exchange(
        server,
        f"POST /api/x HTTP/1.1\r\nHost: {host}\r\nContent-Length: {2 * MIB}\r\n\r\n".encode(),
    )
    assert status_of(big) == 413
    smuggled = raw_exchange(
        server,
        f"POST /api/x HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\n"
        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n".encode(),
    )
    assert status_of(smuggled) == 400


def test_headers_over_their_budget_are_a_431(server: GatewayServer) -> None:
    headers = {f"x-filler-{i}": "f" * 1000 for i in range(90)}  # 90 kB
    answer = httpx2.get(f"{server.url}/api/health", headers=headers)
    assert answer.status_code == 431


@pytest.mark.parametrize(
    "host",
    ["evil.example:{port}", "evil.example", "localhost.evil.example:{port}", "127.0.0.1:x", ""],
)
def test_a_foreign_host_header_is_a_421(server: GatewayServer, host: str) -> None:
    port = server.url.rsplit(":", 1)[1]
    answer = httpx2.post(
        f"{server.url}/api/create-agent",
        json={"name": "x", "created_by": "rebinding page", "role": "agent"},
        headers={"host": host.format(port=port)},
    )
    assert answer.status_code == 421
    assert server.gateway.count() == 0


@pytest.mark.parametrize(
    "host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}", "localhost", "127.0.0.1:9"]
)
def test_the_loopback_names_are_served_on_any_port(server: GatewayServer, host: str) -> None:
    # any port: behind `ssh -L 9000:localhost:8080` or a proxy the client's port differs
    port = server.url.rsplit(":", 1)[1]
    answer = httpx2.get(f"{server.url}/api/health", headers={"host": host.format(port=port)})
    assert answer.status_code == 200


# ------------------------------------------------------------ connections and deadlines


def half_sent(server: GatewayServer, count: int) -> list[socket.socket]:
    """`count` connections, each with a request whose body never comes."""
    host = server.url.removeprefix("http://")
    name, port = host.split(":")
    sockets = []
    for _ in range(count):
        sock = socket.create_connection((name, int(port)), timeout=10.0)
        sock.sendall(
            f"POST /api/proxy-request HTTP/1.1\r\nHost: {host}\r\n"
            'Content-Length: 1000\r\n\r\n{"agent'.encode()
        )
        sockets.append(sock)
    return sockets


def wait_closed(sock: socket.socket) -> None:
    try:
        while sock.recv(4096):
            pass
    except OSError:
        pass


def test_300_slow_clients_neither_starve_health_nor_outlive_the_deadline() -> None:
    deadline_s = 2.0
    threads_before = threading.active_count()
    with serve(GatewayLimits(request_deadline_s=deadline_s)) as server:
        started = time.monotonic()
        sockets = half_sent(server, 300)
        latencies = []
        with httpx2.Client(timeout=5.0) as http:
            for _ in range(5):
                asked = time.monotonic()
                assert http.get(f"{server.url}/api/health").status_code == 200
                latencies.append(time.monotonic() - asked)
        assert max(latencies) < 2.0, latencies
        for sock in sockets:
            wait_closed(sock)
        released = time.monotonic() - started
        for sock in sockets:
            sock.close()
        assert released < deadline_s + 3.0, released
        for _ in range(100):
            if server.open_connections == 0:
                break
            time.sleep(0.05)
        assert server.open_connections == 0
        # A handler thread ends just after its connection closes: give stragglers a
        # moment on a loaded machine before counting.
        for _ in range(100):
            if threading.active_count() <= threads_before + 3:  # server, reaper, one more
                break
            time.sleep(0.05)
        assert threading.active_count() <= threads_before + 3
        assert server.gateway.count("proxy-request") == 0  # no half-sent request got through


def test_a_trickling_client_is_cut_off_at_the_deadline() -> None:
    with serve(GatewayLimits(request_deadline_s=1.0)) as server:
        name, port = server.url.removeprefix("http://").split(":")
        sock = socket.create_connection((name, int(port)), timeout=5.0)
        started = time.monotonic()
        text = f"GET /api/health HTTP/1.1\r\nHost: {name}:{port}\r\nX-Slow: " + "a" * 100
        with pytest.raises(OSError):  # the reset (or broken pipe) once the server hung up
            for byte in text.encode():
                sock.send(bytes([byte]))
                time.sleep(0.05)  # well under any per-read timeout
                if time.monotonic() - started > 5.0:
                    break
            else:
                pytest.fail("the whole slow request was read")
            raise AssertionError("not cut off within 5 s")
        sock.close()
        assert time.monotonic() - started < 3.0


def test_connections_over_the_cap_are_refused_at_once_with_503() -> None:
    with serve(GatewayLimits(max_connections=20)) as server:
        held = half_sent(server, 20)
        for _ in range(100):
            if server.open_connections == 20:
                break
            time.sleep(0.02)
        name, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((name, int(port)), timeout=5.0) as extra:
            answer = extra.recv(4096)
        assert status_of(answer) == 503 and b"Retry-After: 1" in answer
        for sock in held:
            sock.close()
        for _ in range(100):
            if server.open_connections == 0:
                break
            time.sleep(0.02)
        assert httpx2.get(f"{server.url}/api/health").status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        b"Host: 127.0.0.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n",
        b"Host: 127.0.0.1\r\nHost: evil.example\r\nContent-Length: 2\r\n",
        b"Host: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n",
        b"Host: 127.0.0.1\r\nContent-Length: \xb2\r\n",  # a latin-1 digit int() refuses
    ],
)
def test_repeated_framing_or_host_headers_are_refused(headers: bytes) -> None:
    with GatewayServer(EmbeddedGateway("framing")) as server:
        host, port = server.url.rsplit("/", 1)[1].split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(b"POST /api/health HTTP/1.1\r\n" + headers + b"\r\n{}")
            assert sock.recv(4096).startswith(b"HTTP/1.1 400 ")


# ----------------------------------------------------------------------- request log


def test_the_request_log_keeps_masked_copies_bounded_in_bytes(http: httpx2.Client) -> None:
    key = AgentKey.generate("ed25519")
    limits = GatewayLimits(log_max_bytes=1 * MIB, log_body_bytes=64 * 1024)
    gateway = EmbeddedGateway("log", limits=limits, default_policy=ALLOW_BUILTIN_TOOLS)
    with GatewayServer(gateway) as server:
        agent = register(http, server.url, key, "logged")
        wire = WireClient(http, server.url, key, agent)
        token = wire.token()
        assert wire.proxy("serpapi", "search", SEARCH, token).status_code == 200
        record = gateway.requests[-1]
        assert record.json["agent_token"] == MASK and record.json["proof_payload"] == MASK
        assert record.json["params"] == SEARCH
        assert record.headers["signature"] == MASK and "signature-input" in record.headers
        text = repr(gateway.requests) + "".join(r.body.decode() for r in gateway.requests)
        assert token["agent_token"] not in text
        assert token["agent_token"].split(".")[1] not in text  # not even its HMAC half

        filler = json.dumps({"data": "x" * 60_000}).encode()
        for _ in range(40):
            http.post(f"{server.url}/api/nope", content=filler)
        kept = gateway.requests
        assert 10 <= len(kept) <= 18  # about 1 MiB of 60 kB records
        assert kept[-1].json == {"data": "x" * 60_000}
        huge = b"[" + b"0," * 50_000 + b"0]"
        http.post(f"{server.url}/api/nope", content=huge)
        last = gateway.requests[-1]
        assert last.truncated and last.body == b"" and last.body_size == len(huge)


def test_the_request_log_masks_a_token_sent_in_the_path(http: httpx2.Client) -> None:
    key = AgentKey.generate("ed25519")
    gateway = EmbeddedGateway("log-path", default_policy=ALLOW_BUILTIN_TOOLS)
    with GatewayServer(gateway) as server:
        agent = register(http, server.url, key, "pathy")
        token = WireClient(http, server.url, key, agent).token()["agent_token"]
        http.post(f"{server.url}/api/tokens/{token}", content=b"{}")
        record = gateway.requests[-1]
        assert token not in record.path and token.split(".")[1] not in record.path
        assert MASK in record.path


# ------------------------------------------------------- idempotency and token registry


def keyed_send(wire: WireClient, token: dict[str, Any], key: str) -> httpx2.Response:
    params = {"to": "a@b.co", "subject": key, "text": "hi", "body": "hi"}
    return wire.proxy("gmail_send", "send", params, token, headers={"idempotency-key": key})


def test_one_agent_cannot_evict_another_agents_idempotency_keys(http: httpx2.Client) -> None:
    limits = GatewayLimits(idempotency_keys_per_agent=5, idempotency_keys_total=8)
    gateway = EmbeddedGateway(
        "keys", limits=limits, default_policy=ALLOW_BUILTIN_TOOLS, rate_limit=None
    )
    with GatewayServer(gateway) as server:
        wires = {}
        for name in ("victim", "flood-1", "flood-2"):
            key = AgentKey.generate("ed25519")
            wires[name] = WireClient(http, server.url, key, register(http, server.url, key, name))
        tokens = {name: wire.token() for name, wire in wires.items()}
        assert keyed_send(wires["victim"], tokens["victim"], "victim-send").status_code == 200
        runs = gateway.tool_runs
        for name in ("flood-1", "flood-2"):
            for i in range(20):
                assert keyed_send(wires[name], tokens[name], f"{name}-{i}").status_code == 200
        assert gateway.tool_runs == runs + 40
        again = keyed_send(wires["victim"], tokens["victim"], "victim-send")
        assert again.status_code == 200 and again.headers.get("idempotent-replayed") == "true"
        assert gateway.tool_runs == runs + 40  # replayed, not sent twice
        # each flooder lost its own oldest keys: its first send would run again
        first = keyed_send(wires["flood-1"], tokens["flood-1"], "flood-1-0")
        assert "idempotent-replayed" not in first.headers


def test_expired_tokens_are_pruned_and_one_agent_cannot_push_out_anothers(
    http: httpx2.Client,
) -> None:
    clock = ManualClock()
    limits = GatewayLimits(tokens_per_agent=3, expired_token_grace_s=60.0)
    gateway = EmbeddedGateway(
        "tokens", limits=limits, default_policy=ALLOW_BUILTIN_TOOLS, rate_limit=None, clock=clock
    )
    with GatewayServer(gateway) as server:
        wires = {}
        for name in ("victim", "flood"):
            key = AgentKey.generate("ed25519")
            wires[name] = WireClient(http, server.url, key, register(http, server.url, key, name))
        victim, flood = wires["victim"], wires["flood"]
        kept = victim.token(ttl_s=3600)
        short = victim.token(ttl_s=30)
        flood_tokens = [flood.token() for _ in range(10)]
        assert victim.proxy("serpapi", "search", SEARCH, kept).status_code == 200
        assert flood.proxy("serpapi", "search", SEARCH, flood_tokens[-1]).status_code == 200
        pushed_out = flood.proxy("serpapi", "search", SEARCH, flood_tokens[0])
        assert pushed_out.status_code == 403
        assert pushed_out.json()["error"] == "Token not found in registry"

        clock.advance(31)  # expired, within the grace: still known, and says so
        assert victim.proxy("serpapi", "search", SEARCH, short).json()["error"] == "Token expired"
        clock.advance(120)  # past the grace; the next issue prunes it
        flood.token(ttl_s=3600 * 24)
        gone = victim.proxy("serpapi", "search", SEARCH, short)
        assert gone.json()["error"] == "Token not found in registry"
        assert victim.proxy("serpapi", "search", SEARCH, kept).status_code == 200


def test_agents_and_policies_stop_at_their_caps(http: httpx2.Client) -> None:
    with serve(GatewayLimits(max_agents=3, max_policies=2)) as server:
        url = server.url
        agents = [register(http, url, AgentKey.generate("ed25519"), f"a{i}") for i in range(3)]
        extra = http.post(
            f"{url}/api/create-agent", json={"name": "x", "created_by": "t", "role": "agent"}
        )
        assert extra.status_code == 507 and extra.json()["code"] == "INTERNAL"
        spec = {"scopes": ["serpapi:search"]}
        for agent_id in agents[:2]:
            body = {"name": "p", "agentId": agent_id, "spec": spec}
            assert http.post(f"{url}/api/policies", json=body).status_code == 201
        body = {"name": "p", "agentId": agents[2], "spec": spec}
        assert http.post(f"{url}/api/policies", json=body).status_code == 507
        assert http.get(f"{url}/api/health").status_code == 200


def test_jobs_are_capped_per_agent_without_touching_another_agents(http: httpx2.Client) -> None:
    limits = GatewayLimits(jobs_per_agent=3)
    gateway = EmbeddedGateway(
        "jobs", limits=limits, default_policy=ALLOW_BUILTIN_TOOLS, rate_limit=None
    )
    with GatewayServer(gateway) as server:
        wires = {}
        for name in ("victim", "flood"):
            key = AgentKey.generate("ed25519")
            wires[name] = WireClient(http, server.url, key, register(http, server.url, key, name))

        def start(wire: WireClient) -> str:
            answer = wire.proxy("serpapi", "search", SEARCH, **{"async": True})
            assert answer.status_code == 202, answer.text
            job_id: str = answer.json()["job_id"]
            return job_id

        victim_job = start(wires["victim"])
        flood_jobs = [start(wires["flood"]) for _ in range(6)]
        assert gateway.wait_for_jobs()
        flood = wires["flood"]
        assert [flood.get(f"/api/jobs/{j}").status_code for j in flood_jobs] == [404] * 3 + [
            200
        ] * 3
        answer = wires["victim"].get(f"/api/jobs/{victim_job}")
        assert answer.status_code == 200 and answer.json()["status"] == "done"
