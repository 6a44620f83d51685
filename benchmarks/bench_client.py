"""What the SDK costs over raw httpx2: latency, concurrency, cold start, memory, round trips.

Every figure is a ratio to a floor measured side by side in this process: a bare httpx2
request carrying the *same bytes* (the body the SDK sent, headers signed ahead of time
outside the timed region, a fresh correlation id and idempotency key each) to the same
embedded gateway (`runrgateway.testing.GatewayServer` on 127.0.0.1, OS-picked port, rate
limit off, agents registered with the client's public key through the gateway's API so
every signature is verified). The server therefore does the same work for both; the
difference is the client: argument checks, token handling, JSON, signing, retries.
Rounds interleave SDK and floor (alternating which goes first) so drifts hit both alike;
times are medians of all samples; a ratio is the median of the per-round ratios (robust
to a noisy round), shown with their p10-p90 spread.

    python benchmarks/bench_client.py            # full run (< 2 minutes on 2 cores)
    python benchmarks/bench_client.py --quick    # CI smoke run: tiny counts, judges nothing
    python benchmarks/bench_client.py --only latency,cold   # some sections
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import json
import os
import secrets
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx2

from runrgateway import GatewayClient, SyncGatewayClient
from runrgateway._keys import AgentKey
from runrgateway._signing import RequestSigner
from runrgateway.testing import EmbeddedGateway, GatewayServer

TOOL, ACTION = "serpapi", "search"
PARAMS = {"query": "rfc 9421 http message signatures in python", "num": 5}
KEY_KINDS = (("ed25519", "ed25519"), ("rsa", "rsa"))  # (label, AgentKey.generate kind)
PROXY_PATH = "/api/proxy-request"
# Both sides of the concurrency figures use these limits (the SDK through `http_client`).
LIMITS = httpx2.Limits(max_connections=32, max_keepalive_connections=32)
SECTIONS = ("latency", "concurrency", "cold", "memory", "roundtrips")


@dataclass(frozen=True)
class Settings:
    quick: bool
    rounds: int  # latency: interleaved rounds per figure
    per_round: int  # latency: calls per side per round
    conc_rounds: int  # concurrency: batches per side
    async_batch: int  # concurrent async calls per batch
    threads: int  # blocking twin: threads
    per_thread: int  # blocking twin: calls per thread per batch
    cold_runs: int  # subprocesses per module
    memory_calls: int
    roundtrip_ns: tuple[int, ...]
    section_budget_s: float  # a section stops starting new rounds after this


FULL = Settings(False, 15, 40, 12, 200, 16, 12, 15, 10_000, (1, 10, 100, 1000), 25.0)
QUICK = Settings(True, 2, 5, 1, 20, 4, 3, 2, 200, (1, 10), 4.0)


@dataclass
class Report:
    """Summary lines, and which targets held (timings are judged only in a full run)."""

    quick: bool
    lines: list[str] = field(default_factory=list)
    held: int = 0
    missed: list[str] = field(default_factory=list)

    def line(self, text: str, ok: bool | None = None, *, timing: bool = True) -> None:
        if ok is not None and timing and self.quick:
            text += " (quick run: not judged)"
        elif ok is not None:
            text += " OK" if ok else " MISS"
            if ok:
                self.held += 1
            else:
                self.missed.append(text)
        self.lines.append(text)
        print(text, flush=True)


# --------------------------------------------------------------------------- the gateway


@dataclass(frozen=True)
class Agent:
    label: str
    agent_id: str
    key: AgentKey
    pem: str


class Gateway:
    """A fresh embedded gateway on loopback (rate limit off), with one agent per key."""

    def __init__(self, keys: dict[str, AgentKey]) -> None:
        self.embedded = EmbeddedGateway("bench", rate_limit=None)
        self.server = GatewayServer(self.embedded, "127.0.0.1", 0).start()
        self.url = self.server.url
        self.agents: dict[str, Agent] = {}
        try:
            with httpx2.Client(base_url=self.url, timeout=10.0) as admin:
                for label, key in keys.items():
                    created = admin.post(
                        "/api/create-agent",
                        json={
                            "name": f"bench-{label}",
                            "created_by": "bench_client",
                            "role": "bench",
                            "public_key": key.public_key_pem(),
                        },
                    )
                    created.raise_for_status()
                    agent_id = created.json()["agent_id"]
                    admin.post(
                        "/api/policies",
                        json={
                            "name": f"bench-{label}",
                            "agentId": agent_id,
                            "spec": {"scopes": [f"{TOOL}:{ACTION}"]},
                        },
                    ).raise_for_status()
                    self.agents[label] = Agent(label, agent_id, key, key.private_key_pem())
        except BaseException:
            self.server.stop()
            raise

    def count(self, route: str) -> int:
        return self.embedded.count(route)

    def last_proxy_request(self) -> tuple[bytes, dict[str, str]]:
        """The last proxy-request body (exact bytes) and the SDK's own headers."""
        record = next(r for r in reversed(self.embedded.requests) if r.route == "proxy-request")
        body = json.dumps(record.json, separators=(",", ":"), ensure_ascii=False).encode()
        assert str(len(body)) == record.headers["content-length"], "body not reproduced exactly"
        keep = ("user-agent", "accept", "content-type")
        return body, {name: record.headers[name] for name in keep if name in record.headers}

    def close(self) -> None:
        self.server.stop()

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Floor:
    """Pre-signed copies of the SDK's request, for the raw httpx2 floor."""

    def __init__(self, agent: Agent, url: str, body: bytes, headers: dict[str, str]) -> None:
        self.signer = RequestSigner(agent.key, agent.agent_id)
        self.url = url + PROXY_PATH
        self.body = body
        self.headers = headers

    def signed(self, n: int) -> list[dict[str, str]]:
        out = []
        for _ in range(n):
            headers = dict(self.headers)
            headers["x-correlation-id"] = f"bench_{secrets.token_hex(8)}"
            headers["idempotency-key"] = f"idem_{secrets.token_hex(12)}"
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
class Pair:
    """Samples of the SDK and of the floor, per round."""

    sdk: list[list[float]] = field(default_factory=list)
    raw: list[list[float]] = field(default_factory=list)

    def ratio(self) -> float:
        """The median of the per-round ratios: each round pairs neighbouring measurements."""
        return statistics.median(self.round_ratios())

    def medians(self) -> tuple[float, float]:
        return (
            statistics.median(x for r in self.sdk for x in r),
            statistics.median(x for r in self.raw for x in r),
        )

    def round_ratios(self) -> list[float]:
        return [
            statistics.median(s) / statistics.median(r)
            for s, r in zip(self.sdk, self.raw, strict=True)
        ]

    def spread(self) -> str:
        ratios = self.round_ratios()
        return (
            f"{len(ratios)} rounds, ratio p10-p90 {_pct(ratios, 0.1):.2f}-{_pct(ratios, 0.9):.2f}"
        )


