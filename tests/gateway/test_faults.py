"""Faults on demand, through the mock transport (sync and async) and the loopback server."""

from __future__ import annotations

import json
import time

import httpx2
import pytest

from runrgateway.testing import AsyncGatewayMockTransport, EmbeddedGateway

from .conftest import AGENT_ID, WireClient

SEARCH = {"q": "test", "query": "test"}  # both names, as the SDK sends


def test_fail_next_answers_without_handling(wire: WireClient, gateway: EmbeddedGateway) -> None:
    token = wire.token()
    gateway.fail_next(2, status=503, route="proxy-request")
    for _ in range(2):
        answer = wire.proxy("serpapi", "search", SEARCH, token)
        assert answer.status_code == 503
        assert answer.json() == {"error": "Service Unavailable", "code": "UPSTREAM_FAILED"}
        assert answer.headers["retry-after"] == "0"
    assert gateway.tool_runs == 0
    assert wire.proxy("serpapi", "search", SEARCH, token).status_code == 200


def test_fail_next_sequences_and_custom_answers(wire: WireClient, gateway: EmbeddedGateway) -> None:
    token = wire.token()
    gateway.fail_next(1, status=503, route="proxy-request", retry_after=2)
    gateway.fail_next(1, status=429, body={"error": "slow down"}, headers={"retry-after-ms": "5"})
    gateway.fail_next(
        1, status=500, body=b"<html>oops</html>", headers={"content-type": "text/html"}
    )
    first = wire.proxy("serpapi", "search", SEARCH, token)
    second = wire.proxy("serpapi", "search", SEARCH, token)
    third = wire.proxy("serpapi", "search", SEARCH, token)
    assert (first.status_code, first.headers["retry-after"]) == (503, "2")
    assert second.status_code == 429 and second.json() == {"error": "slow down"}
    assert second.headers["retry-after-ms"] == "5" and second.headers["retry-after"] == "0"
    assert third.status_code == 500 and third.text == "<html>oops</html>"


def test_fail_next_respects_the_route(wire: WireClient, gateway: EmbeddedGateway) -> None:
    gateway.fail_next(1, status=502, route="proxy-request")
    token = wire.token()  # generate-token is not affected
    assert wire.proxy("serpapi", "search", SEARCH, token).status_code == 502


def test_delay_next(wire: WireClient, gateway: EmbeddedGateway) -> None:
    gateway.delay_next(1, 0.2, route="proxy-request")
    token = wire.token()
    started = time.perf_counter()
    assert wire.proxy("serpapi", "search", SEARCH, token).status_code == 200
    assert time.perf_counter() - started >= 0.2
    started = time.perf_counter()
    assert wire.proxy("serpapi", "search", SEARCH, token).status_code == 200
    assert time.perf_counter() - started < 0.2


def test_delay_past_the_read_timeout_is_a_read_timeout_after_handling(
    wire: WireClient, gateway: EmbeddedGateway
) -> None:
    token = wire.token()
    gateway.delay_next(1, 1.0, route="proxy-request")
    raw, headers = _signed_profile_call(wire, token)
    started = time.perf_counter()
    with pytest.raises(httpx2.ReadTimeout):
        wire.http.post(
            wire.base_url + "/api/proxy-request",
            content=raw,
            headers=headers,
            timeout=httpx2.Timeout(5.0, read=0.15),
        )
    assert time.perf_counter() - started < 0.9
    assert gateway.tool_runs == 1  # the gateway did the work; only the answer was late


