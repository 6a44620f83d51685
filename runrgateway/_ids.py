"""Correlation ids and idempotency keys: new ones per call, and reading one back.

Every call makes one of each, so they are made cheaply: 16 bytes from `os.urandom`
(the same source `uuid.uuid4()` reads) with the UUID version 4 and RFC 4122 variant
bits set, formatted as text directly, without building a `uuid.UUID` object. The
format and the 122 random bits are exactly `uuid.uuid4()`'s. Nothing here may use a
predictable source (`random`): an idempotency key must never collide with another
client's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from ._constants import HEADER_CORRELATION_ID

# Clear the version nibble (bits 76-79) and the two variant bits (62-63), then set
# version 4 and variant 0b10: what uuid.UUID(bytes=..., version=4) does.
_KEEP = 0xFFFF_FFFF_FFFF_0FFF_3FFF_FFFF_FFFF_FFFF
_UUID4 = 0x0000_0000_0000_4000_8000_0000_0000_0000


def _uuid4_int() -> int:
    return int.from_bytes(os.urandom(16), "big") & _KEEP | _UUID4


def uuid4_hex() -> str:
    """A random UUID version 4 as 32 lower-case hex digits (`uuid.uuid4().hex`)."""
    return f"{_uuid4_int():032x}"


def uuid4_text() -> str:
    """A random UUID version 4 in its 8-4-4-4-12 form (`str(uuid.uuid4())`)."""
    digits = f"{_uuid4_int():032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def generate_correlation_id() -> str:
    """A new correlation id for one call (kept the same across its retries)."""
    return f"runr-{_uuid4_int():032x}"


def generate_idempotency_key() -> str:
    """A new idempotency key: send it with a side-effecting call to make retries safe."""
    return uuid4_text()


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
