import copy

import pytest

from runrgateway import mask_sensitive
from runrgateway._keys import AgentKey
from runrgateway._masking import is_sensitive_key, mask_text

M = "***MASKED***"


@pytest.mark.parametrize(
    "key",
    [
        "password", "Passwd", "secret", "TOKEN", "access_token", "refresh-token", "agent_token",
        "api_key", "apikey", "API-KEY", "key", "private_key", "Authorization", "cookie",
        "Set-Cookie", "credentials", "client_secret", "signature", "session", "db_password",
        "aws_secret", "github_token", "stripe_key",
    ],
)  # fmt: skip
def test_sensitive_keys(key: str) -> None:
    assert is_sensitive_key(key)
    assert mask_sensitive({key: "v"}) == {key: M}


@pytest.mark.parametrize(
    "key", ["q", "engine", "keyword", "tokens_used", "monkey", "sessions", "url"]
)
def test_ordinary_keys_are_kept(key: str) -> None:
    assert mask_sensitive({key: "v"}) == {key: "v"}


def test_nested_structures_and_the_input_is_untouched() -> None:
    data = {
        "q": "x",
        "outer": {"token": "t", "inner": [{"password": "p"}, ("a", {"api_key": "k"})]},
        "n": 3,
        "none": None,
    }
    before = copy.deepcopy(data)
    masked = mask_sensitive(data)
    assert data == before
    assert masked == {
        "q": "x",
        "outer": {"token": M, "inner": [{"password": M}, ("a", {"api_key": M})]},
        "n": 3,
        "none": None,
    }


def test_pem_keys_and_bearer_credentials_are_masked_anywhere() -> None:
    pem = AgentKey.generate("ed25519").private_key_pem()
    masked = mask_sensitive({"note": f"my key is {pem} ok", "h": ["Bearer abc.def-ghi"]})
    assert "PRIVATE KEY" not in masked["note"] and masked["note"].startswith("my key is ")
    assert masked["h"] == [f"Bearer {M}"]


def test_known_secret_values_are_masked_in_text() -> None:
    assert mask_text("token tok-123456789 leaked", ["tok-123456789"]) == f"token {M} leaked"


@pytest.mark.parametrize(
    "key",
    [
        "privateKey", "clientSecret", "accessToken", "refreshToken", "passphrase", "pwd",
        "auth", "Proxy-Authorization", "agent_private_key_pem", "X-Api-Key", "APIKey",
        "XApiKey", "db.password", "AWS_SECRET_ACCESS_KEY", "x-amz-security-token", "jwt",
    ],
)  # fmt: skip
def test_normalised_key_names_are_sensitive(key: str) -> None:
    assert is_sensitive_key(key)
    assert mask_sensitive({key: "S3cretPassw0rd"}) == {key: M}


@pytest.mark.parametrize("key", ["idempotency_key", "public_key", "tokenId", "maxTokens"])
def test_names_that_hold_no_secret_are_kept(key: str) -> None:
    assert mask_sensitive({key: "v"}) == {key: "v"}


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("https://user:S3cretPassw0rd@gw.example/x", "S3cretPassw0rd"),
        ("https://ghp_token_as_user@github.example/repo", "ghp_token_as_user"),
        ("https://gw.example/x?api_key=SECRET12345&q=1", "SECRET12345"),
        ("GET /cb?code=1&access_token=SECRET12345 HTTP/1.1", "SECRET12345"),
        ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ("auth header was Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ("Bearer: abc.def-ghi", "abc.def-ghi"),
        ("bearer abc.def-ghi", "abc.def-ghi"),
        ("my key is sk-proj-abcdefghijklmnop1234 ok", "sk-proj-abcdefghijklmnop1234"),
        ("stripe sk_live_51Habcdefghijk", "sk_live_51Habcdefghijk"),
        ('{"clientSecret": "cs_live_a1b2c3d4e5f6"}', "cs_live_a1b2c3d4e5f6"),
        ("{'password': 'two words'}", "two words"),
        ("password = S3cretPassw0rd", "S3cretPassw0rd"),
        (
            "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.c2lnbmF0dXJlX2hlcmU in text",
            "c2lnbmF0dXJlX2hlcmU",
        ),
        (
            "gateway token eyJhZ2VudF9pZCI6ImEifQ==." + "ab" * 32 + " leaked",
            "ab" * 32,
        ),
    ],
)
def test_secret_shapes_inside_free_text(text: str, secret: str) -> None:
    masked = mask_text(text)
    assert secret not in masked and M in masked
    assert mask_sensitive({"note": text})["note"] == masked
    assert mask_sensitive([text.encode()]) == [masked.encode()]