def _signed_profile_call(wire: WireClient, token: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    call = {"agent_token": token["agent_token"], "tool": "gmail_send", "action": "profile"}
    raw = json.dumps({**call, "params": {}}).encode()
    headers = {"content-type": "application/json", "x-correlation-id": "c-timeout"}
    headers.update(wire.signer.sign("POST", wire.base_url + "/api/proxy-request", headers, raw))
    return raw, headers


def test_drop_after_handling(wire: WireClient, gateway: EmbeddedGateway) -> None:
    token = wire.token()
    gateway.drop_next(1, route="proxy-request")
    with pytest.raises(httpx2.RemoteProtocolError):
        wire.proxy(
            "gmail_send", "send", {"to": "a@b.co", "subject": "s", "body": "b", "text": "b"}, token
        )
    assert gateway.tool_runs == 1
    record = gateway.requests[-1]
    assert record.dropped and record.status is None
    assert wire.proxy("serpapi", "search", SEARCH, token).status_code == 200


def test_drop_before_sending(
    wire: WireClient, gateway: EmbeddedGateway, request: pytest.FixtureRequest
) -> None:
    token = wire.token()
    gateway.drop_next(1, route="proxy-request", before_sending=True)
    on_server = "server" in request.node.callspec.id
    expected = httpx2.RemoteProtocolError if on_server else httpx2.ConnectError
    with pytest.raises(expected):
        wire.proxy("serpapi", "search", SEARCH, token)
    assert gateway.tool_runs == 0
    assert wire.proxy("serpapi", "search", SEARCH, token).status_code == 200


def test_request_log_and_counters(wire: WireClient, gateway: EmbeddedGateway) -> None:
    token = wire.token()
    wire.proxy("serpapi", "search", SEARCH, token)
    wire.proxy("serpapi", "search", {}, token)
    assert gateway.count("generate-token") == 1
    assert gateway.count("proxy-request") == 2
    assert gateway.count("/api/proxy-request") == 2
    assert gateway.count() == 3
    first, second = gateway.requests[1:]
    assert first.method == "POST" and first.route == "proxy-request"
    assert first.json["tool"] == "serpapi" and first.status == 200
    assert (
        second.status == 400 and second.correlation_id and second.correlation_id.startswith("req_")
    )
    assert "signature" in first.headers
    assert gateway.tool_runs == 1
    assert gateway.tool_calls[0].tool == "serpapi"


def test_reset_forgets_state(wire: WireClient, gateway: EmbeddedGateway) -> None:
    wire.proxy("serpapi", "search", SEARCH)
    gateway.fail_next(5)
    gateway.reset()
    assert gateway.count() == 0 and gateway.tool_runs == 0
    assert wire.proxy("serpapi", "search", SEARCH).status_code == 200


# the async transport --------------------------------------------------------------


async def test_async_transport_faults(gateway: EmbeddedGateway, wire_key: object) -> None:
    from runrgateway._keys import AgentKey

    assert isinstance(wire_key, AgentKey)
    transport = AsyncGatewayMockTransport(
        gateway.url, agent_id=AGENT_ID, public_key_pem=wire_key.public_key_pem()
    )
    async with httpx2.AsyncClient(transport=transport, base_url=gateway.url) as http:
        assert (await http.get("/api/health")).status_code == 200
        gateway.fail_next(1, status=503)
        assert (await http.get("/api/health")).status_code == 503
        gateway.delay_next(1, 0.1)
        started = time.perf_counter()
        assert (await http.get("/api/health")).status_code == 200
        assert time.perf_counter() - started >= 0.1
        gateway.delay_next(1, 5.0)
        with pytest.raises(httpx2.ReadTimeout):
            await http.get("/api/health", timeout=httpx2.Timeout(1.0, read=0.05))
        gateway.drop_next(1)
        with pytest.raises(httpx2.RemoteProtocolError):
            await http.get("/api/health")
        gateway.drop_next(1, before_sending=True)
        with pytest.raises(httpx2.ConnectError):
            await http.get("/api/health")
    assert gateway.count("health") == 6


def test_an_injected_text_body_is_sent_as_text(wire: WireClient, gateway: EmbeddedGateway) -> None:
    gateway.fail_next(1, status=502, body="<html>Bad gateway</html>", route="proxy-request")
    answer = wire.proxy("serpapi", "search", SEARCH, wire.token())
    assert answer.status_code == 502 and answer.text == "<html>Bad gateway</html>"
    assert answer.headers["content-type"].startswith("text/plain")


def test_a_rate_limit_of_zero_is_none(wire: WireClient, gateway: EmbeddedGateway) -> None:
    gateway.set_rate_limit(0)
    token = wire.token()
    assert all(wire.proxy("serpapi", "search", SEARCH, token).status_code == 200 for _ in range(7))


def test_the_gateway_and_its_fault_plan_share_one_declaration() -> None:
    """`EmbeddedGateway.fail_next` and `FaultPlan.fail_next` (and the other fault methods)
    are one function each: their signatures and defaults cannot drift apart."""
    from runrgateway.testing import EmbeddedGateway, FaultPlan

    for name in ("fail_next", "delay_next", "drop_next", "fail_tool_next"):
        assert getattr(EmbeddedGateway, name) is getattr(FaultPlan, name), name
