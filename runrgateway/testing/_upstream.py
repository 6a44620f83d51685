"""Which adapters answer a tool call: the live shapes (production) or the real gateway's
mock mode (its ``UPSTREAM_MODE=mock``). `_live_tools` and `_mock_tools` each define one
function per ``tool:action``, under the names below.

It only chooses: it never answers a call itself.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from . import _live_tools, _mock_tools
from ._tools import ToolCall, ToolFailure

LIVE, MOCK = "live", "mock"
UPSTREAM_MODES = (LIVE, MOCK)

_FUNCTIONS = {
    "serpapi:search": "search",
    "http_fetch:get": "fetch_get",
    "http_fetch:head": "fetch_head",
    "openai:chat": "chat",
    "openai:complete": "complete",
    "gmail_send:send": "send",
    "gmail_send:profile": "profile",
}


def _adapters(module: ModuleType) -> dict[str, Callable[[ToolCall], Any]]:
    return {scope: getattr(module, name) for scope, name in _FUNCTIONS.items()}


_ADAPTERS = {LIVE: _adapters(_live_tools), MOCK: _adapters(_mock_tools)}


def check_upstream_mode(mode: Any) -> str:
    """`mode` if it is ``"live"`` or ``"mock"``, else a `ValueError`."""
    if mode not in UPSTREAM_MODES:
        raise ValueError(f"upstream_mode must be 'live' or 'mock', got {mode!r}")
    return str(mode)


def run_adapter(mode: str, tool: str, action: str, call: ToolCall) -> Any:
    """Run one adapter; raises `ToolFailure` as the outside API (or the adapter) fails."""
    adapter = _ADAPTERS[mode].get(f"{tool}:{action}")
    if adapter is None:
        raise ToolFailure(f"Unsupported action: {action} for tool: {tool}")
    return adapter(call)