# ------------------------------------------------------------------------------- latency


async def _latency_async(
    settings: Settings, gw: Gateway, agent: Agent, managed: bool
) -> tuple[Pair, int]:
    pair = Pair()
    async with GatewayClient(gw.url, agent.agent_id, agent.pem) as client:
        token = (
            None if managed else await client.get_token({"tools": [TOOL], "permissions": ["read"]})
        )

        async def sdk_call() -> None:
            await client.proxy(TOOL, ACTION, PARAMS, token)

        for _ in range(5):
            await sdk_call()
        floor = Floor(agent, gw.url, *gw.last_proxy_request())
        async with httpx2.AsyncClient() as raw:

            async def raw_call(headers: dict[str, str]) -> None:
                _data(await raw.post(floor.url, content=floor.body, headers=headers))

            for headers in floor.signed(5):
                await raw_call(headers)
            deadline = time.perf_counter() + settings.section_budget_s / 2
            for index in range(settings.rounds):
                signed = floor.signed(settings.per_round)
                sdk_times: list[float] = []
                raw_times: list[float] = []
                for side in (0, 1) if index % 2 else (1, 0):
                    for n in range(settings.per_round):
                        start = time.perf_counter()
                        if side:
                            await sdk_call()
                            sdk_times.append(time.perf_counter() - start)
                        else:
                            await raw_call(signed[n])
                            raw_times.append(time.perf_counter() - start)
                pair.sdk.append(sdk_times)
                pair.raw.append(raw_times)
                if time.perf_counter() > deadline:
                    break
    return pair, gw.count("generate-token") - (0 if managed else 1)


