"""Properties of the pure readers: waits asked for, and tokens decoded, from any text."""

from __future__ import annotations

import contextlib
import json
import math
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runrgateway import GatewayTokenError
from runrgateway._constants import LONGEST_WAIT_S
from runrgateway._json import MAX_JSON_DEPTH, loads
from runrgateway._retry import decide, parse_retry_after
from runrgateway._tokens import TokenClaims, check_caller_token, check_scope, decode_token
from tests.strategies import any_text, anything, token_strings, wait_text

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def finite_wait(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and 0.0 <= value <= LONGEST_WAIT_S)


@given(
    headers=st.fixed_dictionaries(
        {}, optional={"retry-after": wait_text, "retry-after-ms": wait_text}
    ),
    body=st.one_of(st.none(), st.fixed_dictionaries({"retry_after": anything}), anything),
)
def test_any_retry_after_is_finite_seconds_or_none(headers: dict[str, str], body: object) -> None:
    wait = parse_retry_after(headers, body)
    assert finite_wait(wait)
    # and whatever it is, the retry decision takes it without an exception
    decision = decide(
        retries_done=0, max_retries=3, idempotent=True, status_code=429,
        retry_after=wait, max_retry_after_s=20.0,
    )  # fmt: skip
    assert math.isfinite(decision.wait_s)


@given(text=wait_text)
def test_retry_after_text_that_is_a_number_is_read_as_one(text: str) -> None:
    wait = parse_retry_after({"retry-after": text})
    try:
        number = float(text)
    except ValueError:
        return  # a date, or nothing: covered by the property above
    if math.isnan(number):
        assert wait is None
    else:
        assert wait == min(max(number, 0.0), LONGEST_WAIT_S)


@given(token=token_strings)
def test_any_token_string_decodes_or_is_opaque(token: str) -> None:
    claims = decode_token(token)
    assert claims is None or isinstance(claims, TokenClaims)
    if claims is None:
        return
    for seconds in (claims.age_s(NOW), claims.seconds_left(NOW)):
        assert seconds is None or math.isfinite(seconds)
    try:  # the checks a caller's token meets before anything is sent
        check_caller_token(claims, NOW)
        check_scope(claims, "serpapi")
    except GatewayTokenError:
        pass
    except ValueError:
        raise
    except Exception as error:  # GatewayPolicyError is the only other documented outcome
        assert type(error).__name__ == "GatewayPolicyError", error
    repr(claims)


@given(text=any_text, depth=st.integers(min_value=0, max_value=3 * MAX_JSON_DEPTH))
def test_json_reader_gives_a_value_or_a_value_error(text: str, depth: int) -> None:
    content = "[" * depth + json.dumps(text) + "]" * depth
    if depth > MAX_JSON_DEPTH:
        with pytest.raises(ValueError, match="nested"):
            loads(content)
    else:
        value = loads(content)
        for _ in range(depth):
            assert isinstance(value, list) and len(value) == 1
            value = value[0]
        assert value == text
    with contextlib.suppress(ValueError):  # any text at all: a value, or a ValueError
        loads(text)
