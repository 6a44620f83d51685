"""`EmbeddedGateway`: a faithful, thread-safe, in-memory 4Runr Gateway.

Plain requests in, plain answers (or fault instructions) out; transports (the
httpx mock transports, the HTTP server) carry them. Routes follow wire.md Part A,
with the Part B additions (signatures, error codes, Retry-After, token scope,
jobs, idempotency and its `Idempotency-Key` echo, fake tools, faults). The tools
answer in the real gateway's live shapes or, with ``upstream_mode="mock"``, as its
mock mode does, each behind a per-tool circuit breaker.

It never imports the client, and never reaches the network: transports carry its
answers.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from .._constants import HEADER_CORRELATION_ID, HEADER_IDEMPOTENCY_KEY
from .._errors import ErrorCode
from ._agents import DEFAULT_ROLE, Agent, AgentRegistry, generate_rsa_key_pair
from ._breaker import DEFAULT_FAILURES, DEFAULT_OPEN_S, CircuitBreakers
from ._faults import FaultControls, FaultPlan
from ._idempotency import IdempotencyStore
from ._jobs import JobRunner
from ._limits import DEFAULT_LIMITS, GatewayLimits
from ._messages import (
    GatewayOutcome,
    GatewayRequest,
    GatewayResponse,
    error_response,
)
from ._policies import PolicyStore
from ._proxy import handle_proxy_request, new_correlation_id
from ._rate_limit import DEFAULT_CALLS, DEFAULT_WINDOW_S, FixedWindowLimiter
from ._request_log import RecordedRequest, RequestLog
from ._routes import (
    create_agent,
    create_policy,
    framework_error,
    generate_token,
    get_job,
    health,
    merged_policy,
    not_found,
    revoke_token,
)
from ._signatures import DEFAULT_MAX_SKEW_S, SignatureDeferred, SignatureGuard, SignatureRejected
from ._state import GatewayState, ToolRun
from ._time import Clock, iso_utc_ms, parse_js_date
from ._tokens import IssuedToken, TokenAuthority, claimed_agent_id
from ._tools import BUILTIN_SCOPES
from ._upstream import LIVE, check_upstream_mode

ALLOW_BUILTIN_TOOLS: Mapping[str, Any] = {"scopes": list(BUILTIN_SCOPES)}
"""A policy spec allowing every built-in ``tool:action``, without intent or guards."""

MAX_LOGGED_REQUESTS = DEFAULT_LIMITS.log_max_requests
_REVOKE_PREFIX, _REVOKE_SUFFIX = "/api/admin/tokens/", "/revoke"
_JOBS_PREFIX = "/api/jobs/"
_MERGED_POLICY_PREFIX = "/api/policies/merged/"


@dataclass(frozen=True)
class AgentCredentials:
    """A created agent: its id and, when the gateway made the key pair, the private key PEM."""

    agent_id: str
    private_key_pem: str | None

    def __repr__(self) -> str:
        return f"AgentCredentials(agent_id={self.agent_id!r}, private_key_pem=<hidden>)"


class EmbeddedGateway(FaultControls):
    """An in-memory gateway. Thread-safe; every store locks for itself.

    `auto_register_agents` is mock mode: an agent id seen for the first time is
    created on the spot. `default_policy` applies to agents that have no policy of
    their own or of their role (None: such agents are denied everything, as the
    real gateway does). `rate_limit` is ``(calls, window_s)`` per agent, or None.
    `upstream_mode` picks the tools' answers: ``"live"`` (the shapes production
    returns) or ``"mock"`` (exactly what the real gateway answers in its mock mode).
    `circuit_breaker` puts each tool behind the real gateway's breaker (5 failed runs
    open it for 30 s). `clock` drives token expiry, rate windows, idempotency, job
    retention, the breakers and the tools' timestamps; signature freshness is always
    checked against the real time. `limits` bounds the stores and the request log (and
    the HTTP server that serves this gateway): see `GatewayLimits`.
    `verify_signatures=False` accepts every request whatever its signature (or none):
    only for benchmarks comparing against unsigned hand-written calls; a gateway for
    tests or `serve` always verifies.
    """

    def __init__(
        self,
        name: str = "embedded",
        *,
        auto_register_agents: bool = False,
        default_policy: Mapping[str, Any] | None = None,
        rate_limit: tuple[int, float] | None = (DEFAULT_CALLS, DEFAULT_WINDOW_S),
        clock: Clock | None = None,
        secret: bytes | None = None,
        max_signature_skew_s: float = DEFAULT_MAX_SKEW_S,
        tool_latency_s: float = 0.0,
        upstream_mode: str = LIVE,
        circuit_breaker: bool = True,
        limits: GatewayLimits = DEFAULT_LIMITS,
        verify_signatures: bool = True,
        log_secrets: bool = False,
    ) -> None:
        self.name = name
        self.limits = limits
        self._verify_signatures = bool(verify_signatures)
        self.clock: Clock = clock or time.time
        mode = check_upstream_mode(upstream_mode)
        agents = AgentRegistry(limits.max_agents)
        calls, window_s = rate_limit if rate_limit is not None else (None, DEFAULT_WINDOW_S)
        self._state = GatewayState(
            clock=self.clock,
            agents=agents,
            policies=PolicyStore(
                self.clock, dict(default_policy) if default_policy else None, limits.max_policies
            ),
            tokens=TokenAuthority(self.clock, secret, limits),
            limiter=FixedWindowLimiter(self.clock, calls, window_s),
            idempotency=IdempotencyStore(self.clock, limits),
            jobs=JobRunner(self.clock, limits=limits),
            faults=FaultPlan(),
            signatures=SignatureGuard(
                agents.public_keys, max_skew_s=max_signature_skew_s, max_nonces=limits.max_nonces
            ),
            breakers=CircuitBreakers(self.clock, enabled=circuit_breaker),
            auto_register_agents=auto_register_agents,
            tool_latency_s=tool_latency_s,
            upstream_mode=mode,
            run_params_bytes=limits.log_body_bytes,
        )
        self._log = RequestLog(limits, log_secrets=log_secrets)

    def __repr__(self) -> str:
        return f"EmbeddedGateway(name={self.name!r})"

    # ------------------------------------------------------------------ settings

    @property
    def url(self) -> str:
        """The base URL a client uses to reach this gateway in process: ``mock://<name>``."""
        return f"mock://{self.name}"

    @property
    def secret(self) -> bytes:
        """The HMAC key of this gateway's tokens."""
        return self._state.tokens.secret

    @property
    def auto_register_agents(self) -> bool:
        return self._state.auto_register_agents

    @auto_register_agents.setter
    def auto_register_agents(self, value: bool) -> None:
        self._state.auto_register_agents = value

    @property
    def tool_latency_s(self) -> float:
        """How long every tool run takes (to observe running jobs or concurrent keys)."""
        return self._state.tool_latency_s

    @tool_latency_s.setter
    def tool_latency_s(self, seconds: float) -> None:
        self._state.tool_latency_s = max(0.0, seconds)

    @property
    def upstream_mode(self) -> str:
        """``"live"`` (production's tool answers) or ``"mock"`` (the real gateway's mock mode)."""
        return self._state.upstream_mode

    @upstream_mode.setter
    def upstream_mode(self, mode: str) -> None:
        self._state.upstream_mode = check_upstream_mode(mode)

    def set_circuit_breaker(
        self,
        enabled: bool = True,
        *,
        failures: int = DEFAULT_FAILURES,
        open_s: float = DEFAULT_OPEN_S,
    ) -> None:
        """Switch the per-tool breakers on or off, or change when they open; all close."""
        self._state.breakers.configure(enabled=enabled, failures=failures, open_s=open_s)

    def breaker_state(self, tool: str) -> str:
        """A tool's breaker: ``"closed"``, ``"open"`` or ``"half_open"``."""
        return self._state.breakers.state(tool)

    def set_rate_limit(self, calls: int | None, window_s: float = DEFAULT_WINDOW_S) -> None:
        """`calls` per `window_s` per agent; None (or 0) switches rate limiting off."""
        self._state.limiter.configure(calls, window_s)

    def set_default_policy(self, spec: Mapping[str, Any] | None) -> None:
        """The spec for agents without policies (None: deny them, as the real gateway)."""
        self._state.policies.fallback = dict(spec) if spec else None

    # ---------------------------------------------------------------- the wire

    def handle(self, request: GatewayRequest) -> GatewayOutcome:
        """Answer one request, applying queued faults; transports carry out the outcome."""
        decision = self._state.faults.take(request.path)
        dropped = decision.drop is not None
        if decision.drop is not None and decision.drop.before_sending:
            self._record(request, None, dropped=True)
            return GatewayOutcome(None, decision.delay_s, dropped_before_sending=True)
        if decision.failure is not None:
            response = decision.failure.response()
        else:
            response = self._route(request)
        key = request.header(HEADER_IDEMPOTENCY_KEY)
        if key:  # Part B: how a client learns that this gateway keeps keys
            response.headers.setdefault(HEADER_IDEMPOTENCY_KEY, key)
        self._record(request, None if dropped else response, dropped=dropped)
        return GatewayOutcome(response, decision.delay_s, drop_after=dropped)

    def _route(self, request: GatewayRequest) -> GatewayResponse:
        method, path = request.method, request.path
        if method == "GET" and path == "/api/health":
            return health(self._state)
        if method == "GET" and path.startswith(_JOBS_PREFIX) and len(path) > len(_JOBS_PREFIX):
            job_id = path[len(_JOBS_PREFIX) :]
            job = self._state.jobs.get(job_id)
            return self._signed(request, job.agent_id if job else None) or get_job(
                self._state, job_id
            )
        if method == "GET" and path.startswith(_MERGED_POLICY_PREFIX):
            agent_id = unquote(path[len(_MERGED_POLICY_PREFIX) :])
            if agent_id and "/" not in agent_id:  # an admin route, as policies: not agent-signed
                return merged_policy(self._state, agent_id)
        if method != "POST":
            return not_found(method, path)
        if path.startswith(_REVOKE_PREFIX) and path.endswith(_REVOKE_SUFFIX):
            token_id = path[len(_REVOKE_PREFIX) : -len(_REVOKE_SUFFIX)]
            if token_id and "/" not in token_id:
                return revoke_token(self._state, token_id)
        if path not in ("/api/generate-token", "/api/proxy-request"):
            if path == "/api/create-agent":
                body, problem = _parse_body(request)
                return problem or create_agent(self._state, body)[0]
            if path == "/api/policies":
                body, problem = _parse_body(request)
                return problem or create_policy(self._state, body)
            return not_found(method, path)
        body, problem = _parse_body(request)
        if problem is not None:
            return problem
        fields = body if isinstance(body, dict) else {}
        if path == "/api/generate-token":
            claimed = fields.get("agent_id")
            rejected = self._signed(request, claimed if isinstance(claimed, str) else None)
            return rejected or generate_token(self._state, body)
        correlation_id = new_correlation_id(time.time())
        claimed = claimed_agent_id(fields.get("agent_token"))
        answer = self._signed(request, claimed) or handle_proxy_request(self._state, request, body)
        answer.headers[HEADER_CORRELATION_ID] = correlation_id
        return answer

    def _signed(self, request: GatewayRequest, agent_id: str | None) -> GatewayResponse | None:
        """None when the signature is acceptable, else the 401 (or, nonces full, 503) answer."""
        if not self._verify_signatures:
            return None
        try:
            self._state.signatures.check(request, agent_id)
        except SignatureRejected:
            return error_response(401, "Invalid request signature", ErrorCode.SIGNATURE_INVALID)
        except SignatureDeferred as exc:
            wait = str(max(1, math.ceil(exc.retry_after_s)))
            message = "Too many signed requests in the last minutes; retry later"
            return error_response(
                503, message, ErrorCode.RATE_LIMITED, headers={"retry-after": wait}
            )
        return None

    # ------------------------------------------------------------ test helpers

    def create_agent(
        self,
        name: str = "test-agent",
        *,
        role: str = DEFAULT_ROLE,
        agent_id: str | None = None,
        public_key_pem: str | None = None,
        generate_key: bool = True,
    ) -> AgentCredentials:
        """Register an agent. Without `public_key_pem` (and with `generate_key`) the gateway
        makes an RSA-2048 pair, keeps the public half and returns the private PEM."""
        private_pem = None
        if public_key_pem is None and generate_key:
            private_pem, public_key_pem = generate_rsa_key_pair()
        agent = self._state.agents.add(
            name=name, role=role, agent_id=agent_id, public_key_pem=public_key_pem
        )
        return AgentCredentials(agent.agent_id, private_pem)

    def register_agent(self, agent_id: str, public_key_pem: str | None = None) -> Agent:
        """Create the agent if unknown (no key unless given) and add `public_key_pem` to it."""
        agent = self._state.agents.ensure(agent_id, public_key_pem, create=True)
        assert agent is not None
        return agent

    def attach_client(self, agent_id: str, public_key_pem: str | None) -> None:
        """What a mock transport does: add its key to the agent; create it in mock mode."""
        self._state.agents.ensure(agent_id, public_key_pem, create=self._state.auto_register_agents)

    def get_agent(self, agent_id: str) -> Agent | None:
        return self._state.agents.get(agent_id)

    def deactivate_agent(self, agent_id: str) -> None:
        """Mark the agent inactive: its calls get 403 "Agent is not active"."""
        if not self._state.agents.set_status(agent_id, "inactive"):
            raise KeyError(agent_id)

    def add_policy(
        self,
        scopes: Iterable[str],
        *,
        agent_id: str | None = None,
        role: str | None = None,
        intent: str | None = None,
        guards: Mapping[str, Any] | None = None,
        name: str = "test-policy",
    ) -> str:
        """Add a policy for one agent or one role (exactly one of them); returns its id."""
        if (agent_id is None) == (role is None):
            raise ValueError("give exactly one of agent_id and role")
        spec: dict[str, Any] = {"scopes": list(scopes)}
        if intent is not None:
            spec["intent"] = intent
        if guards is not None:
            spec["guards"] = dict(guards)
        return self._state.policies.add(name, spec, agent_id=agent_id, role=role).policy_id

    def issue_token(
        self,
        agent_id: str,
        tools: Sequence[str],
        permissions: Sequence[str] = ("read",),
        *,
        ttl_s: float = 900.0,
        expires_at: str | None = None,
    ) -> IssuedToken:
        """Mint a token directly (no request); `expires_at` (sent as is) overrides `ttl_s`."""
        agent = self.register_agent(agent_id)
        text = expires_at if expires_at is not None else iso_utc_ms(self.clock() + ttl_s)
        expiry = parse_js_date(text)
        if expiry is None:
            raise ValueError(f"unparseable expires_at: {text!r}")
        return self._state.tokens.issue(
            agent.agent_id, agent.name, list(tools), list(permissions), text, expiry
        )

    def revoke_token(self, token_id: str) -> bool:
        """Revoke for the provenance check; False when the id is unknown."""
        return self._state.tokens.revoke(token_id)

    # faults ---------------------------------------------------------------

    # The fault methods (fail_next, delay_next, drop_next, fail_tool_next) come from
    # `FaultControls`, declared once for this class and `FaultPlan`.

    def _fault_plan(self) -> FaultPlan:
        return self._state.faults

    # observation ------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request that reached the gateway, oldest first (a copy)."""
        return self._log.records()

    def count(self, route: str | None = None) -> int:
        """How many requests reached `route` (``"proxy-request"``, a path, or None: all)."""
        return self._log.count(route)

    @property
    def tool_runs(self) -> int:
        """How many times a tool actually ran (failed runs included)."""
        return self._state.runs_total

    @property
    def tool_calls(self) -> list[ToolRun]:
        """The latest tool runs (up to 10,000), oldest first (a copy)."""
        return self._state.recent_runs()

    def wait_for_jobs(self, timeout_s: float = 5.0) -> bool:
        """Block until queued jobs are finished; False on timeout."""
        return self._state.jobs.wait_idle(timeout_s)

    def reset(self) -> None:
        """Forget agents, policies, tokens, keys used, rate windows, jobs, faults, breaker
        states and logs; settings (name, modes, default policy, rate limit, clock, secret)
        stay."""
        state = self._state
        state.jobs.wait_idle(5.0)
        for store in (state.agents, state.policies, state.tokens, state.limiter):
            store.clear()
        for other in (state.idempotency, state.jobs, state.faults):
            other.clear()
        state.signatures.reset()
        state.breakers.clear()
        state.clear_tool_runs()
        self._log.clear()

    def _record(
        self, request: GatewayRequest, response: GatewayResponse | None, *, dropped: bool
    ) -> None:
        self._log.record(request, response, self.clock(), dropped=dropped)


def _parse_body(request: GatewayRequest) -> tuple[Any, GatewayResponse | None]:
    """The JSON body as the web framework reads it: (body or None, or a framework 400/415)."""
    content_type = (request.header("content-type") or "").split(";", 1)[0].strip().lower()
    is_json = content_type == "application/json" or content_type.endswith("+json")
    if not request.body:
        if is_json:
            message = "Body cannot be empty when content-type is set to 'application/json'"
            return None, framework_error(400, "Bad Request", message, ErrorCode.VALIDATION_FAILED)
        return None, None
    if content_type and not is_json:
        message = f"Unsupported Media Type: {content_type}"
        return None, framework_error(
            415, "Unsupported Media Type", message, ErrorCode.VALIDATION_FAILED
        )
    try:
        return json.loads(request.body.decode("utf-8")), None
    except (UnicodeDecodeError, ValueError) as exc:
        return None, framework_error(400, "Bad Request", str(exc), ErrorCode.VALIDATION_FAILED)
