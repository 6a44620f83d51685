"""`runrgateway serve` and the embedded gateway stay bounded in memory, threads and time.

Each test reproduces one finding of the security review over real 127.0.0.1 sockets
(raw httpx or raw sockets, no SDK client). Where the real figure would make the test
slow (30 s deadlines, 100,000 nonces) the bound is shrunk through `GatewayLimits`; the
full-size figures are printed by `benchmarks/bench_serve_bounds.py`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from runrgateway._keys import AgentKey
from runrgateway._signing import RequestSigner
from runrgateway.testing import EmbeddedGateway, GatewayLimits, GatewayServer

from .conftest import utc_in


def serve(limits: GatewayLimits, **gateway_options: Any) -> GatewayServer:
    """A real-gateway-like server (unknown agents 404) with the given bounds."""
    return GatewayServer(EmbeddedGateway("bounds", limits=limits, **gateway_options)).start()


@pytest.fixture
def http() -> Iterator[httpx2.Client]:
    with httpx2.Client(timeout=10.0) as client:
        yield client


def register(http: httpx2.Client, url: str, key: AgentKey, name: str) -> str:
    """Register an agent with its own key, as anyone may on `serve`; its id."""
    body = {
        "name": name,
        "created_by": "test",
        "role": "agent",
        "public_key": key.public_key_pem(),
    }
    answer = http.post(f"{url}/api/create-agent", json=body)
    assert answer.status_code == 201, answer.text
    agent_id: str = answer.json()["agent_id"]
    return agent_id


def signed_token_request(url: str, key: AgentKey, agent_id: str) -> tuple[bytes, dict[str, str]]:
    """The exact bytes and headers of a signed `generate-token` (what a sniffer captures)."""
    body = json.dumps(
        {
            "agent_id": agent_id,
            "tools": ["serpapi"],
            "permissions": ["read"],
            "expires_at": utc_in(600),
        }
    ).encode()
    headers = {"content-type": "application/json", "x-correlation-id": uuid.uuid4().hex}
    target = f"{url}/api/generate-token"
    headers.update(RequestSigner(key, agent_id).sign("POST", target, headers, body))
    return body, headers


# ------------------------------------------------------------------------------ nonces


def test_a_captured_request_stays_refused_after_an_attacker_fills_the_nonce_store(
    http: httpx2.Client,
) -> None:
    victim_key, attacker_key = AgentKey.generate("ed25519"), AgentKey.generate("ed25519")
    with serve(GatewayLimits(max_nonces=40), rate_limit=None) as server:
        url = server.url
        victim = register(http, url, victim_key, "victim")
        attacker = register(http, url, attacker_key, "attacker")
        body, headers = signed_token_request(url, victim_key, victim)
        assert (
            http.post(f"{url}/api/generate-token", content=body, headers=headers).status_code == 201
        )

        # The attacker signs with a key of its own until the store holds no more.
        statuses = []
        for _ in range(60):
            flood_body, flood_headers = signed_token_request(url, attacker_key, attacker)
            answer = http.post(
                f"{url}/api/generate-token", content=flood_body, headers=flood_headers
            )
            statuses.append(answer.status_code)
        assert statuses.count(201) == 39  # the victim's nonce holds the 40th slot
        assert set(statuses[39:]) == {503}
        assert 1 <= int(answer.headers["retry-after"]) <= 400
        assert answer.json()["code"] == "RATE_LIMITED"

        replay = http.post(f"{url}/api/generate-token", content=body, headers=headers)
        assert replay.status_code == 401  # remembered, not evicted: still a replay
        assert replay.json()["code"] == "SIGNATURE_INVALID"


def test_a_nonce_longer_than_64_characters_is_refused_and_takes_no_slot(
    http: httpx2.Client,
) -> None:
    key = AgentKey.generate("ed25519")
    with serve(GatewayLimits(max_nonces=1)) as server:
        agent = register(http, server.url, key, "long-nonce")
        body, headers = signed_token_request(server.url, key, agent)
        nonce = headers["Signature-Input"].split('nonce="', 1)[1].split('"', 1)[0]
        headers["Signature-Input"] = headers["Signature-Input"].replace(nonce, "n" * 60_000)
        answer = http.post(f"{server.url}/api/generate-token", content=body, headers=headers)
        assert answer.status_code == 401
        body, headers = signed_token_request(server.url, key, agent)  # the one slot is free
        answer = http.post(f"{server.url}/api/generate-token", content=body, headers=headers)
        assert answer.status_code == 201
