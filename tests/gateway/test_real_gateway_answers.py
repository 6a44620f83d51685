"""Conformance with the real 4Runr Gateway in its mock mode (``UPSTREAM_MODE=mock``).

tests/fixtures/real-gateway-tool-answers.json holds the real gateway's answers to one
call of each built-in tool, recorded on loopback with raw httpx (a copy of the shared
fixture: tests do not read ../shared). Every recorded request is replayed, unsigned as
it was sent, against the embedded gateway in ``upstream_mode="mock"`` over a real
socket, in order (the recorded pause included, on the gateway's clock). Each answer
must have the recorded status, the same JSON structure (the same keys, in the same
order, and value types at every depth) and the same values wherever the recorded ones
are deterministic. The one addition Part B makes to error bodies, `code`, is allowed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx2
import pytest

from runrgateway.testing import ALLOW_BUILTIN_TOOLS, EmbeddedGateway, GatewayServer, ManualClock

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "real-gateway-tool-answers.json"
RECORDING: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
EXCHANGES = [step for step in RECORDING["exchanges"] if "request" in step]
CORRELATION = re.compile(r"^req_\d{13}_[0-9a-z]{9}$")
TOOLS = ["serpapi", "http_fetch", "openai", "gmail_send"]

# Values the real gateway makes up afresh on every call (a clock reading, a random id,
# a duration) or that the recording replaced by a placeholder: compared by type only.
UNSTABLE: dict[tuple[str, str], re.Pattern[str] | None] = {
    ("data", "ts"): None,
    ("data", "id"): re.compile(r"^mock_[0-9a-z]{11}$"),
    ("metadata", "response_time_ms"): None,
    ("metadata", "agent_id"): None,
}


def shape(value: Any) -> Any:
    """The JSON structure of a value: key order, keys and types at every depth."""
    if isinstance(value, dict):
        return [(key, shape(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [shape(item) for item in value]
    return type(value).__name__


def stable(body: Any) -> Any:
    """The body without its unstable values (a copy)."""
    if not isinstance(body, dict):
        return body
    copy = json.loads(json.dumps(body))
    for outer, inner in UNSTABLE:
        if isinstance(copy.get(outer), dict) and inner in copy[outer]:
            copy[outer][inner] = "<unstable>"
    return copy


@pytest.fixture(scope="module")
def replayed() -> list[tuple[dict[str, Any], httpx2.Response]]:
    """Every recorded exchange and the embedded gateway's answer to its request."""
    clock = ManualClock()
    gateway = EmbeddedGateway(
        "real-mock-mode", upstream_mode="mock", clock=clock, default_policy=ALLOW_BUILTIN_TOOLS
    )
    tokens: dict[str, str] = {}
    agent_name = "rec-0"
    answers: list[tuple[dict[str, Any], httpx2.Response]] = []
    with GatewayServer(gateway) as server, httpx2.Client(base_url=server.url) as http:
        for step in RECORDING["exchanges"]:
            if "pause_s" in step:
                clock.advance(step["pause_s"])
                continue
            recorded = step["response"]["json"]
            agent_name = recorded.get("metadata", {}).get("agent_name", agent_name)
            if agent_name not in tokens:  # the recording's agents, under their names
                agent = gateway.create_agent(agent_name, generate_key=False)
                tokens[agent_name] = gateway.issue_token(
                    agent.agent_id, TOOLS, ["read", "write"]
                ).agent_token
            body = dict(step["request"]["json"], agent_token=tokens[agent_name])
            request = step["request"]
            answers.append((step, http.request(request["method"], request["path"], json=body)))
    return answers


def test_the_recording_has_every_tool_action_and_both_quirks() -> None:
    pairs = {(e["request"]["json"]["tool"], e["request"]["json"]["action"]) for e in EXCHANGES}
    assert len(EXCHANGES) == 12
    assert pairs == {
        ("serpapi", "search"),
        ("http_fetch", "get"),
        ("http_fetch", "head"),
        ("openai", "chat"),
        ("openai", "complete"),
        ("gmail_send", "send"),
        ("gmail_send", "profile"),
    }


@pytest.mark.parametrize("index", range(len(EXCHANGES)))
def test_each_answer_is_the_real_gateways(
    replayed: list[tuple[dict[str, Any], httpx2.Response]], index: int
) -> None:
    step, answer = replayed[index]
    recorded = step["response"]
    assert answer.status_code == recorded["status"], answer.text
    assert answer.headers["content-type"] == recorded["headers"]["content-type"]
    assert CORRELATION.match(answer.headers["x-correlation-id"])
    body = answer.json()
    if recorded["status"] >= 400:
        assert body.pop("code")  # Part B's addition to every error body
    assert shape(body) == shape(recorded["json"])
    assert stable(body) == stable(recorded["json"])
    for (outer, inner), pattern in UNSTABLE.items():
        if pattern is not None and inner in recorded["json"].get(outer, {}):
            assert pattern.match(body[outer][inner]), body[outer][inner]


def test_the_search_timestamp_is_the_gateways_clock(
    replayed: list[tuple[dict[str, Any], httpx2.Response]],
) -> None:
    stamps = [
        a.json()["data"]["ts"] for s, a in replayed if "ts" in s["response"]["json"].get("data", {})
    ]
    assert len(stamps) == 2 and all(isinstance(stamp, int) for stamp in stamps)
    assert abs(stamps[0] / 1000 - ManualClock()()) < 3600  # milliseconds since the epoch


def test_each_email_gets_its_own_id_and_runs_repeat() -> None:
    """The real id is random; ours is new per email and the same from run to run."""

    def two_ids() -> list[str]:
        gateway = EmbeddedGateway("ids", upstream_mode="mock", default_policy=ALLOW_BUILTIN_TOOLS)
        agent = gateway.create_agent("mailer", generate_key=False)
        token = gateway.issue_token(agent.agent_id, ["gmail_send"], ["read", "write"])
        params = {"to": "a@b.co", "subject": "Hi", "body": "x", "text": "x"}
        with GatewayServer(gateway) as server, httpx2.Client(base_url=server.url) as http:
            return [
                http.post(
                    "/api/proxy-request",
                    json={
                        "agent_token": token.agent_token,
                        "tool": "gmail_send",
                        "action": "send",
                        "params": params,
                    },
                ).json()["data"]["id"]
                for _ in range(2)
            ]

    first = two_ids()
    assert first[0] != first[1] and two_ids() == first
