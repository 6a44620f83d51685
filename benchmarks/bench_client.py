"""What the SDK costs over the call a user would write by hand: latency, concurrency, memory.

Every latency and throughput figure is measured against two floors, side by side, in
interleaved rounds against one gateway:

- **hand-written**: what a user would write without the SDK, on a shared httpx2 client
  (``client.post(url, json={"agent_token", "tool", "action", "params"})``, then
  ``.json()["data"]``), unsigned. The targets are judged on this floor.
- **same bytes**: a bare httpx2 request carrying exactly the SDK's request (its body and
  every header it sent, read back from the gateway's request log), with a fresh
  correlation id, idempotency key and RFC 9421 signature for each request, signed
  *before* the timed region; its client's default headers removed, so nothing is sent
  the SDK did not send. The difference to the SDK is the SDK's client CPU.

The gateway (`runrgateway.testing.GatewayServer`) runs in a **separate process** on
127.0.0.1 (OS-picked port, rate limit off) with signature checks off
(`EmbeddedGateway(verify_signatures=False)`): the hand-written call is unsigned, and the
server's verification would otherwise dilute every ratio. Agents are registered with the
clients' public keys through its API, a policy allows `serpapi:search`.

Rounds interleave the SDK and both floors (rotating which goes first) so drifts hit all
alike; times are medians of all samples; a ratio is the median of the per-round ratios
(robust to a noisy round), shown with their p10-p90 spread. The machine may be shared:
compare ratios, not microseconds. Cold start is `bench_cold_start.py`.

    python benchmarks/bench_client.py            # full run (a few minutes on 2 cores)
    python benchmarks/bench_client.py --quick    # CI smoke run: tiny counts, no timing judged
    python benchmarks/bench_client.py --only latency,memory   # some sections
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import os
import secrets
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx2

from runrgateway import GatewayClient, SyncGatewayClient
from runrgateway._keys import AgentKey
from runrgateway._signing import RequestSigner

TOOL, ACTION = "serpapi", "search"
_QUERY = "rfc 9421 http message signatures in python"
# Both names the real gateway reads (its validator `query`, its adapter `q`): what a
# hand-written call must send to succeed, and what the SDK would send anyway.
PARAMS = {"q": _QUERY, "query": _QUERY, "num": 5}
KEY_KINDS = (("ed25519", "ed25519"), ("rsa", "rsa"))  # (label, AgentKey.generate kind)
PROXY_PATH = "/api/proxy-request"
# Every side of the concurrency figures uses these limits (the SDK its own pool).
MAX_CONNECTIONS = 32
LIMITS = httpx2.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS)
SECTIONS = ("latency", "concurrency", "memory", "roundtrips")
SDK, SAME, HAND = "sdk", "same bytes", "hand-written"
SIDES = (SDK, SAME, HAND)
# Headers the floor regenerates per request, or that httpx2 writes itself.
_PER_REQUEST = frozenset(
    {"host", "content-length", "x-correlation-id", "idempotency-key", "signature",
     "signature-input", "content-digest"}
)  # fmt: skip

# Targets: ratio of the SDK to the hand-written call (latency: at most; throughput: at least).
LATENCY_TARGETS = {("caller-token", "ed25519"): 1.08, ("managed-token", "ed25519"): 1.10}
RSA_SYNC_TARGET = 1.5
THROUGHPUT_TARGET = 0.95


@dataclass(frozen=True)
class Settings:
    quick: bool
    rounds: int  # latency: interleaved rounds per figure
    per_round: int  # latency: calls per side per round
    conc_rounds: int  # concurrency: batches per side
    async_batch: int  # concurrent async calls per batch
    threads: int  # blocking twin: threads
    per_thread: int  # blocking twin: calls per thread per batch
    memory_calls: int
    roundtrip_ns: tuple[int, ...]
    section_budget_s: float  # a figure stops starting new rounds after this


FULL = Settings(False, 15, 40, 12, 200, 16, 12, 10_000, (1, 10, 100, 1000), 30.0)
QUICK = Settings(True, 2, 5, 1, 20, 4, 3, 200, (1, 10), 4.0)


@dataclass
class Report:
    """Summary lines, and which targets held (timings are judged only in a full run)."""

    quick: bool
    lines: list[str] = field(default_factory=list)
    held: int = 0
    missed: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)

    def line(self, text: str, ok: bool | None = None, *, timing: bool = True) -> None:
        if ok is not None and timing and self.quick:
            text += " (quick run: not judged)"
        elif ok is not None:
            text += " OK" if ok else " MISS"
            if ok:
                self.held += 1
            else:
                self.missed.append(text)
                if not timing:
                    self.broken.append(text)
        self.lines.append(text)
        print(text, flush=True)


# ------------------------------------------------------------- the gateway, in its process


def gateway_child() -> None:
    """Run in a subprocess: an unverifying gateway; commands as JSON lines on stdin."""
    import logging

    from runrgateway.testing import EmbeddedGateway, GatewayServer

    logging.disable(logging.CRITICAL)
    setup = json.loads(sys.stdin.readline())
    # log_secrets: "last" hands back the exact body (token included) the floor replays
    embedded = EmbeddedGateway("bench", rate_limit=None, verify_signatures=False, log_secrets=True)
    server = GatewayServer(embedded, "127.0.0.1", 0).start()
    agents: dict[str, str] = {}
    with httpx2.Client(base_url=server.url, timeout=10.0) as admin:
        for label, public_pem in setup["agents"].items():
            created = admin.post(
                "/api/create-agent",
                json={"name": f"bench-{label}", "created_by": "bench_client", "role": "bench",
                      "public_key": public_pem},
            )  # fmt: skip
            created.raise_for_status()
            agent_id = created.json()["agent_id"]
            admin.post(
                "/api/policies",
                json={"name": f"bench-{label}", "agentId": agent_id,
                      "spec": {"scopes": [f"{TOOL}:{ACTION}"]}},
            ).raise_for_status()  # fmt: skip
            agents[label] = agent_id
    print(json.dumps({"url": server.url, "agents": agents}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        if command["cmd"] == "count":
            answer: dict[str, Any] = {"count": embedded.count(command["route"])}
        else:  # "last": the last proxy-request, exactly as it arrived
            record = next(r for r in reversed(embedded.requests) if r.route == "proxy-request")
            answer = {"json": record.json, "headers": dict(record.headers)}
        print(json.dumps(answer), flush=True)
    server.stop()


@dataclass(frozen=True)
class Agent:
    label: str
    agent_id: str
    key: AgentKey
    pem: str


class Gateway:
    """The embedded gateway in a child process (signatures not verified), one agent per key."""

    def __init__(self, keys: dict[str, AgentKey]) -> None:
        self._child = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--gateway-child"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
        )  # fmt: skip
        try:
            ready = self._ask({"agents": {k: v.public_key_pem() for k, v in keys.items()}})
        except BaseException:
            self.close()
            raise
        self.url: str = ready["url"]
        self.agents = {
            label: Agent(label, ready["agents"][label], key, key.private_key_pem())
            for label, key in keys.items()
        }

    def _ask(self, message: dict[str, Any]) -> dict[str, Any]:
        assert self._child.stdin is not None and self._child.stdout is not None
        self._child.stdin.write(json.dumps(message) + "\n")
        self._child.stdin.flush()
        line = self._child.stdout.readline()
        if not line:
            raise RuntimeError("the gateway process ended")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def count(self, route: str) -> int:
        return int(self._ask({"cmd": "count", "route": route})["count"])

    def last_proxy_request(self) -> tuple[bytes, dict[str, str]]:
        """The last proxy-request body (exact bytes) and the headers the floor copies."""
        record = self._ask({"cmd": "last"})
        headers = record["headers"]
        body = json.dumps(record["json"], separators=(",", ":"), ensure_ascii=False).encode()
        assert str(len(body)) == headers["content-length"], "body not reproduced exactly"
        keep = {name: value for name, value in headers.items() if name not in _PER_REQUEST}
        return body, keep

    def close(self) -> None:
        if self._child.stdin is not None:
            self._child.stdin.close()
        try:
            self._child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._child.kill()
            self._child.wait()
        if self._child.stdout is not None:
            self._child.stdout.close()

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _bare(client: httpx2.Client | httpx2.AsyncClient) -> Any:
    """`client` without httpx2's default headers: the same-bytes floor sends only the SDK's."""
    for name in list(client.headers):
        del client.headers[name]
    return client


class Floors:
    """What both floors send: pre-signed copies of the SDK's request, and the hand-written body."""

    def __init__(self, agent: Agent, url: str, body: bytes, headers: dict[str, str], token: str):
        self.signer = RequestSigner(agent.key, agent.agent_id)
        self.url = url + PROXY_PATH
        self.body = body
        self.headers = headers
        self.hand = {"agent_token": token, "tool": TOOL, "action": ACTION, "params": PARAMS}

    def signed(self, n: int) -> list[dict[str, str]]:
        out = []
        for _ in range(n):
            headers = dict(self.headers)
            headers["x-correlation-id"] = f"bench-{secrets.token_hex(16)}"
            headers["idempotency-key"] = f"{secrets.token_hex(16)}"
            headers.update(self.signer.sign("POST", self.url, headers, self.body))
            out.append(headers)
        return out


