"""Bounded JSON reading for everything a gateway sends: a value, or a `ValueError`.

`json.loads` recurses once per nesting level, so an answer nested 100,000 deep
raises `RecursionError`, and one nested a few hundred deep would later exhaust the
stack of whatever walks it (masking, logging). The nesting is measured first, on
the raw bytes and without recursion, and anything deeper than `MAX_JSON_DEPTH` is
refused.

It is also the one writer of compact JSON (`compact_json`), for the client's bodies
and messages and the embedded gateway's answers alike. It never raises anything but
`ValueError` for what it cannot read.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

MAX_JSON_DEPTH = 64
"""Deepest nesting of objects and arrays accepted, in answers and in arguments."""

# A JSON string literal (escapes included): brackets inside strings do not nest. The
# loop is unrolled (runs of plain characters in one step, then one escape): about three
# times faster than an alternation tried character by character, on every answer.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def nesting_depth(content: bytes) -> int:
    """The deepest nesting of arrays and objects in JSON text (0 for a scalar)."""
    brackets = _STRING.sub(b"", content).translate(None, _NOT_BRACKETS)
    return max(accumulate(_STEP[b] for b in brackets), default=0)


def compact_json(value: Any, *, allow_nan: bool = True, default: Any = None) -> str:
    """JSON without spaces, non-ASCII kept (JavaScript's `JSON.stringify`): how the SDK
    writes bodies and messages and how the embedded gateway writes its answers.

    `allow_nan=False` refuses NaN and infinities (`ValueError`); `default` converts what
    JSON cannot hold (`str`, for a message), else such a value is a `TypeError`."""
    return json.dumps(
        value, separators=(",", ":"), ensure_ascii=False, allow_nan=allow_nan, default=default
    )


def loads_or_none(content: bytes | str) -> Any:
    """`loads`, or None for an empty body or one that is not JSON (or too deep)."""
    if not content.strip():
        return None
    try:
        return loads(content)
    except ValueError:
        return None


def loads(content: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Decode JSON text; `ValueError` (never `RecursionError`) when it is not JSON,
    not UTF-8, or nested deeper than `max_depth`."""
    raw = content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content
    # Nesting cannot be deeper than the number of opening brackets (those inside strings
    # included): most answers have too few to need measuring.
    if raw.count(b"{") + raw.count(b"[") > max_depth:
        depth = nesting_depth(raw)
        if depth > max_depth:
            raise ValueError(f"it is nested {depth} deep (at most {max_depth} is accepted)")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: a near-full stack
        raise ValueError(f"it is not valid JSON ({exc})") from None
