"""Reading what came back: the JSON body (bounded), and words for answers that are not
a 4Runr Gateway's (an HTML page from a proxy, a text error, an empty body). No I/O."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from . import _json

EXCERPT_CHARS = 80
"""At most this much of a foreign answer goes into a message: one line, tags removed."""

_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_SCRIPT = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def read_json(content: bytes) -> Any:
    """The body as JSON; `ValueError` when it is empty, not JSON or too deeply nested."""
    if not content.strip():
        raise ValueError("its body is empty")
    return _json.loads(content)


def json_object_or_none(content: bytes) -> dict[str, Any] | None:
    """The body when it is a JSON object the client can read, else None."""
    body = _json.loads_or_none(content)
    return body if isinstance(body, dict) else None


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """One short line from a text or HTML body: the page title if any, else its text."""
    import html  # only for an answer that is not the gateway's: kept off the cold start

    title = _TITLE.search(text)
    if title is not None:
        text = title.group(1)
    elif "<" in text:
        text = _TAG.sub(" ", _SCRIPT.sub(" ", text))
    line = _SPACE.sub(" ", html.unescape(text)).strip()
    return line if len(line) <= limit else line[: limit - 3].rstrip() + "..."


def content_type(headers: Mapping[str, str]) -> str:
    """The media type without its parameters, or ``"no content type"``."""
    value = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return value or "no content type"


def describe_foreign(status_code: int, headers: Mapping[str, str], text: str) -> str:
    """What to say about an answer that is not a JSON object from a 4Runr Gateway
    (`text` is its body, masked already)."""
    what = f"HTTP {status_code}, {content_type(headers)}"
    if text.lstrip()[:1] in ("{", "["):  # meant as JSON: malformed, or nested too deep
        return f"the answer could not be read as JSON ({what}): {excerpt(text)!r}"
    text = excerpt(text)
    if not text:
        return f"the answer is not from a 4Runr Gateway ({what}, empty body)"
    return f"the answer is not from a 4Runr Gateway ({what}): {text!r}"


def api_suffix_hint(base_url: str) -> str | None:
    """For a 404: a `base_url` ending in ``/api`` makes every path ``/api/api/...``."""
    trimmed = base_url.rstrip("/")
    if not trimmed.lower().endswith("/api"):
        return None
    return (
        "base_url ends in /api, but the SDK adds /api/... to it itself: "
        f"try base_url={trimmed[:-4]!r}"
    )
