from __future__ import annotations

from collections.abc import Iterator

import pytest
import respx

from tests.helpers import BASE, token_answer


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    """respx for `BASE`; the route named "token" answers generate-token like the gateway."""
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        mock.post("/api/generate-token", name="token").mock(side_effect=token_answer)
        yield mock
