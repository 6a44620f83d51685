"""Retry policy: may an attempt's outcome be retried, and how long to wait. No loop, no I/O."""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timezone
from email.utils import parsedate_to_datetime
from enum import Enum
from typing import Any

import httpx

from ._constants import BACKOFF_BASE_S, BACKOFF_CAP_S
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


def classify_exception(exc: httpx.TransportError) -> Failure:
    """Whether a transport error happened before the request could reach the server."""
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return Failure.NOT_SENT
    if isinstance(exc, httpx.TimeoutException):
        return Failure.TIMED_OUT
    return Failure.DROPPED


def parse_retry_after(headers: Mapping[str, str], body: Any = None) -> float | None:
    """Seconds the server asks to wait: `retry-after-ms`, `Retry-After` or body `retry_after`."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    header = headers.get("retry-after")
    if header is not None:
        try:
            return max(0.0, float(header))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(header)
        except (TypeError, ValueError, IndexError):
            when = None
        if when is not None:
            if when.tzinfo is None:  # "-0000" or no zone: HTTP dates are in GMT
                when = when.replace(tzinfo=timezone.utc)
            return max(0.0, (when - utc_now()).total_seconds())
    if isinstance(body, Mapping):
        value = body.get("retry_after")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return max(0.0, float(value))
    return None


def breaker_wait_s(body: Any) -> float | None:
    """Seconds an open circuit breaker asks for: ``Circuit breaker is OPEN for N ms`` in
    an error body's `details` (the real gateway names no other wait on its 502s)."""
    details = body.get("details") if isinstance(body, Mapping) else None
    match = _BREAKER_OPEN.search(details) if isinstance(details, str) else None
    return float(match.group(1)) / 1000.0 if match else None


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
