"""`POST /api/proxy-request`: the real gateway's check order, plus Part B's additions.

Order (first failure wins): 1 required fields, 2 provenance, 3 token format,
4 HMAC / decoding / expiry, 5 rotation hint (every later answer), 6 agent,
7 token scope (Part B) then policy, 8 parameters, idempotency (Part B),
9 rate limit, 10 the tool (or a queued job with ``"async": true``).

The order is wire.md's and must never change here alone: the real gateway's first
failure is the one a client sees.
"""

from __future__ import annotations

import secrets
import string
import time
from typing import Any

from .._errors import ErrorCode
from .._json import compact_json
from ._idempotency import Claim, fingerprint
from ._jobs import JobFailed
from ._messages import GatewayRequest, GatewayResponse, error_response, js_truthy
from ._messages import json_response as _json
from ._state import GatewayState
from ._tokens import ROTATION_WINDOW_S, TokenRejection, VerifiedToken
from ._tools import ToolFailure, is_writing, validate_params

_BASE36 = string.digits + string.ascii_lowercase


def new_correlation_id(now_s: float) -> str:
    """The real gateway's form: ``req_<ms>_<9 base36 chars>``."""
    return f"req_{int(now_s * 1000)}_{''.join(secrets.choice(_BASE36) for _ in range(9))}"


def handle_proxy_request(
    state: GatewayState, request: GatewayRequest, body: Any
) -> GatewayResponse:
    """Answer one proxy request (the caller adds `x-correlation-id`)."""
    if body is None:
        return error_response(500, "Internal server error during proxy request", ErrorCode.INTERNAL)
    fields = body if isinstance(body, dict) else {}
    token, tool, action, params = (
        fields.get(k) for k in ("agent_token", "tool", "action", "params")
    )
    if not (js_truthy(token) and js_truthy(tool) and js_truthy(action) and js_truthy(params)):
        return error_response(
            400,
            "Missing required fields: agent_token, tool, action, and params are required.",
            ErrorCode.VALIDATION_FAILED,
        )
    if js_truthy(fields.get("token_id")):
        rejection = state.tokens.check_provenance(fields["token_id"], fields.get("proof_payload"))
        if rejection is not None:
            return _reject(rejection)
    if not isinstance(token, str):
        return error_response(500, "Internal server error during proxy request", ErrorCode.INTERNAL)
    verified = state.tokens.verify(token)
    if isinstance(verified, TokenRejection):
        return _reject(verified)
    hint = _rotation_headers(verified, state.clock())
    answer = _checked_call(state, request, fields, verified, str(tool), str(action), params)
    answer.headers.update(hint)
    return answer


