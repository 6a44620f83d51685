"""Part B: RFC 9421 request signatures on every route an agent calls."""

from __future__ import annotations

import json
import uuid

import httpx2
import pytest

from runrgateway._keys import AgentKey
from runrgateway._signing import RequestSigner
from runrgateway.testing import EmbeddedGateway

from .conftest import AGENT_ID, WireClient, utc_in

INVALID = {"error": "Invalid request signature", "code": "SIGNATURE_INVALID"}
SEARCH = {"q": "test", "query": "test"}  # both names, as the SDK sends


def _token_body(agent_id: str = AGENT_ID) -> dict[str, object]:
    return {
        "agent_id": agent_id,
        "tools": ["serpapi"],
        "permissions": ["read"],
        "expires_at": utc_in(900),
    }


def test_signed_requests_pass(wire: WireClient) -> None:
    assert wire.proxy("serpapi", "search", SEARCH).status_code == 200


@pytest.mark.parametrize("route", ["generate-token", "proxy-request", "jobs"])
def test_unsigned_request_from_an_agent_with_a_key_is_401(wire: WireClient, route: str) -> None:
    if route == "generate-token":
        answer = wire.post("/api/generate-token", _token_body(), sign=False)
    elif route == "proxy-request":
        token = wire.token()
        body = {
            "agent_token": token["agent_token"],
            "tool": "serpapi",
            "action": "search",
            "params": SEARCH,
        }
        answer = wire.post("/api/proxy-request", body, sign=False)
    else:
        job = wire.proxy("serpapi", "search", SEARCH, **{"async": True}).json()
        answer = wire.get(f"/api/jobs/{job['job_id']}", sign=False)
    assert answer.status_code == 401
    assert answer.json() == INVALID


def test_401_on_proxy_request_carries_a_correlation_id(wire: WireClient) -> None:
    token = wire.token()
    body = {
        "agent_token": token["agent_token"],
        "tool": "serpapi",
        "action": "search",
        "params": SEARCH,
    }
    answer = wire.post("/api/proxy-request", body, sign=False)
    assert answer.status_code == 401 and answer.headers["x-correlation-id"].startswith("req_")


def test_tampered_body_is_401(wire: WireClient) -> None:
    raw = json.dumps(_token_body()).encode()
    headers = {"content-type": "application/json", "x-correlation-id": "c-1"}
    headers.update(wire.signer.sign("POST", wire.base_url + "/api/generate-token", headers, raw))
    tampered = raw.replace(b'"read"', b'"rite"')
    answer = wire.http.post(
        wire.base_url + "/api/generate-token", content=tampered, headers=headers
    )
    assert answer.status_code == 401 and answer.json() == INVALID


def test_replayed_signature_is_401(wire: WireClient) -> None:
    raw = json.dumps(_token_body()).encode()
    headers = {"content-type": "application/json", "x-correlation-id": "c-2"}
    headers.update(wire.signer.sign("POST", wire.base_url + "/api/generate-token", headers, raw))
    url = wire.base_url + "/api/generate-token"
    assert wire.http.post(url, content=raw, headers=headers).status_code == 201
    replay = wire.http.post(url, content=raw, headers=headers)
    assert replay.status_code == 401 and replay.json() == INVALID


def test_changed_correlation_id_is_401(wire: WireClient) -> None:
    raw = json.dumps(_token_body()).encode()
    headers = {"content-type": "application/json", "x-correlation-id": "c-3"}
    headers.update(wire.signer.sign("POST", wire.base_url + "/api/generate-token", headers, raw))
    headers["x-correlation-id"] = "c-other"
    answer = wire.http.post(wire.base_url + "/api/generate-token", content=raw, headers=headers)
    assert answer.status_code == 401


def test_signature_by_another_key_is_401(wire: WireClient) -> None:
    stranger = RequestSigner(AgentKey.generate("ed25519"), AGENT_ID)
    answer = wire.post("/api/generate-token", _token_body(), signer=stranger)
    assert answer.status_code == 401


def test_signing_as_another_agent_is_401(wire: WireClient, gateway: EmbeddedGateway) -> None:
    other_key = AgentKey.generate("ed25519")
    gateway.register_agent("agent-2", other_key.public_key_pem())
    as_other = RequestSigner(other_key, "agent-2")
    answer = wire.post("/api/generate-token", _token_body(AGENT_ID), signer=as_other)
    assert answer.status_code == 401


def test_agent_without_a_key_may_call_unsigned(wire: WireClient, gateway: EmbeddedGateway) -> None:
    gateway.register_agent("keyless")
    answer = wire.post("/api/generate-token", _token_body("keyless"), sign=False)
    assert answer.status_code == 201


