"""`ErrorCode`: every code the SDK sets, in one home, and the classes a user catches."""

from __future__ import annotations

import ast
import json
import pickle
from pathlib import Path

import pytest

import runrgateway
from runrgateway import (
    ErrorCode,
    GatewayAuthError,
    GatewayConflictError,
    GatewayError,
    GatewayNotFoundError,
)
from runrgateway._errors import error_from_response

PACKAGE = Path(runrgateway.__file__).parent

# wire.md Part B: "Every error body also has `code`: ..."
WIRE_CODES = (
    "VALIDATION_FAILED", "POLICY_DENIED", "TOKEN_EXPIRED", "TOKEN_INVALID", "TOKEN_REVOKED",
    "SIGNATURE_INVALID", "AGENT_NOT_FOUND", "RATE_LIMITED", "UPSTREAM_FAILED",
    "IDEMPOTENCY_CONFLICT", "NOT_FOUND", "INTERNAL",
)  # fmt: skip
CLIENT_CODES = ("CLIENT_CLOSED", "JOBS_UNSUPPORTED", "BAD_RESPONSE")


def test_the_enum_holds_the_wire_codes_and_the_client_codes() -> None:
    assert set(WIRE_CODES + CLIENT_CODES) <= {code.value for code in ErrorCode}
    for code in ErrorCode:
        assert code.value == code.name
        assert isinstance(code, str) and code == code.value
        assert str(code) == code.value and f"{code}" == code.value
        assert json.dumps({"code": code}) == f'{{"code": "{code.value}"}}'
        assert pickle.loads(pickle.dumps(code)) is code


def _error_classes() -> list[type[GatewayError]]:
    found, pending = [], [GatewayError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_every_error_class_defaults_to_an_error_code_and_is_public() -> None:
    for cls in _error_classes():
        if cls.__module__ != "runrgateway":
            continue  # a test's own subclass
        assert isinstance(cls.default_code, ErrorCode), cls
        assert cls.__name__ in runrgateway.__all__, cls
        assert type(cls("x").code) is ErrorCode


def _string_constants(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def test_no_module_spells_a_code_as_a_string() -> None:
    """One home: every code the package sets comes from `ErrorCode`, never a literal, so
    a new code is either in the enum or a name error."""
    codes = {code.value for code in ErrorCode}
    spelled = {
        path.relative_to(PACKAGE).as_posix(): sorted(_string_constants(path) & codes)
        for path in PACKAGE.rglob("*.py")
        if path.name != "_errors.py"
    }
    assert {path: found for path, found in spelled.items() if found} == {}


@pytest.mark.parametrize("code", WIRE_CODES)
def test_a_wire_code_becomes_that_error_code(code: str) -> None:
    body = json.dumps({"error": "Something", "code": code}).encode()
    status = {"NOT_FOUND": 404, "IDEMPOTENCY_CONFLICT": 422, "RATE_LIMITED": 429}.get(code, 400)
    error = error_from_response(status, body, {})
    assert error.code is ErrorCode(code)
    assert error.code == getattr(ErrorCode, code)


def test_an_unknown_code_of_another_gateway_stays_its_text() -> None:
    error = GatewayError("odd", code="SOMETHING_ELSE")
    assert error.code == "SOMETHING_ELSE" and not isinstance(error.code, ErrorCode)


@pytest.mark.parametrize(
    "status, body, cls, code",
    [
        (404, {"error": "Job not found", "code": "NOT_FOUND"}, GatewayNotFoundError, "NOT_FOUND"),
        (404, {"error": "Not Found", "message": "Route GET:/api/x not found"},
         GatewayNotFoundError, "NOT_FOUND"),
        (404, {"error": "Agent not found."}, GatewayAuthError, "AGENT_NOT_FOUND"),
        (422, {"error": "Idempotency key reused with another body"}, GatewayConflictError,
         "IDEMPOTENCY_CONFLICT"),
        (409, {"error": "in progress", "code": "IDEMPOTENCY_CONFLICT"}, GatewayConflictError,
         "IDEMPOTENCY_CONFLICT"),
        (409, {"error": "Conflict"}, GatewayError, "GATEWAY_ERROR"),
    ],
)  # fmt: skip
def test_conflicts_and_not_found_have_their_classes(
    status: int, body: dict[str, str], cls: type[GatewayError], code: str
) -> None:
    error = error_from_response(status, json.dumps(body).encode(), {})
    assert type(error) is cls and error.code == code
    assert repr(error).endswith(f"code='{code}', correlation_id=None)")
