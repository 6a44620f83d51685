"""The per-tool circuit breaker, as the real gateway runs one in front of each tool.

After `failures` failed tool runs (counted since the breaker last closed, not per
time window) a tool's breaker opens: every call of that tool then fails at once
with ``Circuit breaker is OPEN for <open_ms>ms`` (the configured time, not what is
left) without running. Once `open_s` have passed since the last failure, the next
call runs (half-open): a success closes the breaker, a failure opens it again.
Only tool runs count: validation, policy and rate-limit refusals never reach it.
Time is the gateway's clock, so tests move it with a `ManualClock`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ._time import Clock

DEFAULT_FAILURES = 5
DEFAULT_OPEN_S = 30.0

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass
class _Breaker:
    state: str = CLOSED
    failures: int = 0
    last_failure: float = 0.0


class CircuitBreakers:
    """One breaker per tool name; thread-safe; `enabled=False` lets every call through."""

    def __init__(
        self,
        clock: Clock,
        *,
        enabled: bool = True,
        failures: int = DEFAULT_FAILURES,
        open_s: float = DEFAULT_OPEN_S,
    ) -> None:
        self._clock = clock
        self._breakers: dict[str, _Breaker] = {}
        self._lock = threading.Lock()
        self.configure(enabled=enabled, failures=failures, open_s=open_s)

    def configure(self, *, enabled: bool, failures: int, open_s: float) -> None:
        """Change the settings; every breaker closes."""
        if failures < 1:
            raise ValueError("failures must be at least 1")
        if open_s <= 0:
            raise ValueError("open_s must be positive")
        with self._lock:
            self.enabled, self.failures, self.open_s = enabled, failures, open_s
            self._breakers.clear()

    def refusal(self, tool: str) -> str | None:
        """Before a run: None to let it run, else the error text of a fast failure."""
        with self._lock:
            breaker = self._breakers.get(tool)
            if not self.enabled or breaker is None or breaker.state != OPEN:
                return None
            if self._clock() - breaker.last_failure >= self.open_s:
                breaker.state, breaker.failures = HALF_OPEN, 0
                return None
            return f"Circuit breaker is OPEN for {round(self.open_s * 1000)}ms"

    def record(self, tool: str, *, failed: bool) -> None:
        """After a run: count a failure (opening the breaker at the threshold) or a success."""
        with self._lock:
            if not self.enabled:
                return
            breaker = self._breakers.setdefault(tool, _Breaker())
            if not failed:
                if breaker.state == HALF_OPEN:
                    breaker.state, breaker.failures = CLOSED, 0
                return
            breaker.failures += 1
            breaker.last_failure = self._clock()
            if breaker.state == HALF_OPEN or breaker.failures >= self.failures:
                breaker.state = OPEN

    def state(self, tool: str) -> str:
        """``"closed"``, ``"open"`` or ``"half_open"`` (an open breaker whose time is up
        still reads "open" until a call tries it)."""
        with self._lock:
            breaker = self._breakers.get(tool)
            return CLOSED if breaker is None else breaker.state

    def clear(self) -> None:
        with self._lock:
            self._breakers.clear()
