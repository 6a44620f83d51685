"""`AttemptJudge`: how each attempt of a call is judged, and the retry loop's rules.

Both clients run every attempt of a call through one tenacity loop (each twin's
`_send`); what an attempt's result means is decided here, once, without I/O:

- `_failed` and `_answered` turn an attempt's exception or answer into an `Outcome`
  (`_retry.py`), or raise the error no retry may follow (`close()`, a redirect, a full
  pool, the deadline);
- the loop's rules: `RetryRules` (retry, budget, wait) plus the call's deadline as a
  second stop rule (`_stop`), the error a stopped loop hands back (`_stopped`)
  and the event before each wait (`_before_wait`);
- what answers teach the client: a rotation hint, a gateway that keeps idempotency keys.

This module never sends, sleeps or imports tenacity; `ClientBase` inherits it.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import TYPE_CHECKING

import httpx2

from ._answers import json_object_or_none
from ._call_options import CallOptions, Deadline, current_deadline
from ._concurrency import AsyncClosing, Closing
from ._config import Endpoint
from ._constants import (
    HEADER_CORRELATION_ID,
    HEADER_IDEMPOTENCY_KEY,
    HEADER_TOKEN_EXPIRES_AT,
    LOGGER_NAME,
)
from ._errors import GatewayTimeoutError
from ._masking import describe_attempt
from ._pools import AsyncPools, Pools
from ._requests import PreparedCall
from ._responses import (
    answer_error,
    network_error,
    rotation_recommended,
    still_running,
    still_running_timeout,
    unreadable_answer,
)
from ._retry import (
    CallHistory,
    Failure,
    Outcome,
    RetryRules,
    classify_exception,
    last_outcome,
    retryable,
    server_wait_s,
)
from ._token_cache import TokenCache
from ._tokens import Credential, parse_timestamp
from ._tracing import note_deadline, note_wait
from ._transport import closed_error, pool_full_error, redirect_error, unusable_client_error

if TYPE_CHECKING:
    from tenacity import RetryCallState

logger = logging.getLogger(LOGGER_NAME)

# A timeout that fires this close to the deadline was the deadline's (timers may fire a
# hair early): the attempt was cut short, not slow on its own.
_DEADLINE_SLACK_S = 0.005


class _Learned:
    """What answers taught a client, shared with its `with_options` copies."""

    __slots__ = ("keeps_keys",)

    def __init__(self) -> None:
        self.keeps_keys = False


class AttemptJudge:
    """The judgement of attempts, for `ClientBase`; reads the state `ClientBase` sets."""

    _tokens: TokenCache
    _closing: AsyncClosing | Closing
    _pools: AsyncPools | Pools
    _limits: httpx2.Limits | None
    _pool_timeout_s: float
    _options: CallOptions
    _timeout: httpx2.Timeout
    _max_retry_after_s: float
    _rules: RetryRules
    _learned: _Learned
    _endpoint: Endpoint

    @property
    def _gateway_keeps_keys(self) -> bool:
        # Set once an answer echoes the Idempotency-Key we sent (wire.md Part B): this
        # gateway keeps keys, so a keyed side effect may be retried. The real gateway
        # ignores the header; there a key alone never makes a retry safe. Shared with
        # the with_options copies.
        return self._learned.keeps_keys

    @_gateway_keeps_keys.setter
    def _gateway_keeps_keys(self, value: bool) -> None:
        self._learned.keeps_keys = value

    # The deadline (deadline_s): the call's, set by the twin's public method

    def _attempt_timeout(self, call: PreparedCall, attempt: int) -> httpx2.Timeout:
        """Attempt `attempt`'s timeout: `timeout_ms`, clipped to what the deadline leaves."""
        deadline = current_deadline()
        if deadline is None:
            return self._timeout
        left = deadline.left_s()
        if left <= 0:
            raise self._deadline_stop(
                deadline, call, attempt - 1, "no time was left for another attempt"
            )
        timeout_s = self._options.timeout_s
        if left >= timeout_s and left >= self._pool_timeout_s:
            return self._timeout
        return httpx2.Timeout(min(timeout_s, left), pool=min(self._pool_timeout_s, left))

    def _stop(self, state: RetryCallState) -> bool:
        """The loop's stop rule: the retries are spent (`RetryRules.stop`), or the wait
        before the next attempt would end past the call's deadline (never started)."""
        if self._rules.stop(state):
            return True
        deadline = current_deadline()
        return deadline is not None and not deadline.allows_wait(state.upcoming_sleep)

    def _stopped(self, state: RetryCallState) -> Outcome:
        """What a stopped loop hands back: the last outcome when the retries are spent,
        else (the deadline stopped it) the deadline's error."""
        outcome = last_outcome(state)
        deadline = current_deadline()
        if self._rules.stop(state) or deadline is None:
            return outcome
        call: PreparedCall = state.args[0]
        wait_s = state.upcoming_sleep
        asked = "asked by the gateway" if outcome.retry_after is not None else "of backoff"
        last = "" if outcome.status_code is None else f"; the last answer was {outcome.status_code}"
        error = self._deadline_stop(
            deadline, call, outcome.attempt,
            f"the wait before the next attempt ({wait_s:g} s, {asked}) would end past it{last}",
            status_code=outcome.status_code,
            server_correlation_id=outcome.server_correlation_id, wait_s=wait_s,
        )  # fmt: skip
        return dataclasses.replace(outcome, error=error, retryable=False)

    def _before_wait(self, state: RetryCallState) -> None:
        """The event of a wait before a retry (tracing), once the loop decided to wait."""
        outcome = last_outcome(state)
        note_wait(
            attempt=outcome.attempt,
            wait_s=state.upcoming_sleep,
            server_asked=outcome.retry_after is not None,
            status_code=outcome.status_code,
            failure=None if outcome.failure is None else outcome.failure.value,
        )

    def _deadline_stop(
        self,
        deadline: Deadline,
        call: PreparedCall,
        attempts: int,
        why: str,
        *,
        status_code: int | None = None,
        server_correlation_id: str | None = None,
        wait_s: float | None = None,
    ) -> GatewayTimeoutError:
        note_deadline(deadline_s=deadline.seconds, attempts=attempts, wait_s=wait_s)
        return deadline.ran_out(
            attempts,
            what=call.label or f"{call.method} {call.path}",
            why=why,
            correlation_id=call.correlation_id,
            server_correlation_id=server_correlation_id,
            status_code=status_code,
        )

    # Judging an attempt

    def _failed(
        self,
        exc: Exception,
        call: PreparedCall,
        attempt: int,
        history: CallHistory,
        started: float,
    ) -> Outcome:
        """An attempt that raised: its `Outcome`, or the error no retry may follow, raised."""
        if self._closing.is_set():  # close() cut this attempt short
            raise closed_error(
                type(self).__name__, call.correlation_id, attempt, in_flight=True
            ) from None
        if isinstance(exc, httpx2.TimeoutException):
            deadline = current_deadline()
            if deadline is not None and deadline.left_s() <= _DEADLINE_SLACK_S:
                self._log(call, attempt, exc, started)
                raise self._deadline_stop(
                    deadline, call, attempt,
                    "the last attempt was cut short at the deadline (its timeout is clipped "
                    "to the time left)",
                ) from None  # fmt: skip
        if isinstance(exc, httpx2.PoolTimeout):  # our own load: waiting again won't help
            raise pool_full_error(
                self._limits, self._pool_timeout_s, call.correlation_id, attempt
            ) from None
        if isinstance(exc, RuntimeError) and not self._pools.owned:
            raise unusable_client_error(exc, call.correlation_id, attempt) from None
        if not isinstance(exc, httpx2.TransportError):
            if isinstance(exc, httpx2.RequestError):  # an answer came, but unreadable
                self._log(call, attempt, exc, started)
                raise unreadable_answer(exc, call, attempt) from None
            raise exc
        failure = classify_exception(exc)
        if failure is Failure.TIMED_OUT:
            history.timed_out = True
        self._log(call, attempt, exc, started)
        return Outcome(
            attempt,
            error=network_error(exc, failure, call, attempt),
            retryable=retryable(
                idempotent=self._retry_safe(call),
                failure=failure,
                max_retry_after_s=self._max_retry_after_s,
            ),
            failure=failure,
        )

    def _answered(
        self,
        response: httpx2.Response,
        call: PreparedCall,
        attempt: int,
        history: CallHistory,
        started: float,
    ) -> Outcome:
        """An attempt that got an answer: its `Outcome`, or the error no retry may follow."""
        self._log(call, attempt, response, started)
        if self._closing.is_set():  # answered after close(): the call was cut short
            raise closed_error(type(self).__name__, call.correlation_id, attempt, in_flight=True)
        if 300 <= response.status_code < 400:
            raise redirect_error(response, call.url, call.correlation_id, attempt)
        if call.credential is not None:
            self._observe_rotation(response, call.credential)
        self._observe_key_echo(response, call)
        if response.is_success:
            return Outcome(attempt, response=response)
        retry_after = server_wait_s(
            response.status_code, response.headers, json_object_or_none(response.content)
        )
        error = answer_error(response, call, attempt, retry_after, self._endpoint.base_url)
        if history.timed_out and still_running(error):
            error = still_running_timeout(error, call, attempt)
        return Outcome(
            attempt,
            error=error,
            retryable=retryable(
                idempotent=self._retry_safe(call),
                status_code=response.status_code,
                retry_after=retry_after,
                max_retry_after_s=self._max_retry_after_s,
            ),
            retry_after=retry_after,
            status_code=response.status_code,
            server_correlation_id=response.headers.get(HEADER_CORRELATION_ID),
        )

    def _retry_safe(self, call: PreparedCall) -> bool:
        """Idempotent by nature, or keyed by the caller and sent to a gateway that keeps keys."""
        return call.idempotent or (call.keyed and self._gateway_keeps_keys)

    def _observe_key_echo(self, response: httpx2.Response, call: PreparedCall) -> None:
        sent = call.headers.get(HEADER_IDEMPOTENCY_KEY)
        if sent is not None and response.headers.get(HEADER_IDEMPOTENCY_KEY) == sent:
            self._gateway_keeps_keys = True

    def _observe_rotation(self, response: httpx2.Response, credential: Credential) -> None:
        if not rotation_recommended(response):
            return
        if credential.managed:  # never stale at birth: see the token cache's refresh rule
            expires_at = parse_timestamp(response.headers.get(HEADER_TOKEN_EXPIRES_AT))
            self._tokens.follow_rotation_hint(credential.agent_token, expires_at)
        else:
            logger.warning(
                "gateway recommends rotating the agent token (expires at %s); mint a new one "
                "with get_token()",
                response.headers.get(HEADER_TOKEN_EXPIRES_AT, "unknown"),
            )

    def _log(
        self, call: PreparedCall, attempt: int, outcome: httpx2.Response | Exception, started: float
    ) -> None:
        if not logger.isEnabledFor(logging.DEBUG):
            return
        status = (
            outcome.status_code if isinstance(outcome, httpx2.Response) else type(outcome).__name__
        )
        logger.debug(
            describe_attempt(
                method=call.method,
                path=call.path,
                call=call.label,
                correlation_id=call.correlation_id,
                attempt=attempt,
                status=status,
                elapsed_ms=(time.perf_counter() - started) * 1000,
                params=call.log_params,
            )
        )
