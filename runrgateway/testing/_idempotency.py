"""Idempotency keys: replay a finished answer, refuse a conflicting or concurrent reuse."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from enum import Enum

from ._messages import GatewayResponse
from ._time import Clock

KEY_LIFETIME_S = 24 * 3600.0
MAX_KEYS = 10_000


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


class IdempotencyStore:
    """Keys kept for 24 hours (and at most `max_keys`), per scope (the agent)."""

    def __init__(self, clock: Clock, max_keys: int = MAX_KEYS) -> None:
        self._clock = clock
        self._max_keys = max_keys
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def claim(self, scope: str, key: str, print_: str) -> tuple[Claim, GatewayResponse | None]:
        """Look the key up; a NEW claim reserves it until `finish` or `forget`."""
        with self._lock:
            self._expire()
            entry = self._entries.get((scope, key))
            if entry is None:
                self._entries[(scope, key)] = _Entry(print_, self._clock())
                while len(self._entries) > self._max_keys:
                    self._entries.popitem(last=False)
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

    def forget(self, scope: str, key: str) -> None:
        """Release a reservation whose request did not complete (so a retry runs again)."""
        with self._lock:
            entry = self._entries.get((scope, key))
            if entry is not None and entry.response is None:
                del self._entries[(scope, key)]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _expire(self) -> None:
        cutoff = self._clock() - KEY_LIFETIME_S
        while self._entries:
            oldest_key, oldest = next(iter(self._entries.items()))
            if oldest.created > cutoff:
                break
            del self._entries[oldest_key]
