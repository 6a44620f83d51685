"""`ClientBase`: the state both clients read and everything they do without I/O.

`GatewayClient` (`_async/_client.py`) and its generated twin `SyncGatewayClient` inherit
this class and add only what awaits or blocks: sending an attempt, waiting between
attempts, minting a token, polling a job, closing the pools. Configuration, the caller's
token checks, the plan of a call, how an attempt's outcome is judged and logged, and
what an answer teaches the client (a rotation hint, a gateway that keeps idempotency
keys) are written here once, so the twins cannot drift. This module must never send,
sleep or take a lock across I/O; a method that needs to is a twin's.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import httpx2

from ._answers import json_object_or_none
from ._call_options import NOT_GIVEN, CallOptions, Deadline, NotGiven, current_deadline
from ._concurrency import AsyncClosing, Closing
from ._config import (
    Endpoint,
    check_agent_id,
    check_default_intent,
    check_read_only_actions,
    check_ttl_minutes,
    load_agent_key,
    parse_base_url,
    user_agent,
)
from ._constants import (
    HEADER_IDEMPOTENCY_KEY,
    HEADER_TOKEN_EXPIRES_AT,
    LOGGER_NAME,
    READ_ONLY_ACTIONS,
)
from ._errors import GatewayConfigError, GatewayTimeoutError
from ._ids import generate_correlation_id
from ._keys import AgentKey
from ._masking import describe_attempt
from ._models import TokenInfo
from ._pools import AsyncPools, Pools
from ._requests import (
    PreparedCall,
    check_correlation_id,
    check_intent,
    check_name,
    check_params,
    choose_idempotency_key,
    encode_json,
    is_read_only,
    outgoing_params,
    proof_payload_text,
    proxy_body,
    request_headers,
)
from ._responses import (
    answer_error,
    network_error,
    rotation_recommended,
    still_running,
    still_running_timeout,
    unreadable_answer,
)
from ._retry import CallHistory, Failure, classify_exception, decide, server_wait_s
from ._signing import RequestSigner
from ._token_cache import TokenCache
from ._tokens import (
    Credential,
    TokenClaims,
    check_caller_token,
    check_scope,
    decode_token,
    parse_timestamp,
    utc_now,
)
from ._tracing import (
    AnySpan,
    add_trace_headers,
    call_span,
    check_tracer_provider,
    note_deadline,
    note_wait,
)
from ._transport import (
    check_http_client,
    check_pool_timeout_ms,
    closed_error,
    pool_full_error,
    pool_limits,
    redirect_error,
    unusable_client_error,
)

logger = logging.getLogger(LOGGER_NAME)

_MINTED_TOKENS_KEPT = 256
# Per-client caches of pure results (request URLs by path, decoded caller tokens).
_CACHED_PATHS = frozenset({"/api/generate-token", "/api/proxy-request"})
_CLAIMS_KEPT = 64
# A timeout that fires this close to the deadline was the deadline's (timers may fire a
# hair early): the attempt was cut short, not slow on its own.
_DEADLINE_SLACK_S = 0.005

_Client = TypeVar("_Client", bound="ClientBase")


class _RetryLater(Exception):
    """Raised by an attempt to ask for another after `wait_s`."""

    def __init__(self, wait_s: float) -> None:
        super().__init__(wait_s)
        self.wait_s = wait_s


class _Learned:
    """What answers taught a client, shared with its `with_options` copies."""

    __slots__ = ("keeps_keys",)

    def __init__(self) -> None:
        self.keeps_keys = False


@dataclass(frozen=True)
class ProxyPlan:
    """A proxy call's checked arguments and what follows from them, before any token."""

    tool: str
    action: str
    params: dict[str, Any]  # as sent: with the intent and the gateway's name aliases
    params_json: bytes
    proof_text: str | None  # the caller's proof_payload_override as sent
    idempotency_key: str
    keyed: bool  # the caller chose the key
    idempotent: bool
    correlation_id: str


