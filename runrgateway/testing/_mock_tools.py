"""The real gateway's *mock-mode* adapters (its ``UPSTREAM_MODE=mock``), answer for answer.

Each fake returns exactly what the Node gateway's mock adapter returns, recorded on
the wire in tests/fixtures/real-gateway-tool-answers.json, and fails where it fails:

- search reads `q` (the validator demanded `query`): without `q` it searches for
  "undefined", and its answer has no `query` field (JSON drops `undefined`);
- chat reads `input`, not `messages`: with `messages` only it fails reading
  ``input.slice``, so `openai:chat` fails in mock mode whatever a client sends
  without `input`;
- send reads `text`, not `body`: without `text` it fails reading ``text.length``.

Its two clock readings (search's `ts`) come from the gateway's clock; its one random
value (the email id) is derived from the message instead, so runs repeat.

They never reach the network, and never smooth over the real adapters' quirks.
"""

from __future__ import annotations

import math
import string
from typing import Any

from ._js import UNDEFINED, encode_uri_component, js_length, js_string, read_property
from ._tools import ToolCall, ToolFailure, stable_digest

_MAX_RESULTS = 10
_PAGE_BYTES = 120  # the mock adapter's constant, whatever the page
_BASE36 = string.digits + string.ascii_lowercase


def _param(call: ToolCall, name: str) -> Any:
    return call.params.get(name, UNDEFINED)


def _sliced(value: Any, name: str, end: int) -> str:
    """``params.<name>.slice(0, end)`` on a parameter nobody checked."""
    if value is UNDEFINED or value is None:
        raise ToolFailure(read_property(value, "slice"))
    if not isinstance(value, (str, list)):
        raise ToolFailure(f"params.{name}.slice is not a function")
    return js_string(value[:end])


def _length(value: Any) -> int | None:
    """``value.length`` on a parameter nobody checked; None where JavaScript gives
    `undefined` (a number has no length)."""
    if value is UNDEFINED or value is None:
        raise ToolFailure(read_property(value, "length"))
    if isinstance(value, str):
        return js_length(value)
    if isinstance(value, list):
        return len(value)
    return None


def _estimate(text: Any) -> int | None:
    """``Math.ceil(text.length / 3)`` (NaN, sent as null, without a length)."""
    length = _length(text)
    return None if length is None else math.ceil(length / 3)


def _with_model(call: ToolCall, answer: dict[str, Any]) -> dict[str, Any]:
    """`model: params.model` first; an absent model is dropped from the JSON."""
    model = _param(call, "model")
    return answer if model is UNDEFINED else {"model": model, **answer}


def search(call: ToolCall) -> dict[str, Any]:
    q = _param(call, "q")
    num = call.params.get("num")
    count = _MAX_RESULTS if num is None else max(0, min(int(num), _MAX_RESULTS))
    answer: dict[str, Any] = {"source": "serpapi-mock"}
    if q is not UNDEFINED:
        answer["query"] = q
    answer["results"] = [
        {
            "title": f"Result {i} for {js_string(q)}",
            "url": f"https://example.com/{encode_uri_component(q)}/{i}",
        }
        for i in range(1, count + 1)
    ]
    answer["ts"] = int(call.now * 1000)
    return answer


def fetch_get(call: ToolCall) -> dict[str, Any]:
    url = _param(call, "url")
    page = (
        "<html><head><title>Mock</title></head>"
        f"<body><h1>{js_string(url)}</h1><p>hello</p></body></html>"
    )
    return {
        "url": url,
        "status": 200,
        "headers": {"content-type": "text/html"},
        "body": page,
        "bytes": _PAGE_BYTES,
    }


def fetch_head(call: ToolCall) -> dict[str, Any]:
    return {
        "url": _param(call, "url"),
        "status": 200,
        "headers": {"content-type": "text/html"},
        "bytes": _PAGE_BYTES,
    }


def chat(call: ToolCall) -> dict[str, Any]:
    text = _param(call, "input")
    output = f"SUMMARY: {_sliced(text, 'input', 120)}"
    return _with_model(call, {"output": output, "tokens_est": _estimate(text)})


def complete(call: ToolCall) -> dict[str, Any]:
    prompt = _param(call, "prompt")
    output = f"COMPLETION: {_sliced(prompt, 'prompt', 100)}..."
    return _with_model(call, {"output": output, "tokens_est": _estimate(prompt)})


def send(call: ToolCall) -> dict[str, Any]:
    subject, text = _param(call, "subject"), _param(call, "text")
    subject_len, body_len = _length(subject), _length(text)
    # The real id is random (`Math.random().toString(36)`); this one is a digest of the
    # message and of how many were sent before: a new id per email, the same every run.
    number = int(stable_digest(call.params.get("to"), subject, text, call.runs_before), 16)
    digits = "".join(_BASE36[(number >> (6 * i)) % 36] for i in range(11))
    answer = {
        "id": f"mock_{digits}",
        "to": call.params.get("to"),
        "status": "queued",
        "subject_len": subject_len,
        "body_len": body_len,
    }
    return {name: value for name, value in answer.items() if value is not None}


def profile(call: ToolCall) -> dict[str, Any]:
    return {"email": "mock@example.com", "name": "Mock User", "status": "active"}
