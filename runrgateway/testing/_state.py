"""Everything one embedded gateway holds, shared by its routes.

The tool-run window is bounded by count, and a run's parameters larger than
`run_params_bytes` (as compact JSON) are not kept: a long-running `serve` must not
hold 10,000 runs of 10 MB each.

It holds the stores; the routes decide. No I/O.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from .._json import compact_json
from ._agents import AgentRegistry
from ._breaker import CircuitBreakers
from ._faults import FaultPlan
from ._idempotency import IdempotencyStore
from ._jobs import JobRunner
from ._limits import DEFAULT_LIMITS
from ._policies import PolicyStore
from ._rate_limit import FixedWindowLimiter
from ._signatures import SignatureGuard
from ._time import Clock
from ._tokens import TokenAuthority
from ._tools import ToolCall, ToolFailure
from ._upstream import LIVE, run_adapter

MAX_KEPT_TOOL_RUNS = 10_000


@dataclass(frozen=True)
class ToolRun:
    """One run of a fake tool (failed runs included)."""

    tool: str
    action: str
    params: dict[str, Any]
    """The run's parameters; ``{}`` when they were too large to keep (`params_cut`)."""
    failed: bool
    params_cut: bool = False


@dataclass
class GatewayState:
    """The stores and settings behind the routes; each store locks for itself."""

    clock: Clock
    agents: AgentRegistry
    policies: PolicyStore
    tokens: TokenAuthority
    limiter: FixedWindowLimiter
    idempotency: IdempotencyStore
    jobs: JobRunner
    faults: FaultPlan
    signatures: SignatureGuard
    breakers: CircuitBreakers
    auto_register_agents: bool = False
    tool_latency_s: float = 0.0
    upstream_mode: str = LIVE
    run_params_bytes: int = DEFAULT_LIMITS.log_body_bytes
    # The latest runs (a long-running `serve` keeps a bounded window) and counts of all.
    tool_runs: deque[ToolRun] = field(default_factory=lambda: deque(maxlen=MAX_KEPT_TOOL_RUNS))
    runs_by_action: Counter[tuple[str, str]] = field(default_factory=Counter)
    _runs_lock: threading.Lock = field(default_factory=threading.Lock)

    def run_tool(self, tool: str, action: str, params: dict[str, Any]) -> Any:
        """Run a fake tool behind its circuit breaker, honouring queued tool failures and
        the configured latency. An open breaker fails the call without running the tool
        (no run is recorded, no queued failure is used)."""
        refusal = self.breakers.refusal(tool)
        if refusal is not None:
            raise ToolFailure(refusal)
        failure = self.faults.take_tool_failure(tool, action)
        if self.tool_latency_s > 0:
            time.sleep(self.tool_latency_s)
        try:
            if failure is not None:
                raise ToolFailure(failure)
            call = ToolCall(params, self._runs_of(tool, action), self.clock())
            result = run_adapter(self.upstream_mode, tool, action, call)
        except ToolFailure:
            self._record(self._run(tool, action, params, failed=True))
            self.breakers.record(tool, failed=True)
            raise
        self._record(self._run(tool, action, params, failed=False))
        self.breakers.record(tool, failed=False)
        return result

    def _run(self, tool: str, action: str, params: dict[str, Any], *, failed: bool) -> ToolRun:
        try:
            too_large = len(compact_json(params)) > self.run_params_bytes
        except (TypeError, ValueError):
            too_large = False
        if too_large:
            return ToolRun(tool, action, {}, failed, params_cut=True)
        return ToolRun(tool, action, params, failed)

    def _runs_of(self, tool: str, action: str) -> int:
        with self._runs_lock:
            return self.runs_by_action[(tool, action)]

    def recent_runs(self) -> list[ToolRun]:
        with self._runs_lock:
            return list(self.tool_runs)

    @property
    def runs_total(self) -> int:
        with self._runs_lock:
            return sum(self.runs_by_action.values())

    def _record(self, run: ToolRun) -> None:
        with self._runs_lock:
            self.tool_runs.append(run)
            self.runs_by_action[(run.tool, run.action)] += 1

    def clear_tool_runs(self) -> None:
        with self._runs_lock:
            self.tool_runs.clear()
            self.runs_by_action.clear()
