"""The routes other than proxy-request: tokens, agents, policies, health, revocation, jobs.

Each route reads the state and answers: never the client, never I/O.
"""

from __future__ import annotations

from typing import Any

from .._errors import ErrorCode
from .._version import __version__
from ._agents import generate_rsa_key_pair, normalise_public_key
from ._limits import StoreFull
from ._messages import GatewayResponse, error_response, js_truthy, json_response
from ._policies import spec_errors
from ._state import GatewayState
from ._time import iso_utc_ms, parse_js_date


def framework_error(status: int, error: str, message: str, code: str) -> GatewayResponse:
    """An answer in the web framework's own shape (Fastify): the detail is in `message`."""
    body = {"statusCode": status, "error": error, "message": message, "code": code}
    return json_response(status, body)


def _full(exc: StoreFull) -> GatewayResponse:
    """507: `serve` is a development server; restarting it starts afresh."""
    return error_response(507, f"Gateway store full: {exc}", ErrorCode.INTERNAL)


def not_found(method: str, path: str) -> GatewayResponse:
    return framework_error(
        404, "Not Found", f"Route {method}:{path} not found", ErrorCode.NOT_FOUND
    )


def generate_token(state: GatewayState, body: Any) -> GatewayResponse:
    """`POST /api/generate-token`."""
    if body is None:
        return error_response(
            500, "Internal server error while generating token.", ErrorCode.INTERNAL
        )
    fields = body if isinstance(body, dict) else {}
    agent_id, tools, permissions, expires_at = (
        fields.get(k) for k in ("agent_id", "tools", "permissions", "expires_at")
    )
    if not all(js_truthy(v) for v in (agent_id, tools, permissions, expires_at)):
        return error_response(
            400,
            "Missing required fields: agent_id, tools, permissions, and expires_at are required.",
            ErrorCode.VALIDATION_FAILED,
        )
    if not isinstance(tools, list) or not isinstance(permissions, list):
        return error_response(
            400, "Tools and permissions must be arrays.", ErrorCode.VALIDATION_FAILED
        )
    expiry = parse_js_date(expires_at)
    if expiry is None:
        return error_response(
            400, "Invalid expires_at date format. Use ISO 8601 format.", ErrorCode.VALIDATION_FAILED
        )
    if expiry <= state.clock():
        return error_response(
            400, "Token expiry date must be in the future.", ErrorCode.VALIDATION_FAILED
        )
    agent = (
        state.agents.ensure(agent_id, create=state.auto_register_agents)
        if isinstance(agent_id, str)
        else None
    )
    if agent is None:
        return error_response(404, "Agent not found.", ErrorCode.AGENT_NOT_FOUND)
    if not agent.active:
        return error_response(400, "Agent is not active.", ErrorCode.AGENT_NOT_FOUND)
    issued = state.tokens.issue(agent.agent_id, agent.name, tools, permissions, expires_at, expiry)
    return json_response(
        201,
        {
            "agent_token": issued.agent_token,
            "token_id": issued.token_id,
            "expires_at": expires_at,
            "agent_name": agent.name,
        },
    )


def create_agent(state: GatewayState, body: Any) -> tuple[GatewayResponse, str | None]:
    """`POST /api/create-agent`; also returns the new agent id (for the request log)."""
    if body is None:
        return error_response(
            500, "Internal server error while creating agent.", ErrorCode.INTERNAL
        ), None
    fields = body if isinstance(body, dict) else {}
    name, created_by, role = (fields.get(k) for k in ("name", "created_by", "role"))
    if not (js_truthy(name) and js_truthy(created_by) and js_truthy(role)):
        message = "Missing required fields: name, created_by, and role are required."
        return error_response(400, message, ErrorCode.VALIDATION_FAILED), None
    public_key = fields.get("public_key")
    private_key: str | None = None
    if public_key is not None:
        try:
            public_key = normalise_public_key(str(public_key))
        except ValueError:
            message = "public_key must be a PEM public key (SubjectPublicKeyInfo)."
            return error_response(400, message, ErrorCode.VALIDATION_FAILED), None
    else:
        private_key, public_key = generate_rsa_key_pair()
    try:
        agent = state.agents.add(
            name=str(name), role=str(role), created_by=str(created_by), public_key_pem=public_key
        )
    except StoreFull as exc:
        return _full(exc), None
    answer: dict[str, Any] = {"agent_id": agent.agent_id, "private_key": private_key}
    if private_key is None:
        del answer["private_key"]
    return json_response(201, answer), agent.agent_id