def _data(response: httpx2.Response) -> Any:
    if response.status_code != 200:
        raise RuntimeError(f"floor request failed: {response.status_code} {response.text[:200]}")
    return response.json()["data"]


# ----------------------------------------------------------------------------- statistics


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass
class Rounds:
    """Samples of the SDK and both floors, per round."""

    samples: dict[str, list[list[float]]] = field(
        default_factory=lambda: {side: [] for side in SIDES}
    )
    # This process's CPU time per call (time.process_time): what the client spent,
    # whatever the machine's load did to the wall time.
    cpu: dict[str, list[float]] = field(default_factory=lambda: {side: [] for side in SIDES})

    def add(self, side: str, values: list[float]) -> None:
        self.samples[side].append(values)

    def cpu_text(self) -> str:
        if not self.cpu[SDK]:
            return ""
        med = {side: statistics.median(values) * 1e6 for side, values in self.cpu.items()}
        return (
            f"; client CPU per call: sdk {med[SDK]:.0f} us, same bytes {med[SAME]:.0f} us, "
            f"hand-written {med[HAND]:.0f} us (+{med[SDK] - med[HAND]:.0f} us)"
        )

    def median(self, side: str) -> float:
        return statistics.median(x for r in self.samples[side] for x in r)

    def round_ratios(self, floor: str) -> list[float]:
        return [
            statistics.median(s) / statistics.median(f)
            for s, f in zip(self.samples[SDK], self.samples[floor], strict=True)
        ]

    def ratio(self, floor: str) -> float:
        """The median of the per-round ratios: each round pairs neighbouring measurements."""
        return statistics.median(self.round_ratios(floor))

    def spread(self, floor: str) -> str:
        ratios = self.round_ratios(floor)
        return f"p10-p90 {_pct(ratios, 0.1):.2f}-{_pct(ratios, 0.9):.2f}"

    @property
    def count(self) -> int:
        return len(self.samples[SDK])


