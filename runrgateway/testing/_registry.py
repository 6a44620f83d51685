"""Mock gateways by name: one per name in the process, shared by every client using it.

It holds gateways by name and never serves them: the mock transports and
`GatewayServer` do.
"""

from __future__ import annotations

import threading
import uuid

from .._constants import MOCK_URL_PREFIX
from .._environment import is_mock_url
from ._gateway import ALLOW_BUILTIN_TOOLS, EmbeddedGateway

_gateways: dict[str, EmbeddedGateway] = {}
_lock = threading.Lock()


def gateway_name(name_or_url: str) -> str:
    """``mock://Name/api/...`` or ``Name`` -> ``name`` (host names are case-insensitive)."""
    text = name_or_url.strip()
    if is_mock_url(text):
        text = text[len(MOCK_URL_PREFIX) :]
    text = text.split("/", 1)[0].split("?", 1)[0].lower()
    if not text:
        raise ValueError(f"no gateway name in {name_or_url!r}")
    return text


def get_gateway(name_or_url: str) -> EmbeddedGateway:
    """The mock gateway for a name or ``mock://<name>`` URL, created on first use.

    Mock gateways register unknown agents on the fly, allow the built-in tools to
    agents without a policy and have no rate limit (they serve unit tests, which make
    more than 5 calls a minute; a test sets one with `set_rate_limit`); otherwise they
    follow wire.md.
    """
    name = gateway_name(name_or_url)
    with _lock:
        gateway = _gateways.get(name)
        if gateway is None:
            gateway = _gateways[name] = EmbeddedGateway(
                name,
                auto_register_agents=True,
                default_policy=ALLOW_BUILTIN_TOOLS,
                rate_limit=None,
            )
        return gateway


def register_gateway(gateway: EmbeddedGateway) -> EmbeddedGateway:
    """Make ``mock://<gateway.name>`` reach `gateway` (e.g. one built with a `ManualClock`)."""
    with _lock:
        _gateways[gateway_name(gateway.name)] = gateway
    return gateway


def new_mock_gateway(prefix: str = "gw", *, upstream_mode: str = "live") -> EmbeddedGateway:
    """A fresh mock gateway under a unique name, its tools answering in `upstream_mode`."""
    gateway = get_gateway(f"{prefix}-{uuid.uuid4().hex[:12]}")
    gateway.upstream_mode = upstream_mode
    return gateway


def remove_gateway(name_or_url: str) -> None:
    """Forget one mock gateway (the next `get_gateway` makes a new one)."""
    with _lock:
        gateway = _gateways.pop(gateway_name(name_or_url), None)
    if gateway is not None:
        gateway.reset()


def reset_gateways() -> None:
    """Forget every mock gateway."""
    with _lock:
        gateways = list(_gateways.values())
        _gateways.clear()
    for gateway in gateways:
        gateway.reset()
