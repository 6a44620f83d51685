import copy

import pytest

from runrgateway import mask_sensitive
from runrgateway._masking import is_sensitive_key, mask_text
from runrgateway._signing import AgentKey

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
        "auth": {"token": "t", "inner": [{"password": "p"}, ("a", {"api_key": "k"})]},
        "n": 3,
        "none": None,
    }
    before = copy.deepcopy(data)
    masked = mask_sensitive(data)
    assert data == before
    assert masked == {
        "q": "x",
        "auth": {"token": M, "inner": [{"password": M}, ("a", {"api_key": M})]},
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
