"""Admin routes, health, unknown routes, the registry, the pytest fixture, clocks and logs."""

from __future__ import annotations

import logging

import httpx2
import pytest

from runrgateway.testing import (
    BUILTIN_SCOPES,
    EmbeddedGateway,
    GatewayMockTransport,
    ManualClock,
    get_gateway,
    register_gateway,
    remove_gateway,
    reset_gateways,
)
from runrgateway.testing._server import GatewayServer

from .conftest import AGENT_ID, WireClient, token_payload

SEARCH = {"q": "test", "query": "test"}  # both names, as the SDK sends


def test_create_agent_hands_out_an_rsa_2048_pkcs8_key(wire: WireClient) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    answer = wire.post(
        "/api/create-agent", {"name": "n", "created_by": "me", "role": "agent"}, sign=False
    )
    assert answer.status_code == 201
    body = answer.json()
    assert set(body) == {"agent_id", "private_key"}
    assert body["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    key = load_pem_private_key(body["private_key"].encode(), None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048


@pytest.mark.parametrize("missing", ["name", "created_by", "role"])
def test_create_agent_missing_fields(wire: WireClient, missing: str) -> None:
    body = {"name": "n", "created_by": "me", "role": "agent"}
    del body[missing]
    answer = wire.post("/api/create-agent", body, sign=False)
    assert answer.status_code == 400
    assert answer.json() == {
        "error": "Missing required fields: name, created_by, and role are required.",
        "code": "VALIDATION_FAILED",
    }


def test_merged_policy_route(wire: WireClient, gateway: EmbeddedGateway) -> None:
    wire.token()  # the agent exists once it has called (mock mode creates it on the fly)
    fallback = wire.get(f"/api/policies/merged/{AGENT_ID}", sign=False)
    assert fallback.status_code == 200
    assert fallback.json() == {
        "agentId": AGENT_ID,
        "agentRole": "agent",
        "mergedSpec": {"scopes": list(BUILTIN_SCOPES)},
        "sourcePolicies": [],
    }
    own = gateway.add_policy(["serpapi:search"], agent_id=AGENT_ID, intent="research")
    by_role = gateway.add_policy(["http_fetch:get"], role="agent", guards={"maxRequestSize": 10})
    merged = wire.get(f"/api/policies/merged/{AGENT_ID}", sign=False).json()
    assert merged["mergedSpec"] == {
        "scopes": ["serpapi:search", "http_fetch:get"],
        "intent": "research",
        "guards": {"maxRequestSize": 10},
    }
    assert merged["sourcePolicies"] == [own, by_role]
    unknown = wire.get("/api/policies/merged/nobody", sign=False)
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "Agent not found", "code": "AGENT_NOT_FOUND"}


def test_policies_route(wire: WireClient, gateway: EmbeddedGateway) -> None:
    gateway.set_default_policy(None)
    spec = {"scopes": ["serpapi:search"], "intent": "research"}
    created = wire.post(
        "/api/policies", {"name": "p1", "agentId": AGENT_ID, "spec": spec}, sign=False
    )
    assert created.status_code == 201
    body = created.json()
    assert body["name"] == "p1" and body["agentId"] == AGENT_ID and body["id"]
    assert wire.proxy("serpapi", "search", {**SEARCH, "intent": "research"}).status_code == 200
    assert wire.proxy("serpapi", "search", {**SEARCH, "intent": "sales"}).status_code == 403


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"name": "p", "spec": {"scopes": []}}, 400, "Either agentId or role must be provided"),
        (
            {"name": "p", "agentId": AGENT_ID, "role": "r", "spec": {"scopes": []}},
            400,
            "Cannot specify both agentId and role",
        ),
        ({"name": "p", "agentId": "ghost", "spec": {"scopes": []}}, 404, "Agent not found"),
        ({"name": "p", "role": "r", "spec": {"scopes": "serpapi:search"}}, 400, "Validation error"),
        ({"role": "r", "spec": {"scopes": []}}, 400, "Bad Request"),
    ],
)
def test_policies_route_errors(
    wire: WireClient, body: dict[str, object], status: int, error: str
) -> None:
    answer = wire.post("/api/policies", body, sign=False)
    assert answer.status_code == status
    assert answer.json()["error"] == error and answer.json()["code"]


def test_health_and_unknown_routes(wire: WireClient) -> None:
    health = wire.get("/api/health", sign=False)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    missing = wire.get("/api/nothing-here", sign=False)
    assert missing.status_code == 404 and missing.json()["code"] == "NOT_FOUND"
    assert wire.post("/api/admin/tokens/unknown/revoke", sign=False).status_code == 404


