from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import httpx2

from .._answers import api_suffix_hint, describe_foreign, json_object_or_none, read_json
from .._concurrency import AsyncClosing
from .._constants import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_RETRY_AFTER_S,
    DEFAULT_POOL_TIMEOUT_MS,
    DEFAULT_TIMEOUT_MS,
    HEADER_IDEMPOTENCY_KEY,
    HEADER_IDEMPOTENT_REPLAYED,
    HEADER_ROTATION_RECOMMENDED,
    HEADER_TOKEN_EXPIRES_AT,
    JOB_POLL_CAP_S,
    LOGGER_NAME,
    LONGEST_WAIT_S,
    MANAGED_TOKEN_TTL_MINUTES,
    READ_ONLY_ACTIONS,
)
from .._environment import read_environment
from .._errors import (
    BAD_RESPONSE,
    IDEMPOTENCY_CONFLICT,
    JOBS_UNSUPPORTED,
    GatewayConfigError,
    GatewayError,
    GatewayNetworkError,
    GatewayTimeoutError,
    GatewayTokenError,
    error_from_response,
)
from .._ids import generate_correlation_id
from .._masking import describe_attempt, mask_sensitive, mask_text
from .._models import JobResponse, ProxyResponse, TokenInfo, TokenOptions
from .._pools import AsyncPools
from .._requests import (
    PreparedCall,
    check_agent_id,
    check_correlation_id,
    check_default_intent,
    check_intent,
    check_name,
    check_params,
    check_read_only_actions,
    check_retry_settings,
    check_timeout_ms,
    check_ttl_minutes,
    choose_idempotency_key,
    encode_json,
    is_read_only,
    job_path,
    load_agent_key,
    merged_policy_path,
    outgoing_params,
    parse_base_url,
    proof_payload_text,
    proxy_body,
    request_headers,
    token_request_body,
    user_agent,
)
from .._retry import Failure, classify_exception, decide, server_wait_s
from .._signing import RequestSigner
from .._tokens import (
    Credential,
    TokenClaims,
    check_caller_token,
    check_scope,
    decode_token,
    parse_timestamp,
    utc_now,
)
from .._transport import (
    check_http_client,
    check_pool_timeout_ms,
    closed_error,
    pool_full_error,
    pool_limits,
    redirect_error,
    unusable_client_error,
)
from .._validation import check_callable, check_number
from ._token_manager import AsyncTokenManager

if TYPE_CHECKING:
    from tenacity import AsyncRetrying

logger = logging.getLogger(LOGGER_NAME)
_T = TypeVar("_T")

_MINTED_TOKENS_KEPT = 256
# Per-client caches of pure results (request URLs by path, decoded caller tokens).
_CACHED_PATHS = frozenset({"/api/generate-token", "/api/proxy-request"})
_CLAIMS_KEPT = 64


class _RetryLater(Exception):
    """Raised by an attempt to ask for another after `wait_s`."""

    def __init__(self, wait_s: float) -> None:
        super().__init__(wait_s)
        self.wait_s = wait_s


def _wait_asked(retry_state: Any) -> float:
    exc = retry_state.outcome.exception()
    return exc.wait_s if isinstance(exc, _RetryLater) else 0.0


