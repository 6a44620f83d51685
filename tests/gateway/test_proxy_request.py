"""`POST /api/proxy-request`: every row of wire.md's check order, in order."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from typing import Any

import pytest

from runrgateway.testing import EmbeddedGateway

from .conftest import AGENT_ID, WireClient, token_payload, utc_in

CORRELATION = re.compile(r"^req_\d{13}_[0-9a-z]{9}$")
MISSING = "Missing required fields: agent_token, tool, action, and params are required."
SEARCH = {"q": "openai canada", "query": "openai canada", "engine": "google"}


def _assert_error(answer: Any, status: int, error: str, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert body["error"] == error
    assert body["code"] == code
    assert CORRELATION.match(answer.headers["x-correlation-id"])
    return body


def test_200_shape_and_correlation_id(wire: WireClient) -> None:
    answer = wire.proxy("serpapi", "search", {**SEARCH, "num": 3})
    assert answer.status_code == 200
    body = answer.json()
    assert body["success"] is True
    results = body["data"]["organic_results"]  # SerpAPI's own JSON, as the live gateway passes it
    assert [r["position"] for r in results] == [1, 2, 3]
    assert {"title", "link", "snippet", "displayed_link"} <= set(results[0])
    assert set(body["metadata"]) == {"agent_id", "agent_name", "tool", "action", "response_time_ms"}
    assert body["metadata"]["agent_id"] == AGENT_ID
    assert CORRELATION.match(answer.headers["x-correlation-id"])
    assert "x-token-rotation-recommended" not in answer.headers


def test_gateway_mints_its_own_correlation_id(wire: WireClient) -> None:
    first = wire.proxy("serpapi", "search", SEARCH, headers={"x-correlation-id": "mine-123"})
    second = wire.proxy("serpapi", "search", SEARCH)
    assert first.headers["x-correlation-id"] != "mine-123"
    assert first.headers["x-correlation-id"] != second.headers["x-correlation-id"]


def test_tool_results_are_deterministic(wire: WireClient) -> None:
    token = wire.token()
    first = wire.proxy("serpapi", "search", SEARCH, token).json()["data"]
    second = wire.proxy("serpapi", "search", {**SEARCH, "q": SEARCH["query"]}, token).json()["data"]
    assert first == second


# 1. required fields ----------------------------------------------------------------


@pytest.mark.parametrize("missing", ["agent_token", "tool", "action", "params"])
def test_1_missing_field(wire: WireClient, missing: str) -> None:
    token = wire.token()
    body = {"agent_token": token["agent_token"], "tool": "serpapi", "action": "search"}
    body["params"] = SEARCH  # type: ignore[assignment]
    del body[missing]
    _assert_error(wire.post("/api/proxy-request", body), 400, MISSING, "VALIDATION_FAILED")


def test_1_empty_params_object_is_not_missing(wire: WireClient) -> None:
    answer = wire.proxy("gmail_send", "profile", {})
    assert answer.status_code == 200


# 2. provenance ---------------------------------------------------------------------


def test_2_exact_payload_bytes_are_accepted(wire: WireClient) -> None:
    assert wire.proxy("serpapi", "search", SEARCH, provenance=True).status_code == 200


def test_2_proof_payload_required_with_token_id(wire: WireClient) -> None:
    token = wire.token()
    answer = wire.proxy(
        "serpapi", "search", SEARCH, token, provenance=False, token_id=token["token_id"]
    )
    body = _assert_error(
        answer,
        400,
        "Token provenance validation requires proof_payload when token_id is provided.",
        "VALIDATION_FAILED",
    )
    assert body


def test_2_unknown_token_id(wire: WireClient) -> None:
    token = wire.token()
    answer = wire.proxy(
        "serpapi",
        "search",
        SEARCH,
        token,
        provenance=False,
        token_id="00000000-0000-0000-0000-000000000000",
        proof_payload=token_payload(token["agent_token"]),
    )
    _assert_error(answer, 403, "Token not found in registry", "TOKEN_INVALID")


def test_2_reserialised_json_fails_the_proof(wire: WireClient) -> None:
    token = wire.token()
    reserialised = json.dumps(json.loads(token_payload(token["agent_token"])))  # ", " and ": "
    answer = wire.proxy(
        "serpapi",
        "search",
        SEARCH,
        token,
        provenance=False,
        token_id=token["token_id"],
        proof_payload=reserialised,
    )
    _assert_error(answer, 403, "Token proof verification failed", "TOKEN_INVALID")


@pytest.mark.parametrize("how", ["admin-route", "helper"])
def test_2_revoked_token(wire: WireClient, gateway: EmbeddedGateway, how: str) -> None:
    token = wire.token()
    if how == "admin-route":
        revoked = wire.post(f"/api/admin/tokens/{token['token_id']}/revoke", sign=False)
        assert revoked.status_code == 200
    else:
        assert gateway.revoke_token(token["token_id"])
    answer = wire.proxy("serpapi", "search", SEARCH, token)
    _assert_error(answer, 403, "Token has been revoked", "TOKEN_REVOKED")
    # Revocation is only enforced through provenance: without token_id the token still works.
    assert wire.proxy("serpapi", "search", SEARCH, token, provenance=False).status_code == 200


# 3 and 4. token format, HMAC, decoding, expiry ---------------------------------------


def test_3_token_without_dot(wire: WireClient) -> None:
    token = {"agent_token": "no-dot-here", "token_id": None}
    answer = wire.proxy("serpapi", "search", SEARCH, token, provenance=False)
    body = _assert_error(answer, 400, body_error(answer), "TOKEN_INVALID")
    assert body["error"].startswith("Invalid token format.")


def body_error(answer: Any) -> str:
    return str(answer.json()["error"])


def test_4_hmac_mismatch(wire: WireClient) -> None:
    token = wire.token()
    payload_b64, signature = token["agent_token"].split(".")
    forged = {"agent_token": f"{payload_b64}.{'0' * len(signature)}"}
    answer = wire.proxy("serpapi", "search", SEARCH, forged, provenance=False)
    _assert_error(answer, 403, "Invalid token signature", "TOKEN_INVALID")


def test_4_payload_not_json(wire: WireClient, gateway: EmbeddedGateway) -> None:
    payload_b64 = base64.b64encode(b"not json at all").decode()
    mac = hmac.new(gateway.secret, payload_b64.encode(), hashlib.sha256).hexdigest()
    answer = wire.proxy(
        "serpapi", "search", SEARCH, {"agent_token": f"{payload_b64}.{mac}"}, provenance=False
    )
    _assert_error(answer, 403, "Token decoding failed", "TOKEN_INVALID")


def test_4_expired(wire: WireClient, gateway: EmbeddedGateway) -> None:
    issued = gateway.issue_token(AGENT_ID, ["serpapi"], expires_at=utc_in(-5))
    token = {"agent_token": issued.agent_token, "token_id": issued.token_id}
    answer = wire.proxy("serpapi", "search", SEARCH, token)
    _assert_error(answer, 403, "Token expired", "TOKEN_EXPIRED")
    assert "x-token-rotation-recommended" not in answer.headers


# 5. rotation hint on every later answer ----------------------------------------------


def _assert_rotation(answer: Any, expires_at: str) -> None:
    assert answer.headers["x-token-rotation-recommended"] == "true"
    assert answer.headers["x-token-expires-at"] == expires_at


def test_5_rotation_headers_on_200_403_400_429_and_502(
    wire: WireClient, gateway: EmbeddedGateway
) -> None:
    gateway.set_rate_limit(3, 60)
    token = wire.token(["serpapi", "http_fetch"], ["read"], ttl_s=120)
    expires_at = token["expires_at"]
    ok = wire.proxy("serpapi", "search", SEARCH, token)
    assert ok.status_code == 200
    _assert_rotation(ok, expires_at)
    denied = wire.proxy(
        "gmail_send", "send", {"to": "a@b.co", "subject": "s", "body": "b", "text": "b"}, token
    )
    assert denied.status_code == 403
    _assert_rotation(denied, expires_at)
    invalid = wire.proxy("serpapi", "search", {}, token)
    assert invalid.status_code == 400
    _assert_rotation(invalid, expires_at)
    upstream = wire.proxy("http_fetch", "get", {"url": "https://not-allowed.org/"}, token)
    assert upstream.status_code == 502
    _assert_rotation(upstream, expires_at)
    wire.proxy("serpapi", "search", SEARCH, token)
    limited = wire.proxy("serpapi", "search", SEARCH, token)
    assert limited.status_code == 429
    _assert_rotation(limited, expires_at)


def test_5_no_rotation_hint_with_more_than_300s_left(wire: WireClient) -> None:
    answer = wire.proxy("serpapi", "search", SEARCH, wire.token(ttl_s=301))
    assert "x-token-rotation-recommended" not in answer.headers
    assert "x-token-expires-at" not in answer.headers


# 6. agent -----------------------------------------------------------------------------


def test_6_unknown_agent(wire: WireClient, gateway: EmbeddedGateway) -> None:
    token = wire.token()
    gateway.auto_register_agents = False
    gateway.reset()  # forgets the agent; the token's HMAC secret stays
    answer = wire.proxy("serpapi", "search", SEARCH, token, provenance=False)
    _assert_error(answer, 403, "Agent not found", "AGENT_NOT_FOUND")


def test_6_inactive_agent(wire: WireClient, gateway: EmbeddedGateway) -> None:
    token = wire.token()
    gateway.deactivate_agent(AGENT_ID)
    answer = wire.proxy("serpapi", "search", SEARCH, token)
    _assert_error(answer, 403, "Agent is not active", "AGENT_NOT_FOUND")


# 7. token scope (Part B) and policy -----------------------------------------------------


def test_7_tool_outside_the_token(wire: WireClient) -> None:
    answer = wire.proxy(
        "openai", "chat", {"messages": [{"role": "user", "content": "hi"}]}, wire.token(["serpapi"])
    )
    body = _assert_error(answer, 403, "Policy denied", "POLICY_DENIED")
    assert body["reason"].startswith("Token not scoped for tool 'openai'")


def test_7_writing_action_needs_write(wire: WireClient) -> None:
    email = {"to": "a@b.co", "subject": "Hi", "body": "Hello", "text": "Hello"}
    read_only = wire.token(["gmail_send"], ["read"])
    body = _assert_error(
        wire.proxy("gmail_send", "send", email, read_only), 403, "Policy denied", "POLICY_DENIED"
    )
    assert body["reason"].startswith("Token not scoped for writing action 'gmail_send:send'")
    assert wire.proxy("gmail_send", "profile", {}, read_only).status_code == 200
    assert (
        wire.proxy(
            "gmail_send", "send", email, wire.token(["gmail_send"], ["read", "write"])
        ).status_code
        == 200
    )


def test_7_no_policy_means_denied(wire: WireClient, gateway: EmbeddedGateway) -> None:
    gateway.set_default_policy(None)
    body = _assert_error(
        wire.proxy("serpapi", "search", SEARCH), 403, "Policy denied", "POLICY_DENIED"
    )
    assert body["reason"] == "Scope 'serpapi:search' not allowed. Allowed scopes: "


def test_7_policies_of_agent_and_role_are_merged(
    wire: WireClient, gateway: EmbeddedGateway
) -> None:
    gateway.set_default_policy(None)
    gateway.add_policy(["serpapi:search"], agent_id=AGENT_ID)
    gateway.add_policy(["http_fetch:get"], role="agent")
    token = wire.token()
    assert wire.proxy("serpapi", "search", SEARCH, token).status_code == 200
    assert wire.proxy("http_fetch", "get", {"url": "https://example.com"}, token).status_code == 200
    denied = wire.proxy("http_fetch", "head", {"url": "https://example.com"}, token)
    body = _assert_error(denied, 403, "Policy denied", "POLICY_DENIED")
    assert body["reason"] == (
        "Scope 'http_fetch:head' not allowed. Allowed scopes: serpapi:search, http_fetch:get"
    )


def test_7_explicit_policy_replaces_the_mock_default(
    wire: WireClient, gateway: EmbeddedGateway
) -> None:
    gateway.add_policy(["serpapi:search"], agent_id=AGENT_ID)
    answer = wire.proxy("gmail_send", "profile", {})
    assert answer.status_code == 403


def test_7_unknown_tool_is_denied(wire: WireClient) -> None:
    answer = wire.proxy("weather", "forecast", {"city": "Montreal"}, wire.token(["weather"]))
    body = _assert_error(answer, 403, "Policy denied", "POLICY_DENIED")
    assert body["reason"].startswith("Scope 'weather:forecast' not allowed.")


@pytest.mark.parametrize(
    ("params_intent", "top_level", "status"),
    [
        ("research", None, 200),
        ("marketing", None, 403),
        (None, None, 200),  # no intent given: the real engine lets it pass
        (None, "marketing", 403),  # Part B: top-level intent when params has none
        (None, "research", 200),
        ("research", "marketing", 200),  # params.intent wins
    ],
)
def test_7_intent(
    wire: WireClient,
    gateway: EmbeddedGateway,
    params_intent: str | None,
    top_level: str | None,
    status: int,
) -> None:
    gateway.add_policy(["serpapi:search"], agent_id=AGENT_ID, intent="research")
    params = dict(SEARCH) if params_intent is None else {**SEARCH, "intent": params_intent}
    extra = {} if top_level is None else {"intent": top_level}
    answer = wire.proxy("serpapi", "search", params, **extra)
    assert answer.status_code == status, answer.text
    if status == 403:
        assert answer.json()["reason"] == "Intent mismatch. Required: research, provided: marketing"


def test_7_domain_guard(wire: WireClient, gateway: EmbeddedGateway) -> None:
    gateway.add_policy(
        ["http_fetch:get"], agent_id=AGENT_ID, guards={"allowedDomains": ["example.com"]}
    )
    assert wire.proxy("http_fetch", "get", {"url": "https://example.com/a"}).status_code == 200
    denied = wire.proxy("http_fetch", "get", {"url": "https://evil.test/"})
    assert denied.json()["reason"] == "Domain evil.test not in allowed list: example.com"


# 8. parameters ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "action", "params", "details"),
    [
        ("serpapi", "search", {"engine": "google"}, ["query: Required"]),
        (
            "serpapi",
            "search",
            {"query": ""},
            ["query: String must contain at least 1 character(s)"],
        ),
        (
            "serpapi",
            "search",
            {"query": "x", "num": "10"},
            ["num: Expected number, received string"],
        ),
        ("http_fetch", "get", {"url": "not a url"}, ["url: Invalid url"]),
        ("http_fetch", "head", {}, ["url: Required"]),
        (
            "openai",
            "chat",
            {"messages": []},
            ["messages: Array must contain at least 1 element(s)"],
        ),
        ("openai", "complete", {}, ["prompt: Required"]),
        (
            "gmail_send",
            "send",
            {"to": "x"},
            ["to: Invalid email", "subject: Required", "body: Required"],
        ),
    ],
)
def test_8_parameter_validation(
    wire: WireClient, tool: str, action: str, params: dict[str, Any], details: list[str]
) -> None:
    body = _assert_error(
        wire.proxy(tool, action, params), 400, "Parameter validation failed", "VALIDATION_FAILED"
    )
    assert body["details"] == details


def test_8_search_validator_wants_query_as_the_real_one(wire: WireClient) -> None:
    """The real validator wants `query` while its search adapter reads `q`: only a call
    with both names gets results (the SDK sends both)."""
    only_q = wire.proxy("serpapi", "search", {"q": "plumber montreal"})
    body = _assert_error(only_q, 400, "Parameter validation failed", "VALIDATION_FAILED")
    assert body["details"] == ["query: Required"]
    only_query = wire.proxy("serpapi", "search", {"query": "plumber montreal"})
    failed = _assert_error(only_query, 502, "External API request failed", "UPSTREAM_FAILED")
    assert failed["details"] == 'Query parameter "q" is required'
    both = wire.proxy("serpapi", "search", {"q": "plumber montreal", "query": "plumber montreal"})
    assert both.status_code == 200
    assert both.json()["data"]["search_parameters"]["q"] == "plumber montreal"


# 9. rate limit ------------------------------------------------------------------------


def test_9_five_calls_per_minute_then_429(wire: WireClient, gateway: EmbeddedGateway) -> None:
    """The real gateway's limit (serve's default; mock:// gateways have none unless set)."""
    gateway.set_rate_limit(5, 60)
    token = wire.token()
    for _ in range(5):
        assert wire.proxy("serpapi", "search", SEARCH, token).status_code == 200
    limited = wire.proxy("serpapi", "search", SEARCH, token)
    body = _assert_error(limited, 429, "Rate limit exceeded", "RATE_LIMITED")
    assert 1 <= body["retry_after"] <= 60
    assert limited.headers["retry-after"] == str(body["retry_after"])  # Part B