@pytest.mark.parametrize("kind", ["ed25519", "ec-p256", "ec-p384", "rsa"])
def test_every_key_type_verifies(wire: WireClient, gateway: EmbeddedGateway, kind: str) -> None:
    key = AgentKey.generate(kind)
    agent_id = f"agent-{kind}"
    gateway.register_agent(agent_id, key.public_key_pem())
    answer = wire.post(
        "/api/generate-token", _token_body(agent_id), signer=RequestSigner(key, agent_id)
    )
    assert answer.status_code == 201


def test_an_agent_may_hold_several_keys(wire: WireClient, gateway: EmbeddedGateway) -> None:
    second = AgentKey.generate("ed25519")
    gateway.register_agent(AGENT_ID, second.public_key_pem())
    for signer in (wire.signer, RequestSigner(second, AGENT_ID)):
        assert wire.post("/api/generate-token", _token_body(), signer=signer).status_code == 201


def test_create_agent_keeps_the_public_half(wire: WireClient) -> None:
    created = wire.post(
        "/api/create-agent", {"name": "scraper", "created_by": "ops", "role": "agent"}, sign=False
    )
    assert created.status_code == 201
    agent_id, private_pem = created.json()["agent_id"], created.json()["private_key"]
    signer = RequestSigner(AgentKey.from_pem(private_pem), agent_id)
    assert wire.post("/api/generate-token", _token_body(agent_id), signer=signer).status_code == 201
    assert wire.post("/api/generate-token", _token_body(agent_id), sign=False).status_code == 401


def test_create_agent_takes_a_caller_public_key(wire: WireClient) -> None:
    key = AgentKey.generate("ec-p256")
    created = wire.post(
        "/api/create-agent",
        {
            "name": "own-key",
            "created_by": "ops",
            "role": "agent",
            "public_key": key.public_key_pem(),
        },
        sign=False,
    )
    assert created.status_code == 201
    body = created.json()
    assert "private_key" not in body
    signer = RequestSigner(key, body["agent_id"])
    assert (
        wire.post("/api/generate-token", _token_body(body["agent_id"]), signer=signer).status_code
        == 201
    )


def test_admin_routes_are_not_agent_signed(wire: WireClient) -> None:
    policy = {"name": "p", "role": "agent", "spec": {"scopes": ["serpapi:search"]}}
    assert wire.post("/api/policies", policy, sign=False).status_code == 201
    assert wire.get("/api/health", sign=False).status_code == 200


def test_mock_mode_creates_an_agent_on_first_sight_with_the_transport_key(
    gateway: EmbeddedGateway,
) -> None:
    import httpx2

    from runrgateway.testing import GatewayMockTransport

    key = AgentKey.generate("ed25519")
    agent_id = f"fresh-{uuid.uuid4().hex[:6]}"
    assert gateway.get_agent(agent_id) is None
    transport = GatewayMockTransport(
        gateway.url, agent_id=agent_id, public_key_pem=key.public_key_pem()
    )
    agent = gateway.get_agent(agent_id)
    assert agent is not None and len(agent.public_keys) == 1
    with httpx2.Client(transport=transport) as http:
        client = WireClient(http, gateway.url, key, agent_id)
        assert client.proxy("serpapi", "search", SEARCH).status_code == 200
        assert (
            client.post("/api/generate-token", _token_body(agent_id), sign=False).status_code == 401
        )


@pytest.mark.parametrize("verify", [True, False])
def test_verify_signatures_false_accepts_unsigned_calls_and_is_never_the_default(
    wire_key: AgentKey, verify: bool
) -> None:
    """The benchmark's switch (hand-written, unsigned calls): off only when asked."""
    from runrgateway.testing._server import GatewayServer

    gw = (
        EmbeddedGateway("unverified", rate_limit=None)
        if verify
        else EmbeddedGateway("unverified", rate_limit=None, verify_signatures=False)
    )
    gw.register_agent(AGENT_ID, wire_key.public_key_pem())
    gw.set_default_policy({"scopes": ["serpapi:search"]})
    with GatewayServer(gw) as server, httpx2.Client(timeout=5.0) as http:
        wire = WireClient(http, server.url, wire_key, AGENT_ID)
        token = wire.token(["serpapi"], ["read"])
        body = {
            "agent_token": token["agent_token"],
            "tool": "serpapi",
            "action": "search",
            "params": SEARCH,
        }
        unsigned = wire.post("/api/proxy-request", body, sign=False)
        forged = wire.post(
            "/api/proxy-request", body, signer=RequestSigner(AgentKey.generate("ed25519"), AGENT_ID)
        )
    if verify:
        assert (unsigned.status_code, forged.status_code) == (401, 401)
        assert unsigned.json() == INVALID
    else:
        assert (unsigned.status_code, forged.status_code) == (200, 200)
