import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx2
import pytest

import runrgateway._retry as retry_policy
from runrgateway._constants import BACKOFF_BASE_S, BACKOFF_CAP_S
from runrgateway._retry import (
    Failure,
    Outcome,
    RetryRules,
    backoff_s,
    classify_exception,
    decide,
    last_outcome,
    parse_retry_after,
    retryable,
)


def test_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({}, {"retry_after": 52}) == 52.0
    assert parse_retry_after({}, {"retry_after": True}) is None
    assert parse_retry_after({"retry-after": "soon"}) is None
    later = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    assert 28 <= (parse_retry_after({"retry-after": later}) or 0) <= 30
    past = format_datetime(datetime.now(timezone.utc) - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after({"retry-after": past}) == 0.0
    no_zone = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30)).replace(
        "+0000", "-0000"
    )
    assert 28 <= (parse_retry_after({"retry-after": no_zone}) or 0) <= 30


def test_full_jitter_backoff_grows_and_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry_policy, "BACKOFF_BASE_S", BACKOFF_BASE_S)  # undo fast_backoff
    monkeypatch.setattr(retry_policy, "BACKOFF_CAP_S", BACKOFF_CAP_S)
    rng = random.Random(7)
    for retry in range(1, 10):
        ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (retry - 1))
        samples = [backoff_s(retry, rng) for _ in range(200)]
        assert all(0 <= s <= ceiling for s in samples)
        assert max(samples) > ceiling * 0.8  # full jitter spans the range


@pytest.mark.parametrize(
    "exc, failure",
    [
        (httpx2.ConnectError("x"), Failure.NOT_SENT),
        (httpx2.ConnectTimeout("x"), Failure.NOT_SENT),
        (httpx2.PoolTimeout("x"), Failure.NOT_SENT),
        (httpx2.ReadTimeout("x"), Failure.TIMED_OUT),
        (httpx2.WriteTimeout("x"), Failure.TIMED_OUT),
        (httpx2.RemoteProtocolError("x"), Failure.DROPPED),
        (httpx2.ReadError("x"), Failure.DROPPED),
    ],
)
def test_exception_classes(exc: httpx2.TransportError, failure: Failure) -> None:
    assert classify_exception(exc) is failure


@pytest.mark.parametrize(
    "status, idempotent, retried",
    [
        (429, False, True), (503, False, True), (500, False, False), (500, True, True),
        (409, True, True), (409, False, False),
        (502, True, True), (504, True, True), (408, True, True), (408, False, False),
        (400, True, False), (403, True, False), (404, True, False), (501, True, False),
    ],
)  # fmt: skip
def test_status_decisions(status: int, idempotent: bool, retried: bool) -> None:
    decision = decide(
        retries_done=0,
        max_retries=3,
        idempotent=idempotent,
        status_code=status,
        max_retry_after_s=20,
    )
    assert decision.retry is retried


def test_server_wait_is_used_and_capped() -> None:
    ok = decide(
        retries_done=0,
        max_retries=3,
        idempotent=False,
        status_code=429,
        retry_after=2,
        max_retry_after_s=20,
    )
    assert ok.retry and ok.wait_s == 2
    too_long = decide(
        retries_done=0,
        max_retries=3,
        idempotent=False,
        status_code=429,
        retry_after=21,
        max_retry_after_s=20,
    )
    assert not too_long.retry
    spent = decide(
        retries_done=3, max_retries=3, idempotent=True, status_code=503, max_retry_after_s=20
    )
    assert not spent.retry


def test_failure_decisions() -> None:
    def retried(failure: Failure, idempotent: bool) -> bool:
        return decide(
            retries_done=0,
            max_retries=1,
            idempotent=idempotent,
            failure=failure,
            max_retry_after_s=20,
        ).retry

    assert retried(Failure.NOT_SENT, False)
    assert not retried(Failure.TIMED_OUT, False) and retried(Failure.TIMED_OUT, True)
    assert not retried(Failure.DROPPED, False) and retried(Failure.DROPPED, True)


@pytest.mark.parametrize("max_retries", [0, 1, 3])
@pytest.mark.parametrize(
    "status, idempotent, retry_after",
    [(503, False, None), (429, False, 2.0), (429, False, 21.0), (500, False, None),
     (500, True, None), (404, True, None)],
)  # fmt: skip
def test_tenacity_rules_make_the_decisions_decide_makes(
    max_retries: int, status: int, idempotent: bool, retry_after: float | None
) -> None:
    """A tenacity loop over RetryRules attempts, waits and stops exactly where decide() says."""
    from tenacity import Retrying

    rules = RetryRules(max_retries, max_retry_after_s=20.0)
    waits: list[float] = []
    attempts: list[int] = []

    def attempt() -> Outcome:  # every attempt fails the same way
        attempts.append(len(attempts) + 1)
        return Outcome(
            attempts[-1],
            error=RuntimeError(f"attempt {attempts[-1]}"),
            retryable=retryable(
                idempotent=idempotent, status_code=status, retry_after=retry_after,
                max_retry_after_s=20.0,
            ),
            retry_after=retry_after,
        )  # fmt: skip

    loop = Retrying(
        retry=rules.retry, stop=rules.stop, wait=rules.wait, sleep=waits.append,
        retry_error_callback=last_outcome,
    )  # fmt: skip
    final = loop(attempt)

    expected = 1
    while decide(
        retries_done=expected - 1, max_retries=max_retries, idempotent=idempotent,
        status_code=status, retry_after=retry_after, max_retry_after_s=20.0,
    ).retry:  # fmt: skip
        expected += 1
    assert final.attempt == len(attempts) == expected
    assert len(waits) == expected - 1
    if retry_after is not None:
        assert all(wait == retry_after for wait in waits)
    with pytest.raises(RuntimeError, match=f"attempt {expected}"):
        final.result()


def test_tenacity_rules_hand_on_an_attempt_that_raised() -> None:
    from tenacity import Retrying

    rules = RetryRules(3, max_retry_after_s=20.0)
    calls: list[int] = []

    def attempt() -> Outcome:
        calls.append(1)
        raise ValueError("not to be retried")

    loop = Retrying(retry=rules.retry, stop=rules.stop, wait=rules.wait, sleep=lambda _: None)
    with pytest.raises(ValueError, match="not to be retried"):
        loop(attempt)
    assert len(calls) == 1
