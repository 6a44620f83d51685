"""The MCP tools the server can offer: one per gateway ``tool:action``, and which to list.

Each input schema follows the gateway's parameter validator for that pair (wire.md,
step 8: required fields, types, bounds), plus the arguments the server itself reads:
`intent` on every tool and `idempotency_key` on the side effect. The schemas refuse
unknown arguments, so a model that guesses a name (``q`` for ``query``) is told the
right one instead of having it dropped. Nothing here imports the `mcp` SDK.

It never sends or decides a policy: it only says what a tool accepts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._constants import READ_ONLY_ACTIONS

INTENT_ARGUMENT = "intent"
IDEMPOTENCY_ARGUMENT = "idempotency_key"


@dataclass(frozen=True)
class ToolSpec:
    """One MCP tool: the gateway pair it calls, what to tell the model, its input schema."""

    tool: str
    action: str
    title: str
    description: str
    properties: Mapping[str, Mapping[str, Any]]
    required: tuple[str, ...] = ()
    side_effect: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "side_effect", self.scope not in READ_ONLY_ACTIONS)

    @property
    def name(self) -> str:
        """The MCP tool name, ``<tool>_<action>``."""
        return f"{self.tool}_{self.action}"

    @property
    def scope(self) -> str:
        """The gateway's ``tool:action``, as policies name it."""
        return f"{self.tool}:{self.action}"

    def input_schema(self, required_intent: str | None = None) -> dict[str, Any]:
        """The JSON Schema of the arguments; mentions the intent a policy requires."""
        intent_text = (
            "Why this call is made; the gateway's policies may require a given intent."
            if required_intent is None
            else f"Why this call is made. This agent's policy requires {required_intent!r}."
        )
        properties: dict[str, Any] = {name: dict(rule) for name, rule in self.properties.items()}
        properties[INTENT_ARGUMENT] = {"type": "string", "minLength": 1, "description": intent_text}
        if self.side_effect:
            properties[IDEMPOTENCY_ARGUMENT] = {
                "type": "string",
                "minLength": 1,
                "maxLength": 255,
                "description": "Optional. Reuse the same key to repeat a call safely: a gateway "
                "that keeps keys answers a repeat with the first result instead of acting twice.",
            }
        schema: dict[str, Any] = {
            "type": "object",
            "properties": properties,
            "additionalProperties": False,
        }
        if self.required:
            schema["required"] = list(self.required)
        return schema


_BOUNDS = {"string": ("minLength", "maxLength"), "integer": ("minimum", "maximum")}
_BOUNDS["number"] = _BOUNDS["integer"]


def _rule(
    kind: str, low: float | None = None, high: float | None = None, description: str = ""
) -> dict[str, Any]:
    """A JSON Schema rule; bounds are lengths for strings, values for numbers."""
    rule: dict[str, Any] = {"type": kind}
    low_key, high_key = _BOUNDS[kind]
    if low is not None:
        rule[low_key] = low
    if high is not None:
        rule[high_key] = high
    if description:
        rule["description"] = description
    return rule


def _text(low: int | None = None, high: int | None = None, description: str = "") -> dict[str, Any]:
    return _rule("string", low, high, description)


def _whole(
    low: int | None = None, high: int | None = None, description: str = ""
) -> dict[str, Any]:
    # The validator says "number"; these are counts and milliseconds, so a whole number
    # (which every such validator accepts) is what a model should send.
    return _rule("integer", low, high, description)


_EMAIL: dict[str, Any] = {
    "type": "string",
    "format": "email",
    "pattern": r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
}
_FETCH: dict[str, dict[str, Any]] = {
    "url": {"type": "string", "format": "uri", "minLength": 1, "description": "The page's URL."},
    "headers": {
        "type": "object",
        "additionalProperties": {"type": "string"},
        "description": "Extra request headers, name to value.",
    },
    "timeout": _whole(1000, 30000, "How long the gateway waits for the page, in milliseconds."),
}
_LLM: dict[str, dict[str, Any]] = {
    "model": _text(description="The model name (the gateway's default when omitted)."),
    "temperature": _rule("number", 0, 2, "Sampling temperature."),
    "max_tokens": _whole(1, 4000, "The most tokens to generate."),
}