def test_9_rate_limit_is_configurable_and_can_be_off(
    wire: WireClient, gateway: EmbeddedGateway
) -> None:
    token = wire.token()
    gateway.set_rate_limit(1, 60)
    assert wire.proxy("serpapi", "search", SEARCH, token).status_code == 200
    assert wire.proxy("serpapi", "search", SEARCH, token).status_code == 429
    gateway.set_rate_limit(None)
    for _ in range(7):
        assert wire.proxy("serpapi", "search", SEARCH, token).status_code == 200


def test_9_rejected_calls_before_the_limit_do_not_count(
    wire: WireClient, gateway: EmbeddedGateway
) -> None:
    gateway.set_rate_limit(1, 60)
    token = wire.token()
    assert wire.proxy("serpapi", "search", {}, token).status_code == 400
    assert wire.proxy("serpapi", "search", SEARCH, token).status_code == 200


# 10. outside API ----------------------------------------------------------------------


def test_10_upstream_failure_is_502(wire: WireClient, gateway: EmbeddedGateway) -> None:
    gateway.fail_tool_next(1, details="SerpAPI 500", tool="serpapi")
    body = _assert_error(
        wire.proxy("serpapi", "search", SEARCH),
        502,
        "External API request failed",
        "UPSTREAM_FAILED",
    )
    assert body["details"] == "SerpAPI 500"
    assert wire.proxy("serpapi", "search", SEARCH).status_code == 200


