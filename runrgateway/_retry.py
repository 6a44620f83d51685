"""Retry policy: may an attempt's outcome be retried, and how long to wait. No loop, no I/O.

`decide()` answers both for one outcome; `RetryRules` asks the same questions as the
rules of the client's tenacity loop, one per rule, over `Outcome` records. The loop
itself (which awaits) is each twin's `_send`; this module never sleeps, sends, or
imports tenacity at run time.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timezone
from email.utils import parsedate_to_datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

import httpx2

from ._constants import BACKOFF_BASE_S, BACKOFF_CAP_S, LONGEST_WAIT_S
from ._tokens import utc_now

if TYPE_CHECKING:
    from tenacity import RetryCallState


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


def retryable(
    *,
    idempotent: bool,
    status_code: int | None = None,
    failure: Failure | None = None,
    retry_after: float | None = None,
    max_retry_after_s: float,
) -> bool:
    """Whether this outcome may be retried at all, budget aside.

    A wait the server asks for (`retry_after`) that is longer than `max_retry_after_s`
    is never waited, whatever the status: the error is raised at once.
    """
    if retry_after is not None and retry_after > max_retry_after_s:
        return False
    if status_code is not None:
        if status_code in ALWAYS_RETRIED_STATUSES:
            return True
        return idempotent and status_code in IDEMPOTENT_RETRIED_STATUSES
    return failure is Failure.NOT_SENT or idempotent


def retry_wait_s(retry_number: int, retry_after: float | None, max_retry_after_s: float) -> float:
    """How long to wait before retry `retry_number` (1-based): what the server asked, else
    full-jitter backoff, never longer than `max_retry_after_s`."""
    if retry_after is not None:
        return retry_after
    return min(backoff_s(retry_number), max_retry_after_s)


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

    The three questions of `RetryRules` in one answer: `retryable`, the budget
    (`max_retries`), and `retry_wait_s`.
    """
    may_retry = retryable(
        idempotent=idempotent,
        status_code=status_code,
        failure=failure,
        retry_after=retry_after,
        max_retry_after_s=max_retry_after_s,
    )
    if not may_retry or retries_done >= max_retries:
        return Decision(retry=False)
    return Decision(
        retry=True, wait_s=retry_wait_s(retries_done + 1, retry_after, max_retry_after_s)
    )


@dataclass(frozen=True)
class Outcome:
    """One attempt of a call as the retry loop sees it: the answer to hand back, or the
    error the caller gets should no retry follow; and what `RetryRules` judge it by.

    An attempt whose error must never be retried (a redirect, `close()`, a full pool)
    raises instead of returning an Outcome; the loop hands such an error on as it is.
    """

    attempt: int  # 1-based
    response: httpx2.Response | None = None  # the success
    error: Exception | None = None  # the failure, as the caller would see it
    retryable: bool = False  # see `retryable()`
    retry_after: float | None = None  # the wait the server asked for, if any
    # For the loop's events and a deadline's error: what the attempt saw.
    status_code: int | None = None
    failure: Failure | None = None
    server_correlation_id: str | None = None

    def result(self) -> httpx2.Response:
        """The success, or the failure raised."""
        if self.error is not None:
            raise self.error from None
        assert self.response is not None
        return self.response


class RetryRules:
    """tenacity's retry, stop and wait rules for one client: `decide()` as three rules.

    Each takes tenacity's `RetryCallState`, whose outcome is the attempt's `Outcome`:

    - `retry`: may this outcome be retried at all (`retryable`); an attempt that raised
      is never retried, its error goes to the caller as it is;
    - `stop`: the budget is spent (`max_retries` retries done); the loop then hands back
      the last outcome (`last_outcome`, tenacity's `retry_error_callback`);
    - `wait`: how long before the next attempt (`retry_wait_s`).

    Another stop rule (the call's deadline, `AttemptJudge._stop`) is or-ed with `stop`;
    hooks (`before_sleep`, `after`) see the same `Outcome`. No tenacity import here: the
    rules are plain callables, and tenacity is loaded only when a client first sends.
    """

    __slots__ = ("max_retries", "max_retry_after_s")

    def __init__(self, max_retries: int, max_retry_after_s: float) -> None:
        self.max_retries = max_retries
        self.max_retry_after_s = max_retry_after_s

    def retry(self, state: RetryCallState) -> bool:
        outcome = state.outcome
        return outcome is not None and not outcome.failed and outcome.result().retryable

    def stop(self, state: RetryCallState) -> bool:
        return state.attempt_number > self.max_retries

    def wait(self, state: RetryCallState) -> float:
        return retry_wait_s(
            state.attempt_number, last_outcome(state).retry_after, self.max_retry_after_s
        )


def last_outcome(state: RetryCallState) -> Outcome:
    """The last attempt's `Outcome` (what a stopped loop hands back)."""
    assert state.outcome is not None
    outcome: Outcome = state.outcome.result()
    return outcome


class CallHistory:
    """What earlier attempts of one call saw (the same object on every attempt)."""

    __slots__ = ("attempts", "timed_out")

    def __init__(self) -> None:
        self.attempts = 0  # attempts started so far
        self.timed_out = False  # an attempt timed out: the gateway may still be running it

    def next_attempt(self) -> int:
        """Count an attempt starting; its number (1-based)."""
        self.attempts += 1
        return self.attempts
