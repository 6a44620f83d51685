"""Correlation ids and idempotency keys."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from ._constants import HEADER_CORRELATION_ID


def generate_correlation_id() -> str:
    """A new correlation id for one call (kept the same across its retries)."""
    return f"runr-{uuid.uuid4().hex}"


def generate_idempotency_key() -> str:
    """A new idempotency key: send it with a side-effecting call to make retries safe."""
    return str(uuid.uuid4())


def extract_correlation_id(source: Mapping[str, str] | object) -> str | None:
    """The correlation id carried by headers, a response, or a `GatewayError`.

    The gateway's own id comes first when the object has one (`server_correlation_id`
    on an error or a `ProxyResponse`), then a `correlation_id` attribute (the SDK's),
    then an ``X-Correlation-Id`` header of a header mapping or of anything with
    `.headers` (an httpx response).
    """
    value = getattr(source, "server_correlation_id", None) or getattr(
        source, "correlation_id", None
    )
    if isinstance(value, str) and value:
        return value
    headers = getattr(source, "headers", source)
    if isinstance(headers, Mapping):
        for name, header_value in headers.items():
            if isinstance(name, str) and name.lower() == HEADER_CORRELATION_ID:
                return str(header_value)
    return None
