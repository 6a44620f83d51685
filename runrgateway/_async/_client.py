"""`GatewayClient`, the asyncio client: the part of a call that awaits.

Hand-written; `_sync/_client.py` is generated from it by `scripts/unasync.py`. Only what
differs between the twins lives here: the public async methods, the token round of a
proxy call, the one tenacity loop that awaits every attempt and every wait, job polling
and closing. Checking settings, planning a call, judging an attempt's outcome (and the
loop's rules) and reading answers are `ClientBase`'s (`_client_base.py`, `_attempts.py`),
`_retry`'s, `_requests`' and `_responses`': a line that neither awaits nor differs
between the twins never belongs here, nor an SDK error raised inside an `except` block
(its `__context__` would keep the httpx error, whose request holds the token).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx2

from .._call_options import deadline_scope
from .._client_base import ClientBase, ProxyPlan
from .._concurrency import AsyncClosing
from .._constants import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_RETRY_AFTER_S,
    DEFAULT_POOL_TIMEOUT_MS,
    DEFAULT_TIMEOUT_MS,
    JOB_POLL_CAP_S,
    MANAGED_TOKEN_TTL_MINUTES,
)
from .._errors import GatewayTokenError
from .._ids import generate_correlation_id
from .._models import JobResponse, ProxyResponse, TokenInfo, TokenOptions
from .._pools import AsyncPools
from .._requests import PreparedCall, encode_json, job_path, merged_policy_path, token_request_body
from .._responses import (
    as_is,
    decode,
    job_started,
    job_timeout,
    jobs_unsupported,
    merged_spec,
    proxy_response,
    token_info,
)
from .._retry import CallHistory, Outcome
from .._tokens import Credential, utc_now
from .._tracing import note_retry
from .._transport import closed_error, environment_proxy
from ._token_manager import AsyncTokenManager

if TYPE_CHECKING:
    from tenacity import AsyncRetrying


class GatewayClient(ClientBase):
    """Client for 4Runr Gateway: signed requests, managed tokens, safe retries.

    `base_url` is ``http(s)://...`` or ``mock://<name>`` (the embedded gateway, in
    process); `agent_private_key_pem` is the agent's PEM private key (RSA >= 2048, EC
    P-256/P-384 or Ed25519; `key_password` when encrypted; a placeholder is accepted with
    mock:// only). `default_intent` is sent with every call until `set_intent`;
    `timeout_ms` applies to each attempt. Keyword-only: `max_retries`,
    `max_retry_after_s` (a longer wait asked by the gateway is raised, not waited),
    `http_client` (an `httpx2.AsyncClient` of yours, not closed by us; redirects are never
    followed whatever it says), `read_only_actions` (more ``"tool:action"`` pairs that
    are safe to retry), `managed_token_ttl_minutes`, and the SDK's own pool:
    `max_connections`, `max_keepalive_connections` and `pool_timeout_ms` (the wait for a
    free connection, apart from `timeout_ms`; it also bounds an `http_client`'s pool),
    `deadline_s` (bounds each whole call: every attempt, every wait between them, and a
    token mint made for it; None, the default, for no bound) and `tracer_provider` (an
    OpenTelemetry `TracerProvider` for this client's spans instead of the global one).
    Settings are checked at once: `GatewayConfigError` names the parameter.
    `with_options()` gives a copy with other per-call settings that shares the pool.

    The client's own pool follows the event loop: one client can serve several
    `asyncio.run()` calls in a row. `close()` ends calls still in flight or waiting
    to retry with `GatewayError` (``CLIENT_CLOSED``); no attempt starts after it.
    """

    def __init__(
        self,
        base_url: str,
        agent_id: str,
        agent_private_key_pem: str | bytes,
        default_intent: str | None = None,
        timeout_ms: float = DEFAULT_TIMEOUT_MS,
        *,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_retry_after_s: float = DEFAULT_MAX_RETRY_AFTER_S,
        key_password: str | bytes | None = None,
        http_client: httpx2.AsyncClient | None = None,
        read_only_actions: Iterable[str] = (),
        managed_token_ttl_minutes: int = MANAGED_TOKEN_TTL_MINUTES,
        max_connections: int | None = None,
        max_keepalive_connections: int | None = None,
        pool_timeout_ms: float = DEFAULT_POOL_TIMEOUT_MS,
        allow_insecure_http: bool = False,
        deadline_s: float | None = None,
        tracer_provider: Any = None,
    ) -> None:
        key, limits, ttl_minutes = self._configure(
            base_url, agent_id, agent_private_key_pem, default_intent, timeout_ms,
            max_retries=max_retries, max_retry_after_s=max_retry_after_s,
            key_password=key_password, http_client=http_client,
            http_client_type=httpx2.AsyncClient, read_only_actions=read_only_actions,
            managed_token_ttl_minutes=managed_token_ttl_minutes,
            max_connections=max_connections, max_keepalive_connections=max_keepalive_connections,
            pool_timeout_ms=pool_timeout_ms, allow_insecure_http=allow_insecure_http,
            deadline_s=deadline_s, tracer_provider=tracer_provider,
        )  # fmt: skip
        self._tokens: AsyncTokenManager = AsyncTokenManager(self._mint_token, ttl_minutes)
        self._closing: AsyncClosing = AsyncClosing()
        if self._endpoint.mock_name is not None:
            from ..testing._mock import AsyncGatewayMockTransport

            transport = AsyncGatewayMockTransport(
                self._endpoint.mock_name,
                agent_id=self._agent_id,
                public_key_pem=key.public_key_pem(),
            )
            # The same pool-per-loop machinery and direct path as over a socket, so that
            # code tested on mock:// behaves the same against a real gateway.
            self._pools: AsyncPools = AsyncPools(lambda: transport)
        elif http_client is not None:
            self._pools = AsyncPools(caller_client=http_client)
        else:
            proxy = environment_proxy(httpx2.URL(self._endpoint.base_url))
            self._pools = AsyncPools(lambda: AsyncPools.new_transport(limits, proxy))

    async def close(self) -> None:
        """Close the connection pools (not an `http_client` passed in by the caller).

        Calls in flight or waiting to retry end with `GatewayError` (CLIENT_CLOSED), as
        do later calls: a closed client cannot be reopened. On a `with_options` copy,
        only later calls through that copy are refused: the pool stays open.
        """
        if self._close_copy():
            return
        self._closing.set()
        await self._pools.aclose()

    async def __aenter__(self) -> GatewayClient:
        self._check_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # Tokens

    async def get_token(self, opts: TokenOptions | Mapping[str, Any]) -> str:
        """Mint a token for the given tools and permissions; returns the token string."""
        return (await self.get_token_info(opts)).agent_token

    async def get_token_info(self, opts: TokenOptions | Mapping[str, Any]) -> TokenInfo:
        """Like `get_token`, with the token id, expiry and scope the gateway answered."""
        return await self._mint_token(TokenOptions.coerce(opts))

    async def _mint_token(self, options: TokenOptions) -> TokenInfo:
        request = token_request_body(
            self._agent_id, options.tools, options.permissions, options.ttl_minutes, utc_now()
        )
        correlation_id = generate_correlation_id()
        # A mint made for a call counts against that call's deadline (the earlier wins).
        with deadline_scope(self._deadline_s), self._span(
            "generate_token", correlation_id, "POST", tools=options.tools,
            permissions=options.permissions,
        ) as span:  # fmt: skip
            response, attempts = await self._send(
                self._prepare(
                    "POST",
                    "/api/generate-token",
                    body=encode_json(request),
                    correlation_id=correlation_id,
                    idempotent=True,
                )
            )
            span.succeeded(response, attempts)
            info = decode(
                response, correlation_id, attempts, lambda body: token_info(body, request, options)
            )
        self._remember(info)
        return info

    async def _credential(
        self,
        tool: str,
        action: str,
        agent_token: str | None,
        proof_override: str | None,
        correlation_id: str,
    ) -> Credential:
        """The token for a call; `proof_override` is the caller's override, checked already."""
        if agent_token is not None:
            return self._caller_credential(tool, agent_token, proof_override)
        # Minted by this client, not the one the manager was made with: a with_options
        # copy's mint follows the copy's settings (its deadline, timeout and retries).
        info = await self._tokens.get(
            [tool], self._managed_permissions(tool, action), self._mint_token, correlation_id
        )
        proof = info.proof_payload if proof_override is None else proof_override
        return Credential(
            info.agent_token, info.token_id, proof, managed=True, expires_at=info.expires_at
        )

    # Calls

    async def proxy(
        self,
        tool: str,
        action: str,
        params: Mapping[str, Any] | None = None,
        agent_token: str | None = None,
        proof_payload_override: Any = None,
        *,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> Any:
        """Call `tool`/`action` through the gateway and return the result's `data`."""
        plan = self._plan_proxy(
            tool, action, params, agent_token, proof_payload_override, idempotency_key,
            correlation_id,
        )  # fmt: skip
        _, body, _, _ = await self._proxy_answer(plan, agent_token)
        return body.get("data")  # no ProxyResponse: nothing reads its other fields here

    async def proxy_response(
        self,
        tool: str,
        action: str,
        params: Mapping[str, Any] | None = None,
        agent_token: str | None = None,
        proof_payload_override: Any = None,
        *,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> ProxyResponse:
        """Like `proxy`, returning the whole answer (metadata, ids, rotation hint)."""
        plan = self._plan_proxy(
            tool, action, params, agent_token, proof_payload_override, idempotency_key,
            correlation_id,
        )  # fmt: skip
        response, body, attempts, credential = await self._proxy_answer(plan, agent_token)
        return proxy_response(response, body, plan.correlation_id, attempts, credential)

    async def proxy_async(
        self,
        tool: str,
        action: str,
        params: Mapping[str, Any] | None = None,
        agent_token: str | None = None,
        *,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> dict[str, Any]:
        """Start `tool`/`action` as a background job; returns `{"job_id": ..., "status": ...}`."""
        plan = self._plan_proxy(
            tool, action, params, agent_token, None, idempotency_key, correlation_id
        )
        with deadline_scope(self._deadline_s), self._proxy_span(plan, True) as span:
            response, attempts, credential = await self._proxy_call(plan, agent_token, True)
            span.succeeded(response, attempts)
            body = decode(response, plan.correlation_id, attempts, as_is)
            started = job_started(body)
            if started is None:
                raise jobs_unsupported(response, body, plan.correlation_id, attempts, credential)
        return started

    async def _proxy_answer(
        self, plan: ProxyPlan, agent_token: str | None
    ) -> tuple[httpx2.Response, dict[str, Any], int, Credential]:
        """A planned proxy call run at once, in its deadline and span: the answer, its
        body, the attempts made and the token used."""
        with deadline_scope(self._deadline_s), self._proxy_span(plan, False) as span:
            response, attempts, credential = await self._proxy_call(plan, agent_token, False)
            span.succeeded(response, attempts)
            body = decode(response, plan.correlation_id, attempts, as_is)
        return response, body, attempts, credential

    async def _proxy_call(
        self, plan: ProxyPlan, agent_token: str | None, run_async: bool
    ) -> tuple[httpx2.Response, int, Credential]:
        """Send a planned proxy call; a refused managed token is replaced and sent once more."""
        for token_round in (1, 2):
            credential = await self._credential(
                plan.tool, plan.action, agent_token, plan.proof_text, plan.correlation_id
            )
            try:
                response, attempts = await self._send(
                    self._prepare(
                        "POST",
                        "/api/proxy-request",
                        body=self._proxy_body(plan, credential, run_async),
                        correlation_id=plan.correlation_id,
                        idempotency_key=plan.idempotency_key,
                        idempotent=plan.idempotent,
                        keyed=plan.keyed,
                        call=f"{plan.tool}:{plan.action}",
                        log_params=plan.params,
                        credential=credential,
                    )
                )
            except GatewayTokenError:
                if credential.managed and token_round == 1:
                    self._tokens.discard(credential.agent_token)
                    continue
                raise
            return response, attempts, credential
        raise AssertionError("unreachable")  # pragma: no cover

    # Jobs

    async def get_job(self, job_id: str) -> JobResponse:
        """The state of a background job."""
        return await self._get_job(job_path(job_id), job_id)

    async def _get_job(self, path: str, job_id: str) -> JobResponse:
        correlation_id = generate_correlation_id()
        with (
            deadline_scope(self._deadline_s),
            self._span("get_job", correlation_id, "GET", job_id=job_id) as span,
        ):
            response, attempts = await self._send(
                self._prepare(
                    "GET", path, body=None, correlation_id=correlation_id, idempotent=True
                )
            )
            span.succeeded(response, attempts)
            return decode(response, correlation_id, attempts, JobResponse.from_body)

    async def wait_for_job(
        self,
        job_id: str,
        *,
        timeout_s: float = 60.0,
        poll_interval_s: float = 0.25,
        on_poll: Callable[[JobResponse, float], None] | None = None,
    ) -> JobResponse:
        """Poll a job, with growing intervals (capped at 5 s), until it is done or failed.

        `on_poll(job, elapsed_s)` is called after every poll (to show progress).
        """
        path = job_path(job_id)
        timeout_s, interval = self._poll_settings(timeout_s, poll_interval_s, on_poll)
        started = time.monotonic()
        deadline = started + timeout_s
        while True:
            job = await self._get_job(path, job_id)
            if on_poll is not None:
                on_poll(job, time.monotonic() - started)
            if job.finished:
                return job
            left = deadline - time.monotonic()
            if left <= 0:
                raise job_timeout(job_id, job, timeout_s)
            await self._closing.sleep(min(interval, left))  # close() ends the wait
            interval = min(interval * 1.5, JOB_POLL_CAP_S)

    # Policies

    async def get_policy(self) -> dict[str, Any]:
        """The policy the gateway applies to this agent: its own and its role's, merged.

        `GET /api/policies/merged/{agent_id}`; returns the gateway's ``mergedSpec``: a dict
        with ``scopes`` (the ``"tool:action"`` pairs allowed) and, when set, ``intent`` and
        ``guards``. An agent without policies is denied everything (``scopes == []``). A
        gateway without this route raises the `GatewayError` for its 404.
        """
        correlation_id = generate_correlation_id()
        with (
            deadline_scope(self._deadline_s),
            self._span("get_policy", correlation_id, "GET") as span,
        ):
            response, attempts = await self._send(
                self._prepare(
                    "GET",
                    merged_policy_path(self._agent_id),
                    body=None,
                    correlation_id=correlation_id,
                    idempotent=True,
                )
            )
            span.succeeded(response, attempts)
            return decode(response, correlation_id, attempts, merged_spec)

    # Transport

    async def _send(self, call: PreparedCall) -> tuple[httpx2.Response, int]:
        """Send one call: sign, send, classify and retry; returns the success and attempts."""
        outcome: Outcome = await self._retrying()(self._attempt, call, CallHistory())
        return outcome.result(), outcome.attempt

    def _retrying(self) -> AsyncRetrying:
        """The client's retry loop, copied for one call (tenacity keeps a run's state on it).

        Every attempt, the first included, runs through it. Its rules (`AttemptJudge`,
        `RetryRules`): retry what may be retried, stop when the retries are spent or the
        next wait would cross the call's deadline, wait what the policy says. tenacity is
        imported at the first call, not with the package."""
        loop: AsyncRetrying | None = self._retry_loop
        if loop is None:
            from tenacity import AsyncRetrying

            loop = self._retry_loop = AsyncRetrying(
                retry=self._rules.retry,
                stop=self._stop,
                wait=self._rules.wait,
                sleep=self._backoff,
                before_sleep=self._before_wait,
                retry_error_callback=self._stopped,
            )
        return loop.copy()

    async def _backoff(self, wait_s: float) -> None:
        """Wait before a retry; `close()` ends the wait, and the call, at once."""
        await self._closing.sleep(wait_s)
        if self._closing.is_set():
            raise closed_error(type(self).__name__, in_flight=True)

    async def _attempt(self, call: PreparedCall, history: CallHistory) -> Outcome:
        """One signed attempt, judged: its `Outcome`, or the error no retry may follow."""
        self._check_open()  # no attempt starts after close()
        attempt = history.next_attempt()
        timeout = self._attempt_timeout(call, attempt)  # clipped to the deadline, if any
        if attempt > 1:
            note_retry(attempt)
        headers = self._signed_headers(call)
        started = time.perf_counter()
        try:
            response = await self._send_attempt(call, headers, timeout)
        except Exception as exc:
            failed = exc
        else:
            return self._answered(response, call, attempt, history, started)
        return self._failed(failed, call, attempt, history, started)  # outside: see the top

    async def _send_attempt(
        self, call: PreparedCall, headers: dict[str, str], timeout: httpx2.Timeout
    ) -> httpx2.Response:
        """Send one attempt as signed; the answer comes back read and closed.

        The SDK's own pool gets the request straight from here (see _pools); a caller's
        `http_client` takes its full path, so its event hooks, auth and mounts apply.
        """
        caller = self._pools.caller
        if caller is not None:
            return await caller.request(
                call.method,
                call.url,
                content=call.body,
                headers=headers,
                timeout=timeout,
                follow_redirects=False,  # whatever a caller's client says: see _transport
            )
        request = self._direct_request(call, headers, timeout)
        response = await self._pools.transport().handle_async_request(request)
        response.request = request
        try:
            await response.aread()
        finally:
            await response.aclose()  # the connection goes back to the pool, or is closed
        return response
