"""Argument checks shared by every parameter: types, finiteness, encodability, nesting.

Each check returns the value as the client will use it, or raises the documented error
(`GatewayConfigError` for constructor settings, `GatewayValidationError` for call
arguments, both `ValueError`s) naming the parameter; nothing is ever sent first.

A message never repeats a refused value that could be a secret: it names its type.
"""

from __future__ import annotations

import math
from typing import Any

from ._errors import GatewayError, GatewayValidationError
from ._json import MAX_JSON_DEPTH, compact_json

ErrorClass = type[GatewayError]


def encodable(text: str) -> bool:
    """Whether `text` can be sent: UTF-8 has no lone surrogates (``"\\ud800"``)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_text(
    value: Any, what: str, *, error: ErrorClass = GatewayValidationError, blank_ok: bool = False
) -> str:
    """A string that can be sent as UTF-8; non-blank unless `blank_ok`."""
    if not isinstance(value, str) or (not blank_ok and not value.strip()):
        raise error(f"{what} must be a non-empty string")
    if not encodable(value):
        raise error(f"{what} holds a lone surrogate (text that is not valid Unicode)")
    return value


def check_number(
    value: Any,
    what: str,
    *,
    error: ErrorClass = GatewayValidationError,
    minimum: float = 0.0,
    above_minimum: bool = True,
    maximum: float | None = None,
    unit: str = "",
) -> float:
    """A real, finite number (not a bool) above (or at) `minimum` and at most `maximum`."""
    number: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an int too large for a float
            number = math.inf
    lowest = ">" if above_minimum else ">="
    limits = f"{lowest} {minimum:g}" + ("" if maximum is None else f" and <= {maximum:g}")
    described = f"{what} must be a finite number {limits}{unit}"
    if number is None or not math.isfinite(number):
        raise error(f"{described}, got {_kind(value) if number is None else number}")
    if number < minimum or (above_minimum and number == minimum):
        raise error(f"{described}, got {number:g}")
    if maximum is not None and number > maximum:
        raise error(f"{described}, got {number:g}")
    return number


def check_callable(value: Any, what: str, *, error: ErrorClass = GatewayValidationError) -> None:
    if value is not None and not callable(value):
        raise error(f"{what} must be a callable or None, got {_kind(value)}")


def check_json_shape(value: Any, what: str, *, error: ErrorClass = GatewayValidationError) -> None:
    """Refuse non-string object keys and nesting deeper than `MAX_JSON_DEPTH` (a cycle
    is infinitely deep). Iterative: no depth of input can exhaust the stack here."""
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if not isinstance(item, (dict, list, tuple)):
            continue
        if depth >= MAX_JSON_DEPTH:
            raise error(
                f"{what} is nested more than {MAX_JSON_DEPTH} deep (or holds a cycle): flatten it"
            )
        if isinstance(item, dict):
            for key in item:
                if not isinstance(key, str):
                    raise error(f"{what} keys must be strings (JSON object keys), got {_kind(key)}")
            pending.extend((child, depth + 1) for child in item.values())
        else:
            pending.extend((child, depth + 1) for child in item)


def encode_json(
    value: Any, what: str = "params", *, error: ErrorClass = GatewayValidationError
) -> bytes:
    """Compact UTF-8 JSON bytes; `error` when `value` is not plain JSON data (NaN,
    infinities, bytes, objects, non-string keys, lone surrogates, deep nesting)."""
    check_json_shape(value, what, error=error)
    try:
        return compact_json(value, allow_nan=False).encode()
    except (TypeError, ValueError, RecursionError) as exc:  # UnicodeEncodeError is a ValueError
        problem = f"{type(exc).__name__}: {str(exc)[:200]}"
    # Raised outside the except: a UnicodeEncodeError holds the whole text being encoded
    # (a request body with the token in it).
    raise error(f"{what} must be JSON-serialisable: {problem}")


def _kind(value: Any) -> str:
    """What a refused value is, for a message: its type, never its text (it may be a
    secret passed in the wrong place)."""
    return "None" if value is None else f"a {type(value).__name__}"
