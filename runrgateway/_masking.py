"""Masking of secrets in anything that may reach a log line, an error or a repr."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from ._constants import MASK

_SENSITIVE_KEYS = frozenset(
    {
        "password", "passwd", "secret", "token", "access_token", "refresh_token",
        "agent_token", "api_key", "apikey", "key", "private_key", "authorization",
        "cookie", "set_cookie", "credentials", "client_secret", "signature", "session",
    }
)  # fmt: skip
_SENSITIVE_SUFFIXES = ("_password", "_secret", "_token", "_key")

_PEM_PRIVATE_KEY = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(-----END \1PRIVATE KEY-----|$)", re.DOTALL
)
_BEARER = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+")


def is_sensitive_key(key: str) -> bool:
    """Whether values under this key are secrets (case-insensitive, `-` read as `_`)."""
    normalised = key.lower().replace("-", "_")
    return normalised in _SENSITIVE_KEYS or normalised.endswith(_SENSITIVE_SUFFIXES)


def mask_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask PEM private keys, bearer credentials and the given secret values in a string."""
    masked = _PEM_PRIVATE_KEY.sub(MASK, text)
    masked = _BEARER.sub(f"Bearer {MASK}", masked)
    for secret in secrets:
        if secret and len(secret) >= 8 and secret in masked:
            masked = masked.replace(secret, MASK)
    return masked


def mask_sensitive(obj: Any, secrets: Iterable[str] = ()) -> Any:
    """A deep copy of `obj` with secret values masked; `obj` itself is never changed.

    Values under sensitive keys become ``"***MASKED***"`` at any depth; any string
    holding a PEM private key, a ``Bearer`` credential or one of `secrets` is masked
    wherever it sits.
    """
    known = tuple(s for s in secrets if s)
    return _mask(obj, known)


def _mask(obj: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(obj, Mapping):
        return {
            key: MASK if isinstance(key, str) and is_sensitive_key(key) else _mask(value, secrets)
            for key, value in obj.items()
        }
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = [_mask(item, secrets) for item in obj]
        return items if isinstance(obj, list) else type(obj)(items)
    if isinstance(obj, str):
        return mask_text(obj, secrets)
    return obj


def describe_attempt(
    *,
    method: str,
    path: str,
    correlation_id: str,
    attempt: int,
    status: int | str,
    elapsed_ms: float,
    call: str | None = None,
    params: Any = None,
    secrets: Iterable[str] = (),
) -> str:
    """The DEBUG line for one attempt, with params masked."""
    parts = [f"{method} {path}"]
    if call:
        parts.append(f"call={call}")
    parts += [f"correlation_id={correlation_id}", f"attempt={attempt}"]
    if params is not None:
        parts.append(f"params={mask_sensitive(params, secrets)}")
    parts += [f"status={status}", f"elapsed_ms={elapsed_ms:.1f}"]
    return " ".join(parts)
