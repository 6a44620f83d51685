"""Every error answer in wire.md's catalogue becomes the right typed error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest

from runrgateway import (
    ErrorCode,
    ErrorResponse,
    GatewayAuthError,
    GatewayClient,
    GatewayConflictError,
    GatewayError,
    GatewayPolicyError,
    GatewayRateLimitError,
    GatewayTokenError,
    GatewayUpstreamError,
    GatewayValidationError,
)
from tests.helpers import BASE, gateway_token

from .conftest import Router

SERVER_ID = "req_1700000000000_abcdefghi"

# (status, body, class, code, text the message must hold)
PROXY_ERRORS: list[tuple[int, Any, type[GatewayError], str | None, str]] = [
    (400, {"error": "Missing required fields: agent_token, tool"}, GatewayValidationError, "VALIDATION_FAILED", "Missing required fields"),
    (400, {"error": "proof_payload is required when token_id is provided"}, GatewayValidationError, "VALIDATION_FAILED", "proof_payload"),
    (403, {"error": "Token not found in registry"}, GatewayTokenError, "TOKEN_INVALID", "not found in registry"),
    (403, {"error": "Token has been revoked"}, GatewayTokenError, "TOKEN_REVOKED", "revoked"),
    (403, {"error": "Token proof verification failed"}, GatewayTokenError, "TOKEN_INVALID", "proof verification"),
    (400, {"error": "Invalid token format. Expected payload.signature"}, GatewayTokenError, "TOKEN_INVALID", "Invalid token format"),
    (403, {"error": "Invalid token signature"}, GatewayTokenError, "TOKEN_INVALID", "Invalid token signature"),
    (403, {"error": "Token decoding failed"}, GatewayTokenError, "TOKEN_INVALID", "decoding failed"),
    (403, {"error": "Token expired"}, GatewayTokenError, "TOKEN_EXPIRED", "Token expired"),
    (403, {"error": "Agent not found"}, GatewayAuthError, "AGENT_NOT_FOUND", "Agent not found"),
    (403, {"error": "Agent is not active"}, GatewayAuthError, "AGENT_NOT_FOUND", "not active"),
    (403, {"error": "Policy denied", "reason": "Scope 'openai:chat' not allowed. Allowed: serpapi:search"}, GatewayPolicyError, "POLICY_DENIED", "Scope 'openai:chat' not allowed"),
    (403, {"error": "Policy denied", "reason": "Intent mismatch. Required: research, provided: marketing"}, GatewayPolicyError, "POLICY_DENIED", "Intent mismatch"),
    (400, {"error": "Parameter validation failed", "details": ["query is required"]}, GatewayValidationError, "VALIDATION_FAILED", "query is required"),
    (429, {"error": "Rate limit exceeded", "retry_after": 52}, GatewayRateLimitError, "RATE_LIMITED", "Rate limit exceeded"),
    (502, {"error": "External API request failed", "details": "upstream 500"}, GatewayUpstreamError, "UPSTREAM_FAILED", "External API request failed"),
    (500, {"error": "Internal server error"}, GatewayError, "GATEWAY_ERROR", "Internal server error"),
    (400, {"statusCode": 400, "error": "Bad Request", "message": "body/params must be object"}, GatewayValidationError, "VALIDATION_FAILED", "body/params must be object"),
    # Part B: the embedded gateway's codes win over guessing from text.
    (401, {"error": "Invalid request signature", "code": "SIGNATURE_INVALID"}, GatewayAuthError, "SIGNATURE_INVALID", "Invalid request signature"),
    (403, {"error": "Policy denied", "code": "POLICY_DENIED", "reason": "Token not scoped for openai:chat"}, GatewayPolicyError, "POLICY_DENIED", "Token not scoped"),
    (422, {"error": "Idempotency key reused with another body", "code": "IDEMPOTENCY_CONFLICT"}, GatewayConflictError, "IDEMPOTENCY_CONFLICT", "Idempotency key"),
    (409, {"error": "Request with this key is in progress", "code": "IDEMPOTENCY_CONFLICT"}, GatewayConflictError, "IDEMPOTENCY_CONFLICT", "in progress"),
    (403, {"error": "Something odd", "code": "TOKEN_EXPIRED"}, GatewayTokenError, "TOKEN_EXPIRED", "Something odd"),
    (502, "<html><body>Bad gateway from nginx</body></html>", GatewayUpstreamError, "UPSTREAM_FAILED", "Bad gateway from nginx"),
    (401, "Unauthorized", GatewayAuthError, None, "Unauthorized"),
]  # fmt: skip

TOKEN_ERRORS: list[tuple[int, Any, type[GatewayError], str]] = [
    (400, {"error": "Missing required fields: agent_id, tools, permissions, expires_at"}, GatewayValidationError, "Missing required fields"),
    (400, {"error": "Token expiry date must be in the future."}, GatewayValidationError, "must be in the future"),
    (400, {"error": "Tools and permissions must be arrays"}, GatewayValidationError, "must be arrays"),
    (404, {"error": "Agent not found."}, GatewayAuthError, "Agent not found"),
]  # fmt: skip


@pytest.fixture
async def client(agent_pem: str) -> AsyncIterator[GatewayClient]:
    async with GatewayClient(BASE, "agent-1", agent_pem, max_retries=0) as gw:
        yield gw


def answer(status: int, body: Any) -> httpx2.Response:
    headers = {"x-correlation-id": SERVER_ID}
    if isinstance(body, str):
        return httpx2.Response(status, text=body, headers=headers)
    return httpx2.Response(status, json=body, headers=headers)


@pytest.mark.parametrize("status, body, error, code, text", PROXY_ERRORS)
async def test_proxy_error_catalogue(
    router: Router,
    client: GatewayClient,
    status: int,
    body: Any,
    error: type[GatewayError],
    code: str | None,
    text: str,
) -> None:
    router.post("/api/proxy-request").mock(return_value=answer(status, body))
    with pytest.raises(GatewayError) as caught:
        await client.proxy("serpapi", "search", {"q": "a"}, gateway_token(tools=["serpapi"]))
    raised = caught.value
    assert type(raised) is error
    if code is not None:
        assert raised.code == code
    assert text in str(raised)
    assert raised.status_code == status
    assert raised.server_correlation_id == SERVER_ID
    assert raised.correlation_id == router.calls.last.request.headers["x-correlation-id"]
    if isinstance(body, dict) and "reason" in body:
        assert raised.reason == body["reason"]
    if isinstance(body, dict):
        assert raised.details == body


@pytest.mark.parametrize("status, body, error, text", TOKEN_ERRORS)
async def test_generate_token_error_catalogue(
    router: Router,
    client: GatewayClient,
    status: int,
    body: Any,
    error: type[GatewayError],
    text: str,
) -> None:
    router["token"].mock(side_effect=None, return_value=answer(status, body))
    with pytest.raises(error) as caught:
        await client.get_token({"tools": ["serpapi"], "permissions": ["read"]})
    assert text in str(caught.value) and caught.value.status_code == status


async def test_error_details_are_masked(router: Router, client: GatewayClient) -> None:
    router.post("/api/proxy-request").mock(
        return_value=answer(
            400,
            {"error": "Parameter validation failed", "details": [{"api_key": "sk-live-123456789"}]},
        )
    )
    with pytest.raises(GatewayValidationError) as caught:
        await client.proxy("serpapi", "search", {"q": "a"}, gateway_token(tools=["serpapi"]))
    assert "sk-live-123456789" not in str(caught.value)
    assert "sk-live-123456789" not in repr(caught.value.details)


async def test_seed_example_catches_in_order(router: Router, client: GatewayClient) -> None:
    """The README catches GatewayAuthError first: policy and rate-limit errors must not be auth errors."""
    router.post("/api/proxy-request").mock(
        side_effect=[
            answer(403, {"error": "Policy denied", "reason": "Scope 'x:y' not allowed"}),
            answer(429, {"error": "Rate limit exceeded", "retry_after": 52}),
        ]
    )
    caught = []
    for _ in range(2):
        try:
            await client.proxy("serpapi", "search", {"q": "a"}, gateway_token(tools=["serpapi"]))
        except GatewayAuthError:
            caught.append("auth")
        except GatewayPolicyError:
            caught.append("policy")
        except GatewayRateLimitError as exc:
            caught.append(f"rate {exc.retry_after}")
    assert caught == ["policy", "rate 52.0"]


async def test_the_error_carries_the_answer_as_a_masked_record(
    router: Router, client: GatewayClient
) -> None:
    """`exc.response` is an `ErrorResponse`: plain values, a safe subset of the headers,
    the body masked (the call's token too, should the gateway echo it), no httpx object."""
    token = gateway_token(tools=["serpapi"])
    router.post("/api/proxy-request").mock(
        return_value=httpx2.Response(
            403,
            json={"error": "Policy denied", "reason": f"token {token} not allowed",
                  "code": "POLICY_DENIED", "client_secret": "cs_live_abcdef"},
            headers={"x-correlation-id": SERVER_ID, "set-cookie": "session=s3cr3t",
                     "retry-after": "3", "www-authenticate": "Basic realm=x"},
        )
    )  # fmt: skip
    with pytest.raises(GatewayPolicyError) as caught:
        await client.proxy("serpapi", "search", {"q": "a"}, token)
    answer = caught.value.response
    assert isinstance(answer, ErrorResponse) and answer.status_code == 403
    assert answer.correlation_id == SERVER_ID and answer.text == ""
    assert set(answer.headers) == {
        "content-type",
        "content-length",
        "x-correlation-id",
        "retry-after",
    }
    assert answer.body["error"] == "Policy denied" and answer.body["code"] == "POLICY_DENIED"
    shown = repr(answer)
    assert token not in shown and "cs_live_abcdef" not in shown and "s3cr3t" not in shown
    assert caught.value.code is ErrorCode.POLICY_DENIED

    def walk(value: Any, depth: int = 0) -> None:  # nothing in it is an httpx object
        assert type(value).__module__.split(".")[0] not in ("httpx2", "httpx", "httpcore2")
        if depth < 8:
            children = (
                value.values() if isinstance(value, dict)
                else value if isinstance(value, (list, tuple))
                else vars(value).values() if hasattr(value, "__dataclass_fields__")
                else ()
            )  # fmt: skip
            for child in children:
                walk(child, depth + 1)

    walk(answer)


async def test_an_answer_that_is_not_json_is_kept_as_masked_text(
    router: Router, client: GatewayClient
) -> None:
    token = gateway_token(tools=["serpapi"])
    router.post("/api/proxy-request").mock(
        return_value=httpx2.Response(500, text=f"upstream said: Bearer {token}")
    )
    with pytest.raises(GatewayError) as caught:
        await client.proxy("serpapi", "search", {"q": "a"}, token)
    answer = caught.value.response
    assert answer is not None and answer.body is None and answer.status_code == 500
    assert answer.text.startswith("upstream said:") and token not in answer.text