def test_get_gateway_is_one_per_name(gateway: EmbeddedGateway) -> None:
    assert get_gateway(gateway.url) is gateway
    assert get_gateway(gateway.url.upper().replace("MOCK://", "mock://") + "/api/x") is gateway
    assert get_gateway(gateway.name) is gateway


def test_remove_and_reset_gateways() -> None:
    first = get_gateway("mock://temporary")
    remove_gateway("temporary")
    assert get_gateway("temporary") is not first
    reset_gateways()
    assert get_gateway("temporary") is not first


def test_runr_gateway_fixture(runr_gateway: EmbeddedGateway) -> None:
    assert runr_gateway.url.startswith("mock://")
    assert get_gateway(runr_gateway.url) is runr_gateway
    with httpx2.Client(transport=GatewayMockTransport(runr_gateway.url)) as http:
        assert http.get(runr_gateway.url + "/api/health").status_code == 200
    assert runr_gateway.count("health") == 1


def test_manual_clock_drives_expiry_rotation_and_rate_windows(wire_key: object) -> None:
    from runrgateway._keys import AgentKey

    from .conftest import WireClient as Client

    assert isinstance(wire_key, AgentKey)
    clock = ManualClock()
    gateway = register_gateway(
        EmbeddedGateway("clocked", auto_register_agents=True, clock=clock, rate_limit=(1, 60))
    )
    gateway.set_default_policy({"scopes": ["serpapi:search"]})
    try:
        transport = GatewayMockTransport(
            gateway.url, agent_id=AGENT_ID, public_key_pem=wire_key.public_key_pem()
        )
        with httpx2.Client(transport=transport) as http:
            client = Client(http, gateway.url, wire_key, AGENT_ID)
            token = client.token(["serpapi"], ["read"], ttl_s=600)
            assert client.proxy("serpapi", "search", SEARCH, token).status_code == 200
            assert client.proxy("serpapi", "search", SEARCH, token).status_code == 429
            clock.advance(61)
            fresh = client.proxy("serpapi", "search", SEARCH, token)
            assert fresh.status_code == 200
            assert "x-token-rotation-recommended" not in fresh.headers
            clock.advance(400)  # 139 s left
            rotated = client.proxy("serpapi", "search", SEARCH, token)
            assert rotated.headers["x-token-rotation-recommended"] == "true"
            clock.advance(200)
            expired = client.proxy("serpapi", "search", SEARCH, token)
            assert expired.status_code == 403 and expired.json()["error"] == "Token expired"
            payload = token_payload(token["agent_token"])
            assert '"issued_at"' in payload
    finally:
        remove_gateway("clocked")


def test_server_logs_one_line_per_request_without_secrets(
    gateway: EmbeddedGateway, wire_key: object, caplog: pytest.LogCaptureFixture
) -> None:
    from runrgateway._keys import AgentKey

    assert isinstance(wire_key, AgentKey)
    gateway.register_agent(AGENT_ID, wire_key.public_key_pem())
    caplog.set_level(logging.INFO, logger="runrgateway.gateway")
    with GatewayServer(gateway) as server, httpx2.Client() as http:
        client = WireClient(http, server.url, wire_key, AGENT_ID)
        token = client.token()
        answer = client.proxy(
            "serpapi",
            "search",
            {"q": "secret-query", "query": "secret-query", "api_key": "sk-12345678"},
            token,
        )
    lines = [r.getMessage() for r in caplog.records if r.name == "runrgateway.gateway"]
    request_lines = [line for line in lines if "/api/" in line]
    assert len(request_lines) == 2
    assert answer.headers["x-correlation-id"] in request_lines[1]
    assert "POST /api/proxy-request 200" in request_lines[1]
    text = "\n".join(lines)
    for secret in (token["agent_token"][:20], "secret-query", "sk-12345678", "sig1="):
        assert secret not in text


def test_server_standalone_default_policy_option() -> None:
    with GatewayServer(allow_builtin_tools_by_default=True) as server, httpx2.Client() as http:
        created = http.post(
            server.url + "/api/create-agent",
            json={"name": "d", "created_by": "cli", "role": "demo"},
        )
        assert created.status_code == 201
        assert server.gateway.get_agent(created.json()["agent_id"]) is not None
    with GatewayServer() as strict, httpx2.Client() as http:
        assert http.get(strict.url + "/api/health").status_code == 200
    with pytest.raises(RuntimeError):
        _ = strict.url