def create_policy(state: GatewayState, body: Any) -> GatewayResponse:
    """`POST /api/policies`: ``{name, agentId | role, spec}``."""
    if not isinstance(body, dict):
        return framework_error(
            400, "Bad Request", "body must be object", ErrorCode.VALIDATION_FAILED
        )
    for required in ("name", "spec"):
        if required not in body:
            message = f"body must have required property '{required}'"
            return framework_error(400, "Bad Request", message, ErrorCode.VALIDATION_FAILED)
    problems = spec_errors(body["spec"])
    if not isinstance(body["name"], str) or not body["name"]:
        problems.insert(0, "name: String must contain at least 1 character(s)")
    if problems:
        return error_response(
            400, "Validation error", ErrorCode.VALIDATION_FAILED, details=problems
        )
    agent_id, role = body.get("agentId"), body.get("role")
    if not agent_id and not role:
        return error_response(
            400, "Either agentId or role must be provided", ErrorCode.VALIDATION_FAILED
        )
    if agent_id and role:
        return error_response(
            400, "Cannot specify both agentId and role", ErrorCode.VALIDATION_FAILED
        )
    if agent_id and state.agents.get(str(agent_id)) is None:
        return error_response(404, "Agent not found", ErrorCode.AGENT_NOT_FOUND)
    try:
        policy = state.policies.add(
            body["name"],
            body["spec"],
            agent_id=str(agent_id) if agent_id else None,
            role=str(role) if role else None,
            description=body.get("description")
            if isinstance(body.get("description"), str)
            else None,
        )
    except StoreFull as exc:
        return _full(exc)
    return json_response(201, policy.to_wire())


def merged_policy(state: GatewayState, agent_id: str) -> GatewayResponse:
    """`GET /api/policies/merged/{agent_id}`: the spec the policy engine applies to the agent.

    The real gateway answers ``{agentId, agentRole, mergedSpec, sourcePolicies}``; an agent
    without policies gets its deny-all spec (here: the fallback spec, when one is set).
    """
    agent = state.agents.get(agent_id)
    if agent is None:
        return error_response(404, "Agent not found", ErrorCode.AGENT_NOT_FOUND)
    merged, sources = state.policies.merged_with_sources(agent.agent_id, agent.role)
    body = {
        "agentId": agent.agent_id,
        "agentRole": agent.role,
        "mergedSpec": merged.to_wire(),
        "sourcePolicies": sources,
    }
    return json_response(200, body)


def health(state: GatewayState) -> GatewayResponse:
    """`GET /api/health`."""
    body = {"status": "ok", "timestamp": iso_utc_ms(state.clock()), "version": __version__}
    return json_response(200, body)


def revoke_token(state: GatewayState, token_id: str) -> GatewayResponse:
    """`POST /api/admin/tokens/{token_id}/revoke`."""
    if not state.tokens.revoke(token_id):
        return error_response(404, "Token not found.", ErrorCode.NOT_FOUND)
    return json_response(200, {"message": "Token revoked successfully.", "token_id": token_id})


def get_job(state: GatewayState, job_id: str) -> GatewayResponse:
    """`GET /api/jobs/{job_id}` (Part B)."""
    job = state.jobs.get(job_id)
    if job is None:
        return error_response(404, "Job not found", ErrorCode.NOT_FOUND)
    return json_response(200, job.to_wire())
