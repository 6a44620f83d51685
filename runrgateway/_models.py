"""Data returned to and taken from callers.

Values only: these classes never do I/O or reach a client, and a field holding a
secret (a token, its proof) is left out of the repr.
"""

# No `from __future__ import annotations`: dataclasses-json resolves the field types with
# get_type_hints() in the module the classes report (`runrgateway`), where `datetime` is
# not a name; real annotation objects need no resolving.

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from ._constants import (
    DEFAULT_TOKEN_TTL_MINUTES,
    JOB_FINISHED_STATUSES,
    JOB_STATUSES,
    MAX_TTL_MINUTES,
    MIN_TTL_MINUTES,
)
from ._errors import GatewayValidationError
from ._tokens import format_utc, parse_timestamp
from ._validation import encodable

_T = TypeVar("_T")


def valid_ttl_minutes(value: Any) -> bool:
    """Whether `value` is a token lifetime the SDK accepts: whole minutes, 1 to 1440."""
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and MIN_TTL_MINUTES <= value <= MAX_TTL_MINUTES
    )


def _shown(value: Any) -> str:
    """A refused number as written, anything else by its type (its repr may fail or leak)."""
    if isinstance(value, float) or (isinstance(value, int) and abs(value) < 10**18):
        return repr(value)  # (a bool is an int: shown as True or False)
    return f"a {type(value).__name__}"


class JsonMixin:
    """`to_dict`, `to_json`, `from_dict`, `from_json` from dataclasses-json, loaded on first use.

    The same methods as `dataclasses_json.DataClassJsonMixin`, without importing
    dataclasses-json (and marshmallow) when `runrgateway` is imported.
    """

    def to_dict(self, encode_json: bool = False) -> dict[str, Any]:
        from dataclasses_json import DataClassJsonMixin

        return DataClassJsonMixin.to_dict(self, encode_json)  # type: ignore[arg-type]

    def to_json(self, **kwargs: Any) -> str:
        from dataclasses_json import DataClassJsonMixin

        return DataClassJsonMixin.to_json(self, **kwargs)  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls: type[_T], kvs: Any, *, infer_missing: bool = False) -> _T:
        from dataclasses_json import DataClassJsonMixin

        decode = DataClassJsonMixin.from_dict.__func__  # type: ignore[attr-defined]
        return decode(cls, kvs, infer_missing=infer_missing)  # type: ignore[no-any-return]

    @classmethod
    def from_json(cls: type[_T], text: str | bytes, *, infer_missing: bool = False) -> _T:
        return cls.from_dict(json.loads(text), infer_missing=infer_missing)  # type: ignore[attr-defined,no-any-return]


@dataclass(frozen=True)
class TokenOptions(JsonMixin):
    """What a token is for: `TokenOptions(tools=["serpapi"], permissions=["read"])`."""

    tools: list[str]
    permissions: list[str]
    ttl_minutes: int = DEFAULT_TOKEN_TTL_MINUTES

    def __post_init__(self) -> None:
        for name in ("tools", "permissions"):
            value = getattr(self, name)
            if (
                not isinstance(value, (list, tuple))
                or not value
                or not all(isinstance(item, str) and item and encodable(item) for item in value)
            ):
                raise GatewayValidationError(f"{name} must be a non-empty list of strings")
        if not valid_ttl_minutes(self.ttl_minutes):
            raise GatewayValidationError(
                f"ttl_minutes must be an integer between {MIN_TTL_MINUTES} and "
                f"{MAX_TTL_MINUTES}, got {_shown(self.ttl_minutes)}"
            )

    @classmethod
    def coerce(cls, opts: "TokenOptions | Mapping[str, Any]") -> "TokenOptions":
        """Accept a `TokenOptions` or a mapping with the same keys."""
        if isinstance(opts, TokenOptions):
            return opts
        if not isinstance(opts, Mapping):
            raise GatewayValidationError("token options must be a mapping or TokenOptions")
        if not all(isinstance(key, str) for key in opts):
            raise GatewayValidationError("token options keys must be strings")
        unknown = set(opts) - {"tools", "permissions", "ttl_minutes"}
        if unknown:
            shown = ", ".join(sorted(key if encodable(key) else repr(key) for key in unknown))
            raise GatewayValidationError(f"unknown token options: {shown}")
        missing = {"tools", "permissions"} - set(opts)
        if missing:
            raise GatewayValidationError(f"missing token options: {', '.join(sorted(missing))}")
        return cls(
            tools=list(opts["tools"])
            if isinstance(opts["tools"], (list, tuple))
            else opts["tools"],
            permissions=list(opts["permissions"])
            if isinstance(opts["permissions"], (list, tuple))
            else opts["permissions"],
            ttl_minutes=opts.get("ttl_minutes", DEFAULT_TOKEN_TTL_MINUTES),
        )


