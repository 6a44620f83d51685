"""Idempotency keys: replay a finished answer, refuse a conflicting or concurrent reuse.

Keys are kept 24 hours, per agent, within `GatewayLimits`' caps (count and stored
answer bytes, per agent and in total): an agent over its cap loses its own oldest
keys, and over the total the agent holding the most loses its oldest first, so one
agent can never push out another agent's keys while it holds more (`OwnerQuota`).

A replay never runs the tool again.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from enum import Enum

from ._limits import DEFAULT_LIMITS, GatewayLimits
from ._messages import GatewayResponse
from ._quota import OwnerQuota
from ._time import Clock

KEY_LIFETIME_S = 24 * 3600.0
_ENTRY_OVERHEAD = 256  # bytes an entry costs beyond its answer (objects, dict slots)


class Claim(Enum):
    """What a request may do with its idempotency key."""

    NEW = "new"  # run it; then `finish` or `forget`
    REPLAY = "replay"  # answer with the stored response
    CONFLICT = "conflict"  # same key, another request body -> 422
    IN_PROGRESS = "in_progress"  # the first request is still running -> 409


@dataclass
class _Entry:
    fingerprint: str
    created: float
    response: GatewayResponse | None = None


def fingerprint(*parts: bytes | str) -> str:
    """A digest of what makes two requests "the same"."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part if isinstance(part, bytes) else part.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()


def _size(key: str, response: GatewayResponse | None) -> int:
    if response is None:
        return _ENTRY_OVERHEAD + len(key)
    headers = sum(len(name) + len(value) for name, value in response.headers.items())
    return _ENTRY_OVERHEAD + len(key) + len(response.body) + headers


class IdempotencyStore:
    """Keys kept for 24 hours, per scope (the agent), within per-agent and total caps."""

    def __init__(self, clock: Clock, limits: GatewayLimits = DEFAULT_LIMITS) -> None:
        self._clock = clock
        self._entries: OwnerQuota[tuple[str, str], _Entry] = OwnerQuota(
            per_owner=limits.idempotency_keys_per_agent,
            total=limits.idempotency_keys_total,
            per_owner_size=limits.idempotency_bytes_per_agent,
            total_size=limits.idempotency_bytes_total,
        )
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def claim(self, scope: str, key: str, print_: str) -> tuple[Claim, GatewayResponse | None]:
        """Look the key up; a NEW claim reserves it until `finish` or `forget`."""
        with self._lock:
            self._expire()
            entry = self._entries.get((scope, key))
            if entry is None:
                self._entries.put(
                    scope, (scope, key), _Entry(print_, self._clock()), _size(key, None)
                )
                return Claim.NEW, None
            if entry.fingerprint != print_:
                return Claim.CONFLICT, None
            if entry.response is None:
                return Claim.IN_PROGRESS, None
            return Claim.REPLAY, entry.response

    def finish(self, scope: str, key: str, response: GatewayResponse) -> None:
        """Keep the answer for replays."""
        with self._lock:
            entry = self._entries.get((scope, key))
            if entry is not None:
                entry.response = response
                self._entries.put(scope, (scope, key), entry, _size(key, response))

    def forget(self, scope: str, key: str) -> None:
        """Release a reservation whose request did not complete (so a retry runs again)."""
        with self._lock:
            entry = self._entries.get((scope, key))
            if entry is not None and entry.response is None:
                self._entries.pop((scope, key))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _expire(self) -> None:
        cutoff = self._clock() - KEY_LIFETIME_S
        self._entries.drop_oldest_while(lambda entry: entry.created <= cutoff)
