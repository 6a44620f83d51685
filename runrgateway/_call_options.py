"""Per-call options (`with_options`) and the deadline they set on one call.

`CallOptions` is the frozen record of the settings a client and its `with_options`
copies may differ in: the per-attempt timeout, the retry budget, the longest wait a
server may ask for, and the deadline over a whole call. Each value is checked by the
same functions as the constructor's, so a copy can never hold a setting the
constructor would refuse.

`Deadline` is `deadline_s` applied to one call: the time left, whether a wait still
fits, the per-attempt timeout clipped to what is left, and the error raised when it
runs out. The deadline of the call in progress sits in a context variable, so that a
managed-token mint made for that call (a call of its own, deeper in the stack) counts
against the same deadline, in asyncio tasks and threads alike.

No I/O here; the only clock is `time.monotonic` (a deadline must not move when the
wall clock is set).
"""

from __future__ import annotations

import threading
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import FrozenInstanceError
from typing import TYPE_CHECKING, Any, Final

from ._config import check_retry_settings, check_timeout_ms
from ._constants import LONGEST_WAIT_S
from ._errors import GatewayConfigError, GatewayTimeoutError
from ._validation import check_number

if TYPE_CHECKING:
    from contextvars import ContextVar, Token


class NotGiven:
    """The type of `NOT_GIVEN`: a `with_options` argument left out (None means "no
    deadline" for `deadline_s`, so None cannot also mean "keep the client's")."""

    _instance: NotGiven | None = None

    def __new__(cls) -> NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> bool:
        return False


NOT_GIVEN: Final = NotGiven()


def check_deadline_s(deadline_s: Any) -> float | None:
    """None (no deadline) or a positive, finite number of seconds."""
    if deadline_s is None:
        return None
    return check_number(
        deadline_s, "deadline_s", error=GatewayConfigError,
        maximum=LONGEST_WAIT_S, unit=" (seconds) or None",
    )  # fmt: skip


class CallOptions:
    """The settings `with_options` may change, as the client uses them (checked); frozen.

    Written out rather than a dataclass: the class is built when the SDK is imported, and
    a generated dataclass costs a measurable share of the cold start.
    """

    __slots__ = ("deadline_s", "max_retries", "max_retry_after_s", "timeout_ms")

    timeout_ms: float
    max_retries: int
    max_retry_after_s: float
    deadline_s: float | None

    def __init__(
        self,
        timeout_ms: float,
        max_retries: int,
        max_retry_after_s: float,
        deadline_s: float | None,
    ) -> None:
        set_field = object.__setattr__
        set_field(self, "timeout_ms", timeout_ms)
        set_field(self, "max_retries", max_retries)
        set_field(self, "max_retry_after_s", max_retry_after_s)
        set_field(self, "deadline_s", deadline_s)

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}: CallOptions is frozen")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}: CallOptions is frozen")

    def _fields(self) -> tuple[float, int, float, float | None]:
        return (self.timeout_ms, self.max_retries, self.max_retry_after_s, self.deadline_s)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CallOptions):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return (
            f"CallOptions(timeout_ms={self.timeout_ms!r}, max_retries={self.max_retries!r}, "
            f"max_retry_after_s={self.max_retry_after_s!r}, deadline_s={self.deadline_s!r})"
        )

    @classmethod
    def checked(
        cls, *, timeout_ms: Any, max_retries: Any, max_retry_after_s: Any, deadline_s: Any
    ) -> CallOptions:
        """The options from a caller's values; `GatewayConfigError` names a wrong one."""
        check_timeout_ms(timeout_ms)
        retry_after = check_retry_settings(max_retries, max_retry_after_s)
        return cls(float(timeout_ms), max_retries, retry_after, check_deadline_s(deadline_s))

    @property
    def timeout_s(self) -> float:
        """The per-attempt timeout, in seconds."""
        return self.timeout_ms / 1000.0

    def changed(
        self,
        *,
        timeout_ms: Any = NOT_GIVEN,
        max_retries: Any = NOT_GIVEN,
        max_retry_after_s: Any = NOT_GIVEN,
        deadline_s: Any = NOT_GIVEN,
    ) -> CallOptions:
        """These options with the given values replaced (checked); the same object when
        nothing changes."""
        timeout, retries, longest, deadline = self._fields()
        if not isinstance(timeout_ms, NotGiven):
            check_timeout_ms(timeout_ms)
            timeout = float(timeout_ms)
        if not isinstance(max_retries, NotGiven) or not isinstance(max_retry_after_s, NotGiven):
            if not isinstance(max_retries, NotGiven):
                retries = max_retries
            longest = check_retry_settings(
                retries, longest if isinstance(max_retry_after_s, NotGiven) else max_retry_after_s
            )
        if not isinstance(deadline_s, NotGiven):
            deadline = check_deadline_s(deadline_s)
        changed = CallOptions(timeout, retries, longest, deadline)
        return self if changed == self else changed