def _latency_sync(settings: Settings, gw: Gateway, agent: Agent, managed: bool) -> tuple[Pair, int]:
    pair = Pair()
    with SyncGatewayClient(gw.url, agent.agent_id, agent.pem) as client:
        token = None if managed else client.get_token({"tools": [TOOL], "permissions": ["read"]})

        def sdk_call() -> None:
            client.proxy(TOOL, ACTION, PARAMS, token)

        for _ in range(5):
            sdk_call()
        floor = Floor(agent, gw.url, *gw.last_proxy_request())
        with httpx2.Client() as raw:

            def raw_call(headers: dict[str, str]) -> None:
                _data(raw.post(floor.url, content=floor.body, headers=headers))

            for headers in floor.signed(5):
                raw_call(headers)
            deadline = time.perf_counter() + settings.section_budget_s / 2
            for index in range(settings.rounds):
                signed = floor.signed(settings.per_round)
                sdk_times: list[float] = []
                raw_times: list[float] = []
                for side in (0, 1) if index % 2 else (1, 0):
                    for n in range(settings.per_round):
                        start = time.perf_counter()
                        if side:
                            sdk_call()
                            sdk_times.append(time.perf_counter() - start)
                        else:
                            raw_call(signed[n])
                            raw_times.append(time.perf_counter() - start)
                pair.sdk.append(sdk_times)
                pair.raw.append(raw_times)
                if time.perf_counter() > deadline:
                    break
    return pair, gw.count("generate-token") - (0 if managed else 1)


def section_latency(settings: Settings, keys: dict[str, AgentKey], report: Report) -> None:
    for managed in (False, True):
        mode = "managed-token" if managed else "caller-token"
        target = 1.25 if managed else 1.15
        for twin in ("async", "sync"):
            for label in keys:
                with Gateway({label: keys[label]}) as gw:  # fresh counters per figure
                    agent = gw.agents[label]
                    if twin == "async":
                        pair, mints = asyncio.run(_latency_async(settings, gw, agent, managed))
                    else:
                        pair, mints = _latency_sync(settings, gw, agent, managed)
                sdk, raw = pair.medians()
                ratio = pair.ratio()
                text = (
                    f"proxy/{mode} {twin} {label}: {sdk * 1e6:.0f} us vs raw {raw * 1e6:.0f} us "
                    f"= {ratio:.2f}x [{pair.spread()}]"
                )
                if label == "ed25519":
                    report.line(f"{text} (target <= {target})", ratio <= target)
                else:
                    report.line(f"{text} (reported)")
                if managed:
                    report.line(
                        f"tokens/{mode} {twin} {label}: {mints} generate-token request(s) for "
                        f"{sum(map(len, pair.sdk)) + 5} calls (target exactly 1)",
                        mints == 1,
                        timing=False,
                    )


# --------------------------------------------------------------------------- concurrency


