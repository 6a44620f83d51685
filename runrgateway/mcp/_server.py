"""The MCP server: the gateway's tools over stdio, each call made with the async client.

`GatewayTools` holds the MCP side (which tools to list, how to answer a call) around one
`GatewayClient`; `create_server` wires it into the `mcp` SDK's low-level `Server`;
`run_stdio` serves it on stdin/stdout until stdin closes. Which tools are listed is
decided once, at the first `tools/list` (or call): the gateway's merged policy for the
agent when it can tell (``GET /api/policies/merged/{agent_id}``), else every built-in
tool, narrowed by `requested`. stdout carries only the protocol; logs go to stderr.

It never writes to stdout but through the protocol, and never signs or sends itself:
every call goes through the client.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from mcp import types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

from .._async._client import GatewayClient
from .._constants import LOGGER_NAME
from .._errors import ErrorCode, GatewayError
from .._masking import mask_text
from .._version import __version__
from ._calls import InvalidArguments, Outcome, failure, invalid, prepare, success
from ._catalog import ToolSpec, select

logger = logging.getLogger(f"{LOGGER_NAME}.mcp")

SERVER_NAME = "runrgateway"
INSTRUCTIONS = (
    "Tools of 4Runr Gateway, called under this agent's signed identity and policies. A "
    "refused call comes back as a tool error whose text says why and what to do next."
)


class GatewayTools:
    """The tools an MCP client sees, and their calls through `client`.

    `requested` narrows the list (None: every tool the agent may use); `secrets` are
    masked from every text that leaves (the agent's private key, say).
    """

    def __init__(
        self,
        client: GatewayClient,
        *,
        requested: Sequence[ToolSpec] | None = None,
        secrets: Sequence[str] = (),
    ) -> None:
        self._client = client
        self._requested = list(requested) if requested is not None else None
        self._secrets = tuple(secrets)
        self._listed: dict[str, tuple[ToolSpec, dict[str, Any]]] | None = None
        self._lock = asyncio.Lock()

    async def listed(self) -> dict[str, tuple[ToolSpec, dict[str, Any]]]:
        """The listed tools by name, each with its input schema (looked up once)."""
        async with self._lock:
            if self._listed is None:
                scopes, intent = await self._policy()
                chosen = select(scopes, self._requested)
                self._listed = {spec.name: (spec, spec.input_schema(intent)) for spec in chosen}
                self._report(scopes, chosen)
            return self._listed

    async def _policy(self) -> tuple[list[str] | None, str | None]:
        """The scopes and intent of the agent's policy; (None, None) when the gateway
        cannot say (a gateway without the route, or one that refuses to tell)."""
        try:
            policy = await self._client.get_policy()
        except GatewayError as exc:
            level = logging.INFO if exc.code == ErrorCode.NOT_FOUND else logging.WARNING
            logger.log(
                level,
                "the gateway did not say which tools agent %s may use (%s: %s): listing every "
                "built-in tool",
                self._client.agent_id,
                type(exc).__name__,
                self._masked(exc.message),
            )
            return None, None
        intent = policy.get("intent")
        usable_intent = intent if isinstance(intent, str) and intent != "default_deny" else None
        return list(policy["scopes"]), usable_intent

    def _report(self, scopes: list[str] | None, chosen: list[ToolSpec]) -> None:
        names = ", ".join(spec.name for spec in chosen) or "none"
        logger.info("listing %d tool(s): %s", len(chosen), names)
        if scopes is not None and not chosen:
            logger.warning(
                "agent %s may use none of the tools offered (its policy allows: %s)",
                self._client.agent_id,
                ", ".join(scopes) or "nothing",
            )
        if self._requested is not None:
            left_out = [spec.name for spec in self._requested if spec not in chosen]
            if left_out:
                logger.warning(
                    "not listed, as the agent's policy does not allow them: %s", ", ".join(left_out)
                )

    async def list_tools(self) -> list[types.Tool]:
        return [_mcp_tool(spec, schema) for spec, schema in (await self.listed()).values()]

    async def call(self, name: str, arguments: Mapping[str, Any] | None) -> types.CallToolResult:
        """Run one tool call; every failure becomes a tool error (`isError`), never a crash."""
        listed = await self.listed()
        if name not in listed:
            available = ", ".join(listed) or "none"
            text = f"Unknown tool {name!r}: this server offers {available}."
            return _result(
                Outcome(text, {"error": {"code": ErrorCode.NOT_FOUND, "message": text}}, True)
            )
        spec, schema = listed[name]
        started = time.perf_counter()
        outcome = await self._outcome(spec, arguments, schema)
        elapsed_ms = (time.perf_counter() - started) * 1000
        verdict = outcome.structured["error"]["code"] if outcome.is_error else "ok"
        logger.info("%s (%s): %s in %.0f ms", name, spec.scope, verdict, elapsed_ms)
        if outcome.is_error:
            logger.debug("%s: %s", name, outcome.text)
        return _result(outcome)

    async def _outcome(
        self, spec: ToolSpec, arguments: Mapping[str, Any] | None, schema: dict[str, Any]
    ) -> Outcome:
        try:
            call = prepare(arguments, schema)
        except InvalidArguments as problem:
            return invalid(spec, problem)
        try:
            answer = await self._client.proxy_response(
                spec.tool, spec.action, call.params, idempotency_key=call.idempotency_key
            )
        except GatewayError as exc:
            return failure(spec, exc, self._secrets)
        except Exception:
            # A bug of ours must not take the session down; the model gets a line, the log
            # the traceback (SDK errors and their chains hold no secrets, by contract).
            logger.exception("%s: unexpected error", spec.name)
            text = f"{spec.scope} failed inside the MCP server (see its log); nothing to fix."
            return Outcome(text, {"error": {"code": ErrorCode.INTERNAL, "message": text}}, True)
        return success(spec, answer, self._secrets)

    def _masked(self, text: str) -> str:
        return mask_text(text, self._secrets)


def _mcp_tool(spec: ToolSpec, schema: dict[str, Any]) -> types.Tool:
    return types.Tool(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        input_schema=schema,
        annotations=types.ToolAnnotations(
            title=spec.title,
            read_only_hint=not spec.side_effect,
            destructive_hint=False,
            idempotent_hint=not spec.side_effect,
            open_world_hint=True,
        ),
    )


def _result(outcome: Outcome) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(text=outcome.text)],
        structured_content=outcome.structured,
        is_error=outcome.is_error,
        _meta=outcome.meta or None,
    )


def create_server(tools: GatewayTools) -> Server[Any]:
    """The `mcp` SDK's low-level server, answering `tools/list` and `tools/call`."""

    async def on_list_tools(
        ctx: Any, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=await tools.list_tools())

    async def on_call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        return await tools.call(params.name, params.arguments)

    return Server(
        SERVER_NAME,
        version=__version__,
        title="4Runr Gateway",
        instructions=INSTRUCTIONS,
        on_list_tools=on_list_tools,
        on_call_tool=on_call_tool,
    )


async def run_stdio(
    client: GatewayClient,
    *,
    requested: Sequence[ToolSpec] | None = None,
    secrets: Sequence[str] = (),
) -> None:
    """Serve `client`'s tools on stdin/stdout until stdin closes; then close the client."""
    tools = GatewayTools(client, requested=requested, secrets=secrets)
    server = create_server(tools)
    async with client:
        async with stdio_server() as (read_stream, write_stream):
            logger.info("serving %s as agent %s over stdio", client.base_url, client.agent_id)
            await server.run(read_stream, write_stream, server.create_initialization_options())
        logger.info("stdin closed: stopping")
