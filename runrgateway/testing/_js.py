"""JavaScript's view of values, where the real gateway's adapters lean on it.

The Node adapters build their answers with template strings, `.length` and
`encodeURIComponent`; a faithful fake must give the same text for the same input
(`undefined` included: a missing parameter is interpolated as ``"undefined"``).

Conversions only: no state, no I/O.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import quote

UNDEFINED: Any = object()
"""A parameter that is absent, as JavaScript sees it (not `null`)."""

_URI_COMPONENT_SAFE = "-_.!~*'()"


def js_string(value: Any) -> str:
    """`String(value)` (and template-string interpolation)."""
    if value is UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return ",".join("" if item is None else js_string(item) for item in value)
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


def js_length(text: str) -> int:
    """`text.length`: UTF-16 code units (an emoji counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def encode_uri_component(value: Any) -> str:
    """`encodeURIComponent(value)`."""
    return quote(js_string(value), safe=_URI_COMPONENT_SAFE)


def read_property(value: Any, name: str) -> str:
    """The TypeError text Node gives for ``value.name`` on null or undefined.

    Used by the mock adapters, which read properties of parameters they never check.
    """
    what = "undefined" if value is UNDEFINED else "null"
    return f"Cannot read properties of {what} (reading '{name}')"
