"""runrgateway: the Python SDK for 4Runr Gateway.

`GatewayClient` is the asyncio client; `SyncGatewayClient` is its blocking twin with
the same methods.
"""

from typing import TYPE_CHECKING, Any

from ._errors import (
    GatewayAuthError,
    GatewayConfigError,
    GatewayError,
    GatewayNetworkError,
    GatewayPolicyError,
    GatewayRateLimitError,
    GatewayTimeoutError,
    GatewayTokenError,
    GatewayUpstreamError,
    GatewayValidationError,
)
from ._ids import extract_correlation_id, generate_correlation_id, generate_idempotency_key
from ._logs import setup_from_environment as _setup_logging
from ._masking import mask_sensitive
from ._models import JobResponse, ProxyResponse, TokenInfo, TokenOptions
from ._version import __version__

if TYPE_CHECKING:
    from ._async._client import GatewayClient
    from ._keys import AgentKey
    from ._sync._client import SyncGatewayClient

__all__ = [
    # clients
    "GatewayClient",
    "SyncGatewayClient",
    # keys
    "AgentKey",
    # models
    "JobResponse",
    "ProxyResponse",
    "TokenInfo",
    "TokenOptions",
    # errors
    "GatewayAuthError",
    "GatewayConfigError",
    "GatewayError",
    "GatewayNetworkError",
    "GatewayPolicyError",
    "GatewayRateLimitError",
    "GatewayTimeoutError",
    "GatewayTokenError",
    "GatewayUpstreamError",
    "GatewayValidationError",
    # helpers
    "extract_correlation_id",
    "generate_correlation_id",
    "generate_idempotency_key",
    "mask_sensitive",
    "__version__",
]

# Tracebacks and help() show the public path (runrgateway.GatewayError), as httpx does.
for _name in __all__:
    _value = globals().get(_name)
    if isinstance(_value, type) or callable(_value):
        _value.__module__ = __name__
del _name, _value


_setup_logging()  # RUNRGATEWAY_LOG=debug|info: the SDK's logs on stderr, no code needed
del _setup_logging


def __getattr__(name: str) -> Any:
    """Load each client (and the key class) on first use: a program needs one twin."""
    if name == "GatewayClient":
        from ._async._client import GatewayClient

        return GatewayClient
    if name == "SyncGatewayClient":
        from ._sync._client import SyncGatewayClient

        return SyncGatewayClient
    if name == "AgentKey":
        from ._keys import AgentKey

        return AgentKey
    raise AttributeError(f"module 'runrgateway' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