class GatewayClient:
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
    free connection, apart from `timeout_ms`; it also bounds an `http_client`'s pool).
    Settings are checked at once: `GatewayConfigError` names the parameter.

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
    ) -> None:
        self._endpoint = parse_base_url(base_url, allow_insecure_http=allow_insecure_http)
        self._agent_id = check_agent_id(agent_id)
        check_http_client(http_client, httpx2.AsyncClient, type(self).__name__)
        limits = pool_limits(
            max_connections, max_keepalive_connections, caller_client=http_client is not None
        )
        self._limits = None if http_client is not None else limits
        self._pool_timeout_s = check_pool_timeout_ms(pool_timeout_ms)
        self._timeout = httpx2.Timeout(check_timeout_ms(timeout_ms), pool=self._pool_timeout_s)
        self._max_retry_after_s = check_retry_settings(max_retries, max_retry_after_s)
        self._max_retries = max_retries
        self._intent = check_default_intent(default_intent)
        self._read_only = READ_ONLY_ACTIONS | check_read_only_actions(read_only_actions)
        key = load_agent_key(
            agent_private_key_pem, key_password, mock=self._endpoint.mock_name is not None
        )
        self._signer = RequestSigner(key, self._agent_id)
        self._user_agent = user_agent()
        self._tokens = AsyncTokenManager(
            self._mint_token, check_ttl_minutes(managed_token_ttl_minutes)
        )
        self._minted: OrderedDict[str, TokenInfo] = OrderedDict()
        self._urls: dict[str, tuple[httpx2.URL, str]] = {}
        self._claims: dict[str, TokenClaims | None] = {}
        # Set once an answer echoes the Idempotency-Key we sent (wire.md Part B): this
        # gateway keeps keys, so a keyed side effect may be retried. The real gateway
        # ignores the header; there a key alone never makes a retry safe.
        self._gateway_keeps_keys = False
        self._closing = AsyncClosing()
        if self._endpoint.mock_name is not None:
            if http_client is not None:
                raise GatewayConfigError("http_client cannot be combined with a mock:// base_url")
            from ..testing._mock import AsyncGatewayMockTransport

            transport = AsyncGatewayMockTransport(
                self._endpoint.mock_name,
                agent_id=self._agent_id,
                public_key_pem=key.public_key_pem(),
            )
            # The same pool-per-loop machinery as over a socket, so that code tested on
            # mock:// behaves the same against a real gateway.
            self._pools = AsyncPools(lambda: httpx2.AsyncClient(transport=transport))
        elif http_client is not None:
            self._pools = AsyncPools(caller_client=http_client)
        else:
            self._pools = AsyncPools(lambda: AsyncPools.new_http_client(limits))

    @classmethod
    def from_env(
        cls,
        *,
        default_base_url: str | None = None,
        environ: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> GatewayClient:
        """A client configured from environment variables; keyword arguments win.

        Reads ``GATEWAY_URL``, ``AGENT_ID``, the key as PEM text in ``AGENT_PRIVATE_KEY``
        or as a file in ``AGENT_PRIVATE_KEY_FILE``, ``AGENT_KEY_PASSWORD``,
        ``AGENT_INTENT`` (the `default_intent`) and ``GATEWAY_ALLOW_INSECURE_HTTP``. Any
        constructor argument may be passed to override what the environment says.
        `default_base_url` (e.g. ``"mock://dev"``) is used when ``GATEWAY_URL`` is unset;
        with a ``mock://`` URL the agent id and key may be left out. `environ` replaces
        ``os.environ``.

        Raises `GatewayConfigError` naming exactly the variables that are missing.
        """
        settings = read_environment(environ, overrides, default_base_url=default_base_url)
        return cls(**settings.kwargs)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={self._endpoint.base_url!r}, "
            f"agent_id={self._agent_id!r})"
        )

    __str__ = __repr__

    @property
    def base_url(self) -> str:
        """The gateway's URL, without a trailing slash (``mock://<name>`` for the embedded one)."""
        return self._endpoint.base_url

    @property
    def agent_id(self) -> str:
        """The agent the client signs as."""
        return self._agent_id

    @property
    def intent(self) -> str | None:
        """The intent sent with every call (`default_intent`, then `set_intent`), or None."""
        return self._intent

    def set_intent(self, intent: str | None) -> None:
        """Set the intent sent with every following call (None clears it)."""
        self._intent = check_intent(intent)

    async def close(self) -> None:
        """Close the connection pools (not an `http_client` passed in by the caller).

        Calls in flight or waiting to retry end with `GatewayError` (CLIENT_CLOSED), as
        do later calls: a closed client cannot be reopened.
        """
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
        response, attempts = await self._send(
            "POST",
            "/api/generate-token",
            body=encode_json(request),
            correlation_id=correlation_id,
            idempotent=True,
        )
        info = _decode(
            response, correlation_id, attempts, lambda body: _token_info(body, request, options)
        )
        self._remember(info)
        return info

    def _remember(self, info: TokenInfo) -> None:
        self._minted[info.agent_token] = info
        while len(self._minted) > _MINTED_TOKENS_KEPT:
            self._minted.popitem(last=False)

    async def _credential(
        self, tool: str, action: str, agent_token: str | None, proof_override: str | None
    ) -> Credential:
        """The token for a call; `proof_override` is the caller's override, checked already."""
        if agent_token is None:
            permissions = (
                ["read"] if is_read_only(tool, action, self._read_only) else ["read", "write"]
            )
            info = await self._tokens.get([tool], permissions)
            proof = info.proof_payload if proof_override is None else proof_override
            return Credential(
                info.agent_token, info.token_id, proof, managed=True, expires_at=info.expires_at
            )
        claims = self._decoded(agent_token)
        check_caller_token(claims, utc_now(), agent_id=self._agent_id)
        check_scope(claims, tool)
        minted = self._minted.get(agent_token)
        token_id = minted.token_id if minted else None
        proof = minted.proof_payload if minted else None
        if proof_override is not None:
            proof = proof_override
        expires_at = minted.expires_at if minted else claims.expires_at if claims else None
        return Credential(
            agent_token, token_id if proof is not None else None, proof, expires_at=expires_at
        )

    def _decoded(self, agent_token: str) -> TokenClaims | None:
        """`decode_token`, remembered per token (a caller usually reuses one token)."""
        try:
            return self._claims[agent_token]
        except KeyError:
            pass
        claims = decode_token(agent_token)
        if len(self._claims) >= _CLAIMS_KEPT:
            self._claims.clear()
        self._claims[agent_token] = claims
        return claims

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
        response = await self.proxy_response(
            tool,
            action,
            params,
            agent_token,
            proof_payload_override,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
        )
        return response.data

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
        response, attempts, call_id, credential = await self._proxy_call(
            tool, action, params, agent_token, proof_payload_override,
            idempotency_key=idempotency_key, correlation_id=correlation_id, run_async=False,
        )  # fmt: skip
        body = _decode(response, call_id, attempts, _as_is)
        return _proxy_response(response, body, call_id, attempts, credential)

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
        response, attempts, call_id, credential = await self._proxy_call(
            tool, action, params, agent_token, None,
            idempotency_key=idempotency_key, correlation_id=correlation_id, run_async=True,
        )  # fmt: skip
        body = _decode(response, call_id, attempts, _as_is)
        job_id = body.get("job_id")
        if not isinstance(job_id, str) or not job_id:
            unsupported = GatewayError(
                "The gateway does not support jobs: it ignored async and ran the call at once "
                "(its answer is the error's `response`); use proxy() with this gateway",
                code=JOBS_UNSUPPORTED,
                status_code=response.status_code,
                correlation_id=call_id,
                server_correlation_id=response.headers.get("x-correlation-id"),
                details=mask_sensitive(body),
                attempts=attempts,
            )
            unsupported.response = _proxy_response(response, body, call_id, attempts, credential)
            raise unsupported
        return {"job_id": job_id, "status": body.get("status", "queued")}

    async def _proxy_call(
        self,
        tool: str,
        action: str,
        params: Mapping[str, Any] | None,
        agent_token: str | None,
        proof_override: Any,
        *,
        idempotency_key: str | None,
        correlation_id: str | None,
        run_async: bool,
    ) -> tuple[httpx2.Response, int, str, Credential]:
        check_name(tool, "tool")
        check_name(action, "action")
        if agent_token is not None:
            check_name(agent_token, "agent_token")
        # Checked before anything is sent: a managed token is minted first otherwise.
        proof_text = None if proof_override is None else proof_payload_text(proof_override)
        checked = check_params(params)
        key, chosen = choose_idempotency_key(idempotency_key, checked)
        idempotent = is_read_only(tool, action, self._read_only)
        sent_params = outgoing_params(tool, action, checked, self._intent)
        params_json = encode_json(sent_params)  # refused here, before a token is minted
        call_id = (
            generate_correlation_id()
            if correlation_id is None
            else check_correlation_id(correlation_id)
        )
        for token_round in (1, 2):
            credential = await self._credential(tool, action, agent_token, proof_text)
            body = proxy_body(
                tool=tool,
                action=action,
                params=sent_params,
                params_json=params_json,
                agent_token=credential.agent_token,
                token_id=credential.token_id,
                proof_payload=credential.proof_payload,
                intent=self._intent,
                run_async=run_async,
            )
            try:
                response, attempts = await self._send(
                    "POST",
                    "/api/proxy-request",
                    body=body,
                    correlation_id=call_id,
                    idempotency_key=key,
                    idempotent=idempotent,
                    keyed=chosen,
                    call=f"{tool}:{action}",
                    log_params=sent_params,
                    credential=credential,
                )
            except GatewayTokenError:
                if credential.managed and token_round == 1:
                    self._tokens.discard(credential.agent_token)
                    continue
                raise
            return response, attempts, call_id, credential
        raise AssertionError("unreachable")  # pragma: no cover

    # Jobs

    async def get_job(self, job_id: str) -> JobResponse:
        """The state of a background job."""
        return await self._get_job(job_path(job_id))

    async def _get_job(self, path: str) -> JobResponse:
        correlation_id = generate_correlation_id()
        response, attempts = await self._send(
            "GET", path, body=None, correlation_id=correlation_id, idempotent=True
        )
        return _decode(response, correlation_id, attempts, JobResponse.from_body)

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
        timeout_s = check_number(
            timeout_s, "timeout_s", above_minimum=False, maximum=LONGEST_WAIT_S, unit=" (seconds)"
        )
        interval = check_number(
            poll_interval_s, "poll_interval_s", maximum=LONGEST_WAIT_S, unit=" (seconds)"
        )
        interval = max(0.01, interval)
        check_callable(on_poll, "on_poll")
        started = time.monotonic()
        deadline = started + timeout_s
        while True:
            job = await self._get_job(path)
            if on_poll is not None:
                on_poll(job, time.monotonic() - started)
            if job.finished:
                return job
            left = deadline - time.monotonic()
            if left <= 0:
                raise GatewayTimeoutError(
                    f"job {job_id!r} still {job.status} after {timeout_s:g} s", status_code=None
                )
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
        response, attempts = await self._send(
            "GET",
            merged_policy_path(self._agent_id),
            body=None,
            correlation_id=correlation_id,
            idempotent=True,
        )
        return _decode(response, correlation_id, attempts, _merged_spec)

    # Transport

    async def _send(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None,
        correlation_id: str,
        idempotent: bool,
        idempotency_key: str | None = None,
        keyed: bool = False,
        call: str | None = None,
        log_params: Any = None,
        credential: Credential | None = None,
    ) -> tuple[httpx2.Response, int]:
        """Send one call: sign, send, classify and retry; returns the success and attempts."""
        self._check_open()
        url, signed_url = self._url(path)
        headers = request_headers(
            agent=self._user_agent,
            correlation_id=correlation_id,
            idempotency_key=idempotency_key,
            has_body=body is not None,
        )
        prepared = PreparedCall(
            method, path, url, signed_url, headers, body, correlation_id, idempotent,
            keyed=keyed, label=call, log_params=log_params, credential=credential,
        )  # fmt: skip
        history = _CallHistory()
        try:  # most calls succeed at once: the retry machinery is built only when needed
            return await self._attempt(prepared, 1, history), 1
        except _RetryLater as first:
            await self._backoff(first.wait_s)
        attempts = 1
        async for attempt in self._new_retrying():
            with attempt:
                attempts += 1
                return await self._attempt(prepared, attempts, history), attempts
        raise AssertionError("unreachable")  # pragma: no cover

    async def _backoff(self, wait_s: float) -> None:
        """Wait before a retry; `close()` ends the wait, and the call, at once."""
        await self._closing.sleep(wait_s)
        if self._closing.is_set():
            raise closed_error(type(self).__name__, in_flight=True)

    async def _attempt(
        self, call: PreparedCall, attempts: int, history: _CallHistory
    ) -> httpx2.Response:
        """One signed attempt: the success, or `_RetryLater`, or the error to raise."""
        self._check_open()  # no attempt starts after close()
        http = self._pools.client()
        signed = {
            **call.headers,
            **self._signer.sign(call.method, call.signed_url, call.headers, call.body),
        }
        started = time.perf_counter()
        try:
            response = await http.request(
                call.method,
                call.url,
                content=call.body,
                headers=signed,
                timeout=self._timeout,
                follow_redirects=False,  # whatever a caller's client says: see _transport
            )
        except Exception as exc:
            if self._closing.is_set():  # close() cut this attempt short
                raise closed_error(
                    type(self).__name__, call.correlation_id, attempts, in_flight=True
                ) from None
            if isinstance(exc, httpx2.PoolTimeout):  # our own load: waiting again won't help
                raise pool_full_error(
                    self._limits, self._pool_timeout_s, call.correlation_id, attempts
                ) from None
            if isinstance(exc, RuntimeError) and not self._pools.owned:
                raise unusable_client_error(exc, call.correlation_id, attempts) from None
            if not isinstance(exc, httpx2.TransportError):
                if isinstance(exc, httpx2.RequestError):  # an answer came, but unreadable
                    self._log(call, attempts, exc, started)
                    raise GatewayError(
                        "the gateway's answer could not be read: its body does not match its "
                        f"Content-Encoding ({type(exc).__name__}: {exc})",
                        code=BAD_RESPONSE,
                        correlation_id=call.correlation_id,
                        attempts=attempts,
                    ) from None
                raise
            failure = classify_exception(exc)
            if failure is Failure.TIMED_OUT:
                history.timed_out = True
            self._log(call, attempts, exc, started)
            decision = decide(
                retries_done=attempts - 1,
                max_retries=self._max_retries,
                idempotent=self._retry_safe(call),
                failure=failure,
                max_retry_after_s=self._max_retry_after_s,
            )
            if decision.retry:
                raise _RetryLater(decision.wait_s) from None
            raise _network_error(exc, failure, call, attempts) from None
        self._log(call, attempts, response, started)
        if self._closing.is_set():  # answered after close(): the call was cut short
            raise closed_error(type(self).__name__, call.correlation_id, attempts, in_flight=True)
        if 300 <= response.status_code < 400:
            raise redirect_error(response, call.url, call.correlation_id, attempts)
        if call.credential is not None:
            self._observe_rotation(response, call.credential)
        self._observe_key_echo(response, call)
        if response.is_success:
            return response
        retry_after = server_wait_s(
            response.status_code, response.headers, json_object_or_none(response.content)
        )
        decision = decide(
            retries_done=attempts - 1,
            max_retries=self._max_retries,
            idempotent=self._retry_safe(call),
            status_code=response.status_code,
            retry_after=retry_after,
            max_retry_after_s=self._max_retry_after_s,
        )
        if decision.retry:
            raise _RetryLater(decision.wait_s)
        error = error_from_response(
            response.status_code,
            response.content,
            response.headers,
            correlation_id=call.correlation_id,
            retry_after=retry_after,
            attempts=attempts,
            secrets=call.secrets,
            hint=api_suffix_hint(self._endpoint.base_url) if response.status_code == 404 else None,
        )
        if history.timed_out and _still_running(error):
            raise _still_running_timeout(error, call, attempts)
        raise error

    def _new_retrying(self) -> AsyncRetrying:
        """The retry loop after a first attempt asked for another (tenacity, imported then)."""
        from tenacity import AsyncRetrying, retry_if_exception_type, stop_never

        return AsyncRetrying(
            stop=stop_never,
            retry=retry_if_exception_type(_RetryLater),
            wait=_wait_asked,
            sleep=self._backoff,
            reraise=True,
        )

    def _url(self, path: str) -> tuple[httpx2.URL, str]:
        """The request URL for `path`, parsed once, and its text (sign exactly what httpx sends)."""
        cached = self._urls.get(path)
        if cached is None:
            url = httpx2.URL(self._endpoint.base_url + path)
            cached = (url, str(url))
            if path in _CACHED_PATHS:  # the routes every call uses; job paths vary
                self._urls[path] = cached
        return cached

    def _check_open(self) -> None:
        if self._closing.is_set():
            raise closed_error(type(self).__name__)

    def _retry_safe(self, call: PreparedCall) -> bool:
        """Idempotent by nature, or keyed by the caller and sent to a gateway that keeps keys."""
        return call.idempotent or (call.keyed and self._gateway_keeps_keys)

    def _observe_key_echo(self, response: httpx2.Response, call: PreparedCall) -> None:
        sent = call.headers.get(HEADER_IDEMPOTENCY_KEY)
        if sent is not None and response.headers.get(HEADER_IDEMPOTENCY_KEY) == sent:
            self._gateway_keeps_keys = True

    def _observe_rotation(self, response: httpx2.Response, credential: Credential) -> None:
        if not _rotation_recommended(response):
            return
        if credential.managed:  # never stale at birth: see AsyncTokenManager's refresh rule
            expires_at = parse_timestamp(response.headers.get(HEADER_TOKEN_EXPIRES_AT))
            self._tokens.follow_rotation_hint(credential.agent_token, expires_at)
        else:
            logger.warning(
                "gateway recommends rotating the agent token (expires at %s); mint a new one "
                "with get_token()",
                response.headers.get(HEADER_TOKEN_EXPIRES_AT, "unknown"),
            )

    def _log(
        self, call: PreparedCall, attempt: int, outcome: httpx2.Response | Exception, started: float
    ) -> None:
        if not logger.isEnabledFor(logging.DEBUG):
            return
        status = (
            outcome.status_code if isinstance(outcome, httpx2.Response) else type(outcome).__name__
        )
        logger.debug(
            describe_attempt(
                method=call.method,
                path=call.path,
                call=call.label,
                correlation_id=call.correlation_id,
                attempt=attempt,
                status=status,
                elapsed_ms=(time.perf_counter() - started) * 1000,
                params=call.log_params,
            )
        )


