"""Correlation ids and idempotency keys: uuid4's format, version and variant, and fresh."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import pytest

from runrgateway import generate_correlation_id, generate_idempotency_key
from runrgateway._ids import uuid4_hex, uuid4_text

_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
_SAMPLES = 4000


def _as_uuid(value: str) -> uuid.UUID:
    parsed = uuid.UUID(value)
    assert parsed.version == 4
    assert parsed.variant == uuid.RFC_4122
    return parsed


def test_idempotency_keys_are_uuid4_text() -> None:
    for _ in range(200):
        key = generate_idempotency_key()
        assert _TEXT.fullmatch(key), key
        assert str(_as_uuid(key)) == key  # the canonical form, as str(uuid.uuid4())


def test_correlation_ids_are_runr_and_uuid4_hex() -> None:
    for _ in range(200):
        call_id = generate_correlation_id()
        assert call_id.startswith("runr-")
        digits = call_id.removeprefix("runr-")
        assert re.fullmatch(r"[0-9a-f]{32}", digits), call_id
        assert _as_uuid(digits).hex == digits


@pytest.mark.parametrize("make", [uuid4_hex, uuid4_text])
def test_every_other_bit_is_random(make: Callable[[], str]) -> None:
    """122 random bits: each of them takes both values, the 6 fixed bits never change."""
    values = [uuid.UUID(make()).int for _ in range(_SAMPLES)]
    ones = 0
    zeros = 0
    for value in values:
        ones |= value
        zeros |= ~value
    fixed = (0xF << 76) | (0x3 << 62)  # version nibble, variant bits
    everything = (1 << 128) - 1
    assert ones & ~fixed == everything & ~fixed  # every free bit was 1 at least once
    assert zeros & ~fixed & everything == everything & ~fixed  # and 0 at least once
    assert all(value & fixed == (0x4 << 76) | (0x2 << 62) for value in values)
    assert len(set(values)) == _SAMPLES


def test_the_fixed_bits_match_the_standard_library() -> None:
    ours = uuid.UUID(uuid4_text())
    theirs = uuid.uuid4()
    fixed = (0xF << 76) | (0x3 << 62)
    assert ours.int & fixed == theirs.int & fixed
