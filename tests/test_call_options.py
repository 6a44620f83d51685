"""The option set of `with_options` and the deadline record, without a client."""

from __future__ import annotations

import dataclasses

import pytest

from runrgateway import GatewayConfigError, GatewayTimeoutError
from runrgateway._call_options import (
    NOT_GIVEN,
    CallOptions,
    Deadline,
    current_deadline,
    deadline_scope,
)


def defaults() -> CallOptions:
    return CallOptions.checked(
        timeout_ms=6000, max_retries=3, max_retry_after_s=20.0, deadline_s=None
    )


def test_checked_options_are_frozen_and_in_the_units_used() -> None:
    options = defaults()
    assert (options.timeout_ms, options.timeout_s, options.max_retries) == (6000.0, 6.0, 3)
    assert options.max_retry_after_s == 20.0 and options.deadline_s is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.max_retries = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"timeout_ms": 0}, "timeout_ms"),
        ({"timeout_ms": float("nan")}, "timeout_ms"),
        ({"timeout_ms": "6000"}, "timeout_ms"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": True}, "max_retries"),
        ({"max_retries": 2.0}, "max_retries"),
        ({"max_retry_after_s": -1}, "max_retry_after_s"),
        ({"max_retry_after_s": float("inf")}, "max_retry_after_s"),
        ({"deadline_s": 0}, "deadline_s"),
        ({"deadline_s": -2.5}, "deadline_s"),
        ({"deadline_s": float("inf")}, "deadline_s"),
        ({"deadline_s": True}, "deadline_s"),
        ({"deadline_s": "1"}, "deadline_s"),
    ],
)
def test_a_wrong_option_is_refused_by_name(change: dict[str, object], named: str) -> None:
    with pytest.raises(GatewayConfigError, match=named):
        defaults().changed(**change)
    settings: dict[str, object] = {
        "timeout_ms": 6000,
        "max_retries": 3,
        "max_retry_after_s": 20.0,
        "deadline_s": None,
        **change,
    }
    with pytest.raises(GatewayConfigError, match=named):
        CallOptions.checked(**settings)


def test_changed_keeps_what_is_not_given_and_none_clears_the_deadline() -> None:
    options = defaults()
    assert options.changed() is options
    assert options.changed(timeout_ms=NOT_GIVEN) is options
    tight = options.changed(deadline_s=2, max_retries=0)
    assert (tight.deadline_s, tight.max_retries, tight.timeout_ms) == (2.0, 0, 6000.0)
    assert tight.changed(deadline_s=None).deadline_s is None
    assert options.changed(max_retry_after_s=1).max_retries == 3
    assert options.deadline_s is None  # the original is untouched
    assert repr(NOT_GIVEN) == "NOT_GIVEN" and not NOT_GIVEN


def test_a_wait_past_the_deadline_is_not_allowed() -> None:
    roomy = Deadline(3600.0)
    assert roomy.allows_wait(1.0) and not roomy.allows_wait(7200.0)
    assert 3590.0 < roomy.left_s() <= 3600.0
    spent = Deadline(1e-9)
    assert not spent.allows_wait(0.0) and spent.left_s() < 0.001


def test_the_deadline_error_says_it_ran_out_and_the_attempts() -> None:
    error = Deadline(1.0).ran_out(
        3,
        what="serpapi:search",
        why="the gateway asked to wait 0.4 s before the next attempt",
        correlation_id="c1",
        server_correlation_id="s1",
        status_code=503,
    )
    assert isinstance(error, GatewayTimeoutError)
    assert "deadline of 1 s (deadline_s) ran out after 3 attempts of serpapi:search" in str(error)
    assert (error.attempts, error.correlation_id, error.server_correlation_id) == (3, "c1", "s1")
    assert error.status_code is None
    assert error.details == {"deadline_s": 1.0, "attempts": 3, "last_status_code": 503}


def test_a_nested_call_keeps_the_earlier_deadline() -> None:
    assert current_deadline() is None
    with deadline_scope(None) as none:
        assert none is None and current_deadline() is None
    with deadline_scope(5.0) as outer:
        assert current_deadline() is outer
        with deadline_scope(3600.0) as inner:  # a mint with a roomier setting of its own
            assert inner is outer
        with deadline_scope(None) as same:
            assert same is outer
        with deadline_scope(1.0) as tighter:
            assert tighter is not outer and current_deadline() is tighter
        assert current_deadline() is outer
    assert current_deadline() is None
