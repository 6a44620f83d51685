"""Part B: background jobs and Idempotency-Key replays."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx2

from runrgateway.testing import EmbeddedGateway

from .conftest import WireClient

EMAIL = {"to": "prospect@company.com", "subject": "Hi", "body": "Hello", "text": "Hello"}


def _wait_done(wire: WireClient, job_id: str, timeout_s: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        answer = wire.get(f"/api/jobs/{job_id}")
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        if body["status"] in ("done", "failed") or time.monotonic() > deadline:
            return body
        time.sleep(0.01)


def test_async_call_is_queued_then_done(wire: WireClient, gateway: EmbeddedGateway) -> None:
    queued = wire.proxy("serpapi", "search", {"q": "x", "query": "x", "num": 2}, **{"async": True})
    assert queued.status_code == 202
    body = queued.json()
    assert set(body) == {"job_id", "status"} and body["status"] == "queued"
    assert queued.headers["x-correlation-id"].startswith("req_")
    done = _wait_done(wire, body["job_id"])
    assert done["status"] == "done" and done["error"] is None
    assert done["job_id"] == body["job_id"]
    assert (
        done["result"]
        == wire.proxy("serpapi", "search", {"q": "x", "query": "x", "num": 2}).json()["data"]
    )


def test_job_passes_through_running(wire: WireClient, gateway: EmbeddedGateway) -> None:
    gateway.tool_latency_s = 0.2
    job_id = wire.proxy("gmail_send", "send", EMAIL, **{"async": True}).json()["job_id"]
    seen = set()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        status = wire.get(f"/api/jobs/{job_id}").json()["status"]
        seen.add(status)
        if status == "done":
            break
        time.sleep(0.02)
    assert "running" in seen and "done" in seen


def test_failed_job(wire: WireClient, gateway: EmbeddedGateway) -> None:
    gateway.fail_tool_next(1, details="SMTP down")
    job_id = wire.proxy("gmail_send", "send", EMAIL, **{"async": True}).json()["job_id"]
    failed = _wait_done(wire, job_id)
    assert failed["status"] == "failed" and failed["result"] is None
    assert "SMTP down" in failed["error"]


def test_checks_run_before_a_job_is_queued(wire: WireClient) -> None:
    answer = wire.proxy("serpapi", "search", {}, **{"async": True})
    assert answer.status_code == 400


def test_unknown_job_is_404(wire: WireClient) -> None:
    answer = wire.get("/api/jobs/job_does_not_exist")
    assert answer.status_code == 404 and answer.json()["code"] == "NOT_FOUND"


# idempotency ------------------------------------------------------------------------


def test_same_key_same_body_replays_without_running_again(
    wire: WireClient, gateway: EmbeddedGateway
) -> None:
    token = wire.token()
    key = {"idempotency-key": "key-1"}
    first = wire.proxy("gmail_send", "send", EMAIL, token, headers=key)
    second = wire.proxy("gmail_send", "send", EMAIL, token, headers=key)
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert gateway.tool_runs == 1


def test_replay_survives_a_new_token(wire: WireClient, gateway: EmbeddedGateway) -> None:
    key = {"idempotency-key": "key-token"}
    first = wire.proxy("gmail_send", "send", EMAIL, wire.token(), headers=key)
    second = wire.proxy("gmail_send", "send", EMAIL, wire.token(), headers=key)
    assert second.json() == first.json() and gateway.tool_runs == 1


def test_same_key_other_body_is_422(wire: WireClient, gateway: EmbeddedGateway) -> None:
    key = {"idempotency-key": "key-2"}
    assert wire.proxy("gmail_send", "send", EMAIL, headers=key).status_code == 200
    other = wire.proxy("gmail_send", "send", {**EMAIL, "subject": "Other"}, headers=key)
    assert other.status_code == 422
    assert other.json()["code"] == "IDEMPOTENCY_CONFLICT"
    assert gateway.tool_runs == 1


def test_failed_first_attempt_is_not_stored(wire: WireClient, gateway: EmbeddedGateway) -> None:
    gateway.fail_tool_next(1)
    key = {"idempotency-key": "key-3"}
    assert wire.proxy("gmail_send", "send", EMAIL, headers=key).status_code == 502
    retry = wire.proxy("gmail_send", "send", EMAIL, headers=key)
    assert retry.status_code == 200 and "idempotent-replayed" not in retry.headers


def test_async_replay_returns_the_same_job(wire: WireClient) -> None:
    key = {"idempotency-key": "key-4"}
    first = wire.proxy("gmail_send", "send", EMAIL, headers=key, **{"async": True})
    second = wire.proxy("gmail_send", "send", EMAIL, headers=key, **{"async": True})
    assert first.status_code == second.status_code == 202
    assert first.json()["job_id"] == second.json()["job_id"]


def test_same_key_while_the_first_runs_is_409(wire: WireClient, gateway: EmbeddedGateway) -> None:
    gateway.tool_latency_s = 0.4
    token = wire.token()
    key = {"idempotency-key": "key-5"}
    results: list[httpx2.Response] = []
    first = threading.Thread(
        target=lambda: results.append(wire.proxy("gmail_send", "send", EMAIL, token, headers=key))
    )
    first.start()
    time.sleep(0.15)  # the first call is now inside its (slow) tool run
    second = wire.proxy("gmail_send", "send", EMAIL, token, headers=key)
    first.join(5)
    assert second.status_code == 409
    assert second.json()["code"] == "IDEMPOTENCY_CONFLICT"
    assert second.headers["retry-after"] == "1"  # when to ask again (Part B addition)
    assert results[0].status_code == 200
    assert gateway.tool_runs == 1


def test_each_send_is_a_new_message_and_a_replay_is_not(
    wire: WireClient, gateway: EmbeddedGateway
) -> None:
    token = wire.token()
    first = wire.proxy("gmail_send", "send", EMAIL, token).json()["data"]["messageId"]
    second = wire.proxy("gmail_send", "send", EMAIL, token).json()["data"]["messageId"]
    key = {"idempotency-key": "key-new-message"}
    keyed = wire.proxy("gmail_send", "send", EMAIL, token, headers=key).json()["data"]
    replayed = wire.proxy("gmail_send", "send", EMAIL, token, headers=key).json()["data"]
    keyed, replayed = keyed["messageId"], replayed["messageId"]
    assert len({first, second, keyed}) == 3 and replayed == keyed
    assert gateway.tool_runs == 3


def test_every_answer_to_a_keyed_request_echoes_the_key(
    wire: WireClient, gateway: EmbeddedGateway
) -> None:
    """Part B: the echo tells a client that this gateway keeps keys; 5xx included."""
    token = wire.token()
    key = {"idempotency-key": "echo-me"}
    answers = [
        wire.proxy("gmail_send", "send", EMAIL, token, headers=key),  # 200
        wire.proxy("gmail_send", "send", EMAIL, token, headers=key),  # 200, replayed
        wire.proxy("gmail_send", "send", {**EMAIL, "to": "x"}, token, headers=key),  # 400
        wire.proxy("openai", "chat", {"messages": [{"role": "user", "content": "hi"}]},
                   token, headers={"idempotency-key": "no-model"}),  # 502 from the adapter
    ]  # fmt: skip
    gateway.fail_next(1, 503, route="proxy-request")
    answers.append(wire.proxy("serpapi", "search", {"q": "a", "query": "a"}, token, headers=key))
    assert [a.status_code for a in answers] == [200, 200, 400, 502, 503]
    assert answers[1].headers["idempotent-replayed"] == "true"
    assert [a.headers.get("idempotency-key") for a in answers] == [
        "echo-me", "echo-me", "echo-me", "no-model", "echo-me"
    ]  # fmt: skip
    unkeyed = wire.proxy("gmail_send", "profile", {}, token)
    assert "idempotency-key" not in unkeyed.headers
