"""`runrgateway mcp`: the MCP server over stdio (the `mcp` extra is imported only here).

No other module of the CLI may import the `mcp` extra: the base install must never
need it.
"""

from __future__ import annotations

import asyncio

from .._async._client import GatewayClient
from .._constants import MCP_INSTALL_HINT
from ._context import (
    EXIT_OK,
    EXIT_USAGE,
    PROG,
    Context,
    UsageError,
)


def cmd_mcp(ctx: Context) -> int:
    """`runrgateway mcp`: the MCP server (imported here only: the base install lacks mcp)."""
    from .. import mcp as tools

    args = ctx.args
    try:
        requested = tools.resolve_names(args.tools) if args.tools else None
    except tools.UnknownToolName as exc:
        raise UsageError(f"--tools: {exc}") from None
    try:
        server = tools.load_server()
    except ImportError as exc:
        if exc.name != "mcp":
            raise
        print(f"{PROG} mcp: {MCP_INSTALL_HINT}", file=ctx.err)
        return EXIT_USAGE
    from ..mcp._logs import configure

    settings = ctx.settings("mock://mcp")
    configure(ctx.environ, bool(getattr(args, "verbose", False)), ctx.err, ctx.secrets)

    async def serve() -> None:
        # Made inside the loop that uses it (one async client per event loop).
        kwargs = dict(settings.kwargs)
        if args.intent is not None:
            kwargs["default_intent"] = args.intent
        client = GatewayClient(**kwargs)
        await server.run_stdio(client, requested=requested, secrets=ctx.secrets)

    asyncio.run(serve())
    return EXIT_OK


# ------------------------------------------------------------------------------ main
