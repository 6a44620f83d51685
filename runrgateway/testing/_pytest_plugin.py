"""pytest plugin: the `runr_gateway` fixture, a fresh mock gateway per test.

Registered as the `pytest11` entry point `runrgateway`; it loads in every pytest
run, so it imports nothing heavy until the fixture is used.

It must never import the client, or anything heavy, at load time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from runrgateway.testing._gateway import EmbeddedGateway


@pytest.fixture
def runr_gateway() -> Iterator[EmbeddedGateway]:
    """A fresh, unique mock gateway (`.url` is ``mock://<name>``), reset after the test."""
    from runrgateway.testing._registry import new_mock_gateway, remove_gateway

    gateway = new_mock_gateway()
    try:
        yield gateway
    finally:
        remove_gateway(gateway.name)