async def _concurrency_async(settings: Settings, gw: Gateway, agent: Agent) -> Pair:
    pair = Pair()
    n = settings.async_batch
    async with (
        httpx2.AsyncClient(limits=LIMITS) as sdk_http,
        httpx2.AsyncClient(limits=LIMITS) as raw,
        GatewayClient(gw.url, agent.agent_id, agent.pem, http_client=sdk_http) as client,
    ):
        await client.proxy(TOOL, ACTION, PARAMS)
        floor = Floor(agent, gw.url, *gw.last_proxy_request())

        async def sdk_batch() -> None:
            await asyncio.gather(*(client.proxy(TOOL, ACTION, PARAMS) for _ in range(n)))

        async def raw_batch(signed: list[dict[str, str]]) -> None:
            async def one(headers: dict[str, str]) -> None:
                _data(await raw.post(floor.url, content=floor.body, headers=headers))

            await asyncio.gather(*(one(h) for h in signed))

        async def timed(batch: Callable[[], Awaitable[None]]) -> float:
            start = time.perf_counter()
            await batch()
            return n / (time.perf_counter() - start)

        await sdk_batch()  # warm up: open the connections on both sides
        await raw_batch(floor.signed(n))
        deadline = time.perf_counter() + settings.section_budget_s / 4
        for index in range(settings.conc_rounds):
            signed = floor.signed(n)
            for side in (0, 1) if index % 2 else (1, 0):
                if side:
                    pair.sdk.append([await timed(sdk_batch)])
                else:
                    pair.raw.append([await timed(functools.partial(raw_batch, signed))])
            if time.perf_counter() > deadline:
                break
    return pair


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


def _concurrency_sync(settings: Settings, gw: Gateway, agent: Agent) -> Pair:
    pair = Pair()
    t, m = settings.threads, settings.per_thread
    with (
        httpx2.Client(limits=LIMITS) as sdk_http,
        httpx2.Client(limits=LIMITS) as raw,
        SyncGatewayClient(gw.url, agent.agent_id, agent.pem, http_client=sdk_http) as client,
    ):
        client.proxy(TOOL, ACTION, PARAMS)
        floor = Floor(agent, gw.url, *gw.last_proxy_request())

        def sdk_work(_: int) -> None:
            for _ in range(m):
                client.proxy(TOOL, ACTION, PARAMS)

        def raw_batch() -> float:
            signed = [floor.signed(m) for _ in range(t)]

            def work(i: int) -> None:
                for headers in signed[i]:
                    _data(raw.post(floor.url, content=floor.body, headers=headers))

            return _run_threads(t, work)

        _run_threads(t, sdk_work)  # warm up
        raw_batch()
        deadline = time.perf_counter() + settings.section_budget_s / 4
        for index in range(settings.conc_rounds):
            for side in (0, 1) if index % 2 else (1, 0):
                if side:
                    pair.sdk.append([t * m / _run_threads(t, sdk_work)])
                else:
                    pair.raw.append([t * m / raw_batch()])
            if time.perf_counter() > deadline:
                break
    return pair


def section_concurrency(settings: Settings, keys: dict[str, AgentKey], report: Report) -> None:
    for twin in ("async", "sync"):
        for label in keys:
            with Gateway({label: keys[label]}) as gw:
                agent = gw.agents[label]
                if twin == "async":
                    pair = asyncio.run(_concurrency_async(settings, gw, agent))
                    what = f"{settings.async_batch} concurrent tasks"
                else:
                    pair = _concurrency_sync(settings, gw, agent)
                    what = f"{settings.threads} threads"
            sdk, raw = pair.medians()
            ratio = pair.ratio()
            report.line(
                f"concurrency/{what} {twin} {label}: {sdk:.0f} calls/s vs raw {raw:.0f} calls/s "
                f"= {ratio:.2f}x [{pair.spread()}] (target >= 0.9)",
                ratio >= 0.9,
            )


# ---------------------------------------------------------------------------- cold start

_CHECK_LAZY = (
    "import sys, json; from runrgateway import GatewayClient; "
    "print(json.dumps(sorted({m.split('.')[0] if not m.startswith('runrgateway.') "
    "else '.'.join(m.split('.')[:2]) for m in sys.modules})))"
)
_MUST_BE_LAZY = (
    "runrgateway.testing",
    "dataclasses_json",
    "marshmallow",
    "tenacity",
    "tornado",
    "opentelemetry",
)


