"""`ClientBase`: the state both clients read and everything they do without I/O.

`GatewayClient` (`_async/_client.py`) and its generated twin `SyncGatewayClient` inherit
this class and add only what awaits or blocks: sending an attempt, waiting between
attempts, minting a token, polling a job, closing the pools. Configuration, per-call
options (`with_options`), the caller's token checks and the plan of a call are written
here once, and how an attempt is judged (with the retry loop's rules) in `AttemptJudge`
(`_attempts.py`), which this class inherits, so the twins cannot drift. This module
must never send, sleep or take a lock across I/O; a method that needs to is a twin's.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import httpx2

from ._attempts import AttemptJudge, _Learned
from ._call_options import NOT_GIVEN, CallOptions, NotGiven
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
    LOGGER_NAME,
    LONGEST_WAIT_S,
    READ_ONLY_ACTIONS,
)
from ._environment import read_environment
from ._errors import GatewayConfigError
from ._ids import generate_correlation_id
from ._models import TokenInfo
from ._requests import (
    PreparedCall,
    SealedHeaders,
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
from ._retry import RetryRules
from ._signing import RequestSigner
from ._tokens import (
    Credential,
    TokenClaims,
    check_caller_token,
    check_scope,
    decode_token,
    utc_now,
)
from ._tracing import (
    AnySpan,
    add_trace_headers,
    call_span,
    check_tracer_provider,
)
from ._transport import (
    check_http_client,
    check_pool_timeout_ms,
    closed_error,
    direct_request,
    pool_limits,
)
from ._validation import check_callable, check_number

if TYPE_CHECKING:  # cryptography loads with the first key, not with `import runrgateway`
    from ._keys import AgentKey

logger = logging.getLogger(LOGGER_NAME)

_MINTED_TOKENS_KEPT = 256
# Per-client caches of pure results (request URLs by path, decoded caller tokens).
_CACHED_PATHS = frozenset({"/api/generate-token", "/api/proxy-request"})
_CLAIMS_KEPT = 64
_Client = TypeVar("_Client", bound="ClientBase")


@dataclass(frozen=True)
class ProxyPlan:
    """A proxy call's checked arguments and what follows from them, before any token.

    The params and the proof are left out of its repr (a traceback's local variables):
    a caller's params may hold their own secrets, and the proof is half a token."""

    tool: str
    action: str
    params: dict[str, Any] = field(repr=False)  # as sent: with the intent and the aliases
    params_json: bytes = field(repr=False)
    proof_text: str | None = field(repr=False)  # the caller's proof_payload_override as sent
    idempotency_key: str
    keyed: bool  # the caller chose the key
    idempotent: bool
    correlation_id: str


class ClientBase(AttemptJudge):
    """What `GatewayClient` and `SyncGatewayClient` share: settings, state, judgement."""

    # The twin's tenacity loop for these options (AsyncRetrying or Retrying), built at the
    # first call and copied for each: None until then, and again when options change.
    _retry_loop: Any = None

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
        self._learned = _Learned()  # see AttemptJudge._gateway_keeps_keys
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
        self._rules = RetryRules(options.max_retries, options.max_retry_after_s)
        self._retry_loop = None  # built from the rules above at the next call

    @classmethod
    def from_env(
        cls: type[_Client],
        *,
        default_base_url: str | None = None,
        environ: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> _Client:
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
        build: Callable[..., _Client] = cls  # each twin's constructor, with every setting
        return build(**settings.kwargs)

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

    def _span(self, name: str, correlation_id: str, method: str, **attributes: Any) -> AnySpan:
        """The span of one call (`_tracing.call_span`) under this client's provider."""
        return call_span(
            name, self._tracer_provider, correlation_id=correlation_id, method=method,
            **attributes,
        )  # fmt: skip

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
        idempotency_key: str | None = None,
        keyed: bool = False,
        call: str | None = None,
        log_params: Any = None,
        credential: Credential | None = None,
    ) -> PreparedCall:
        """Everything every attempt of one call sends, but the signature (a closed client
        raises first)."""
        self._check_open()
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

    def _signed_headers(self, call: PreparedCall) -> SealedHeaders:
        """The call's headers with a fresh signature (each attempt signs anew); sealed, so
        that a traceback's local variables never show the Signature."""
        signature = self._signer.sign(call.method, call.signed_url, call.headers, call.body)
        return SealedHeaders({**call.headers, **signature})

    def _direct_request(
        self, call: PreparedCall, headers: dict[str, str], timeout: httpx2.Timeout
    ) -> httpx2.Request:
        """An attempt's request as the SDK's own transport takes it (no client around it)."""
        return direct_request(call.method, call.url, call.body, headers, timeout)

    @staticmethod
    def _poll_settings(timeout_s: Any, poll_interval_s: Any, on_poll: Any) -> tuple[float, float]:
        """`wait_for_job`'s settings, checked: the timeout and the first interval (s)."""
        timeout_s = check_number(
            timeout_s, "timeout_s", above_minimum=False, maximum=LONGEST_WAIT_S, unit=" (seconds)"
        )
        interval = check_number(
            poll_interval_s, "poll_interval_s", maximum=LONGEST_WAIT_S, unit=" (seconds)"
        )
        check_callable(on_poll, "on_poll")
        return timeout_s, max(0.01, interval)

    def _check_open(self) -> None:
        if self._closing.is_set() or self._copy_closed:
            raise closed_error(type(self).__name__)
