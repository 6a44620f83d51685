import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx2
import pytest

import runrgateway._retry as retry_policy
from runrgateway._constants import BACKOFF_BASE_S, BACKOFF_CAP_S
from runrgateway._retry import Failure, backoff_s, classify_exception, decide, parse_retry_after


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
