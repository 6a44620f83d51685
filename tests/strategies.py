"""Hypothesis strategies shared by the property tests (both twins and package level)."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

from hypothesis import strategies as st

# Any text, lone surrogates included (hypothesis leaves category Cs out by default).
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=30)

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def _nested(depth: int, leaf: Any = 1) -> Any:
    value: Any = leaf
    for index in range(depth):
        value = [value] if index % 2 else {"k": value}
    return value


def _cycle() -> Any:
    looped: dict[str, Any] = {"a": 1}
    looped["self"] = [looped]
    return looped


class _Odd:
    """An object that is none of the JSON types, with a repr that fails."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


# Values of arbitrary type for any argument: what a confused caller might pass.
anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(),  # NaN and infinities included
    st.sampled_from([math.nan, math.inf, -math.inf, 0, -1, 0.0, 1e308, 10**400]),
    any_text,
    st.binary(max_size=20),
    st.lists(json_scalars, max_size=3),
    st.tuples(json_scalars),
    st.dictionaries(st.one_of(st.integers(), st.text(max_size=5)), json_scalars, max_size=3),
    st.integers(min_value=60, max_value=3000).map(_nested),
    st.builds(_cycle),
    st.builds(_Odd),
    st.builds(object),
    json_values,
)


def _jsonish_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()


# Bodies a gateway, a proxy in front of it, or a broken server might send.
answer_bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(_jsonish_bytes),
    st.fixed_dictionaries(
        {"error": any_text, "code": st.sampled_from(["RATE_LIMITED", "TOKEN_EXPIRED", "X", 7])},
        optional={
            "retry_after": st.one_of(
                st.integers(min_value=-(10**400), max_value=10**400), st.floats(), any_text
            ),
            "reason": any_text,
            "details": json_values,
        },
    ).map(lambda body: json.dumps(body).encode()),  # NaN and Infinity as Python writes them
    st.integers(min_value=1, max_value=200_000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(min_value=1, max_value=3000).map(
        lambda n: b'{"data":' + b"[" * n + b"]" * n + b"}"
    ),
    st.sampled_from(
        [b"", b"<html><title>Hi</title></html>", b"null", b'"text"', b"{", b"\xff\xfe"]
    ),
    st.integers(min_value=300, max_value=5000).map(lambda n: b'{"retry_after": ' + b"9" * n + b"}"),
)

header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
wait_text = st.one_of(
    header_text,
    st.sampled_from(["nan", "inf", "-inf", "1e400", "-5", "0", "3600", "9" * 400]),
    st.integers(min_value=1, max_value=99_999_999).map(
        lambda year: f"Fri, 01 Jan {year} 00:00:00 GMT"
    ),
    st.floats().map(repr),
)
answer_headers = st.fixed_dictionaries(
    {},
    optional={
        "content-type": st.sampled_from(["application/json", "text/html", "text/plain", "x"]),
        "content-encoding": st.sampled_from(["gzip", "deflate", "identity", "br", "zstd", "bogus"]),
        "retry-after": wait_text,
        "retry-after-ms": wait_text,
        "x-token-rotation-recommended": st.sampled_from(["true", "false", "TRUE", ""]),
        "x-token-expires-at": header_text,
        "x-correlation-id": header_text,
        "idempotency-key": header_text,
    },
)
statuses = st.one_of(
    st.sampled_from([200, 201, 202, 204, 400, 401, 403, 404, 408, 409, 422, 429, 500, 502, 503]),
    st.integers(min_value=100, max_value=599),
)

# Token-like strings: arbitrary text, and base64/JSON segments shaped like the two forms.
_segment_payloads = st.one_of(
    st.binary(max_size=60),
    json_values.map(_jsonish_bytes),
    st.fixed_dictionaries(
        {},
        optional={
            "agent_id": st.one_of(st.text(max_size=8), st.integers(), st.none()),
            "tools": st.one_of(st.lists(st.text(max_size=5), max_size=3), json_scalars),
            "issued_at": st.one_of(json_scalars, header_text, st.sampled_from([1e300, -1e300])),
            "expires_at": st.one_of(json_scalars, header_text, st.sampled_from([1e300, 10**30])),
            "iat": json_scalars,
            "exp": json_scalars,
        },
    ).map(_jsonish_bytes),
    st.integers(min_value=60, max_value=100_000).map(lambda n: b"[" * n + b"]" * n),
)
token_strings = st.one_of(
    any_text,
    st.tuples(_segment_payloads, st.text("0123456789abcdef", min_size=1, max_size=64)).map(
        lambda parts: f"{base64.b64encode(parts[0]).decode()}.{parts[1]}"
    ),
    st.tuples(_segment_payloads, _segment_payloads).map(
        lambda parts: ".".join(
            base64.urlsafe_b64encode(part).decode().rstrip("=") for part in (*parts, b"sig")
        )
    ),
)
