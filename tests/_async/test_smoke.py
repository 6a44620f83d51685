from runrgateway import GatewayClient
from tests.helpers import async_run_concurrently


async def test_placeholder() -> None:
    assert GatewayClient and async_run_concurrently
