"""Retry policy: may an attempt's outcome be retried, and how long to wait. No loop, no I/O."""

from __future__ import annotations

import random
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
    """Whether to retry after this outcome, and how long to wait first."""
    if status_code is not None:
        if status_code in ALWAYS_RETRIED_STATUSES:
            if retry_after is not None and retry_after > max_retry_after_s:
                return Decision(retry=False)  # longer than we accept: report it now
            retryable = True
        else:
            retryable = idempotent and status_code in IDEMPOTENT_RETRIED_STATUSES
    else:
        retryable = failure is Failure.NOT_SENT or idempotent
    if not retryable or retries_done >= max_retries:
        return Decision(retry=False)
    wait = retry_after if retry_after is not None else backoff_s(retries_done + 1)
    return Decision(retry=True, wait_s=wait)
