"""From MCP arguments to a gateway call, and from its outcome to what the model reads.

`prepare` checks the arguments against the tool's schema (nothing is sent when they are
wrong) and splits off the server's own arguments. `success` and `failure` turn an
answer or a typed SDK error into an `Outcome`: a short text, structured content and the
error flag. Every text a model or a log sees is masked with the server's secrets, and an
error is one line that says what to do next. Nothing here imports the `mcp` SDK.

A text it returns never holds an unmasked secret.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaViolation

from .._errors import (
    ErrorCode,
    GatewayAuthError,
    GatewayError,
    GatewayNetworkError,
    GatewayPolicyError,
    GatewayRateLimitError,
    GatewayTimeoutError,
    GatewayUpstreamError,
    GatewayValidationError,
)
from .._masking import mask_text
from .._models import ProxyResponse
from ._catalog import IDEMPOTENCY_ARGUMENT, ToolSpec

TEXT_LIMIT = 4000
"""Characters of JSON in a result's text; the whole result is in the structured content."""
ERROR_LINE_LIMIT = 600
"""Characters of an error's line (an upstream's details can be a whole page)."""

_META_PREFIX = "runrgateway/"


@dataclass(frozen=True)
class PreparedCall:
    """What to send for one MCP call."""

    params: dict[str, Any]
    idempotency_key: str | None


@dataclass(frozen=True)
class Outcome:
    """What the model gets back: `text`, `structured` content, and whether it failed."""

    text: str
    structured: dict[str, Any]
    is_error: bool = False
    meta: dict[str, Any] = field(default_factory=dict)


class InvalidArguments(ValueError):
    """The arguments do not fit the tool's schema; the message names the fields."""


def prepare(arguments: Mapping[str, Any] | None, schema: Mapping[str, Any]) -> PreparedCall:
    """The gateway params for `arguments`, checked against `schema` (the listed one)."""
    given = dict(arguments or {})
    problems = sorted(
        Draft202012Validator(schema).iter_errors(given),
        key=lambda e: [str(part) for part in e.absolute_path],  # field order, then the rest
    )
    if problems:
        raise InvalidArguments("; ".join(_describe(problem) for problem in problems))
    key = given.pop(IDEMPOTENCY_ARGUMENT, None)
    return PreparedCall(params=given, idempotency_key=key)


def _describe(problem: SchemaViolation) -> str:
    """``field: what is wrong``, in words a model can act on."""
    where = ".".join(str(part) for part in problem.absolute_path)
    if problem.validator == "required" and isinstance(problem.instance, dict):
        missing = [name for name in problem.validator_value if name not in problem.instance]
        prefix = f"{where}." if where else ""
        return "; ".join(f"{prefix}{name}: required" for name in missing)
    if problem.validator == "additionalProperties" and isinstance(problem.instance, dict):
        known = sorted(problem.schema.get("properties") or {})
        unknown = sorted(name for name in problem.instance if name not in known)
        allowed = ", ".join(known) or "none"
        return "; ".join(f"{name}: unknown argument (allowed: {allowed})" for name in unknown)
    if problem.validator == "pattern" and problem.schema.get("format") == "email":
        return f"{where}: not an email address: {problem.instance!r}"
    return f"{where or 'arguments'}: {problem.message}"


# ----------------------------------------------------------------------- outcomes


def success(spec: ToolSpec, answer: ProxyResponse, secrets: Sequence[str]) -> Outcome:
    """The tool's `data` as structured content (an object, as MCP asks: other JSON values
    sit under ``result``), and a summary line followed by the JSON, cut at `TEXT_LIMIT`.

    The data is the tool's answer as the gateway gave it (as `proxy()` returns it); only
    the text is masked, for private keys and the server's own secrets.
    """
    data = answer.data
    structured = data if isinstance(data, dict) else {"result": data}
    dumped = json.dumps(data, ensure_ascii=False, default=str)
    if len(dumped) > TEXT_LIMIT:
        dumped = dumped[:TEXT_LIMIT] + " ... (cut; the whole result is in the structured content)"
    text = mask_text(f"{spec.scope} succeeded: {_summary(data)}\n{dumped}", secrets)
    meta = {
        f"{_META_PREFIX}correlation_id": answer.correlation_id,
        f"{_META_PREFIX}gateway_correlation_id": answer.server_correlation_id,
        f"{_META_PREFIX}attempts": answer.attempts,
    }
    return Outcome(text, structured, meta={k: v for k, v in meta.items() if v is not None})


