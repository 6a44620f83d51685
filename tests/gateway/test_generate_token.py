"""`POST /api/generate-token` and the token format (wire.md Part A)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from typing import Any

import pytest

from runrgateway.testing import EmbeddedGateway

from .conftest import AGENT_ID, WireClient, token_payload, utc_in

ISSUED_AT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def _body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "agent_id": AGENT_ID,
        "tools": ["serpapi"],
        "permissions": ["read"],
        "expires_at": utc_in(900),
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def test_issues_201_with_expiry_echoed_exactly(wire: WireClient, gateway: EmbeddedGateway) -> None:
    expires_at = utc_in(600).replace("Z", "+00:00")
    answer = wire.post("/api/generate-token", _body(expires_at=expires_at))
    assert answer.status_code == 201
    body = answer.json()
    assert set(body) == {"agent_token", "token_id", "expires_at", "agent_name"}
    assert body["expires_at"] == expires_at
    assert uuid.UUID(body["token_id"])
    assert body["agent_name"] == AGENT_ID


def test_token_format_is_base64_json_dot_hex_hmac(
    wire: WireClient, gateway: EmbeddedGateway
) -> None:
    expires_at = utc_in(900)
    token = wire.post("/api/generate-token", _body(expires_at=expires_at)).json()["agent_token"]
    payload_b64, signature = token.split(".")
    assert re.fullmatch(r"[A-Za-z0-9+/]+=*", payload_b64)
    assert re.fullmatch(r"[0-9a-f]{64}", signature)
    expected = hmac.new(gateway.secret, payload_b64.encode(), hashlib.sha256).hexdigest()
    assert signature == expected
    text = token_payload(token)
    payload = json.loads(text)
    assert list(payload) == [
        "agent_id",
        "agent_name",
        "tools",
        "permissions",
        "expires_at",
        "nonce",
        "issued_at",
    ]
    assert text == json.dumps(payload, separators=(",", ":"))  # compact JSON
    assert payload["agent_id"] == AGENT_ID
    assert payload["tools"] == ["serpapi"] and payload["permissions"] == ["read"]
    assert payload["expires_at"] == expires_at
    assert ISSUED_AT.match(payload["issued_at"])
    assert "iat" not in payload and "exp" not in payload


def test_each_token_is_unique(wire: WireClient) -> None:
    first, second = wire.token(), wire.token()
    assert first["agent_token"] != second["agent_token"]
    assert first["token_id"] != second["token_id"]


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        (
            {"agent_id": ""},
            "Missing required fields: agent_id, tools, permissions, and expires_at are required.",
        ),
        (
            {"tools": None},
            "Missing required fields: agent_id, tools, permissions, and expires_at are required.",
        ),
        ({"tools": "serpapi"}, "Tools and permissions must be arrays."),
        ({"permissions": {"read": True}}, "Tools and permissions must be arrays."),
        ({"expires_at": "tomorrow-ish"}, "Invalid expires_at date format. Use ISO 8601 format."),
        ({"expires_at": utc_in(-60)}, "Token expiry date must be in the future."),
        ({"expires_at": "2001-01-01"}, "Token expiry date must be in the future."),
    ],
)
def test_400s(wire: WireClient, overrides: dict[str, Any], error: str) -> None:
    answer = wire.post("/api/generate-token", _body(**overrides))
    assert answer.status_code == 400
    assert answer.json() == {"error": error, "code": "VALIDATION_FAILED"}


def test_empty_arrays_are_accepted_like_the_real_gateway(wire: WireClient) -> None:
    answer = wire.post("/api/generate-token", _body(tools=[], permissions=[]))
    assert answer.status_code == 201


def test_unknown_agent_is_404_when_not_in_mock_mode(
    wire: WireClient, gateway: EmbeddedGateway
) -> None:
    gateway.auto_register_agents = False
    answer = wire.post("/api/generate-token", _body(agent_id="nobody"), sign=False)
    assert answer.status_code == 404
    assert answer.json() == {"error": "Agent not found.", "code": "AGENT_NOT_FOUND"}


def test_inactive_agent_is_400(wire: WireClient, gateway: EmbeddedGateway) -> None:
    gateway.deactivate_agent(AGENT_ID)
    answer = wire.post("/api/generate-token", _body())
    assert answer.status_code == 400
    assert answer.json()["error"] == "Agent is not active."


def test_expiry_without_offset_is_read_in_local_time(
    mock_wire: WireClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from runrgateway.testing._time import parse_js_date

    naive = "2030-06-01T12:00:00"
    local = time.mktime(time.strptime(naive, "%Y-%m-%dT%H:%M:%S"))
    assert parse_js_date(naive) == local
    assert parse_js_date("2030-06-01") == parse_js_date("2030-06-01T00:00:00Z")
    assert parse_js_date("2030-06-01T12:00:00+02:00") == parse_js_date("2030-06-01T10:00:00Z")
    answer = mock_wire.post("/api/generate-token", _body(expires_at=naive))
    assert answer.status_code == 201 and answer.json()["expires_at"] == naive


def test_null_body_is_500(mock_wire: WireClient) -> None:
    answer = mock_wire.post(
        "/api/generate-token", raw=b"null", headers={"content-type": "application/json"}
    )
    assert answer.status_code == 500
    assert answer.json()["code"] == "INTERNAL"