CATALOG: tuple[ToolSpec, ...] = (
    ToolSpec(
        "serpapi",
        "search",
        "Web search",
        "Search the web (Google, through SerpAPI) via 4Runr Gateway. Returns the results as "
        "JSON: titles, links and snippets.",
        {
            "query": _text(1, 500, "What to search for."),
            "location": _text(description="Where the search is made from, e.g. 'Montreal'."),
            "num": _whole(1, 100, "How many results."),
            "start": _whole(0, description="How many results to skip (paging)."),
            "safe": {"type": "string", "enum": ["active", "off"], "description": "SafeSearch."},
        },
        ("query",),
    ),
    ToolSpec(
        "http_fetch",
        "get",
        "Fetch a web page",
        "Fetch a URL (HTTP GET) via 4Runr Gateway; the gateway's policies decide which "
        "domains are allowed. Returns the status, headers and body.",
        _FETCH,
        ("url",),
    ),
    ToolSpec(
        "http_fetch",
        "head",
        "Check a web page",
        "HTTP HEAD of a URL via 4Runr Gateway: the status and headers, without the body.",
        _FETCH,
        ("url",),
    ),
    ToolSpec(
        "openai",
        "chat",
        "Chat completion",
        "Ask an OpenAI chat model via 4Runr Gateway. Returns the chat completion object; the "
        "answer is in choices[0].message.content.",
        {
            "messages": {
                "type": "array",
                "minItems": 1,
                "maxItems": 50,
                "description": "The conversation so far.",
                "items": {
                    "type": "object",
                    "properties": {
                        "role": {"type": "string", "enum": ["system", "user", "assistant"]},
                        "content": _text(1, 4000),
                    },
                    "required": ["role", "content"],
                },
            },
            **_LLM,
        },
        ("messages",),
    ),
    ToolSpec(
        "openai",
        "complete",
        "Text completion",
        "Complete a prompt with an OpenAI model via 4Runr Gateway. Returns the completion "
        "object; the text is in choices[0].text.",
        {"prompt": _text(1, 4000, "The text to complete."), **_LLM},
        ("prompt",),
    ),
    ToolSpec(
        "gmail_send",
        "send",
        "Send an email",
        "Send an email from the agent's Gmail account via 4Runr Gateway. This has a side "
        "effect: it is sent once and never retried blindly; pass idempotency_key to make a "
        "deliberate repeat safe.",
        {
            "to": {**_EMAIL, "description": "The recipient's address."},
            "subject": _text(1, 200, "The subject line."),
            "body": _text(1, 10000, "The message text."),
            "from": {
                **_EMAIL,
                "description": "The sender's address (the account's own if omitted).",
            },
            "cc": {"type": "array", "items": _EMAIL, "description": "Copy to these addresses."},
            "bcc": {"type": "array", "items": _EMAIL, "description": "Blind copy to these."},
        },
        ("to", "subject", "body"),
    ),
    ToolSpec(
        "gmail_send",
        "profile",
        "Email account profile",
        "The agent's Gmail account profile via 4Runr Gateway (address, message counts).",
        {},
    ),
)
"""Every built-in ``tool:action`` of the gateway, in a stable order."""

_BY_NAME = {spec.name: spec for spec in CATALOG}
_BY_SCOPE = {spec.scope: spec for spec in CATALOG}


class UnknownToolName(ValueError):
    """A `--tools` entry that names no built-in tool."""


def resolve_names(names: Iterable[str]) -> list[ToolSpec]:
    """The specs `--tools` names: ``serpapi_search``, ``serpapi:search`` or ``serpapi`` (all
    its actions). Raises `UnknownToolName` listing what is known."""
    chosen: list[ToolSpec] = []
    for raw in names:
        name = raw.strip()
        matches = (
            [_BY_NAME[name]]
            if name in _BY_NAME
            else [_BY_SCOPE[name]]
            if name in _BY_SCOPE
            else [spec for spec in CATALOG if spec.tool == name]
        )
        if not matches:
            known = ", ".join(spec.name for spec in CATALOG)
            raise UnknownToolName(f"unknown tool {name!r} (known: {known})")
        chosen.extend(spec for spec in matches if spec not in chosen)
    return chosen


def select(
    allowed_scopes: Sequence[str] | None, requested: Sequence[ToolSpec] | None
) -> list[ToolSpec]:
    """The tools to list: those the policy allows (every one when it is unknown), narrowed
    to `requested` when given; in catalogue order."""
    allowed = set(allowed_scopes) if allowed_scopes is not None else None
    return [
        spec
        for spec in CATALOG
        if (allowed is None or spec.scope in allowed) and (requested is None or spec in requested)
    ]