def section_cold(settings: Settings, report: Report) -> None:
    # What a program's first line costs: the client class, not only the package.
    commands = {
        "python": "pass",
        "httpx2": "import httpx2",
        "runrgateway": "from runrgateway import GatewayClient",
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    # Installed packages have .pyc files (pip compiles them); an editable checkout gets
    # them on first import unless PYTHONDONTWRITEBYTECODE is set, which would make every
    # run compile runrgateway's source while httpx2 loads its .pyc: measure both cached.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for code in commands.values():  # warm the page cache and .pyc files
        subprocess.run([sys.executable, "-c", code], check=True, env=env)
    for index in range(settings.cold_runs):
        order = list(commands)
        order = order[index % 3 :] + order[: index % 3]
        for name in order:
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", commands[name]], check=True, env=env)
            times[name].append(time.perf_counter() - start)
    med = {name: statistics.median(values) for name, values in times.items()}
    ratio = med["runrgateway"] / med["httpx2"]
    report.line(
        f"cold-start from runrgateway import GatewayClient: {med['runrgateway'] * 1e3:.0f} ms "
        f"vs import httpx2 "
        f"{med['httpx2'] * 1e3:.0f} ms = {ratio:.2f}x [{settings.cold_runs} runs each, medians; "
        f"bare interpreter {med['python'] * 1e3:.0f} ms; imports alone "
        f"{(med['runrgateway'] - med['python']) * 1e3:.0f} ms vs "
        f"{(med['httpx2'] - med['python']) * 1e3:.0f} ms] (target <= 1.5)",
        ratio <= 1.5,
    )
    loaded = json.loads(
        subprocess.run(
            [sys.executable, "-c", _CHECK_LAZY], check=True, capture_output=True, text=True
        ).stdout
    )
    eager = [name for name in _MUST_BE_LAZY if name in loaded]
    report.line(
        "cold-start lazy imports ("
        + ", ".join(_MUST_BE_LAZY)
        + "): "
        + (
            "none imported by `from runrgateway import GatewayClient`"
            if not eager
            else "imported: " + ", ".join(eager)
        ),
        not eager,
        timing=False,
    )


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
    for twin in ("async", "sync"):
        with Gateway({label: keys[label]}) as gw:
            agent = gw.agents[label]
            child = subprocess.run(
                [sys.executable, os.path.abspath(__file__), "--memory-child", gw.url,
                 agent.agent_id, twin, str(settings.memory_calls)],
                input=agent.pem, capture_output=True, text=True, timeout=180, check=False,
            )  # fmt: skip
        if child.returncode != 0:
            report.line(f"memory {twin}: the child failed: {child.stderr[-500:]}", False)
            continue
        points = [json.loads(line) for line in child.stdout.splitlines() if line.startswith("{")]
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
            f"(target: no growth per call, < 64 B/call and < 100 objects)",
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
                    f"({trips} requests; target 1 + 1/N = {1 + 1 / n:.3f}, first SDK: 2)",
                    trips == n + 1,
                    timing=False,
                )


# ---------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts (CI); judges nothing")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument("--memory-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
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
    print(
        f"runrgateway client benchmark ({'quick' if settings.quick else 'full'}): "
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, httpx2 {httpx2.__version__}",
        flush=True,
    )
    keys = {label: AgentKey.generate(kind) for label, kind in KEY_KINDS}
    for name in wanted:
        section_started = time.perf_counter()
        if name == "latency":
            section_latency(settings, keys, report)
        elif name == "concurrency":
            section_concurrency(settings, keys, report)
        elif name == "cold":
            section_cold(settings, report)
        elif name == "memory":
            section_memory(settings, keys, report)
        elif name == "roundtrips":
            section_roundtrips(settings, keys, report)
        print(f"  ({name}: {time.perf_counter() - section_started:.1f} s)", flush=True)
    total = time.perf_counter() - started
    if settings.quick:
        print(f"quick run finished in {total:.1f} s (timings not judged)")
    else:
        print(f"{report.held} targets hold, {len(report.missed)} missed; {total:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
