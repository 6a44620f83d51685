"""Test helpers: the embedded 4Runr gateway, mock transports and an HTTP server.

``mock://<name>`` URLs reach `get_gateway(name)` in process; `GatewayServer`
serves a gateway over real HTTP on loopback. The pytest plugin gives a fresh mock
gateway per test as the `runr_gateway` fixture.
"""

from ._faults import FaultPlan
from ._gateway import (
    ALLOW_BUILTIN_TOOLS,
    AgentCredentials,
    EmbeddedGateway,
    RecordedRequest,
)
from ._messages import GatewayOutcome, GatewayRequest, GatewayResponse
from ._mock import AsyncGatewayMockTransport, GatewayMockTransport
from ._registry import (
    get_gateway,
    new_mock_gateway,
    register_gateway,
    remove_gateway,
    reset_gateways,
)
from ._state import ToolRun
from ._time import ManualClock
from ._tokens import IssuedToken
from ._tools import BUILTIN_SCOPES

__all__ = [
    # the gateway
    "EmbeddedGateway",
    "ALLOW_BUILTIN_TOOLS",
    "BUILTIN_SCOPES",
    "AgentCredentials",
    "IssuedToken",
    "ManualClock",
    # mock gateways by name
    "get_gateway",
    "new_mock_gateway",
    "register_gateway",
    "remove_gateway",
    "reset_gateways",
    # transports
    "AsyncGatewayMockTransport",
    "GatewayMockTransport",
    # observation and faults
    "RecordedRequest",
    "ToolRun",
    "FaultPlan",
    # plain messages
    "GatewayRequest",
    "GatewayResponse",
    "GatewayOutcome",
]
