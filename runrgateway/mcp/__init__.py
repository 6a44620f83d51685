"""`runrgateway mcp`: 4Runr Gateway's tools for any MCP client, over stdio.

The server needs the optional extra, ``pip install "runrgateway[mcp]"`` (the official
`mcp` SDK). Nothing else in runrgateway imports this package, so the base install
neither loads nor needs `mcp`; here too the SDK is imported only when the server's
names are first used (the tool catalogue works without it). Embedding the server in
your own process::

    from runrgateway import GatewayClient
    from runrgateway.mcp import run_stdio

    asyncio.run(run_stdio(GatewayClient(url, agent_id, pem)))

Only `runrgateway mcp` (`cli/_mcp.py`) imports it, and it never prints to stdout:
stdout belongs to the protocol.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .._constants import MCP_INSTALL_HINT
from ._catalog import CATALOG, ToolSpec, UnknownToolName, resolve_names, select

if TYPE_CHECKING:
    from ._server import GatewayTools, create_server, run_stdio

__all__ = [
    # the server (needs the mcp extra)
    "GatewayTools",
    "create_server",
    "run_stdio",
    "load_server",
    # the tools it offers
    "CATALOG",
    "ToolSpec",
    "UnknownToolName",
    "resolve_names",
    "select",
]

_SERVER_NAMES = ("GatewayTools", "create_server", "run_stdio")


def load_server() -> Any:
    """The server module; `ImportError` that says how to install the extra when `mcp` is
    missing (its `name` is ``"mcp"``)."""
    try:
        import mcp  # noqa: F401  (the SDK the server is built on)
    except ImportError as exc:
        raise ImportError(f"runrgateway.mcp: {MCP_INSTALL_HINT}", name="mcp") from exc
    return importlib.import_module(f"{__name__}._server")


def __getattr__(name: str) -> Any:
    if name not in _SERVER_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(load_server(), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
