from __future__ import annotations

from collections.abc import Iterator

import pytest

import runrgateway._retry as retry_policy
from runrgateway._signing import AgentKey


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
