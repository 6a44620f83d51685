"""Test helpers: the embedded 4Runr gateway, mock transports and an HTTP server.

``mock://<name>`` URLs reach `get_gateway(name)` in process; `GatewayServer`
serves a gateway over real HTTP on loopback. The pytest plugin gives a fresh mock
gateway per test as the `runr_gateway` fixture.

Names are imported on first use, so that loading the pytest plugin (in every
pytest run) stays cheap.

Code under `runrgateway/testing/` never imports the client (`_async`, `_sync`,
`_client_base`): the gateway is tested on its own with raw httpx, and a client tested
against it proves behaviour on the wire, not a shared implementation.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._faults import FaultPlan
    from ._gateway import ALLOW_BUILTIN_TOOLS, AgentCredentials, EmbeddedGateway
    from ._limits import GatewayLimits
    from ._messages import GatewayOutcome, GatewayRequest, GatewayResponse
    from ._mock import AsyncGatewayMockTransport, GatewayMockTransport
    from ._registry import (
        get_gateway,
        new_mock_gateway,
        register_gateway,
        remove_gateway,
        reset_gateways,
    )
    from ._request_log import RecordedRequest
    from ._server import GatewayServer
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
    "GatewayLimits",
    # mock gateways by name
    "get_gateway",
    "new_mock_gateway",
    "register_gateway",
    "remove_gateway",
    "reset_gateways",
    # transports and the HTTP server
    "AsyncGatewayMockTransport",
    "GatewayMockTransport",
    "GatewayServer",
    # observation and faults
    "RecordedRequest",
    "ToolRun",
    "FaultPlan",
    # plain messages
    "GatewayRequest",
    "GatewayResponse",
    "GatewayOutcome",
]

_HOMES = {
    "FaultPlan": "_faults",
    "ALLOW_BUILTIN_TOOLS": "_gateway",
    "AgentCredentials": "_gateway",
    "EmbeddedGateway": "_gateway",
    "RecordedRequest": "_request_log",
    "GatewayLimits": "_limits",
    "GatewayOutcome": "_messages",
    "GatewayRequest": "_messages",
    "GatewayResponse": "_messages",
    "AsyncGatewayMockTransport": "_mock",
    "GatewayMockTransport": "_mock",
    "get_gateway": "_registry",
    "new_mock_gateway": "_registry",
    "register_gateway": "_registry",
    "remove_gateway": "_registry",
    "reset_gateways": "_registry",
    "GatewayServer": "_server",
    "ToolRun": "_state",
    "ManualClock": "_time",
    "IssuedToken": "_tokens",
    "BUILTIN_SCOPES": "_tools",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