class Deadline:
    """The end of one call's time: `seconds` from when it was made, on the monotonic clock."""

    __slots__ = ("_ends", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._ends = time.monotonic() + seconds

    def __repr__(self) -> str:
        return f"Deadline(seconds={self.seconds:g}, left_s={self.left_s():.3f})"

    def left_s(self) -> float:
        """Seconds left (negative once past)."""
        return self._ends - time.monotonic()

    def allows_wait(self, wait_s: float) -> bool:
        """Whether a wait of `wait_s` would end before the deadline (else it is not started)."""
        return time.monotonic() + wait_s < self._ends

    def earlier(self, other: Deadline | None) -> Deadline:
        """The one of the two that ends first."""
        return self if other is None or self._ends <= other._ends else other

    def ran_out(
        self,
        attempts: int,
        *,
        what: str,
        why: str,
        correlation_id: str | None,
        server_correlation_id: str | None = None,
        status_code: int | None = None,
    ) -> GatewayTimeoutError:
        """The error of a call its deadline stopped: says so, with the attempts made.

        `why` says what stopped it (the next wait would cross the deadline, or the
        last attempt was cut short); `status_code` is the last answer's, when there was
        one (kept in `details`: the error itself is about time, not that answer).
        """
        details: dict[str, Any] = {"deadline_s": self.seconds, "attempts": attempts}
        if status_code is not None:
            details["last_status_code"] = status_code
        plural = "" if attempts == 1 else "s"
        spent = (
            f"before the first attempt of {what}"
            if attempts == 0
            else f"after {attempts} attempt{plural} of {what}"
        )
        return GatewayTimeoutError(
            f"the deadline of {self.seconds:g} s (deadline_s) ran out {spent}: {why}",
            correlation_id=correlation_id,
            server_correlation_id=server_correlation_id,
            details=details,
            attempts=attempts,
        )


# The deadline of the call in progress in this task or thread, if it has one. Made at
# the first call with a deadline: importing `contextvars` costs about 0.7 M instructions,
# a tenth of a typical module, and most programs never set a deadline. Made under a
# lock so that two threads cannot each make one (a deadline set on the one that lost
# would be invisible to the calls).
_CURRENT: ContextVar[Deadline | None] | None = None
_CURRENT_MADE = threading.Lock()


def _current_var() -> ContextVar[Deadline | None]:
    global _CURRENT
    with _CURRENT_MADE:
        if _CURRENT is None:
            from contextvars import ContextVar

            _CURRENT = ContextVar("runrgateway_deadline", default=None)
        return _CURRENT


def current_deadline() -> Deadline | None:
    """The deadline of the call this code runs inside, or None."""
    current = _CURRENT
    return None if current is None else current.get()


class _Scope:
    """The context of one call with a deadline: sets the deadline while the call runs."""

    __slots__ = ("_deadline", "_token", "_var")

    def __init__(self, var: ContextVar[Deadline | None], deadline: Deadline) -> None:
        self._var = var
        self._deadline = deadline
        self._token: Token[Deadline | None] | None = None

    def __enter__(self) -> Deadline:
        self._token = self._var.set(self._deadline)
        return self._deadline

    def __exit__(self, *exc_info: object) -> None:
        assert self._token is not None
        self._var.reset(self._token)


def deadline_scope(deadline_s: float | None) -> AbstractContextManager[Deadline | None]:
    """Run one call under `deadline_s` (None: only an enclosing call's deadline, if any).

    Nested calls (the token mint inside a proxy call) keep the enclosing deadline when it
    ends first: a mint can never get more time than the call it serves.
    """
    outer = current_deadline()
    if deadline_s is None:
        return nullcontext(outer)  # nothing to set: the common case costs no context switch
    deadline = Deadline(deadline_s).earlier(outer)
    if deadline is outer:
        return nullcontext(outer)
    return _Scope(_CURRENT or _current_var(), deadline)