def _orders() -> itertools.cycle[tuple[str, ...]]:
    """Every order of the three sides in turn, so none always goes first."""
    return itertools.cycle(list(itertools.permutations(SIDES)))


# ------------------------------------------------------------------------------- latency


async def _latency_async(settings: Settings, gw: Gateway, agent: Agent, managed: bool) -> Rounds:
    rounds = Rounds()
    async with GatewayClient(gw.url, agent.agent_id, agent.pem) as client:
        token = await client.get_token({"tools": [TOOL], "permissions": ["read"]})
        sdk_token = None if managed else token

        for _ in range(5):
            await client.proxy(TOOL, ACTION, PARAMS, sdk_token)
        floors = Floors(agent, gw.url, *gw.last_proxy_request(), token)
        async with _bare(httpx2.AsyncClient()) as same, httpx2.AsyncClient() as hand:

            async def one(side: str, headers: dict[str, str]) -> float:
                cpu = time.process_time()
                start = time.perf_counter()
                if side == SDK:
                    await client.proxy(TOOL, ACTION, PARAMS, sdk_token)
                elif side == SAME:
                    _data(await same.post(floors.url, content=floors.body, headers=headers))
                else:
                    _data(await hand.post(floors.url, json=floors.hand))
                elapsed = time.perf_counter() - start
                rounds.cpu[side].append(time.process_time() - cpu)
                return elapsed

            for headers in floors.signed(5):  # warm up the floors' connections
                await one(SAME, headers)
                await one(HAND, headers)
            deadline = time.perf_counter() + settings.section_budget_s / 2
            orders = _orders()
            for _ in range(settings.rounds):
                times: dict[str, list[float]] = {side: [] for side in SIDES}
                for headers in floors.signed(settings.per_round):
                    for side in next(orders):  # call by call: a burst of load hits all three
                        times[side].append(await one(side, headers))
                for side in SIDES:
                    rounds.add(side, times[side])
                if time.perf_counter() > deadline:
                    break
    return rounds