def _rotation_recommended(response: httpx2.Response) -> bool:
    return str(response.headers.get(HEADER_ROTATION_RECOMMENDED, "")).lower() == "true"


class _CallHistory:
    """What earlier attempts of one call saw (the same object on every retry)."""

    __slots__ = ("timed_out",)

    def __init__(self) -> None:
        self.timed_out = False  # an attempt timed out: the gateway may still be running it


def _still_running(error: GatewayError) -> bool:
    """A 409: the gateway is still running an earlier attempt with this Idempotency-Key."""
    return error.status_code == 409 and error.code == IDEMPOTENCY_CONFLICT


def _still_running_timeout(
    conflict: GatewayError, call: PreparedCall, attempts: int
) -> GatewayTimeoutError:
    """A call whose first attempt timed out and whose retries found it still running."""
    return GatewayTimeoutError(
        f"the gateway did not answer in time: the first attempt is still running on the "
        f"gateway, and {attempts - 1} retr{'y' if attempts == 2 else 'ies'} with the same "
        "Idempotency-Key found it unfinished (409); it may still complete",
        correlation_id=call.correlation_id,
        server_correlation_id=conflict.server_correlation_id,
        details=conflict.details,
        attempts=attempts,
    )


def _proxy_response(
    response: httpx2.Response,
    body: dict[str, Any],
    call_id: str,
    attempts: int,
    credential: Credential,
) -> ProxyResponse:
    metadata = body.get("metadata")
    # The gateway's header when it sends one (with a rotation hint), else what the SDK
    # knows of the token: the same instant, so the field is filled for managed tokens.
    expires_at = parse_timestamp(response.headers.get(HEADER_TOKEN_EXPIRES_AT))
    return ProxyResponse(
        data=body.get("data"),
        metadata=metadata if isinstance(metadata, dict) else {},
        correlation_id=call_id,
        server_correlation_id=response.headers.get("x-correlation-id"),
        status_code=response.status_code,
        rotation_recommended=_rotation_recommended(response),
        token_expires_at=expires_at or credential.expires_at,
        idempotent_replayed=response.headers.get(HEADER_IDEMPOTENT_REPLAYED) == "true",
        attempts=attempts,
    )


