from datetime import datetime, timedelta, timezone

import pytest

from runrgateway import GatewayPolicyError, GatewayTokenError
from runrgateway._tokens import (
    check_caller_token,
    check_scope,
    decode_token,
    format_utc,
    parse_timestamp,
    scope_key,
)
from tests.helpers import gateway_token

NOW = datetime(2026, 11, 27, 9, 42, 38, 647000, tzinfo=timezone.utc)


def test_format_utc_matches_the_gateway() -> None:
    assert format_utc(NOW) == "2026-11-27T09:42:38.647Z"
    assert parse_timestamp("2026-11-27T09:42:38.647Z") == NOW


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2026-11-27T09:42:38.647+00:00", NOW),
        ("2026-11-27T10:42:38.647+01:00", NOW),
        ("2026-11-27T09:42:38.647", NOW),
        (NOW.timestamp(), NOW),
        ("not a date", None),
        (None, None),
        (True, None),
    ],
)
def test_parse_timestamp(value: object, expected: datetime | None) -> None:
    assert parse_timestamp(value) == expected


def test_decode_gateway_token() -> None:
    token = gateway_token(tools=["serpapi"], permissions=["read"], issued_at=NOW)
    claims = decode_token(token)
    assert claims is not None and claims.form == "gateway"
    assert claims.tools == ("serpapi",) and claims.permissions == ("read",)
    assert claims.issued_at == NOW and claims.expires_at == NOW + timedelta(minutes=15)
    assert claims.raw_payload.startswith(b'{"agent_id"')
    assert token.split(".")[0] not in repr(claims)


@pytest.mark.parametrize("token", ["", "abc", "a.b", "!!!.abcdef", "e30=.zz", "a.b.c.d"])
def test_undecodable_tokens(token: str) -> None:
    assert decode_token(token) is None


def test_age_and_expiry_rules() -> None:
    fresh = decode_token(gateway_token(tools=["t"], issued_at=NOW))
    check_caller_token(fresh, NOW + timedelta(minutes=1))
    with pytest.raises(GatewayTokenError) as expired:
        check_caller_token(fresh, NOW + timedelta(minutes=16))
    assert expired.value.code == "TOKEN_EXPIRED"
    old = decode_token(
        gateway_token(tools=["t"], issued_at=NOW, expires_at=NOW + timedelta(days=3))
    )
    check_caller_token(old, NOW + timedelta(hours=23))
    with pytest.raises(GatewayTokenError, match="24 h"):
        check_caller_token(old, NOW + timedelta(hours=25))
    check_caller_token(None, NOW)


def test_scope_guard() -> None:
    claims = decode_token(gateway_token(tools=["serpapi", "http_fetch"]))
    check_scope(claims, "http_fetch")
    with pytest.raises(GatewayPolicyError):
        check_scope(claims, "gmail_send")
    check_scope(None, "anything")


def test_scope_key_sorts() -> None:
    assert scope_key(["b", "a", "a"], ["write", "read"]) == (("a", "b"), ("read", "write"))
