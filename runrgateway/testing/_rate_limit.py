"""Fixed-window rate limiting per agent (the real gateway: 5 calls per 60 s).

It counts calls only: it never sleeps or delays a request.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from ._time import Clock

DEFAULT_CALLS = 5
DEFAULT_WINDOW_S = 60.0


@dataclass
class _Window:
    started: float
    used: int


class FixedWindowLimiter:
    """`calls` per `window_s` per key; a window opens at the first call after the last one ended."""

    def __init__(
        self, clock: Clock, calls: int | None = DEFAULT_CALLS, window_s: float = DEFAULT_WINDOW_S
    ) -> None:
        self._clock = clock
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()
        self.calls = calls
        self.window_s = window_s

    def configure(self, calls: int | None, window_s: float) -> None:
        """Change the limit (None or 0 switches it off); open windows are forgotten."""
        if calls == 0:
            calls = None
        if calls is not None and calls < 1:
            raise ValueError("calls must be at least 1 (or None or 0 for no limit)")
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        with self._lock:
            self.calls = calls
            self.window_s = window_s
            self._windows.clear()

    def consume(self, key: str) -> int | None:
        """Count one call; None when allowed, else the seconds to wait (rounded up, at least 1)."""
        with self._lock:
            if self.calls is None:
                return None
            now = self._clock()
            window = self._windows.get(key)
            if window is None or now >= window.started + self.window_s:
                window = self._windows[key] = _Window(now, 0)
            window.used += 1
            if window.used <= self.calls:
                return None
            return max(1, math.ceil(window.started + self.window_s - now))

    def clear(self) -> None:
        with self._lock:
            self._windows.clear()
