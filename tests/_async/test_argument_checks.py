"""Odd arguments end in a documented error before anything is sent (issue 13).

Each case the issue lists has its own test; tests/_async/test_argument_properties.py
generalises them with hypothesis.
"""

from __future__ import annotations

import base64
import math
from collections.abc import AsyncIterator
from typing import Any

import pytest

from runrgateway import GatewayClient, GatewayConfigError, GatewayValidationError
from tests.helpers import BASE, proxy_answer

from .conftest import Router

SURROGATE = "\ud800"


@pytest.fixture
async def client(agent_pem: str) -> AsyncIterator[GatewayClient]:
    async with GatewayClient(BASE, "agent-1", agent_pem, max_retries=0) as gw:
        yield gw


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


async def test_token_options_with_a_non_string_key(router: Router, client: GatewayClient) -> None:
    with pytest.raises(GatewayValidationError, match="token options"):
        await client.get_token({1: 2, "a": 3})  # type: ignore[dict-item]
    assert router.calls.call_count == 0


@pytest.mark.parametrize("depth", [200, 5000])
async def test_params_nested_deep(router: Router, client: GatewayClient, depth: int) -> None:
    with pytest.raises(GatewayValidationError, match="nested"):
        await client.proxy("serpapi", "search", {"q": nested(depth)})
    assert router.calls.call_count == 0


async def test_params_with_a_cycle(router: Router, client: GatewayClient) -> None:
    params: dict[str, Any] = {"q": "a"}
    params["self"] = params
    with pytest.raises(GatewayValidationError):
        await client.proxy("serpapi", "search", params)
    assert router.calls.call_count == 0


async def test_params_with_a_non_string_key(router: Router, client: GatewayClient) -> None:
    with pytest.raises(GatewayValidationError, match="keys"):
        await client.proxy("serpapi", "search", {"q": "a", "filters": {1: "x", "1": "y"}})
    assert router.calls.call_count == 0


async def test_params_with_a_lone_surrogate(router: Router, client: GatewayClient) -> None:
    with pytest.raises(GatewayValidationError):
        await client.proxy("serpapi", "search", {"q": f"a{SURROGATE}"})
    assert router.calls.call_count == 0


async def test_caller_token_with_a_deeply_nested_payload(
    router: Router, client: GatewayClient
) -> None:
    """A token whose payload cannot be read is not one the client can check: sent as given."""
    payload = b"[" * 100_000 + b"]" * 100_000
    token = f"{base64.b64encode(payload).decode()}.{'ab' * 32}"
    route = router.post("/api/proxy-request").mock(return_value=proxy_answer({"ok": 1}))
    assert await client.proxy("serpapi", "search", {"q": "a"}, token) == {"ok": 1}
    assert route.call_count == 1


@pytest.mark.parametrize(
    "override", [b"\xff", f"a{SURROGATE}", {"a": math.nan}, object(), nested(5000)]
)
async def test_bad_proof_payload_override_refused_before_any_token(
    router: Router, client: GatewayClient, override: Any
) -> None:
    with pytest.raises(GatewayValidationError, match="proof_payload_override"):
        await client.proxy("serpapi", "search", {"q": "a"}, proof_payload_override=override)
    assert router.calls.call_count == 0  # no generate-token either


async def test_lone_surrogate_in_job_id(router: Router, client: GatewayClient) -> None:
    with pytest.raises(GatewayValidationError, match="job_id"):
        await client.get_job(f"job{SURROGATE}")
    with pytest.raises(GatewayValidationError, match="job_id"):
        await client.wait_for_job(f"job{SURROGATE}")
    assert router.calls.call_count == 0


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"timeout_s": "5"}, "timeout_s"),
        ({"timeout_s": math.nan}, "timeout_s"),
        ({"timeout_s": -1}, "timeout_s"),
        ({"poll_interval_s": None}, "poll_interval_s"),
        ({"poll_interval_s": math.inf}, "poll_interval_s"),
        ({"on_poll": "print"}, "on_poll"),
    ],
)
async def test_wait_for_job_arguments(
    router: Router, client: GatewayClient, kwargs: dict[str, Any], name: str
) -> None:
    with pytest.raises(GatewayValidationError, match=name):
        await client.wait_for_job("job-1", **kwargs)
    assert router.calls.call_count == 0


def test_lone_surrogate_in_key_password(agent_pem: str) -> None:
    with pytest.raises(GatewayConfigError, match="key_password"):
        GatewayClient(BASE, "agent-1", agent_pem, key_password=f"pw{SURROGATE}")


def test_lone_surrogate_in_the_pem(agent_pem: str) -> None:
    with pytest.raises(GatewayConfigError, match="agent_private_key_pem") as caught:
        GatewayClient(BASE, "agent-1", agent_pem.replace("\n", f"\n{SURROGATE}", 1))
    assert "PRIVATE KEY" not in str(caught.value)


def test_read_only_actions_holding_a_list() -> None:
    with pytest.raises(GatewayConfigError, match="read_only_actions"):
        GatewayClient("mock://x", "agent-1", "test-key", read_only_actions=[["a:b"]])  # type: ignore[list-item]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 1e308])
def test_timeout_ms_not_finite(value: float) -> None:
    with pytest.raises(GatewayConfigError, match="timeout_ms"):
        GatewayClient("mock://x", "agent-1", "test-key", timeout_ms=value)


@pytest.mark.parametrize("value", [math.nan, math.inf, 1e308])
def test_max_retry_after_s_not_finite(value: float) -> None:
    with pytest.raises(GatewayConfigError, match="max_retry_after_s"):
        GatewayClient("mock://x", "agent-1", "test-key", max_retry_after_s=value)
