"""Retry policy: may an attempt's outcome be retried, and how long to wait. No loop, no I/O."""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timezone
from email.utils import parsedate_to_datetime
from enum import Enum
from typing import Any

import httpx2

from ._constants import BACKOFF_BASE_S, BACKOFF_CAP_S, LONGEST_WAIT_S
from ._tokens import utc_now


class Failure(Enum):
    """How an attempt failed without a usable answer."""

    NOT_SENT = "not_sent"  # connect error or connect timeout: the server never saw it
    TIMED_OUT = "timed_out"  # read/write timeout: the server may have acted
    DROPPED = "dropped"  # connection lost after sending: the server may have acted


# The real gateway's open circuit breaker, in a 502's `details` (wire.md, "Circuit breaker").
_BREAKER_OPEN = re.compile(r"Circuit breaker is OPEN for (\d+(?:\.\d+)?)\s*ms", re.IGNORECASE)

ALWAYS_RETRIED_STATUSES = frozenset({429, 503})
# 409: the same idempotency key is still running on the gateway; wait for it.
IDEMPOTENT_RETRIED_STATUSES = frozenset({408, 409, 500, 502, 504})


@dataclass(frozen=True)
class Decision:
    retry: bool
    wait_s: float = 0.0


def classify_exception(exc: httpx2.TransportError) -> Failure:
    """Whether a transport error happened before the request could reach the server."""
    if isinstance(exc, (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout)):
        return Failure.NOT_SENT
    if isinstance(exc, httpx2.TimeoutException):
        return Failure.TIMED_OUT
    return Failure.DROPPED


def bounded_wait(value: Any, unit_s: float = 1.0) -> float | None:
    """A wait a server asked for (`value` in units of `unit_s` seconds: a number or its
    text) as finite seconds in [0, LONGEST_WAIT_S]; None when it is not a number (NaN,
    other text, bool). The one place a wait read off the wire becomes a float."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())  # "1e400" is inf, capped below
        except ValueError:
            return None
    longest = LONGEST_WAIT_S / unit_s
    if isinstance(value, int):  # a 400-digit int overflows float(): compare it first
        return float(min(max(value, 0), int(longest))) * unit_s
    if not isinstance(value, float) or math.isnan(value):
        return None
    return min(max(value, 0.0), longest) * unit_s


def _seconds_until(http_date: str) -> float | None:
    """Seconds from now until an HTTP date; None when it is not one."""
    try:
        when = parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:  # Python 3.10 returns None for some unparsable text
        return None
    if when.tzinfo is None:  # "-0000" or no zone: HTTP dates are in GMT
        when = when.replace(tzinfo=timezone.utc)
    try:
        return (when - utc_now()).total_seconds()
    except OverflowError:  # pragma: no cover - datetime bounds make this unreachable
        return LONGEST_WAIT_S


def parse_retry_after(headers: Mapping[str, str], body: Any = None) -> float | None:
    """Seconds the server asks to wait: `retry-after-ms`, `Retry-After` (seconds or an HTTP
    date) or body `retry_after`; always finite and within [0, LONGEST_WAIT_S]."""
    millis = bounded_wait(headers.get("retry-after-ms"), unit_s=0.001)
    if millis is not None:
        return millis
    header = headers.get("retry-after")
    if header is not None:
        seconds = bounded_wait(header)
        if seconds is None:
            seconds = bounded_wait(_seconds_until(header))
        if seconds is not None:
            return seconds
    if isinstance(body, Mapping):
        return bounded_wait(body.get("retry_after"))
    return None


def breaker_wait_s(body: Any) -> float | None:
    """Seconds an open circuit breaker asks for: ``Circuit breaker is OPEN for N ms`` in
    an error body's `details` (the real gateway names no other wait on its 502s)."""
    details = body.get("details") if isinstance(body, Mapping) else None
    match = _BREAKER_OPEN.search(details) if isinstance(details, str) else None
    return bounded_wait(match.group(1), unit_s=0.001) if match else None


def server_wait_s(status_code: int, headers: Mapping[str, str], body: Any) -> float | None:
    """Every wait an answer asks for: `parse_retry_after`, or an open breaker's on a 502."""
    asked = parse_retry_after(headers, body)
    if asked is None and status_code == 502:
        asked = breaker_wait_s(body)
    return asked


def backoff_s(retry_number: int, rng: random.Random | None = None) -> float:
    """Full-jitter exponential backoff before retry `retry_number` (1-based)."""
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * (2 ** (retry_number - 1)))
    return (rng or random).uniform(0.0, ceiling)


def decide(
    *,
    retries_done: int,
    max_retries: int,
    idempotent: bool,
    status_code: int | None = None,
    failure: Failure | None = None,
    retry_after: float | None = None,
    max_retry_after_s: float,
) -> Decision:
    """Whether to retry after this outcome, and how long to wait first.

    A wait the server asks for (`retry_after`) that is longer than `max_retry_after_s`
    is never waited, whatever the status: the error is raised at once.
    """
    if retry_after is not None and retry_after > max_retry_after_s:
        return Decision(retry=False)
    if status_code is not None:
        if status_code in ALWAYS_RETRIED_STATUSES:
            retryable = True
        else:
            retryable = idempotent and status_code in IDEMPOTENT_RETRIED_STATUSES
    else:
        retryable = failure is Failure.NOT_SENT or idempotent
    if not retryable or retries_done >= max_retries:
        return Decision(retry=False)
    if retry_after is not None:
        return Decision(retry=True, wait_s=retry_after)
    return Decision(retry=True, wait_s=min(backoff_s(retries_done + 1), max_retry_after_s))


class CallHistory:
    """What earlier attempts of one call saw (the same object on every retry)."""

    __slots__ = ("timed_out",)

    def __init__(self) -> None:
        self.timed_out = False  # an attempt timed out: the gateway may still be running it