def _as_is(body: dict[str, Any]) -> dict[str, Any]:
    return body


def _decode(
    response: httpx2.Response,
    correlation_id: str,
    attempts: int,
    read: Callable[[dict[str, Any]], _T],
) -> _T:
    """Read a success answer's JSON object with `read`; a `GatewayError` when it makes no sense."""
    try:
        body = read_json(response.content)
        if not isinstance(body, dict):
            raise ValueError("its body is not a JSON object")
        return read(body)
    except GatewayError:
        raise
    except ValueError as problem:
        foreign = response.content.lstrip()[:1] not in (b"{", b"[")  # not even trying JSON
        raise GatewayError(
            _foreign(response)
            if foreign
            else f"gateway answered {response.status_code}, but {problem}",
            code=BAD_RESPONSE,
            status_code=response.status_code,
            correlation_id=correlation_id,
            server_correlation_id=response.headers.get("x-correlation-id"),
            attempts=attempts,
        ) from None


def _merged_spec(body: dict[str, Any]) -> dict[str, Any]:
    spec = body.get("mergedSpec")
    if not isinstance(spec, dict):
        raise ValueError("the merged-policy answer has no mergedSpec object")
    scopes = spec.get("scopes")
    if not isinstance(scopes, list) or not all(isinstance(scope, str) for scope in scopes):
        raise ValueError("the merged policy's scopes are not a list of strings")
    return spec