def _checked_call(
    state: GatewayState,
    request: GatewayRequest,
    fields: dict[str, Any],
    token: VerifiedToken,
    tool: str,
    action: str,
    params: Any,
) -> GatewayResponse:
    """Steps 6 to 10, once the token is known good."""
    agent_id = token.agent_id if isinstance(token.agent_id, str) else ""
    agent = state.agents.get(agent_id)
    if agent is None:
        return error_response(403, "Agent not found", ErrorCode.AGENT_NOT_FOUND)
    if not agent.active:
        return error_response(403, "Agent is not active", ErrorCode.AGENT_NOT_FOUND)
    request_data = dict(params) if isinstance(params, dict) else {}
    if "intent" not in request_data and isinstance(fields.get("intent"), str):
        request_data["intent"] = fields["intent"]
    reason = _token_scope_problem(token, tool, action) or state.policies.evaluate(
        agent_id, agent.role, tool, action, request_data
    )
    if reason is not None:
        return error_response(403, "Policy denied", ErrorCode.POLICY_DENIED, reason=reason)
    problems = validate_params(tool, action, params)
    if problems:
        return error_response(
            400, "Parameter validation failed", ErrorCode.VALIDATION_FAILED, details=problems
        )
    key = request.header("idempotency-key")
    run_async = fields.get("async") is True
    if not key:
        return _limited_run(state, agent_id, agent.name, tool, action, params, run_async)
    print_ = fingerprint(
        tool, action, compact_json(params), str(fields.get("intent")), str(run_async)
    )
    claim, stored = state.idempotency.claim(agent_id, key, print_)
    if claim is Claim.REPLAY and stored is not None:
        replay = GatewayResponse(stored.status, dict(stored.headers), stored.body)
        replay.headers["idempotent-replayed"] = "true"
        return replay
    if claim is Claim.CONFLICT:
        return error_response(
            422,
            "Idempotency-Key was already used with a different request",
            ErrorCode.IDEMPOTENCY_CONFLICT,
        )
    if claim is Claim.IN_PROGRESS:
        return error_response(  # Retry-After: when a retry is likely to find the answer
            409,
            "A request with this Idempotency-Key is still running",
            ErrorCode.IDEMPOTENCY_CONFLICT,
            headers={"retry-after": "1"},
        )
    try:
        answer = _limited_run(state, agent_id, agent.name, tool, action, params, run_async)
    except BaseException:
        state.idempotency.forget(agent_id, key)
        raise
    if 200 <= answer.status < 300:
        snapshot = GatewayResponse(answer.status, dict(answer.headers), answer.body)
        state.idempotency.finish(agent_id, key, snapshot)
    else:
        state.idempotency.forget(agent_id, key)
    return answer


def _limited_run(
    state: GatewayState,
    agent_id: str,
    agent_name: str,
    tool: str,
    action: str,
    params: dict[str, Any],
    run_async: bool,
) -> GatewayResponse:
    """Steps 9 and 10: rate limit, then run the tool now or as a job."""
    wait = state.limiter.consume(agent_id)
    if wait is not None:
        return error_response(
            429,
            "Rate limit exceeded",
            ErrorCode.RATE_LIMITED,
            headers={"retry-after": str(wait)},
            retry_after=wait,
        )
    if run_async:

        def work() -> Any:
            try:
                return state.run_tool(tool, action, params)
            except ToolFailure as failure:
                raise JobFailed(f"External API request failed: {failure.details}") from None

        job = state.jobs.submit(agent_id, work)
        return _json(202, {"job_id": job.job_id, "status": "queued"})
    started = time.perf_counter()
    try:
        result = state.run_tool(tool, action, params)
    except ToolFailure as failure:
        return error_response(
            502, "External API request failed", ErrorCode.UPSTREAM_FAILED, details=failure.details
        )
    metadata = {
        "agent_id": agent_id,
        "agent_name": agent_name,
        "tool": tool,
        "action": action,
        "response_time_ms": int((time.perf_counter() - started) * 1000),
    }
    return _json(200, {"success": True, "data": result, "metadata": metadata})


def _token_scope_problem(token: VerifiedToken, tool: str, action: str) -> str | None:
    """Part B: the token's own `tools` and `permissions` must cover the call."""
    tools = token.payload.get("tools")
    tools = tools if isinstance(tools, list) else []
    if not {tool, f"{tool}:{action}", "*"} & {t for t in tools if isinstance(t, str)}:
        return f"Token not scoped for tool '{tool}'. Token tools: {', '.join(map(str, tools))}"
    permissions = token.payload.get("permissions")
    permissions = permissions if isinstance(permissions, list) else []
    if is_writing(tool, action) and "write" not in permissions:
        return (
            f"Token not scoped for writing action '{tool}:{action}'. "
            f"Token permissions: {', '.join(map(str, permissions))}"
        )
    return None


def _rotation_headers(token: VerifiedToken, now: float) -> dict[str, str]:
    left = token.seconds_left(now)
    if left is None or left >= ROTATION_WINDOW_S:
        return {}
    return {
        "x-token-rotation-recommended": "true",
        "x-token-expires-at": str(token.payload.get("expires_at")),
    }


def _reject(rejection: TokenRejection) -> GatewayResponse:
    return error_response(rejection.status, rejection.error, rejection.code)
