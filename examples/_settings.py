"""Where the example scripts send their calls.

A real gateway when GATEWAY_URL is set (with AGENT_ID, and the key as AGENT_PRIVATE_KEY
PEM text or AGENT_PRIVATE_KEY_FILE, the file `runrgateway keygen --out` writes); else the
embedded gateway at mock://examples with a placeholder key (mock:// only: the client then
signs with a throwaway key).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any


def gateway_settings() -> dict[str, Any]:
    if not os.environ.get("GATEWAY_URL"):
        print(
            "GATEWAY_URL is not set: using the embedded gateway (mock://examples)", file=sys.stderr
        )
        return {
            "base_url": "mock://examples",
            "agent_id": "example-agent",
            "agent_private_key_pem": "test-key",
        }
    key = os.environ.get("AGENT_PRIVATE_KEY")
    key_file = os.environ.get("AGENT_PRIVATE_KEY_FILE")
    if not key and key_file:
        key = Path(key_file).read_text()
    if not os.environ.get("AGENT_ID") or not key:
        sys.exit(
            "with GATEWAY_URL set, also set AGENT_ID and AGENT_PRIVATE_KEY "
            "(or AGENT_PRIVATE_KEY_FILE)"
        )
    return {
        "base_url": os.environ["GATEWAY_URL"],
        "agent_id": os.environ["AGENT_ID"],
        "agent_private_key_pem": key,
    }


def on_mock(settings: dict[str, Any]) -> bool:
    return str(settings["base_url"]).startswith("mock://")
