"""Reading answers: a success into its model, a failure into the error a caller sees.

Both twins hand every answer and every failed attempt here once it is in; what a body
means (a token, a proxy result, a job, a merged policy) and what an error says are
decided in this module only. It never sends, waits or retries (that is the client's
loop and `_retry`), and an error it builds never carries a secret: messages mask the
gateway's text and name URLs without credentials or query.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import httpx2

from ._answers import api_suffix_hint, describe_foreign, read_json
from ._constants import (
    HEADER_CORRELATION_ID,
    HEADER_IDEMPOTENT_REPLAYED,
    HEADER_ROTATION_RECOMMENDED,
    HEADER_TOKEN_EXPIRES_AT,
)
from ._errors import (
    ErrorCode,
    ErrorResponse,
    GatewayError,
    GatewayNetworkError,
    GatewayTimeoutError,
    error_from_response,
)
from ._masking import mask_sensitive, mask_text
from ._models import JobResponse, ProxyResponse, TokenInfo, TokenOptions
from ._requests import PreparedCall
from ._retry import Failure
from ._tokens import Credential, decode_token, parse_timestamp

_T = TypeVar("_T")


def answer_error(
    response: httpx2.Response,
    call: PreparedCall,
    attempts: int,
    retry_after: float | None,
    base_url: str,
) -> GatewayError:
    """The error for a failure answer (a status the loop will not retry)."""
    return error_from_response(
        response.status_code,
        response.content,
        response.headers,
        correlation_id=call.correlation_id,
        retry_after=retry_after,
        attempts=attempts,
        secrets=call.secrets,
        hint=api_suffix_hint(base_url) if response.status_code == 404 else None,
    )


def unreadable_answer(exc: Exception, call: PreparedCall, attempts: int) -> GatewayError:
    """An answer came, but httpx could not decode its body."""
    return GatewayError(
        "the gateway's answer could not be read: its body does not match its "
        f"Content-Encoding ({type(exc).__name__}: {exc})",
        code=ErrorCode.BAD_RESPONSE,
        correlation_id=call.correlation_id,
        attempts=attempts,
    )


def jobs_unsupported(
    response: httpx2.Response,
    body: dict[str, Any],
    call_id: str,
    attempts: int,
    credential: Credential,
) -> GatewayError:
    """A gateway that ran an async call at once: its result is the error's `response.data`."""
    secrets = [s for s in (credential.agent_token, credential.proof_payload) if s]
    return GatewayError(
        "The gateway does not support jobs: it ignored async and ran the call at once "
        "(its result is the error's `response.data`); use proxy() with this gateway",
        code=ErrorCode.JOBS_UNSUPPORTED,
        status_code=response.status_code,
        correlation_id=call_id,
        server_correlation_id=response.headers.get(HEADER_CORRELATION_ID),
        details=mask_sensitive(body, secrets),
        attempts=attempts,
        response=ErrorResponse.of(
            response.status_code, response.content, response.headers, secrets,
            data=body.get("data"),
        ),
    )  # fmt: skip


def job_started(body: dict[str, Any]) -> dict[str, Any] | None:
    """`{"job_id": ..., "status": ...}` from a job's start answer; None without a job id."""
    job_id = body.get("job_id")
    if not isinstance(job_id, str) or not job_id:
        return None
    return {"job_id": job_id, "status": body.get("status", "queued")}


def rotation_recommended(response: httpx2.Response) -> bool:
    return str(response.headers.get(HEADER_ROTATION_RECOMMENDED, "")).lower() == "true"


def still_running(error: GatewayError) -> bool:
    """A 409: the gateway is still running an earlier attempt with this Idempotency-Key."""
    return error.status_code == 409 and error.code == ErrorCode.IDEMPOTENCY_CONFLICT


def still_running_timeout(
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


def proxy_response(
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
        server_correlation_id=response.headers.get(HEADER_CORRELATION_ID),
        status_code=response.status_code,
        rotation_recommended=rotation_recommended(response),
        token_expires_at=expires_at or credential.expires_at,
        idempotent_replayed=response.headers.get(HEADER_IDEMPOTENT_REPLAYED) == "true",
        attempts=attempts,
    )


def as_is(body: dict[str, Any]) -> dict[str, Any]:
    return body


def decode(
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
    except ValueError as exc:
        problem = str(exc)
    # Raised here, outside the except: the ValueError (a JSONDecodeError keeps the whole
    # body, a minted token perhaps, in `.doc`) stays out of the error's __context__.
    foreign = response.content.lstrip()[:1] not in (b"{", b"[")  # not even trying JSON
    raise GatewayError(
        _foreign(response)
        if foreign
        else f"gateway answered {response.status_code}, but {problem}",
        code=ErrorCode.BAD_RESPONSE,
        status_code=response.status_code,
        correlation_id=correlation_id,
        server_correlation_id=response.headers.get(HEADER_CORRELATION_ID),
        attempts=attempts,
        response=ErrorResponse.of(response.status_code, response.content, response.headers),
    )


def merged_spec(body: dict[str, Any]) -> dict[str, Any]:
    spec = body.get("mergedSpec")
    if not isinstance(spec, dict):
        raise ValueError("the merged-policy answer has no mergedSpec object")
    scopes = spec.get("scopes")
    if not isinstance(scopes, list) or not all(isinstance(scope, str) for scope in scopes):
        raise ValueError("the merged policy's scopes are not a list of strings")
    return spec


def token_info(body: dict[str, Any], request: dict[str, Any], options: TokenOptions) -> TokenInfo:
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


def network_error(
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


def job_timeout(job_id: str, job: JobResponse, timeout_s: float) -> GatewayTimeoutError:
    """`wait_for_job` gave up: the job is still running after `timeout_s`."""
    return GatewayTimeoutError(
        f"job {job_id!r} still {job.status} after {timeout_s:g} s", status_code=None
    )
