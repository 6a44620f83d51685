"""runrgateway: the Python SDK for 4Runr Gateway.

`GatewayClient` is the asyncio client; `SyncGatewayClient` is its blocking twin with
the same methods.

The public facade and nothing else: re-exports with a grouped `__all__`, each name
reported as `runrgateway.<name>`, and `__version__`. It must never hold behaviour of
its own, nor import a client twin, the key class or `runrgateway.testing` at import
time: each loads on first use, so `import runrgateway` stays cheap.
"""

from typing import TYPE_CHECKING, Any

from ._errors import (
    ErrorCode,
    ErrorResponse,
    GatewayAuthError,
    GatewayConfigError,
    GatewayConflictError,
    GatewayError,
    GatewayNetworkError,
    GatewayNotFoundError,
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
    "ErrorCode",
    "ErrorResponse",
    "GatewayAuthError",
    "GatewayConfigError",
    "GatewayConflictError",
    "GatewayError",
    "GatewayNetworkError",
    "GatewayNotFoundError",
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


def _public(value: Any) -> Any:
    """Report `value` as `runrgateway.<name>`: tracebacks, reprs and help() show the public
    path (runrgateway.GatewayError), as httpx does, and pickle finds it there."""
    if isinstance(value, type) or callable(value):
        value.__module__ = __name__
    return value


# The names loaded here now; the lazy ones (`_LAZY`) get the same on first use.
for _name in __all__:
    if _name in globals():
        _public(globals()[_name])
del _name


_setup_logging()  # RUNRGATEWAY_LOG=debug|info: the SDK's logs on stderr, no code needed
del _setup_logging


# Loaded on first use, not at import: a program needs one twin, and the key class
# pulls in cryptography. name -> the module that defines it.
_LAZY = {
    "GatewayClient": "._async._client",
    "SyncGatewayClient": "._sync._client",
    "AgentKey": "._keys",
}


def __getattr__(name: str) -> Any:
    """Load each client (and the key class) on first use, under its public path."""
    if name not in _LAZY:
        raise AttributeError(f"module 'runrgateway' has no attribute {name!r}")
    from importlib import import_module

    value = _public(getattr(import_module(_LAZY[name], __name__), name))
    globals()[name] = value  # found directly from now on; __getattr__ is not asked again
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
