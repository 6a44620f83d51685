"""Masking of secrets in anything that may reach a log line, an error or a repr.

Two passes, both here and nowhere else (sdk-contract section 8):
- by key name: the value under a sensitive key (names normalised: case folded,
  ``-``/``.``/space read as ``_``, camelCase split) is replaced whole, in mappings and
  in lists of ``[name, value]`` pairs (header lists);
- by shape, inside any text (bytes are read as text): PEM private keys, URL userinfo,
  ``name=value`` / ``"name": "value"`` with a sensitive name (query strings, JSON text,
  header lines), ``Bearer``/``Basic`` credentials, JWTs, the gateway's own tokens,
  vendor keys (``sk-...``, ``sk_live_...``, ``ghp_...``), and values the caller names.

`mask_sensitive` never raises and never changes its input: nesting deeper than
`MAX_DEPTH` and cycles are cut, and anything it cannot read is masked. The client
only calls it when a DEBUG line is actually built, and a string no pattern can match
costs one regex scan.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ._constants import MASK

MAX_DEPTH = 32
TOO_DEEP = "***TOO DEEP***"
CYCLE = "***CYCLE***"

_SENSITIVE_KEYS = frozenset(
    {
        "password", "passwd", "pwd", "passphrase", "secret", "token", "access_token",
        "refresh_token", "id_token", "agent_token", "api_key", "apikey", "key", "private_key",
        "authorization", "proxy_authorization", "auth", "cookie", "set_cookie", "credential",
        "credentials", "client_secret", "signature", "sig", "session", "jwt", "bearer",
        "proof_payload",
    }
)  # fmt: skip
_SENSITIVE_SUFFIXES = (
    "_password", "_passwd", "_pwd", "_passphrase", "_secret", "_token", "_key", "_pem",
    "_auth", "_credential", "_credentials", "_signature", "_cookie",
)  # fmt: skip
# Names that match a rule above but hold nothing secret (and help when debugging).
_NOT_SENSITIVE = frozenset(
    {"idempotency_key", "public_key", "public_key_pem", "sort_key", "cache_key"}
)

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[-.\s_]+")


@functools.lru_cache(maxsize=4096)
def normalise_key(key: str) -> str:
    """``privateKey`` / ``Private-Key`` / ``PRIVATE_KEY`` -> ``private_key``."""
    return _SEPARATORS.sub("_", _CAMEL.sub("_", key)).strip("_").lower()


@functools.lru_cache(maxsize=4096)
def is_sensitive_key(key: str) -> bool:
    """Whether values under this key name are secrets (see `normalise_key`)."""
    name = normalise_key(key)
    if name in _NOT_SENSITIVE:
        return False
    return name in _SENSITIVE_KEYS or name.endswith(_SENSITIVE_SUFFIXES)


# One alternation, one scan per string. Order matters where two could start at the
# same place: a URL's scheme looks like `name:` to the key=value rule, and a token's
# base64 padding like `name=`. Compiled on first use (`_pattern`), not at import: the
# compile is about 9 M instructions, 2 % of `import httpx2`, on every program's first line.
_PATTERN_TEXT = r"""
    (?P<pem>-----BEGIN\ (?P<label>[A-Z0-9 ]*PRIVATE\ KEY[A-Z0-9 ]*)-----
        .*?(?:-----END\ (?P=label)-----|\Z))
  | (?P<userinfo>\b[A-Za-z][A-Za-z0-9+.-]{0,31}://)[^/\s@?#]+@
  | (?P<jwt>\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*)
  | (?P<gwtoken>\beyJ[A-Za-z0-9+/]{8,}={0,2}\.[0-9a-fA-F]{32,})
  | (?P<kname>\b[A-Za-z_][\w.-]{0,63})(?P<ksep>["']?[ \t]*[:=][ \t]*)
        (?:(?P<kq>["'])(?P<kqv>(?:[^"'\\\r\n]|\\.|(?!(?P=kq))["'])*)(?P<kqe>(?P=kq))?
          |(?P<kv>(?:(?i:bearer|basic)[ \t]*:?[ \t]+)?[^\s"'&,;<>{}\[\]()]+))
  | (?P<scheme>\b(?i:bearer|basic))(?P<ssep>[ \t]*:[ \t]*|[ \t]+)(?P<cred>[A-Za-z0-9._~+/=-]+)
  | (?P<vendor>\b(?:sk|rk)-[A-Za-z0-9_-]{16,}
        |\b(?:sk|rk|pk|cs|whsec)_(?:live|test)_[A-Za-z0-9]{8,}
        |\bwhsec_[A-Za-z0-9]{16,}
        |\bgh[pousr]_[A-Za-z0-9]{20,}|\bgithub_pat_\w{20,}
        |\bxox[abprs]-[A-Za-z0-9-]{10,}
        |\bAKIA[0-9A-Z]{16}\b)
    """


@functools.cache
def _pattern() -> re.Pattern[str]:
    return re.compile(_PATTERN_TEXT, re.VERBOSE | re.DOTALL)


def _looks_like_basic_credential(value: str) -> bool:
    """`Basic` is also an English word: mask what looks like base64, not prose."""
    return len(value) >= 8 and (
        any(c.isdigit() or c in "+/=" for c in value) or value[1:] != value[1:].lower()
    )


# In prose, generic names come with placeholders ("expected key=value"); a secret under
# one of them is long or has digits (`?key=AIza...`, `token=4f1c...`).
_GENERIC_NAMES = frozenset({"key", "token", "auth", "session", "signature", "sig", "secret"})


def _could_be_secret(name: str, value: str) -> bool:
    if normalise_key(name) not in _GENERIC_NAMES:
        return True
    return len(value) >= 8 or any(c.isdigit() for c in value)


# A value is scanned again for secrets inside it (`next=https://u:p@host`), but only
# this many levels down: `a=a=a=...` must neither recurse without end nor cost n^2.
_MAX_NESTED = 4


def _scan(text: str, depth: int = 0) -> str:
    return _pattern().sub(lambda match: _replace(match, depth), text)


def _replace(match: re.Match[str], depth: int) -> str:
    group = match.lastgroup
    if group in ("pem", "jwt", "gwtoken", "vendor"):
        return MASK
    if group == "userinfo":
        return f"{match['userinfo']}{MASK}@"
    if match["kname"] is not None:
        name, sep = match["kname"], match["ksep"]
        quote, close = match["kq"] or "", match["kqe"] or ""
        value = match["kqv"] if quote else match["kv"]
        if is_sensitive_key(name) and _could_be_secret(name, value):
            return f"{name}{sep}{quote}{MASK}{close}"
        inner = _scan(value, depth + 1) if depth < _MAX_NESTED else MASK
        return f"{name}{sep}{quote}{inner}{close}"
    # a Bearer / Basic credential outside a name=value pair
    scheme, credential = match["scheme"], match["cred"]
    if scheme.lower() == "basic" and not _looks_like_basic_credential(credential):
        return match.group(0)
    return f"{scheme}{match['ssep']}{MASK}"


def mask_text(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every secret shape (module docstring) and the given values masked."""
    masked = _scan(text)
    for secret in secrets:
        if secret and len(secret) >= 8 and secret in masked:
            masked = masked.replace(secret, MASK)
    return masked


def mask_sensitive(obj: Any, secrets: Iterable[str] = ()) -> Any:
    """A deep copy of `obj` with secret values masked; `obj` itself is never changed.

    Values under sensitive keys become ``"***MASKED***"`` at any depth (mappings and
    lists of ``[name, value]`` pairs); secrets inside strings and bytes are masked
    wherever they sit (PEM keys, URL credentials, ``Bearer``/``Basic`` values, JWTs,
    ``sk-`` keys, sensitive query parameters, and the values in `secrets`). Nesting
    deeper than 32 levels and cycles are cut. Never raises.
    """
    try:
        known = tuple(s for s in secrets if isinstance(s, str) and s)
    except Exception:
        known = ()
    return _mask(obj, known, 0, set())


def _mask(obj: Any, secrets: tuple[str, ...], depth: int, path: set[int]) -> Any:
    try:
        if isinstance(obj, str):
            return mask_text(obj, secrets)
        if isinstance(obj, (bytes, bytearray)):
            return _mask_bytes(bytes(obj), secrets)
        if obj is None or isinstance(obj, (bool, int, float, complex)):
            return obj
        if not isinstance(obj, (Mapping, list, tuple, set, frozenset)):
            return obj  # other objects are returned as they are (their repr is theirs)
        if depth >= MAX_DEPTH:
            return TOO_DEEP
        if id(obj) in path:
            return CYCLE
        path.add(id(obj))
        try:
            return _mask_container(obj, secrets, depth + 1, path)
        finally:
            path.discard(id(obj))
    except Exception:  # a hostile __iter__, items(), __eq__...: mask rather than raise
        return MASK


def _mask_container(obj: Any, secrets: tuple[str, ...], depth: int, path: set[int]) -> Any:
    if isinstance(obj, Mapping):
        return {
            key: MASK if _sensitive_name(key) else _mask(value, secrets, depth, path)
            for key, value in obj.items()
        }
    items = list(obj)
    if isinstance(obj, (list, tuple)) and items and all(_is_pair(item) for item in items):
        items = [_mask_pair(item, secrets, depth, path) for item in items]
    else:
        items = [_mask(item, secrets, depth, path) for item in items]
    if isinstance(obj, list):
        return items
    if isinstance(obj, tuple):
        fields = getattr(type(obj), "_fields", None)
        if isinstance(fields, tuple) and len(fields) == len(items):
            try:
                return type(obj)(*items)  # a namedtuple keeps its type
            except Exception:
                return tuple(items)
        return tuple(items)
    try:
        return frozenset(items) if isinstance(obj, frozenset) else set(items)
    except TypeError:  # a masked item is no longer hashable
        return items


def _sensitive_name(name: Any) -> bool:
    if isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    return isinstance(name, str) and is_sensitive_key(name)


def _is_pair(item: Any) -> bool:
    return (
        isinstance(item, (list, tuple))
        and len(item) == 2
        and isinstance(item[0], (str, bytes))
        and getattr(type(item), "_fields", None) is None
    )


def _mask_pair(item: Any, secrets: tuple[str, ...], depth: int, path: set[int]) -> Any:
    name, value = item
    masked = MASK if _sensitive_name(name) else _mask(value, secrets, depth, path)
    if isinstance(value, bytes) and masked == MASK:
        masked = MASK.encode()
    return [name, masked] if isinstance(item, list) else (name, masked)


def _mask_bytes(data: bytes, secrets: tuple[str, ...]) -> bytes:
    # surrogateescape keeps bytes that are not UTF-8 exactly as they were
    text = data.decode("utf-8", "surrogateescape")
    masked = mask_text(text, secrets)
    return data if masked == text else masked.encode("utf-8", "surrogateescape")


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


class HiddenText(str):
    """A secret string (a token) whose repr is masked: frames that hold one show no secret
    in ``pytest -l``, ``traceback`` with ``capture_locals`` or an error tracker's locals."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(MASK)


class HiddenBytes(bytes):
    """Bytes holding a secret (a request body with a token) whose repr says only the size."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<{len(self)} bytes, masked>"


def hide(value: Any) -> Any:
    """`value` as a `HiddenText`/`HiddenBytes` when it is a str/bytes; anything else as is."""
    if isinstance(value, (HiddenText, HiddenBytes)):
        return value
    if isinstance(value, str):
        return HiddenText(value)
    if isinstance(value, bytes):
        return HiddenBytes(value)
    return value
