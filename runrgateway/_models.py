"""Data returned to and taken from callers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from ._constants import JOB_STATUSES, MAX_TTL_MINUTES, MIN_TTL_MINUTES
from ._errors import GatewayValidationError
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
    ttl_minutes: int = 15

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
    def coerce(cls, opts: TokenOptions | Mapping[str, Any]) -> TokenOptions:
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
            ttl_minutes=opts.get("ttl_minutes", 15),
        )


@dataclass(frozen=True)
class TokenInfo:
    """A minted token and what the gateway said about it."""

    agent_token: str = field(repr=False)
    token_id: str | None
    expires_at: datetime
    agent_name: str | None = None
    tools: tuple[str, ...] = ()
    permissions: tuple[str, ...] = ()
    # The exact decoded first segment of the token: the gateway's provenance proof.
    proof_payload: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ProxyResponse(JsonMixin):
    """The full answer to a proxied call."""

    data: Any
    metadata: dict[str, Any]
    correlation_id: str
    server_correlation_id: str | None = None
    status_code: int = 200
    rotation_recommended: bool = False
    token_expires_at: str | None = None
    idempotent_replayed: bool = False
    attempts: int = 1


@dataclass(frozen=True)
class JobResponse(JsonMixin):
    """The state of a background job: status is queued, running, done or failed."""

    job_id: str
    status: str
    result: Any = None
    error: Any = None

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")

    @classmethod
    def from_body(cls, body: Any) -> JobResponse:
        """Read a job answer; `ValueError` says what is missing."""
        if not isinstance(body, Mapping) or not isinstance(body.get("job_id"), str):
            raise ValueError("the job answer has no job_id")
        status = body.get("status")
        if status not in JOB_STATUSES:
            raise ValueError(f"the job answer has an unknown status: {status!r}")
        return cls(
            job_id=body["job_id"], status=status, result=body.get("result"), error=body.get("error")
        )
