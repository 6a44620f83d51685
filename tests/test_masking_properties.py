"""Property tests for `mask_sensitive`: any nested data, never raises, never leaks."""

from __future__ import annotations

import copy
from collections import namedtuple
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from runrgateway import mask_sensitive

# The recursive strategy's own repr is large; hypothesis warns about it, harmlessly.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

SECRET = "Zq8-planted-S3cret-value"
Point = namedtuple("Point", "x y")

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.binary(max_size=30),
)
_keys = st.one_of(
    st.text(max_size=12), st.sampled_from(["token", "apiKey", "X-Auth", "q", "password"])
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.builds(Point, children, children),
        st.dictionaries(_keys, children, max_size=4),
        st.lists(st.tuples(_keys, children), max_size=3),  # header-style pair lists
        st.frozensets(st.one_of(st.integers(), st.text(max_size=8)), max_size=3),
    )


nested = st.recursive(_scalars, _containers, max_leaves=25)

# Places a secret can hide that masking must always find.
_planted = st.sampled_from(
    [
        {"clientSecret": SECRET},
        [["X-Api-Key", SECRET]],
        f"see https://user:{SECRET}@host/x",
        f"https://h/x?api_key={SECRET}&q=1",
        f"Authorization: Bearer {SECRET}",
        f"password={SECRET}".encode(),
        Point("refreshToken", {"access_token": SECRET}),
    ]
)

_settings = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@seed(14)
@_settings
@given(nested)
def test_never_raises_and_never_changes_the_input(data: Any) -> None:
    before = copy.deepcopy(data)
    mask_sensitive(data)
    assert data == before


@seed(14)
@_settings
@given(nested, _planted, st.integers(min_value=0, max_value=3))
def test_a_planted_secret_is_always_masked(data: Any, planted: Any, depth: int) -> None:
    wrapped: Any = planted
    for _ in range(depth):
        wrapped = [data, {"inner": wrapped}]
    assert SECRET not in repr(mask_sensitive([data, wrapped]))


@seed(14)
@_settings
@given(st.lists(nested, min_size=1, max_size=3))
def test_cycles_are_cut(items: list[Any]) -> None:
    cyclic: list[Any] = [*items, {"token": SECRET}]
    cyclic.append(cyclic)
    cyclic[-2]["back"] = cyclic
    masked = mask_sensitive(cyclic)
    assert masked[-1] == "***CYCLE***" and SECRET not in repr(masked)