class ClientBase:
    """What `GatewayClient` and `SyncGatewayClient` share: settings, state, judgement."""

    # Set by each twin's __init__: the kinds differ, the methods used here do not.
    _tokens: TokenCache
    _closing: AsyncClosing | Closing
    _pools: AsyncPools | Pools

    def _configure(
        self,
        base_url: str,
        agent_id: str,
        agent_private_key_pem: str | bytes,
        default_intent: str | None,
        timeout_ms: float,
        *,
        max_retries: int,
        max_retry_after_s: float,
        key_password: str | bytes | None,
        http_client: Any,
        http_client_type: type[Any],
        read_only_actions: Iterable[str],
        managed_token_ttl_minutes: int,
        max_connections: int | None,
        max_keepalive_connections: int | None,
        pool_timeout_ms: float,
        allow_insecure_http: bool,
        deadline_s: float | None = None,
        tracer_provider: Any = None,
    ) -> tuple[AgentKey, httpx2.Limits, int]:
        """Check every setting (in the order the parameters come) and set the shared state.

        Returns what the twin builds its own parts from: the agent key, the pool limits
        and the managed tokens' lifetime."""
        self._endpoint: Endpoint = parse_base_url(base_url, allow_insecure_http=allow_insecure_http)
        self._agent_id = check_agent_id(agent_id)
        check_http_client(http_client, http_client_type, type(self).__name__)
        limits = pool_limits(
            max_connections, max_keepalive_connections, caller_client=http_client is not None
        )
        self._limits = None if http_client is not None else limits
        self._pool_timeout_s = check_pool_timeout_ms(pool_timeout_ms)
        self._use_options(
            CallOptions.checked(
                timeout_ms=timeout_ms,
                max_retries=max_retries,
                max_retry_after_s=max_retry_after_s,
                deadline_s=deadline_s,
            )
        )
        self._intent = check_default_intent(default_intent)
        self._read_only = READ_ONLY_ACTIONS | check_read_only_actions(read_only_actions)
        key = load_agent_key(
            agent_private_key_pem, key_password, mock=self._endpoint.mock_name is not None
        )
        self._signer = RequestSigner(key, self._agent_id)
        self._user_agent = user_agent()
        ttl_minutes = check_ttl_minutes(managed_token_ttl_minutes)
        if self._endpoint.mock_name is not None and http_client is not None:
            raise GatewayConfigError("http_client cannot be combined with a mock:// base_url")
        self._minted: OrderedDict[str, TokenInfo] = OrderedDict()
        self._urls: dict[str, tuple[httpx2.URL, str]] = {}
        self._claims: dict[str, TokenClaims | None] = {}
        # Set once an answer echoes the Idempotency-Key we sent (wire.md Part B): this
        # gateway keeps keys, so a keyed side effect may be retried. The real gateway
        # ignores the header; there a key alone never makes a retry safe.
        self._learned = _Learned()
        self._tracer_provider = check_tracer_provider(tracer_provider)
        self._is_copy = False  # made by with_options: shares the pool, owns nothing
        self._copy_closed = False
        return key, limits, ttl_minutes

    def _use_options(self, options: CallOptions) -> None:
        """Take `options` as this client's (the constructor's, or a copy's)."""
        self._options = options
        self._timeout = httpx2.Timeout(options.timeout_s, pool=self._pool_timeout_s)
        self._max_retries = options.max_retries
        self._max_retry_after_s = options.max_retry_after_s
        self._deadline_s = options.deadline_s

    def with_options(
        self: _Client,
        *,
        timeout_ms: float | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        max_retry_after_s: float | NotGiven = NOT_GIVEN,
        deadline_s: float | NotGiven | None = NOT_GIVEN,
    ) -> _Client:
        """A client with other per-call settings that shares this one's everything else.

        The copy uses the same connection pool, managed tokens, key, intent (as set now)
        and what the gateway has shown (whether it keeps idempotency keys): no new
        connection, no new token. It is cheap enough to make per request:
        ``await gw.with_options(deadline_s=2).proxy(...)``. Settings left out keep this
        client's; ``deadline_s=None`` removes the deadline. Bad values raise
        `GatewayConfigError`, as the constructor's do.

        The pool belongs to the client it was first made from: closing that client ends
        calls through every copy. Closing a copy closes nothing shared; later calls
        through that copy raise `GatewayError` (``CLIENT_CLOSED``).
        """
        self._check_open()
        options = self._options.changed(
            timeout_ms=timeout_ms,
            max_retries=max_retries,
            max_retry_after_s=max_retry_after_s,
            deadline_s=deadline_s,
        )
        copy = object.__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy._use_options(options)
        copy._is_copy = True
        copy._copy_closed = False
        return copy

    def _close_copy(self) -> bool:
        """Close a `with_options` copy (its own calls only); False for an original."""
        if self._is_copy:
            self._copy_closed = True
        return self._is_copy

    @property
    def _gateway_keeps_keys(self) -> bool:
        # Set once an answer echoes the Idempotency-Key we sent; shared with the copies.
        return self._learned.keeps_keys

    @_gateway_keeps_keys.setter
    def _gateway_keeps_keys(self, value: bool) -> None:
        self._learned.keeps_keys = value

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

    # Tokens

    def _remember(self, info: TokenInfo) -> None:
        self._minted[info.agent_token] = info
        while len(self._minted) > _MINTED_TOKENS_KEPT:
            self._minted.popitem(last=False)

    def _managed_permissions(self, tool: str, action: str) -> list[str]:
        """What a managed token for `tool`/`action` asks for: no write for a read."""
        return ["read"] if is_read_only(tool, action, self._read_only) else ["read", "write"]

    def _caller_credential(
        self, tool: str, agent_token: str, proof_override: str | None
    ) -> Credential:
        """The caller's own token for a call, checked as far as the SDK can tell: one
        it can tell is wrong (another agent's, out of scope, ...) is refused unsent."""
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

    def _plan_proxy(
        self,
        tool: str,
        action: str,
        params: Any,
        agent_token: str | None,
        proof_override: Any,
        idempotency_key: str | None,
        correlation_id: str | None,
    ) -> ProxyPlan:
        """Check a proxy call's arguments, all before anything is sent or minted."""
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
        return ProxyPlan(
            tool, action, sent_params, params_json, proof_text, key, chosen, idempotent, call_id
        )

    def _proxy_span(self, plan: ProxyPlan, run_async: bool) -> AnySpan:
        """The span of a proxy call, named after its ``tool:action`` (no params in it)."""
        return call_span(
            f"{plan.tool}:{plan.action}", self._tracer_provider,
            correlation_id=plan.correlation_id, method="POST", tool=plan.tool,
            action=plan.action, run_async=True if run_async else None,
        )  # fmt: skip

    def _proxy_body(self, plan: ProxyPlan, credential: Credential, run_async: bool) -> bytes:
        return proxy_body(
            tool=plan.tool,
            action=plan.action,
            params=plan.params,
            params_json=plan.params_json,
            agent_token=credential.agent_token,
            token_id=credential.token_id,
            proof_payload=credential.proof_payload,
            intent=self._intent,
            run_async=run_async,
        )

    def _prepare(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None,
        correlation_id: str,
        idempotent: bool,
        idempotency_key: str | None,
        keyed: bool,
        call: str | None,
        log_params: Any,
        credential: Credential | None,
    ) -> PreparedCall:
        """Everything every attempt of one call sends, but the signature."""
        url, signed_url = self._url(path)
        headers = request_headers(
            agent=self._user_agent,
            correlation_id=correlation_id,
            idempotency_key=idempotency_key,
            has_body=body is not None,
        )
        add_trace_headers(headers)  # before signing: the signature covers traceparent
        return PreparedCall(
            method, path, url, signed_url, headers, body, correlation_id, idempotent,
            keyed=keyed, label=call, log_params=log_params, credential=credential,
        )  # fmt: skip

    def _url(self, path: str) -> tuple[httpx2.URL, str]:
        """The request URL for `path`, parsed once, and its text (sign exactly what httpx sends)."""
        cached = self._urls.get(path)
        if cached is None:
            url = httpx2.URL(self._endpoint.base_url + path)
            cached = (url, str(url))
            if path in _CACHED_PATHS:  # the routes every call uses; job paths vary
                self._urls[path] = cached
        return cached

    def _signed_headers(self, call: PreparedCall) -> dict[str, str]:
        """The call's headers with a fresh signature (each attempt signs anew)."""
        return {
            **call.headers,
            **self._signer.sign(call.method, call.signed_url, call.headers, call.body),
        }

    def _check_open(self) -> None:
        if self._closing.is_set() or self._copy_closed:
            raise closed_error(type(self).__name__)

    # The deadline (deadline_s): the call's, set by the twin's public method

    def _attempt_timeout(self, call: PreparedCall, attempts: int) -> httpx2.Timeout:
        """Attempt `attempts`'s timeout: `timeout_ms`, clipped to what the deadline leaves."""
        deadline = current_deadline()
        if deadline is None:
            return self._timeout
        left = deadline.left_s()
        if left <= 0:
            raise self._deadline_stop(
                deadline, call, attempts - 1, "no time was left for another attempt"
            )
        timeout_s = self._options.timeout_s
        if left >= timeout_s and left >= self._pool_timeout_s:
            return self._timeout
        return httpx2.Timeout(min(timeout_s, left), pool=min(self._pool_timeout_s, left))

    def _retry_later(
        self,
        wait_s: float,
        call: PreparedCall,
        attempts: int,
        *,
        server_asked: bool,
        status_code: int | None = None,
        failure: Failure | None = None,
        server_correlation_id: str | None = None,
    ) -> _RetryLater:
        """Ask for another attempt after `wait_s`, unless that wait would cross the
        call's deadline: then the call stops here, and the wait is never started."""
        deadline = current_deadline()
        if deadline is not None and not deadline.allows_wait(wait_s):
            asked = "asked by the gateway" if server_asked else "of backoff"
            raise self._deadline_stop(
                deadline, call, attempts,
                f"the wait before the next attempt ({wait_s:g} s, {asked}) would end past it"
                + ("" if status_code is None else f"; the last answer was {status_code}"),
                status_code=status_code, server_correlation_id=server_correlation_id,
                wait_s=wait_s,
            )  # fmt: skip
        note_wait(
            attempt=attempts,
            wait_s=wait_s,
            server_asked=server_asked,
            status_code=status_code,
            failure=None if failure is None else failure.value,
        )
        return _RetryLater(wait_s)

    def _deadline_stop(
        self,
        deadline: Deadline,
        call: PreparedCall,
        attempts: int,
        why: str,
        *,
        status_code: int | None = None,
        server_correlation_id: str | None = None,
        wait_s: float | None = None,
    ) -> GatewayTimeoutError:
        note_deadline(deadline_s=deadline.seconds, attempts=attempts, wait_s=wait_s)
        return deadline.ran_out(
            attempts,
            what=call.label or f"{call.method} {call.path}",
            why=why,
            correlation_id=call.correlation_id,
            server_correlation_id=server_correlation_id,
            status_code=status_code,
        )

    # Judging an attempt

    def _failed(
        self,
        exc: Exception,
        call: PreparedCall,
        attempts: int,
        history: CallHistory,
        started: float,
    ) -> NoReturn:
        """An attempt that raised: `_RetryLater`, or the error the caller sees."""
        if self._closing.is_set():  # close() cut this attempt short
            raise closed_error(
                type(self).__name__, call.correlation_id, attempts, in_flight=True
            ) from None
        if isinstance(exc, httpx2.TimeoutException):
            deadline = current_deadline()
            if deadline is not None and deadline.left_s() <= _DEADLINE_SLACK_S:
                self._log(call, attempts, exc, started)
                raise self._deadline_stop(
                    deadline, call, attempts,
                    "the last attempt was cut short at the deadline (its timeout is clipped "
                    "to the time left)",
                ) from None  # fmt: skip
        if isinstance(exc, httpx2.PoolTimeout):  # our own load: waiting again won't help
            raise pool_full_error(
                self._limits, self._pool_timeout_s, call.correlation_id, attempts
            ) from None
        if isinstance(exc, RuntimeError) and not self._pools.owned:
            raise unusable_client_error(exc, call.correlation_id, attempts) from None
        if not isinstance(exc, httpx2.TransportError):
            if isinstance(exc, httpx2.RequestError):  # an answer came, but unreadable
                self._log(call, attempts, exc, started)
                raise unreadable_answer(exc, call, attempts) from None
            raise exc
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
            raise self._retry_later(
                decision.wait_s, call, attempts, server_asked=False, failure=failure
            ) from None
        raise network_error(exc, failure, call, attempts) from None

    def _answered(
        self,
        response: httpx2.Response,
        call: PreparedCall,
        attempts: int,
        history: CallHistory,
        started: float,
    ) -> httpx2.Response:
        """An attempt that got an answer: the success, or `_RetryLater`, or the error."""
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
            raise self._retry_later(
                decision.wait_s, call, attempts,
                server_asked=retry_after is not None, status_code=response.status_code,
                server_correlation_id=response.headers.get("x-correlation-id"),
            )  # fmt: skip
        error = answer_error(response, call, attempts, retry_after, self._endpoint.base_url)
        if history.timed_out and still_running(error):
            raise still_running_timeout(error, call, attempts)
        raise error

    def _retry_safe(self, call: PreparedCall) -> bool:
        """Idempotent by nature, or keyed by the caller and sent to a gateway that keeps keys."""
        return call.idempotent or (call.keyed and self._gateway_keeps_keys)

    def _observe_key_echo(self, response: httpx2.Response, call: PreparedCall) -> None:
        sent = call.headers.get(HEADER_IDEMPOTENCY_KEY)
        if sent is not None and response.headers.get(HEADER_IDEMPOTENCY_KEY) == sent:
            self._gateway_keeps_keys = True

    def _observe_rotation(self, response: httpx2.Response, credential: Credential) -> None:
        if not rotation_recommended(response):
            return
        if credential.managed:  # never stale at birth: see the token cache's refresh rule
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
