"""The built-in tools' parameter validation: the real gateway's step 8, exactly.

Messages follow the real gateway's zod schemas (``"<path>: <message>"``). The
schemas disagree with the adapters in the same places as the real gateway's do
(wire.md, "Tool answers"): `serpapi:search` demands `query` while both search
adapters read `q`, and `gmail_send:send` demands `body` while both email adapters
read `text`. Nothing here smooths that over: the SDK does, by sending both names.
The adapters themselves live in `_live_tools` and `_mock_tools`.

It never runs a tool: it checks parameters, and states which actions write.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ToolFailure(Exception):
    """The (fake) outside API failed; the gateway answers 502 with `details`."""

    def __init__(self, details: Any) -> None:
        super().__init__(str(details))
        self.details = details


@dataclass(frozen=True)
class Field:
    """One parameter rule: a kind, whether it is required, and bounds."""

    kind: str  # string | number | url | email | enum | messages | record | email_list
    required: bool = False
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()


_INTENT = Field("string")
_SCHEMAS: dict[str, dict[str, Field]] = {
    "serpapi:search": {
        "query": Field("string", True, 1, 500),
        "location": Field("string"),
        "num": Field("number", False, 1, 100),
        "start": Field("number", False, 0),
        "safe": Field("enum", choices=("active", "off")),
        "intent": _INTENT,
    },
    "http_fetch:get": {
        "url": Field("url", True),
        "headers": Field("record"),
        "timeout": Field("number", False, 1000, 30000),
        "intent": _INTENT,
    },
    "openai:chat": {
        "messages": Field("messages", True, 1, 50),
        "model": Field("string"),
        "temperature": Field("number", False, 0, 2),
        "max_tokens": Field("number", False, 1, 4000),
        "intent": _INTENT,
    },
    "openai:complete": {
        "prompt": Field("string", True, 1, 4000),
        "model": Field("string"),
        "temperature": Field("number", False, 0, 2),
        "max_tokens": Field("number", False, 1, 4000),
        "intent": _INTENT,
    },
    "gmail_send:send": {
        "to": Field("email", True),
        "subject": Field("string", True, 1, 200),
        "body": Field("string", True, 1, 10000),
        "from": Field("email"),
        "cc": Field("email_list"),
        "bcc": Field("email_list"),
        "intent": _INTENT,
    },
    "gmail_send:profile": {"intent": _INTENT},
}
_SCHEMAS["http_fetch:head"] = _SCHEMAS["http_fetch:get"]

BUILTIN_SCOPES: tuple[str, ...] = tuple(sorted(_SCHEMAS))
"""Every ``tool:action`` the embedded gateway can run."""


# The gateway's token-scope rule, from wire.md Part B ("Token scope"): a writing action is
# anything but these reads, and a token lacking ``write`` is refused for it. Stated here,
# not taken from the client's READ_ONLY_ACTIONS (which says what is safe to retry):
# written twice on purpose, so that a test can catch the two disagreeing.
READ_ONLY_SCOPES: frozenset[str] = frozenset(
    {"serpapi:search", "http_fetch:get", "http_fetch:head", "gmail_send:profile"}
)
"""The ``tool:action`` pairs a token without ``write`` may call."""


def is_writing(tool: str, action: str) -> bool:
    """Whether an action changes something (a token needs ``write`` for it)."""
    return f"{tool}:{action}" not in READ_ONLY_SCOPES


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _check(rule: Field, value: Any, path: str, errors: list[str]) -> None:
    expected = {
        "string": "string",
        "url": "string",
        "email": "string",
        "enum": "string",
        "number": "number",
        "messages": "array",
        "email_list": "array",
        "record": "object",
    }[rule.kind]
    if _type_name(value) != expected:
        errors.append(f"{path}: Expected {expected}, received {_type_name(value)}")
        return
    if rule.kind == "string":
        if rule.low is not None and len(value) < rule.low:
            errors.append(f"{path}: String must contain at least {int(rule.low)} character(s)")
        if rule.high is not None and len(value) > rule.high:
            errors.append(f"{path}: String must contain at most {int(rule.high)} character(s)")
    elif rule.kind == "number":
        if rule.low is not None and value < rule.low:
            errors.append(f"{path}: Number must be greater than or equal to {rule.low:g}")
        if rule.high is not None and value > rule.high:
            errors.append(f"{path}: Number must be less than or equal to {rule.high:g}")
    elif rule.kind == "url":
        parts = urlsplit(value)
        if not parts.scheme or not (parts.netloc or parts.path):
            errors.append(f"{path}: Invalid url")
    elif rule.kind == "email" and not _EMAIL.match(value):
        errors.append(f"{path}: Invalid email")
    elif rule.kind == "enum" and value not in rule.choices:
        options = " | ".join(f"'{c}'" for c in rule.choices)
        errors.append(f"{path}: Invalid enum value. Expected {options}, received '{value}'")
    elif rule.kind == "email_list":
        for index, item in enumerate(value):
            _check(Field("email"), item, f"{path}.{index}", errors)
    elif rule.kind == "record":
        for name, item in value.items():
            _check(Field("string"), item, f"{path}.{name}", errors)
    elif rule.kind == "messages":
        _check_messages(rule, value, path, errors)


def _check_messages(rule: Field, value: list[Any], path: str, errors: list[str]) -> None:
    if rule.low is not None and len(value) < rule.low:
        errors.append(f"{path}: Array must contain at least {int(rule.low)} element(s)")
    if rule.high is not None and len(value) > rule.high:
        errors.append(f"{path}: Array must contain at most {int(rule.high)} element(s)")
    role_rule = Field("enum", True, choices=("system", "user", "assistant"))
    content_rule = Field("string", True, 1, 4000)
    for index, message in enumerate(value):
        if not isinstance(message, dict):
            errors.append(f"{path}.{index}: Expected object, received {_type_name(message)}")
            continue
        for name, item_rule in (("role", role_rule), ("content", content_rule)):
            if name not in message:
                errors.append(f"{path}.{index}.{name}: Required")
            else:
                _check(item_rule, message[name], f"{path}.{index}.{name}", errors)


def validate_params(tool: str, action: str, params: Any) -> list[str]:
    """Parameter problems as the real gateway lists them; empty when the call is valid."""
    schema = _SCHEMAS.get(f"{tool}:{action}")
    if schema is None:
        return [f"No validator found for {tool}:{action}"]
    if not isinstance(params, dict):
        return [f": Expected object, received {_type_name(params)}"]
    errors: list[str] = []
    for name, rule in schema.items():
        if name not in params:
            if rule.required:
                errors.append(f"{name}: Required")
            continue
        _check(rule, params[name], name, errors)
    return errors


@dataclass(frozen=True)
class ToolCall:
    """What an adapter gets: the params as sent, how many runs of the same
    ``tool:action`` came before (each email is a new message), and the gateway's clock."""

    params: dict[str, Any]
    runs_before: int
    now: float


def stable_digest(*parts: Any) -> str:
    """A hex digest of `parts`: the fakes' ids and links are the same from run to run."""
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).hexdigest()
