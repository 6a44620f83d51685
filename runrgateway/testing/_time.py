"""The gateway's clock, and dates read and written the way the Node gateway does.

Expiries and windows are read from the gateway's clock, never from `time` directly,
so that a test can move them.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

Clock = Callable[[], float]
"""Seconds since the epoch, like `time.time`."""

_ISO = re.compile(
    r"^(?P<year>[+-]\d{6}|\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2}))?)?"
    r"(?:[T ](?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d+))?)?)?"
    r"(?P<offset>Z|[+-]\d{2}(?::?\d{2})?)?$",
    re.IGNORECASE,
)


class ManualClock:
    """A clock that only moves when told to; inject it into a gateway to test expiry and windows."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        with self._lock:
            self._now += seconds

    def set(self, now: float) -> None:
        """Jump to an absolute time (seconds since the epoch)."""
        with self._lock:
            self._now = now


def iso_utc_ms(epoch_s: float) -> str:
    """`Date.prototype.toISOString()`: UTC with milliseconds and ``Z``."""
    millis = int(epoch_s * 1000)
    moment = datetime.fromtimestamp(millis // 1000, tz=timezone.utc)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{millis % 1000:03d}Z"


def parse_js_date(value: object) -> float | None:
    """Read a date as `new Date(value)` does; seconds since the epoch, or None when invalid.

    Numbers are milliseconds since the epoch. An ISO 8601 date alone is UTC, a date and
    time without an offset is local time, ``Z`` or ``+hh:mm`` are honoured. RFC 2822
    dates are accepted too.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) / 1000.0
    if not isinstance(value, str):
        return None
    text = value.strip()
    match = _ISO.match(text)
    if match:
        return _from_iso_match(match)
    try:
        return parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def _from_iso_match(match: re.Match[str]) -> float | None:
    parts = match.groupdict()
    fraction = (parts["fraction"] or "0")[:6].ljust(6, "0")
    try:
        moment = datetime(
            int(parts["year"]),
            int(parts["month"] or 1),
            int(parts["day"] or 1),
            int(parts["hour"] or 0),
            int(parts["minute"] or 0),
            int(parts["second"] or 0),
            int(fraction),
        )
    except ValueError:
        return None
    offset = parts["offset"]
    if offset is None:
        if parts["hour"] is None:
            return moment.replace(tzinfo=timezone.utc).timestamp()
        return moment.timestamp()  # local time, as the Node gateway reads it
    if offset.upper() == "Z":
        return moment.replace(tzinfo=timezone.utc).timestamp()
    sign = -1 if offset[0] == "-" else 1
    digits = offset[1:].replace(":", "")
    delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
    return moment.replace(tzinfo=timezone(sign * delta)).timestamp()
