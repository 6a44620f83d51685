"""Wire-level fixtures: a fresh gateway reached by raw httpx, through the mock transport
or a real loopback server. No SDK client here, on purpose."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx2
import pytest

from runrgateway._keys import AgentKey
from runrgateway._signing import RequestSigner
from runrgateway.testing import EmbeddedGateway, GatewayMockTransport, new_mock_gateway
from runrgateway.testing._registry import remove_gateway

AGENT_ID = "agent-1"


def utc_in(seconds: float) -> str:
    """An ISO 8601 UTC time `seconds` from now, as the SDK sends it."""
    moment = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def token_payload(agent_token: str) -> str:
    """The exact JSON text inside a gateway token (the provenance proof)."""
    return base64.b64decode(agent_token.split(".")[0]).decode("utf-8")


class WireClient:
    """Raw httpx plus RFC 9421 signing as agent `agent_id`; nothing from the SDK client."""

    def __init__(self, http: httpx2.Client, base_url: str, key: AgentKey, agent_id: str) -> None:
        self.http = http
        self.base_url = base_url
        self.key = key
        self.agent_id = agent_id
        self.signer = RequestSigner(key, agent_id)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        sign: bool = True,
        headers: dict[str, str] | None = None,
        signer: RequestSigner | None = None,
    ) -> httpx2.Response:
        content = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        all_headers = {"x-correlation-id": f"test-{uuid.uuid4().hex}"}
        if content and raw is None:
            all_headers["content-type"] = "application/json"
        all_headers.update(headers or {})
        if sign:
            url = self.base_url + path
            all_headers.update((signer or self.signer).sign(method, url, all_headers, content))
        return self.http.request(method, self.base_url + path, content=content, headers=all_headers)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> httpx2.Response:
        return self.request("POST", path, body, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx2.Response:
        return self.request("GET", path, **kwargs)

    def token(
        self,
        tools: list[str] | None = None,
        permissions: list[str] | None = None,
        *,
        ttl_s: float = 900,
    ) -> dict[str, Any]:
        """A fresh token answer (agent_token, token_id, expires_at, agent_name)."""
        answer = self.post(
            "/api/generate-token",
            {
                "agent_id": self.agent_id,
                "tools": tools or ["serpapi", "http_fetch", "openai", "gmail_send"],
                "permissions": permissions or ["read", "write"],
                "expires_at": utc_in(ttl_s),
            },
        )
        assert answer.status_code == 201, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def proxy(
        self,
        tool: str,
        action: str,
        params: Any,
        token: dict[str, Any] | None = None,
        *,
        provenance: bool = True,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> httpx2.Response:
        token = token or self.token()
        body: dict[str, Any] = {
            "agent_token": token["agent_token"],
            "tool": tool,
            "action": action,
            "params": params,
        }
        if provenance:
            body["token_id"] = token["token_id"]
            body["proof_payload"] = token_payload(token["agent_token"])
        body.update(extra)
        return self.post("/api/proxy-request", body, headers=headers)


@pytest.fixture(scope="session")
def wire_key() -> AgentKey:
    return AgentKey.generate("ed25519")


@pytest.fixture
def gateway() -> Iterator[EmbeddedGateway]:
    """A fresh mock gateway (mock mode: agents auto-registered, built-in tools allowed)."""
    gw = new_mock_gateway("wire")
    yield gw
    remove_gateway(gw.name)


def server_client_for(gw: EmbeddedGateway, key: AgentKey) -> Iterator[WireClient]:
    from runrgateway.testing._server import GatewayServer

    gw.register_agent(AGENT_ID, key.public_key_pem())
    with GatewayServer(gw) as server, httpx2.Client(timeout=5.0) as http:
        yield WireClient(http, server.url, key, AGENT_ID)


def mock_client_for(gw: EmbeddedGateway, key: AgentKey) -> Iterator[WireClient]:
    transport = GatewayMockTransport(
        gw.name, agent_id=AGENT_ID, public_key_pem=key.public_key_pem()
    )
    with httpx2.Client(transport=transport, timeout=5.0) as http:
        yield WireClient(http, gw.url, key, AGENT_ID)


@pytest.fixture(params=["mock", "server"])
def wire(
    request: pytest.FixtureRequest, gateway: EmbeddedGateway, wire_key: AgentKey
) -> Iterator[WireClient]:
    """A signed raw client for agent `AGENT_ID`, over the mock transport and over loopback HTTP."""
    make = mock_client_for if request.param == "mock" else server_client_for
    yield from make(gateway, wire_key)


@pytest.fixture
def mock_wire(gateway: EmbeddedGateway, wire_key: AgentKey) -> Iterator[WireClient]:
    """Like `wire`, mock transport only (for in-process-only checks)."""
    yield from mock_client_for(gateway, wire_key)