def _summary(data: Any) -> str:
    if isinstance(data, list):
        return f"{len(data)} item{'s' if len(data) != 1 else ''}"
    if isinstance(data, dict):
        keys = list(data)
        shown = ", ".join(keys[:8]) + (", ..." if len(keys) > 8 else "")
        return f"an object ({shown})" if keys else "an empty object"
    return type(data).__name__ if data is not None else "no data"


def invalid(spec: ToolSpec, problem: InvalidArguments) -> Outcome:
    """Arguments refused before anything was sent."""
    return _error(
        f"Invalid arguments for {spec.name}: {problem}. Nothing was sent; fix them and call again.",
        {"type": "InvalidArguments", "code": ErrorCode.VALIDATION_FAILED, "message": str(problem)},
    )


def failure(spec: ToolSpec, exc: GatewayError, secrets: Sequence[str]) -> Outcome:
    """One line for the model, by the error's meaning; the details as structured content."""
    text = mask_text(_reason_line(spec, exc), secrets)
    error: dict[str, Any] = {
        "type": type(exc).__name__,
        "code": exc.code,
        "message": mask_text(exc.message, secrets),
        "status": exc.status_code,
        "reason": mask_text(exc.reason, secrets) if exc.reason else None,
        "retry_after": getattr(exc, "retry_after", None),
        "correlation_id": exc.correlation_id,
        "gateway_correlation_id": exc.server_correlation_id,
        "attempts": exc.attempts,
    }
    fields = _field_problems(exc)
    if fields:
        error["fields"] = [mask_text(item, secrets) for item in fields]
    return _error(text, {k: v for k, v in error.items() if v is not None})


def _reason_line(spec: ToolSpec, exc: GatewayError) -> str:
    if isinstance(exc, GatewayPolicyError):
        reason = (exc.reason or exc.message).rstrip(". ")
        return (
            f"Policy denied {spec.scope}: {reason}. This agent's policies do not allow the "
            "call as made: do not retry it unchanged."
        )
    if isinstance(exc, GatewayRateLimitError):
        wait = exc.retry_after
        when = f"retry after {wait:g} s" if wait is not None else "wait before retrying"
        return f"Rate limited by the gateway for {spec.scope}: {when} (retry_after={wait})."
    if isinstance(exc, GatewayValidationError):
        fields = _field_problems(exc)
        what = "; ".join(fields) if fields else exc.message
        return f"The gateway refused the arguments of {spec.name}: {what}. Fix them and call again."
    if isinstance(exc, GatewayUpstreamError):
        wait = exc.retry_after
        later = f" Retry after {wait:g} s." if wait is not None else ""
        if not spec.side_effect:
            advice = later or " Retrying later may work."
        elif exc.attempts == 1:
            advice = (
                " It was not retried, so as not to repeat a side effect: check before sending "
                "again."
            )
        else:  # retried only because the gateway keeps idempotency keys
            advice = f" Tried {exc.attempts} times with the same idempotency key."
        return f"The outside service behind {spec.scope} failed: {_upstream_detail(exc)}.{advice}"
    if isinstance(exc, GatewayAuthError):
        return (
            f"The gateway refused this agent's credentials for {spec.scope}: {exc.message}. "
            "This is a configuration problem of the MCP server, not of the arguments."
        )
    if isinstance(exc, GatewayTimeoutError):
        return f"The gateway did not answer {spec.scope} in time: {exc.message}."
    if isinstance(exc, GatewayNetworkError):
        return f"Could not reach the gateway for {spec.scope}: {exc.message}."
    return f"{spec.scope} failed: {exc.message}."


def _field_problems(exc: GatewayError) -> list[str]:
    """The validator's ``"field: problem"`` entries, from the error body's `details`."""
    body = exc.details
    details = body.get("details") if isinstance(body, dict) else None
    if isinstance(details, list):
        return [_problem_text(item) for item in details]
    return []


def _problem_text(item: Any) -> str:
    if isinstance(item, dict):  # zod's shape: {"path": [...], "message": ...}
        path = ".".join(str(part) for part in item.get("path") or [])
        message = str(item.get("message", item))
        return f"{path}: {message}" if path else message
    return str(item)


def _upstream_detail(exc: GatewayError) -> str:
    body = exc.details
    detail = body.get("details") if isinstance(body, dict) else None
    if isinstance(detail, str) and detail:
        return detail
    return exc.message


def _error(text: str, error: dict[str, Any]) -> Outcome:
    line = " ".join(text.split())
    if len(line) > ERROR_LINE_LIMIT:
        line = line[: ERROR_LINE_LIMIT - 3] + "..."
    return Outcome(line, {"error": error}, is_error=True)
