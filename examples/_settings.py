"""Where the example scripts send their calls: `from_env()`, with the embedded gateway
as the fallback.

A real gateway when GATEWAY_URL is set (with AGENT_ID, and the key as AGENT_PRIVATE_KEY
PEM text or AGENT_PRIVATE_KEY_FILE, the file `runrgateway keygen --out` writes); else the
embedded gateway at mock://examples, where the client signs with a throwaway key.
"""

from __future__ import annotations

import os
import sys
from typing import TypeVar

from runrgateway import GatewayClient, GatewayConfigError, SyncGatewayClient

MOCK_URL = "mock://examples"
Client = TypeVar("Client", GatewayClient, SyncGatewayClient)


def connect(client_class: type[Client], **overrides: object) -> Client:
    """`client_class.from_env(**overrides)`, on mock://examples when GATEWAY_URL is unset."""
    if not os.environ.get("GATEWAY_URL"):
        print(f"GATEWAY_URL is not set: using the embedded gateway ({MOCK_URL})", file=sys.stderr)
    try:
        return client_class.from_env(default_base_url=MOCK_URL, **overrides)
    except GatewayConfigError as exc:
        sys.exit(f"configuration error: {exc.message}")


def on_mock(client: GatewayClient | SyncGatewayClient) -> bool:
    return client.base_url.startswith("mock://")