def _latency_sync(settings: Settings, gw: Gateway, agent: Agent, managed: bool) -> Rounds:
    rounds = Rounds()
    with SyncGatewayClient(gw.url, agent.agent_id, agent.pem) as client:
        token = client.get_token({"tools": [TOOL], "permissions": ["read"]})
        sdk_token = None if managed else token

        for _ in range(5):
            client.proxy(TOOL, ACTION, PARAMS, sdk_token)
        floors = Floors(agent, gw.url, *gw.last_proxy_request(), token)
        with _bare(httpx2.Client()) as same, httpx2.Client() as hand:

            def one(side: str, headers: dict[str, str]) -> float:
                cpu = time.process_time()
                start = time.perf_counter()
                if side == SDK:
                    client.proxy(TOOL, ACTION, PARAMS, sdk_token)
                elif side == SAME:
                    _data(same.post(floors.url, content=floors.body, headers=headers))
                else:
                    _data(hand.post(floors.url, json=floors.hand))
                elapsed = time.perf_counter() - start
                rounds.cpu[side].append(time.process_time() - cpu)
                return elapsed

            for headers in floors.signed(5):  # warm up the floors' connections
                one(SAME, headers)
                one(HAND, headers)
            deadline = time.perf_counter() + settings.section_budget_s / 2
            orders = _orders()
            for _ in range(settings.rounds):
                times: dict[str, list[float]] = {side: [] for side in SIDES}
                for headers in floors.signed(settings.per_round):
                    for side in next(orders):  # call by call: a burst of load hits all three
                        times[side].append(one(side, headers))
                for side in SIDES:
                    rounds.add(side, times[side])
                if time.perf_counter() > deadline:
                    break
    return rounds


def _floors_text(rounds: Rounds, unit: str, scale: float, fmt: str = ".0f") -> str:
    parts = [f"sdk {rounds.median(SDK) * scale:{fmt}} {unit}"]
    for floor in (SAME, HAND):
        parts.append(
            f"{floor} {rounds.median(floor) * scale:{fmt}} {unit} = {rounds.ratio(floor):.2f}x "
            f"({rounds.spread(floor)})"
        )
    return "; ".join(parts) + f" [{rounds.count} rounds]"