def _token_info(body: dict[str, Any], request: dict[str, Any], options: TokenOptions) -> TokenInfo:
    token = body.get("agent_token")
    if not isinstance(token, str) or not token:
        raise ValueError("the generate-token answer has no agent_token")
    claims = decode_token(token)
    expires_at = (
        parse_timestamp(body.get("expires_at"))
        or (claims.expires_at if claims else None)
        or parse_timestamp(request["expires_at"])
    )
    assert expires_at is not None
    token_id = body.get("token_id")
    return TokenInfo(
        agent_token=token,
        token_id=token_id if isinstance(token_id, str) else None,
        expires_at=expires_at,
        agent_name=body.get("agent_name") if isinstance(body.get("agent_name"), str) else None,
        tools=tuple(options.tools),
        permissions=tuple(options.permissions),
        proof_payload=claims.raw_payload.decode() if claims and claims.form == "gateway" else None,
    )


def _foreign(response: httpx2.Response) -> str:
    text = mask_text(response.content.decode("utf-8", errors="replace"))
    return describe_foreign(response.status_code, response.headers, text)


def _network_error(
    exc: httpx2.TransportError, failure: Failure, call: PreparedCall, attempts: int
) -> GatewayNetworkError:
    cls = GatewayTimeoutError if isinstance(exc, httpx2.TimeoutException) else GatewayNetworkError
    what = {
        Failure.NOT_SENT: "could not reach the gateway",
        Failure.TIMED_OUT: "the gateway did not answer in time",
        Failure.DROPPED: "the connection was lost before an answer",
    }[failure]
    return cls(
        f"{what} at {_safe_url(call.url)} ({type(exc).__name__}: {exc})",
        correlation_id=call.correlation_id,
        attempts=attempts,
    )


def _safe_url(url: httpx2.URL) -> str:
    """The URL tried, for a message: scheme, host, port and path, never credentials or query."""
    host = f"[{url.host}]" if ":" in url.host else url.host  # an IPv6 address
    port = f":{url.port}" if url.port is not None else ""
    return f"{url.scheme}://{host}{port}{url.raw_path.split(b'?', 1)[0].decode('ascii')}"