@pytest.mark.parametrize(
    "text",
    [
        "basic validation failed",
        "Scope 'openai:chat' not allowed. Required: research",
        "Missing required fields: agent_token, tool",
        "Token expired",
        "https://gw.example/api/proxy-request?q=plumbers",
        "sk-short",
        "expected key=value, got oops",
    ],
)
def test_ordinary_text_is_kept(text: str) -> None:
    assert mask_text(text) == text


def test_pem_blocks_as_bytes_and_header_pair_lists() -> None:
    pem = AgentKey.generate("ed25519").private_key_pem().encode()
    data = {
        "pem": pem,
        "raw": b"\xff\xfe not utf-8",
        "headers": [["X-Api-Key", "SECRET12345"], ["Accept", "application/json"]],
        "raw_headers": [(b"authorization", b"Basic dXNlcjpwYXNz"), (b"host", b"gw")],
    }
    masked = mask_sensitive(data)
    assert masked["pem"].strip() == M.encode()
    assert masked["raw"] == b"\xff\xfe not utf-8"
    assert masked["headers"] == [["X-Api-Key", M], ["Accept", "application/json"]]
    assert masked["raw_headers"] == [(b"authorization", M.encode()), (b"host", b"gw")]


def test_depth_limit_and_cycles_are_cut_without_raising() -> None:
    deep: list[object] = []
    node = deep
    for _ in range(500):
        child: list[object] = []
        node.append(child)
        node = child
    cyclic: dict[str, object] = {"token": "t"}
    cyclic["self"] = cyclic
    masked = mask_sensitive({"deep": deep, "cyclic": cyclic})
    assert "***TOO DEEP***" in repr(masked["deep"])
    assert masked["cyclic"] == {"token": M, "self": "***CYCLE***"}


def test_namedtuples_and_hostile_objects_never_raise() -> None:
    from collections import namedtuple

    Pair = namedtuple("Pair", "name value")
    Triple = namedtuple("Triple", "a b c")

    class Hostile(dict):  # type: ignore[type-arg]
        def items(self):  # type: ignore[no-untyped-def]
            raise RuntimeError("boom")

    masked = mask_sensitive(
        [Pair("token", "Bearer abcdefgh"), Triple(1, {"api_key": "k"}, "x"), Hostile(a=1)]
    )
    assert masked[0] == Pair("token", f"Bearer {M}") and type(masked[0]) is Pair
    assert masked[1] == Triple(1, {"api_key": M}, "x")
    assert masked[2] == M


@pytest.mark.parametrize("unit", ["a=", "x:", "a-", "ab.", "eyJaaaa.", "password='", 'a="'])
def test_repeated_shapes_never_raise(unit: str) -> None:
    text = unit * 5000
    assert isinstance(mask_text(text), str)
    assert isinstance(mask_sensitive({"m": text}), dict)
    assert mask_sensitive(text) != "***MASKED***"  # masked by shape, not given up on


def test_quoted_values_with_escapes_or_the_other_quote_are_masked_whole() -> None:
    assert mask_text('{"password": "hun\\"ter2"}') == '{"password": "***MASKED***"}'
    assert mask_text('{"password": "it\'s-a-secret"}') == '{"password": "***MASKED***"}'
    assert mask_text("password='unclosed-secret") == "password='***MASKED***"