def section_latency(settings: Settings, keys: dict[str, AgentKey], report: Report) -> None:
    for mode in ("caller-token", "managed-token"):
        managed = mode == "managed-token"
        for twin in ("async", "sync"):
            for label in keys:
                # A fresh gateway per figure: its request log (and so `count`) is bounded.
                with Gateway({label: keys[label]}) as gw:
                    agent = gw.agents[label]
                    if twin == "async":
                        rounds = asyncio.run(_latency_async(settings, gw, agent, managed))
                    else:
                        rounds = _latency_sync(settings, gw, agent, managed)
                    # The floors' token is one get_token(); a managed SDK mints one more.
                    mints = gw.count("generate-token") - 1
                    sent = sorted(gw.last_proxy_request()[1])
                if not managed and label == "ed25519":  # the SDK-owned (direct) path ran
                    report.line(
                        f"direct path {twin}: the SDK sent only {', '.join(sent)} besides ids, "
                        "length and signature (no httpx2 client default headers)",
                        not {"accept", "accept-encoding", "connection"} & set(sent),
                        timing=False,
                    )
                ratio = rounds.ratio(HAND)
                text = f"proxy/{mode} {twin} {label}: " + _floors_text(rounds, "us", 1e6)
                text += rounds.cpu_text()
                target = LATENCY_TARGETS.get((mode, label))
                if target is None and label == "rsa" and twin == "sync":
                    target = RSA_SYNC_TARGET
                if target is not None:
                    report.line(f"{text} (target <= {target} vs hand-written)", ratio <= target)
                else:
                    report.line(f"{text} (reported)")
                if managed:
                    calls = sum(map(len, rounds.samples[SDK])) + 5
                    report.line(
                        f"tokens/{mode} {twin} {label}: {mints} generate-token request(s) "
                        f"for {calls} calls (target exactly 1)",
                        mints == 1,
                        timing=False,
                    )


# --------------------------------------------------------------------------- concurrency


async def _concurrency_async(settings: Settings, gw: Gateway, agent: Agent) -> Rounds:
    rounds = Rounds()
    n = settings.async_batch
    async with (
        _bare(httpx2.AsyncClient(limits=LIMITS)) as same,
        httpx2.AsyncClient(limits=LIMITS) as hand,
        GatewayClient(
            gw.url, agent.agent_id, agent.pem,
            max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS,
        ) as client,
    ):  # fmt: skip
        token = await client.get_token({"tools": [TOOL], "permissions": ["read"]})
        await client.proxy(TOOL, ACTION, PARAMS)
        floors = Floors(agent, gw.url, *gw.last_proxy_request(), token)

        async def batch(side: str, signed: list[dict[str, str]]) -> float:
            async def one(i: int) -> None:
                if side == SDK:
                    await client.proxy(TOOL, ACTION, PARAMS)
                elif side == SAME:
                    _data(await same.post(floors.url, content=floors.body, headers=signed[i]))
                else:
                    _data(await hand.post(floors.url, json=floors.hand))

            start = time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(n)))
            return n / (time.perf_counter() - start)

        for side in SIDES:  # warm up: open the connections on every side
            await batch(side, floors.signed(n))
        deadline = time.perf_counter() + settings.section_budget_s
        orders = _orders()
        for _ in range(settings.conc_rounds):
            signed = floors.signed(n)
            for side in next(orders):
                rounds.add(side, [await batch(side, signed)])
            if time.perf_counter() > deadline:
                break
    return rounds


def _run_threads(threads: int, work: Callable[[int], None]) -> float:
    """Run `work(i)` on `threads` threads released together; the wall time in seconds."""
    barrier = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def body(i: int) -> None:
        barrier.wait()
        try:
            work(i)
        except BaseException as exc:  # reported after the join
            errors.append(exc)

    pool = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(threads)]
    for thread in pool:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in pool:
        thread.join(timeout=60)
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return elapsed


