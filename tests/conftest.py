from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

import runrgateway._retry as retry_policy
from runrgateway._keys import AgentKey

# Property tests (hypothesis): a fixed seed and few examples by default, so CI is fast and
# repeatable; HYPOTHESIS_PROFILE=full runs many more, with fresh random examples.
_PROPERTY_SETTINGS = {
    "deadline": None,  # a shared 2-core machine: timing is not what these tests judge
    "database": None,  # nothing written into the work tree
    # the client and router fixtures are meant to be shared by every example of a test
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
settings.register_profile("ci", max_examples=30, derandomize=True, **_PROPERTY_SETTINGS)
settings.register_profile("full", max_examples=1500, print_blob=True, **_PROPERTY_SETTINGS)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backoff without a Retry-After takes milliseconds in tests, not seconds."""
    monkeypatch.setattr(retry_policy, "BACKOFF_BASE_S", 0.001)
    monkeypatch.setattr(retry_policy, "BACKOFF_CAP_S", 0.004)


@pytest.fixture(scope="session")
def agent_key() -> AgentKey:
    return AgentKey.generate("ed25519")


@pytest.fixture(scope="session")
def agent_pem(agent_key: AgentKey) -> str:
    return agent_key.private_key_pem()


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Capture every record of the runrgateway loggers, DEBUG included."""
    with caplog.at_level("DEBUG", logger="runrgateway"):
        yield caplog