# bodies the framework rejects -----------------------------------------------------------


def test_unparseable_json_is_a_framework_400_without_correlation_id(wire: WireClient) -> None:
    answer = wire.post(
        "/api/proxy-request", raw=b'{"agent_token": ', headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400
    body = answer.json()
    assert body["statusCode"] == 400 and body["error"] == "Bad Request" and body["message"]
    assert body["code"] == "VALIDATION_FAILED"
    assert "x-correlation-id" not in answer.headers


def test_json_content_type_without_body_is_a_framework_400(wire: WireClient) -> None:
    answer = wire.post("/api/proxy-request", raw=b"", headers={"content-type": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["message"] == (
        "Body cannot be empty when content-type is set to 'application/json'"
    )
    assert "x-correlation-id" not in answer.headers


@pytest.mark.parametrize(
    ("raw", "headers"), [(b"", {}), (b"null", {"content-type": "application/json"})]
)
def test_missing_or_null_body_is_500(wire: WireClient, raw: bytes, headers: dict[str, str]) -> None:
    answer = wire.post("/api/proxy-request", raw=raw, headers=headers, sign=False)
    _assert_error(answer, 500, "Internal server error during proxy request", "INTERNAL")


def test_other_top_level_fields_are_ignored(wire: WireClient) -> None:
    assert wire.proxy("serpapi", "search", SEARCH, extra_field=1, trace={"x": 1}).status_code == 200


def test_7_the_gateway_states_its_own_write_rule(wire: WireClient) -> None:
    """Which actions need ``write`` is the gateway's rule (wire.md Part B, "Token scope"),
    read here over the wire for every built-in action; the client's READ_ONLY_ACTIONS
    (what it retries and mints without ``write``) must say the same, and this test is
    where the two would be caught disagreeing."""
    from runrgateway._constants import READ_ONLY_ACTIONS
    from runrgateway.testing._tools import BUILTIN_SCOPES, READ_ONLY_SCOPES

    readable = set()
    for scope in BUILTIN_SCOPES:
        tool, action = scope.split(":")
        answer = wire.proxy(tool, action, {}, wire.token([tool], ["read"]))
        reason = answer.json().get("reason", "") if answer.status_code == 403 else ""
        if not reason.startswith(f"Token not scoped for writing action '{scope}'"):
            readable.add(scope)
    wire_md = {"serpapi:search", "http_fetch:get", "http_fetch:head", "gmail_send:profile"}
    assert readable == wire_md == set(READ_ONLY_SCOPES)
    assert set(READ_ONLY_ACTIONS) == readable  # the client agrees with the gateway
