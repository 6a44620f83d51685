"""What the client puts on the wire: paths, bodies, headers, intent, ids."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import httpx2
import pytest

from runrgateway import (
    GatewayClient,
    GatewayError,
    GatewayValidationError,
    JobResponse,
    TokenOptions,
    __version__,
)
from tests.helpers import BASE, gateway_token, json_body, proxy_answer

from .conftest import Router


@pytest.fixture
async def client(agent_pem: str) -> AsyncIterator[GatewayClient]:
    async with GatewayClient(BASE + "/", "agent-1", agent_pem, "lead_discovery") as gw:
        yield gw


async def test_get_token_sends_utc_expiry_and_returns_the_token(
    router: Router, client: GatewayClient
) -> None:
    before = datetime.now(timezone.utc)
    token = await client.get_token(
        {"tools": ["serpapi"], "permissions": ["read"], "ttl_minutes": 15}
    )
    request = router.calls.last.request
    body = json_body(request)
    assert request.url.path == "/api/generate-token"
    assert body["agent_id"] == "agent-1"
    assert body["tools"] == ["serpapi"] and body["permissions"] == ["read"]
    assert body["expires_at"].endswith("Z")
    expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert timedelta(minutes=14.9) < expires - before < timedelta(minutes=15.1)
    assert isinstance(token, str) and token.count(".") == 1


async def test_get_token_info_exposes_id_and_expiry(router: Router, client: GatewayClient) -> None:
    info = await client.get_token_info(TokenOptions(tools=["serpapi"], permissions=["read"]))
    assert info.token_id and info.token_id.startswith("tok-")
    assert info.expires_at > datetime.now(timezone.utc)
    assert info.agent_token not in repr(info)


@pytest.mark.parametrize(
    "opts",
    [
        {"tools": [], "permissions": ["read"]},
        {"tools": ["serpapi"], "permissions": []},
        {"tools": "serpapi", "permissions": ["read"]},
        {"tools": ["serpapi"]},
        {"tools": ["serpapi"], "permissions": ["read"], "ttl_minutes": 0},
        {"tools": ["serpapi"], "permissions": ["read"], "ttl_minutes": 1441},
        {"tools": ["serpapi"], "permissions": ["read"], "ttl_minutes": "15"},
        {"tools": ["serpapi"], "permissions": ["read"], "ttl": 15},
        ["serpapi"],
    ],
)
async def test_invalid_token_options_are_refused_before_any_request(
    router: Router, client: GatewayClient, opts: object
) -> None:
    with pytest.raises(GatewayValidationError) as caught:
        await client.get_token(opts)  # type: ignore[arg-type]
    assert caught.value.status_code is None
    assert router.calls.call_count == 0


async def test_proxy_body_headers_and_intent(router: Router, client: GatewayClient) -> None:
    route = router.post("/api/proxy-request").mock(return_value=proxy_answer([{"title": "x"}]))
    token = gateway_token(tools=["serpapi"])
    params = {"q": "site:linkedin.com Montreal plumber", "engine": "google"}
    original = json.loads(json.dumps(params))

    results = await client.proxy("serpapi", "search", params, token)

    assert results == [{"title": "x"}]
    assert params == original  # the caller's dict is never modified
    request = route.calls.last.request
    body = json_body(request)
    assert body["agent_token"] == token
    assert (body["tool"], body["action"]) == ("serpapi", "search")
    assert body["params"] == {**original, "query": original["q"], "intent": "lead_discovery"}
    assert body["intent"] == "lead_discovery"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith(f"runrgateway/{__version__}")
    assert request.headers["x-correlation-id"].startswith("runr-")
    assert request.headers["idempotency-key"]
    for header in ("signature", "signature-input", "content-digest"):
        assert header in request.headers


async def test_intent_in_params_wins_and_set_intent_changes_it(
    router: Router, client: GatewayClient
) -> None:
    route = router.post("/api/proxy-request").mock(return_value=proxy_answer())
    token = gateway_token(tools=["serpapi"])
    await client.proxy("serpapi", "search", {"q": "a", "intent": "research"}, token)
    assert json_body(route.calls.last.request)["params"]["intent"] == "research"
    assert json_body(route.calls.last.request)["intent"] == "research"
    client.set_intent("marketing")
    await client.proxy("serpapi", "search", {"q": "a"}, token)
    assert json_body(route.calls.last.request)["params"]["intent"] == "marketing"
    client.set_intent(None)
    await client.proxy("serpapi", "search", {"q": "a"}, token)
    body = json_body(route.calls.last.request)
    assert "intent" not in body["params"] and "intent" not in body


async def test_idempotency_key_sources(router: Router, client: GatewayClient) -> None:
    route = router.post("/api/proxy-request").mock(return_value=proxy_answer())
    token = gateway_token(tools=["gmail_send"], permissions=["read", "write"])
    email = {"to": "a@b.c", "subject": "s", "body": "b"}
    await client.proxy("gmail_send", "send", {**email, "idempotency_key": "from-params"}, token)
    assert route.calls.last.request.headers["idempotency-key"] == "from-params"
    assert json_body(route.calls.last.request)["params"]["idempotency_key"] == "from-params"
    await client.proxy("gmail_send", "send", email, token, idempotency_key="from-argument")
    assert route.calls.last.request.headers["idempotency-key"] == "from-argument"
    await client.proxy("gmail_send", "send", email, token)
    await client.proxy("gmail_send", "send", email, token)
    generated = [call.request.headers["idempotency-key"] for call in route.calls[-2:]]
    assert generated[0] != generated[1]


async def test_correlation_ids_are_new_per_call_or_the_callers(
    router: Router, client: GatewayClient
) -> None:
    route = router.post("/api/proxy-request").mock(return_value=proxy_answer())
    token = gateway_token(tools=["serpapi"])
    first = await client.proxy_response("serpapi", "search", {"q": "a"}, token)
    second = await client.proxy_response("serpapi", "search", {"q": "a"}, token)
    mine = await client.proxy_response("serpapi", "search", {"q": "a"}, token, correlation_id="c-1")
    sent = [call.request.headers["x-correlation-id"] for call in route.calls]
    assert sent == [first.correlation_id, second.correlation_id, "c-1"]
    assert first.correlation_id != second.correlation_id and mine.correlation_id == "c-1"
    assert first.server_correlation_id == "req_1700000000000_abcdefghi"


async def test_proxy_response_fields(router: Router, client: GatewayClient) -> None:
    router.post("/api/proxy-request").mock(
        return_value=proxy_answer(
            {"n": 1},
            **{
                "x-token-rotation-recommended": "true",
                "x-token-expires-at": "2030-01-01T00:00:00Z",
            },
        )
    )
    response = await client.proxy_response(
        "serpapi", "search", {"q": "a"}, gateway_token(tools=["serpapi"])
    )
    assert response.data == {"n": 1} and response.status_code == 200
    assert response.metadata["response_time_ms"] == 3
    assert response.rotation_recommended
    assert response.token_expires_at == datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert response.attempts == 1 and not response.idempotent_replayed
    # to_dict / to_json write it as the gateway does; from_dict reads it back
    assert response.to_dict()["token_expires_at"] == "2030-01-01T00:00:00.000Z"
    assert type(response).from_json(response.to_json()) == response


async def test_token_expires_at_without_the_header_comes_from_the_token(
    router: Router, client: GatewayClient
) -> None:
    """No X-Token-Expires-At (the gateway sends it with rotation hints only): a managed
    token's expiry and a readable caller token's expiry still fill the field."""
    router.post("/api/generate-token").mock(
        return_value=httpx2.Response(
            201,
            json={
                "agent_token": gateway_token(tools=["serpapi"]),
                "token_id": "tok-1",
                "expires_at": "2031-05-06T07:08:09Z",
            },
        )
    )
    router.post("/api/proxy-request").mock(return_value=proxy_answer({"n": 1}))
    managed = await client.proxy_response("serpapi", "search", {"q": "a"})
    assert managed.token_expires_at == datetime(2031, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    soon = datetime.now(timezone.utc) + timedelta(minutes=7)
    mine = await client.proxy_response(
        "serpapi", "search", {"q": "a"}, gateway_token(tools=["serpapi"], expires_at=soon)
    )
    assert mine.token_expires_at is not None and mine.token_expires_at.tzinfo is not None
    assert abs((mine.token_expires_at - soon).total_seconds()) < 1


@pytest.mark.parametrize("params", [{"when": datetime.now()}, {"x": float("nan")}, "q=1", [1]])
async def test_unserialisable_params_are_refused_before_any_request(
    router: Router, client: GatewayClient, params: object
) -> None:
    with pytest.raises(GatewayValidationError):
        await client.proxy("serpapi", "search", params)  # type: ignore[arg-type]
    assert router.calls.call_count == 0


@pytest.mark.parametrize("tool, action", [("", "search"), ("serpapi", ""), (None, "x")])
async def test_tool_and_action_must_be_named(
    router: Router, client: GatewayClient, tool: object, action: object
) -> None:
    with pytest.raises(GatewayValidationError):
        await client.proxy(tool, action, {})  # type: ignore[arg-type]
    assert router.calls.call_count == 0


async def test_proxy_async_returns_the_job_id(router: Router, client: GatewayClient) -> None:
    route = router.post("/api/proxy-request").mock(
        return_value=httpx2.Response(202, json={"job_id": "job-1", "status": "queued"})
    )
    job = await client.proxy_async(
        "gmail_send", "send", {"to": "a@b.c", "subject": "s", "body": "b"},
        gateway_token(tools=["gmail_send"], permissions=["read", "write"]),
    )  # fmt: skip
    assert job == {"job_id": "job-1", "status": "queued"}
    assert json_body(route.calls.last.request)["async"] is True


async def test_proxy_async_against_a_gateway_without_jobs(
    router: Router, client: GatewayClient
) -> None:
    router.post("/api/proxy-request").mock(return_value=proxy_answer({"message_id": "m1"}))
    with pytest.raises(GatewayError) as caught:
        await client.proxy_async("serpapi", "search", {"q": "a"}, gateway_token(tools=["serpapi"]))
    assert "does not support jobs" in str(caught.value)
    assert caught.value.code == "JOBS_UNSUPPORTED"
    assert caught.value.response.data == {"message_id": "m1"}  # it ran: here is its answer


async def test_get_job_is_a_get_without_body_headers(router: Router, client: GatewayClient) -> None:
    route = router.get("/api/jobs/job-1").mock(
        return_value=httpx2.Response(
            200, json={"job_id": "job-1", "status": "done", "result": {"id": 7}, "error": None}
        )
    )
    job = await client.get_job("job-1")
    assert job == JobResponse(job_id="job-1", status="done", result={"id": 7}, error=None)
    request = route.calls.last.request
    assert request.content == b""
    assert "content-type" not in request.headers and "content-digest" not in request.headers
    assert "signature" in request.headers


@pytest.mark.parametrize(
    "job_id, raw_path",
    [
        ("../admin", "/api/jobs/..%2Fadmin"),
        ("a/b?c#d", "/api/jobs/a%2Fb%3Fc%23d"),
        ("..", "/api/jobs/%2E%2E"),
    ],
)
async def test_job_id_is_one_path_segment(
    router: Router, client: GatewayClient, job_id: str, raw_path: str
) -> None:
    route = router.route(method="GET").mock(
        return_value=httpx2.Response(200, json={"job_id": job_id, "status": "queued"})
    )
    await client.get_job(job_id)
    assert route.calls.last.request.url.raw_path.decode() == raw_path


async def test_wait_for_job_polls_until_done(router: Router, client: GatewayClient) -> None:
    route = router.get("/api/jobs/j").mock(
        side_effect=[
            httpx2.Response(200, json={"job_id": "j", "status": "queued"}),
            httpx2.Response(200, json={"job_id": "j", "status": "running"}),
            httpx2.Response(200, json={"job_id": "j", "status": "done", "result": 1}),
        ]
    )
    job = await client.wait_for_job("j", poll_interval_s=0.01)
    assert (job.status, job.result, route.call_count) == ("done", 1, 3)


async def test_wait_for_job_times_out(router: Router, client: GatewayClient) -> None:
    from runrgateway import GatewayTimeoutError

    router.get("/api/jobs/j").mock(
        return_value=httpx2.Response(200, json={"job_id": "j", "status": "running"})
    )
    with pytest.raises(GatewayTimeoutError, match="still running"):
        await client.wait_for_job("j", timeout_s=0.1, poll_interval_s=0.02)


async def test_a_success_body_that_is_not_json(router: Router, client: GatewayClient) -> None:
    router.post("/api/proxy-request").mock(
        return_value=httpx2.Response(200, text="<html>hi</html>")
    )
    with pytest.raises(GatewayError) as caught:
        await client.proxy(
            "serpapi",
            "search",
            {"q": "a"},
            gateway_token(tools=["serpapi"]),
            correlation_id="mine-1",
        )
    message = str(caught.value)
    assert caught.value.code == "BAD_RESPONSE" and "not from a 4Runr Gateway" in message
    assert "HTTP 200, text/plain): 'hi'" in message
    assert caught.value.correlation_id == "mine-1" and caught.value.status_code == 200


@pytest.mark.parametrize(
    "route, answer, call",
    [
        ("/api/jobs/j", {"job_id": "j", "status": "finished"}, "job"),
        ("/api/jobs/j", ["not", "an", "object"], "job"),
        ("/api/generate-token", {"token_id": "t"}, "token"),
    ],
)
async def test_success_answers_that_make_no_sense(
    router: Router, client: GatewayClient, route: str, answer: object, call: str
) -> None:
    answered = router["token"] if call == "token" else router.route(path=route)
    answered.mock(side_effect=None, return_value=httpx2.Response(200, json=answer))
    with pytest.raises(GatewayError) as caught:
        if call == "job":
            await client.get_job("j")
        else:
            await client.get_token({"tools": ["serpapi"], "permissions": ["read"]})
    sent = router.calls.last.request.headers["x-correlation-id"]
    assert caught.value.code == "BAD_RESPONSE" and caught.value.correlation_id == sent


@pytest.mark.parametrize(
    "kwargs",
    [
        {"correlation_id": "corré"},
        {"correlation_id": "two\nlines"},
        {"correlation_id": ""},
        {"idempotency_key": "ключ"},
        {"idempotency_key": "k\r\nX-Evil: 1"},
        {"idempotency_key": ""},
    ],
)
async def test_header_bound_arguments_are_checked_before_anything_is_sent(
    router: Router, client: GatewayClient, kwargs: dict[str, str]
) -> None:
    with pytest.raises(GatewayValidationError):
        await client.proxy(
            "gmail_send", "send", {"to": "a@b.c", "subject": "s", "body": "b"}, **kwargs
        )  # type: ignore[arg-type]
    with pytest.raises(GatewayValidationError):
        await client.proxy("serpapi", "search", {"q": "a", "idempotency_key": "clé"})
    assert router.calls.call_count == 0  # not even a token was minted


async def test_caller_http_client_is_not_closed(router: Router, agent_pem: str) -> None:
    http = router.http_client()
    async with GatewayClient(BASE, "agent-1", agent_pem, http_client=http) as gw:
        await gw.get_token({"tools": ["serpapi"], "permissions": ["read"]})
    assert not http.is_closed
    await http.aclose()


async def test_serpapi_query_is_sent_under_both_names(
    router: Router, client: GatewayClient
) -> None:
    route = router.post("/api/proxy-request").mock(return_value=proxy_answer())
    token = gateway_token(tools=["serpapi"])
    params = {"q": "plumbers"}
    await client.proxy("serpapi", "search", params, token)
    sent = json_body(route.calls.last.request)["params"]
    assert (sent["q"], sent["query"]) == ("plumbers", "plumbers") and params == {"q": "plumbers"}
    await client.proxy("serpapi", "search", {"query": "roofers"}, token)
    sent = json_body(route.calls.last.request)["params"]
    assert (sent["q"], sent["query"]) == ("roofers", "roofers")
    await client.proxy("serpapi", "search", {"q": "a", "query": "b"}, token)
    sent = json_body(route.calls.last.request)["params"]
    assert (sent["q"], sent["query"]) == ("a", "b")


async def test_email_text_is_sent_as_body_and_text(router: Router, client: GatewayClient) -> None:
    """The real validator wants `body`, its gmail adapters read `text`: both go out."""
    route = router.post("/api/proxy-request").mock(return_value=proxy_answer())
    token = gateway_token(tools=["gmail_send"], permissions=["read", "write"])
    params = {"to": "a@b.c", "subject": "s", "body": "Hello"}
    await client.proxy("gmail_send", "send", params, token)
    sent = json_body(route.calls.last.request)["params"]
    assert (sent["body"], sent["text"]) == ("Hello", "Hello") and "text" not in params
    await client.proxy("gmail_send", "send", {"to": "a@b.c", "subject": "s", "text": "Hi"}, token)
    sent = json_body(route.calls.last.request)["params"]
    assert (sent["body"], sent["text"]) == ("Hi", "Hi")
    both = {"to": "a@b.c", "subject": "s", "body": "plain", "text": "other"}
    await client.proxy("gmail_send", "send", both, token)
    sent = json_body(route.calls.last.request)["params"]
    assert (sent["body"], sent["text"]) == ("plain", "other")  # never overwritten
    await client.proxy("gmail_send", "profile", {"body": "x"}, token)
    assert "text" not in json_body(route.calls.last.request)["params"]  # send only


async def test_wait_for_job_reports_each_poll_and_backs_off(
    router: Router, client: GatewayClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    # The module that defines wait_for_job (the class itself reports `runrgateway`).
    monkeypatch.setattr(sys.modules[type(client).wait_for_job.__module__], "JOB_POLL_CAP_S", 0.12)
    states = ["queued", "running", "running", "running", "running", "done"]
    router.get("/api/jobs/j").mock(
        side_effect=[httpx2.Response(200, json={"job_id": "j", "status": s}) for s in states]
    )
    seen: list[tuple[str, float]] = []
    job = await client.wait_for_job(
        "j", poll_interval_s=0.05, on_poll=lambda job, elapsed: seen.append((job.status, elapsed))
    )
    assert job.status == "done" and [status for status, _ in seen] == states
    gaps = [later - earlier for (_, earlier), (_, later) in itertools.pairwise(seen)]
    assert gaps[0] >= 0.045 and gaps[1] >= 0.07  # 0.05, then 0.075: growing
    assert all(gap < 0.12 + 0.1 for gap in gaps[2:])  # capped (0.12 here, 5 s by default)