def _encode_datetime(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, the form the gateway uses (to_dict / to_json)."""
    return None if value is None else format_utc(value)


def _decode_datetime(value: Any) -> datetime | None:
    """The inverse of `_encode_datetime` (from_dict / from_json); Unix seconds also read."""
    return value if isinstance(value, datetime) or value is None else parse_timestamp(value)


# dataclasses-json's per-field override, written out so that importing runrgateway does
# not import dataclasses-json (`dataclasses_json.config(encoder=..., decoder=...)`).
_DATETIME_JSON = {"dataclasses_json": {"encoder": _encode_datetime, "decoder": _decode_datetime}}


@dataclass(frozen=True)
class TokenInfo:
    """A minted token and what the gateway said about it (`get_token_info()`)."""

    agent_token: str = field(repr=False)
    """The token string to pass as `agent_token` (also readable as `token`)."""
    token_id: str | None
    """The gateway's id for the token (revocation, provenance); None if it gave none."""
    expires_at: datetime
    """When the token stops working: a timezone-aware datetime in UTC."""
    agent_name: str | None = None
    """The agent's name as the gateway knows it, when the gateway says."""
    tools: tuple[str, ...] = ()
    """The tools the token was minted for."""
    permissions: tuple[str, ...] = ()
    """The permissions the token was minted with (e.g. ``("read",)``)."""
    proof_payload: str | None = field(default=None, repr=False)
    """The exact decoded first segment of the token: the gateway's provenance proof,
    sent by the SDK with calls made with this token."""

    @property
    def token(self) -> str:
        """The token string: the same as `agent_token`."""
        return self.agent_token


@dataclass(frozen=True)
class ProxyResponse(JsonMixin):
    """The full answer to a proxied call (`proxy_response()`)."""

    data: Any
    """The tool's result, exactly as the gateway answered (what `proxy()` returns)."""
    metadata: dict[str, Any]
    """The gateway's metadata about the call (tool, action, timing...); ``{}`` if none."""
    correlation_id: str
    """The ``X-Correlation-Id`` the SDK sent (the same on every retry of the call)."""
    server_correlation_id: str | None = None
    """The gateway's own ``x-correlation-id`` answer header, when it sent one."""
    status_code: int = 200
    """The HTTP status of the answer."""
    rotation_recommended: bool = False
    """The gateway asked for the token to be rotated (``X-Token-Rotation-Recommended``);
    a managed token is then replaced on the next call by itself."""
    token_expires_at: datetime | None = field(default=None, metadata=_DATETIME_JSON)
    """When the token used for the call expires: a timezone-aware UTC datetime, from the
    gateway's ``X-Token-Expires-At`` header or else from the token itself (always known
    for managed tokens); None for a token the SDK cannot read."""
    idempotent_replayed: bool = False
    """The gateway answered from its idempotency store: the call had already run with
    this ``Idempotency-Key``, and nothing ran again."""
    attempts: int = 1
    """How many attempts the call took (1 when no retry was needed)."""


@dataclass(frozen=True)
class JobResponse(JsonMixin):
    """The state of a background job (`get_job()`, `wait_for_job()`)."""

    job_id: str
    """The job's id, as `proxy_async()` returned it."""
    status: str
    """``"queued"``, ``"running"``, ``"done"`` or ``"failed"``."""
    result: Any = None
    """The tool's result once the job is done (the `data` a `proxy()` would return)."""
    error: Any = None
    """What went wrong when the job failed (the gateway's error, secrets masked)."""

    @property
    def finished(self) -> bool:
        """Whether the job is over: done or failed."""
        return self.status in JOB_FINISHED_STATUSES

    @classmethod
    def from_body(cls, body: Any) -> "JobResponse":
        """Read a job answer; `ValueError` says what is missing."""
        if not isinstance(body, Mapping) or not isinstance(body.get("job_id"), str):
            raise ValueError("the job answer has no job_id")
        status = body.get("status")
        if status not in JOB_STATUSES:
            raise ValueError(f"the job answer has an unknown status: {status!r}")
        return cls(
            job_id=body["job_id"], status=status, result=body.get("result"), error=body.get("error")
        )