def _concurrency_sync(settings: Settings, gw: Gateway, agent: Agent) -> Rounds:
    rounds = Rounds()
    t, m = settings.threads, settings.per_thread
    with (
        _bare(httpx2.Client(limits=LIMITS)) as same,
        httpx2.Client(limits=LIMITS) as hand,
        SyncGatewayClient(
            gw.url, agent.agent_id, agent.pem,
            max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS,
        ) as client,
    ):  # fmt: skip
        token = client.get_token({"tools": [TOOL], "permissions": ["read"]})
        client.proxy(TOOL, ACTION, PARAMS)
        floors = Floors(agent, gw.url, *gw.last_proxy_request(), token)

        def batch(side: str) -> float:
            signed = [floors.signed(m) for _ in range(t)]

            def work(i: int) -> None:
                for k in range(m):
                    if side == SDK:
                        client.proxy(TOOL, ACTION, PARAMS)
                    elif side == SAME:
                        _data(same.post(floors.url, content=floors.body, headers=signed[i][k]))
                    else:
                        _data(hand.post(floors.url, json=floors.hand))

            return t * m / _run_threads(t, work)

        for side in SIDES:  # warm up
            batch(side)
        deadline = time.perf_counter() + settings.section_budget_s
        orders = _orders()
        for _ in range(settings.conc_rounds):
            for side in next(orders):
                rounds.add(side, [batch(side)])
            if time.perf_counter() > deadline:
                break
    return rounds


def section_concurrency(settings: Settings, keys: dict[str, AgentKey], report: Report) -> None:
    with Gateway(keys) as gw:
        for twin in ("async", "sync"):
            for label in keys:
                agent = gw.agents[label]
                if twin == "async":
                    rounds = asyncio.run(_concurrency_async(settings, gw, agent))
                    what = f"{settings.async_batch} concurrent tasks"
                else:
                    rounds = _concurrency_sync(settings, gw, agent)
                    what = f"{settings.threads} threads"
                ratio = rounds.ratio(HAND)
                text = f"concurrency/{what} {twin} {label}: " + _floors_text(rounds, "calls/s", 1)
                if label == "ed25519":
                    report.line(
                        f"{text} (target >= {THROUGHPUT_TARGET} vs hand-written)",
                        ratio >= THROUGHPUT_TARGET,
                    )
                else:
                    report.line(f"{text} (reported)")


# -------------------------------------------------------------------------------- memory

_CHECKPOINTS = (1, 100, 1000, 2500, 5000, 7500, 10_000)


