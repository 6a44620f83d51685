"""runrgateway: the Python SDK for 4Runr Gateway.

`GatewayClient` is the asyncio client; `SyncGatewayClient` is its blocking twin with
the same methods.
"""

from ._async._client import GatewayClient
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
from ._masking import mask_sensitive
from ._models import JobResponse, ProxyResponse, TokenInfo, TokenOptions
from ._sync._client import SyncGatewayClient
from ._version import __version__

__all__ = [
    # clients
    "GatewayClient",
    "SyncGatewayClient",
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