def _status_kb(field_name: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    return 0


def memory_child(url: str, agent_id: str, twin: str, calls: int) -> None:
    """Run in a subprocess: `calls` managed-token calls; one JSON line per checkpoint."""
    import resource

    pem = sys.stdin.read()
    checkpoints = sorted({c for c in _CHECKPOINTS if c < calls} | {calls})

    def checkpoint(done: int) -> None:
        gc.collect()
        print(
            json.dumps(
                {
                    "calls": done,
                    "rss_kb": _status_kb("VmRSS"),
                    "hwm_kb": _status_kb("VmHWM"),
                    "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                    "objects": len(gc.get_objects()),
                }
            ),
            flush=True,
        )

    if twin == "sync":
        with SyncGatewayClient(url, agent_id, pem) as client:
            for done in range(1, calls + 1):
                client.proxy(TOOL, ACTION, PARAMS)
                if done in checkpoints:
                    checkpoint(done)
        return

    async def run() -> None:
        async with GatewayClient(url, agent_id, pem) as client:
            for done in range(1, calls + 1):
                await client.proxy(TOOL, ACTION, PARAMS)
                if done in checkpoints:
                    checkpoint(done)

    asyncio.run(run())


def section_memory(settings: Settings, keys: dict[str, AgentKey], report: Report) -> None:
    label = "ed25519"
    with Gateway({label: keys[label]}) as gw:
        agent = gw.agents[label]
        for twin in ("async", "sync"):
            child = subprocess.run(
                [sys.executable, os.path.abspath(__file__), "--memory-child", gw.url,
                 agent.agent_id, twin, str(settings.memory_calls)],
                input=agent.pem, capture_output=True, text=True, timeout=300, check=False,
            )  # fmt: skip
            if child.returncode != 0:
                report.line(
                    f"memory {twin}: the child failed: {child.stderr[-500:]}", False, timing=False
                )
                continue
            points = [json.loads(line) for line in child.stdout.splitlines() if line[:1] == "{"]
            trail = ", ".join(f"{p['rss_kb'] / 1024:.1f}@{p['calls']}" for p in points)
            base = next((p for p in points if p["calls"] >= 1000), points[0])
            last = points[-1]
            growth_kb = last["rss_kb"] - base["rss_kb"]
            per_call = growth_kb * 1024 / max(1, last["calls"] - base["calls"])
            objects = last["objects"] - base["objects"]
            report.line(
                f"memory {twin} {label} {last['calls']} managed-token calls: VmRSS MB {trail}; "
                f"peak VmHWM {last['hwm_kb'] / 1024:.1f} MB; after call {base['calls']}: "
                f"{growth_kb:+d} kB ({per_call:.0f} B/call), {objects:+d} live objects "
                f"(target: flat, < 64 B/call and < 100 objects)",
                per_call < 64 and objects < 100,
                timing=True,  # a quick run is too short to tell warm-up from growth
            )


# ---------------------------------------------------------------------------- round trips


def section_roundtrips(settings: Settings, keys: dict[str, AgentKey], report: Report) -> None:
    label = "ed25519"
    with Gateway({label: keys[label]}) as gw:
        agent = gw.agents[label]
        for twin in ("async", "sync"):
            for n in settings.roundtrip_ns:
                before = gw.count("generate-token") + gw.count("proxy-request")
                if twin == "sync":
                    with SyncGatewayClient(gw.url, agent.agent_id, agent.pem) as client:
                        for _ in range(n):
                            client.proxy(TOOL, ACTION, PARAMS)
                else:

                    async def run(count: int) -> None:
                        async with GatewayClient(gw.url, agent.agent_id, agent.pem) as client:
                            for _ in range(count):
                                await client.proxy(TOOL, ACTION, PARAMS)

                    asyncio.run(run(n))
                trips = gw.count("generate-token") + gw.count("proxy-request") - before
                report.line(
                    f"round trips/call managed-token {twin} N={n}: {trips / n:.3f} "
                    f"({trips} requests; target 1 + 1/N = {1 + 1 / n:.3f})",
                    trips == n + 1,
                    timing=False,
                )


# ---------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts (CI); judges no timing")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument("--memory-child", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--gateway-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.gateway_child:
        gateway_child()
        return 0
    if args.memory_child:
        url, agent_id, twin, calls = args.memory_child
        memory_child(url, agent_id, twin, int(calls))
        return 0
    settings = QUICK if args.quick else FULL
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(wanted) - set(SECTIONS)
    if unknown:
        parser.error(
            f"unknown sections: {', '.join(sorted(unknown))} (known: {', '.join(SECTIONS)})"
        )
    started = time.perf_counter()
    report = Report(settings.quick)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"runrgateway client benchmark ({'quick' if settings.quick else 'full'}): "
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, httpx2 {httpx2.__version__}, "
        f"load average {load:.1f} at start; gateway in a separate process, signatures not "
        "verified",
        flush=True,
    )
    keys = {label: AgentKey.generate(kind) for label, kind in KEY_KINDS}
    sections: dict[str, Callable[[Settings, dict[str, AgentKey], Report], None]] = {
        "latency": section_latency,
        "concurrency": section_concurrency,
        "memory": section_memory,
        "roundtrips": section_roundtrips,
    }
    for name in wanted:
        section_started = time.perf_counter()
        sections[name](settings, keys, report)
        print(f"  ({name}: {time.perf_counter() - section_started:.1f} s)", flush=True)
    total = time.perf_counter() - started
    if settings.quick:
        print(f"quick run finished in {total:.1f} s (timings not judged)")
        if report.broken:
            print(f"{len(report.broken)} correctness check(s) failed")
            return 1
    else:
        print(f"{report.held} targets hold, {len(report.missed)} missed; {total:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
