"""RFC 9421 HTTP Message Signatures (sign and verify), RFC 9530 Content-Digest, the nonce store.

No I/O. Both client twins sign with `RequestSigner`; the embedded gateway checks with
`SignatureVerifier`, which remembers nonces in a `NonceStore`. Keys live in `_keys`, the
structured-field grammar in `_sfv`. A verifier failure is a `SignatureVerificationError`
whose reason names the problem, never a key, a signature or a header value.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import heapq
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias
from urllib.parse import urlsplit

from ._constants import HEADER_CORRELATION_ID, SIGNATURE_VALIDITY_S
from ._errors import GatewayConfigError
from ._sfv import (
    BareItem,
    Params,
    SFInnerList,
    SFItem,
    Token,
    is_key,
    parse_dictionary,
    serialize_item,
    serialize_params,
    serialize_string,
)

# `_keys` (and with it cryptography) is imported where a key is first used, not here:
# `import runrgateway` loads this module and must stay cheap (bench_cold_start.py).
if TYPE_CHECKING:
    from ._keys import AgentKey, PublicKey

__all__ = [
    "COVERED_WHEN_SENT",
    "COVERED_WITH_BODY",
    "MAX_NONCE_LENGTH",
    "NonceStore",
    "NonceStoreFull",
    "RequestSigner",
    "SignatureVerificationError",
    "SignatureVerifier",
    "content_digest",
    "serialize_signature_params",
    "signature_base",
]

KeySource: TypeAlias = "PublicKey | Callable[[str], PublicKey | Iterable[PublicKey] | None]"

# Headers that change what the gateway does with a request: each is covered whenever it is
# sent, so no one on the path can strip or alter it. Without the idempotency key covered,
# a proxy could drop it and make a retried send run twice (sdk-contract.md section 6).
# `content-type` is covered only with a body, where it says how to read the body.
COVERED_WHEN_SENT = ("idempotency-key", "traceparent", "tracestate")
COVERED_WITH_BODY = ("content-type",)

_DEFAULT_PORTS = {"http": "80", "https": "443"}
_DIGESTS: dict[str, Callable[[bytes], hashlib._Hash]] = {
    "sha-256": hashlib.sha256,
    "sha-512": hashlib.sha512,
}


# --------------------------------------------------------------------- signature base


def serialize_signature_params(components: Sequence[str], params: Mapping[str, BareItem]) -> str:
    """The `@signature-params` value: `("c1" "c2");created=1;keyid="k"` (RFC 9421 2.3)."""
    inner = " ".join(serialize_string(name) for name in components)
    return f"({inner}){serialize_params(params)}"


def signature_base(components: Sequence[tuple[str, str]], signature_params: str) -> bytes:
    """RFC 9421 section 2.5 signature base: `"name": value` lines and the params line.

    Component names are given bare (``@method``, ``content-digest``); values already resolved.
    """
    lines = [f'"{name}": {value}' for name, value in components]
    lines.append(f'"@signature-params": {signature_params}')
    return "\n".join(lines).encode("ascii")


# ----------------------------------------------------------------------- URL & headers


def content_digest(body: bytes) -> str:
    """RFC 9530 `Content-Digest` value: ``sha-256=:<base64>:``."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii") + ":"


@dataclass(frozen=True)
class _Target:
    scheme: str
    authority: str
    path: str
    query: str | None  # raw query without "?", None when absent or empty


def _target(url: object) -> _Target:
    """The RFC 9421 derived components of a request URL."""
    return _target_of(url if isinstance(url, str) else str(url))


@functools.lru_cache(maxsize=256)
def _target_of(url: str) -> _Target:
    """`_target` for URL text; pure, so remembered (a client signs the same few URLs)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    netloc = parts.netloc.rpartition("@")[2]
    host, port = netloc, ""
    if not netloc.endswith("]"):
        head, sep, tail = netloc.rpartition(":")
        if sep:
            host, port = head, tail
    if not host:
        raise ValueError("URL has no host")
    if port and port.lstrip("0") == _DEFAULT_PORTS.get(scheme):
        port = ""
    authority = f"{host.lower()}:{port}" if port else host.lower()
    return _Target(scheme, authority, parts.path or "/", parts.query or None)


def _lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive lookup of a lower-case `name`."""
    value = headers.get(name)
    if value is not None:
        return value
    for key, candidate in headers.items():
        if key.lower() == name:
            return candidate
    return None


def _clean_value(value: str, what: str) -> str:
    value = value.strip(" \t")
    if "\n" in value or "\r" in value or not value.isascii():
        raise ValueError(f"{what} must be ASCII without line breaks")
    return value


# ----------------------------------------------------------------------------- signing


class RequestSigner:
    """Signs requests per RFC 9421 with an `AgentKey`; fresh `created` and nonce every call."""

    __slots__ = ("_clock", "_key", "_label", "_param_tail", "_validity_s", "keyid")

    def __init__(
        self,
        key: AgentKey,
        keyid: str,
        *,
        validity_s: int = SIGNATURE_VALIDITY_S,
        label: str = "sig1",
        clock: Callable[[], float] = time.time,
    ) -> None:
        from ._keys import AgentKey

        if not isinstance(key, AgentKey):
            raise TypeError("key must be an AgentKey")
        if not keyid:
            raise ValueError("keyid must be a non-empty string")
        if validity_s <= 0:
            raise ValueError("validity_s must be positive")
        if not is_key(label):
            raise ValueError(f"label {label!r} is not a structured field key")
        self._key = key
        self.keyid = keyid
        self._validity_s = int(validity_s)
        self._label = label
        self._clock = clock
        self._param_tail = f";keyid={serialize_string(keyid)};alg={serialize_string(key.alg)}"

    def __repr__(self) -> str:
        return f"RequestSigner(keyid={self.keyid!r}, alg={self._key.alg!r})"

    @property
    def alg(self) -> str:
        return self._key.alg

    def sign(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> dict[str, str]:
        """The headers to add: Content-Digest (with a body), Signature-Input, Signature.

        Covered: `@method`, `@authority`, `@path`, `@query` (when the URL has one),
        `content-digest` and `content-type` (with a body), `x-correlation-id`, and each of
        `COVERED_WHEN_SENT` that `headers` carries.
        """
        correlation_id = _header(headers, HEADER_CORRELATION_ID)
        if correlation_id is None:
            raise ValueError("the request has no X-Correlation-Id header to sign")
        correlation_id = _clean_value(correlation_id, "X-Correlation-Id")
        target = _target(url)
        components = [
            ("@method", method.upper()),
            ("@authority", target.authority),
            ("@path", target.path),
        ]
        if target.query is not None:
            components.append(("@query", "?" + target.query))
        added: dict[str, str] = {}
        if body:
            digest = content_digest(body)
            added["Content-Digest"] = digest
            components.append(("content-digest", digest))
            _append_sent(components, headers, COVERED_WITH_BODY)
        components.append((HEADER_CORRELATION_ID, correlation_id))
        _append_sent(components, headers, COVERED_WHEN_SENT)
        created = int(self._clock())
        names = " ".join(f'"{name}"' for name, _ in components)
        params = (
            f"({names});created={created};expires={created + self._validity_s}"
            f';nonce="{secrets.token_urlsafe(16)}"{self._param_tail}'
        )
        signature = self._key.sign(signature_base(components, params))
        added["Signature-Input"] = f"{self._label}={params}"
        added["Signature"] = f"{self._label}=:{base64.b64encode(signature).decode('ascii')}:"
        return added


def _append_sent(
    components: list[tuple[str, str]], headers: Mapping[str, str], names: Sequence[str]
) -> None:
    """Add each of `names` that `headers` carries to the covered components."""
    for name in names:
        value = _header(headers, name)
        if value is not None:
            components.append((name, _clean_value(value, name)))


# ------------------------------------------------------------------------ verification


class SignatureVerificationError(Exception):
    """A request signature is missing, malformed, stale, replayed or wrong; see `.reason`."""

    def __init__(self, reason: str, *, keyid: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.keyid = keyid


MAX_NONCE_LENGTH = 64
"""Longer nonces are refused (sdk-contract section 6): the store's memory is bounded by count
and length. The SDK's own nonces are 22 characters."""


class NonceStoreFull(Exception):
    """Every slot holds a nonce whose signature is still valid: the request must wait.

    Forgetting a live nonce would let its request be replayed, so a full store refuses
    new requests instead; `retry_after_s` says when the earliest slot frees up.
    """

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"nonce store full; a slot frees in {retry_after_s:.0f} s")
        self.retry_after_s = retry_after_s


class NonceStore:
    """Thread-safe, bounded memory of used (keyid, nonce) pairs.

    Each entry is kept until its signature expires (`expires_at`), never less: a
    replay of a captured request is refused for as long as its signature would verify.
    At most `max_entries` are held; when all are live, `use` raises `NonceStoreFull`
    rather than evicting one (an attacker with a key of its own could otherwise flush a
    victim's nonce and replay the victim's request). Nonces longer than
    `MAX_NONCE_LENGTH` are refused with ValueError.
    """

    def __init__(
        self,
        *,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], float] = {}
        # (drop_at, entry), one per entry: an entry leaves the dict only through the heap
        self._expiry: list[tuple[float, tuple[str, str]]] = []

    def __len__(self) -> int:
        with self._lock:
            self._purge(self._clock())
            return len(self._entries)

    def use(self, keyid: str, nonce: str, expires_at: float) -> bool:
        """Record the nonce until `expires_at`; False when it was already seen and is live.

        A replay is reported (False) even when the store is full; a new nonce in a full
        store raises `NonceStoreFull`.
        """
        if len(nonce) > MAX_NONCE_LENGTH:
            raise ValueError(f"nonce longer than {MAX_NONCE_LENGTH} characters")
        entry = (keyid, nonce)
        with self._lock:
            now = self._clock()
            self._purge(now)
            if entry in self._entries:
                return False
            if len(self._entries) >= self.max_entries:
                raise NonceStoreFull(max(1.0, self._expiry[0][0] - now))
            self._entries[entry] = expires_at
            heapq.heappush(self._expiry, (expires_at, entry))
            return True

    def _purge(self, now: float) -> None:
        expiry = self._expiry
        while expiry and expiry[0][0] <= now:
            _, entry = heapq.heappop(expiry)
            del self._entries[entry]


@dataclass(frozen=True)
class _Parsed:
    label: str
    components: list[str]
    params: Params
    signature: bytes
    params_text: str


def _fail(reason: str, keyid: str | None = None) -> SignatureVerificationError:
    return SignatureVerificationError(reason, keyid=keyid)


def _parse_field(headers: Mapping[str, str], name: str) -> dict[str, SFItem | SFInnerList]:
    raw = headers.get(name.lower())
    if raw is None or not raw.strip():
        raise _fail(f"missing {name}")
    try:
        return parse_dictionary(raw)
    except ValueError:
        raise _fail(f"malformed {name}") from None


def _parse_signature(headers: Mapping[str, str]) -> _Parsed:
    inputs = _parse_field(headers, "Signature-Input")
    signatures = _parse_field(headers, "Signature")
    label = next((name for name in inputs if name in signatures), None)
    if label is None:
        raise _fail("Signature-Input and Signature have no label in common")
    member, sig = inputs[label], signatures[label]
    if not isinstance(member, SFInnerList):
        raise _fail("malformed Signature-Input: member is not an inner list")
    if not isinstance(sig, SFItem) or not isinstance(sig.value, bytes) or not sig.value:
        raise _fail("malformed Signature: member is not a byte sequence")
    components: list[str] = []
    for item in member.items:
        if not isinstance(item.value, str) or isinstance(item.value, Token):
            raise _fail("malformed Signature-Input: component names must be strings")
        if item.params:
            raise _fail(f"unsupported parameters on covered component {item.value!r}")
        if item.value != item.value.lower() or item.value in components:
            raise _fail(f"invalid or repeated covered component {item.value!r}")
        components.append(item.value)
    params_text = "(" + " ".join(serialize_item(i) for i in member.items) + ")"
    try:
        params_text += serialize_params(member.params)
    except ValueError:
        raise _fail("malformed Signature-Input parameters") from None
    return _Parsed(label, components, member.params, sig.value, params_text)


def _str_param(params: Params, name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or isinstance(value, Token):
        raise _fail(f"signature parameter {name!r} must be a string")
    return value


def _int_param(params: Params, name: str) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(f"signature parameter {name!r} must be an integer")
    return value


def _check_digest(headers: Mapping[str, str], body: bytes) -> None:
    raw = headers.get("content-digest")
    if raw is None:
        raise _fail("missing Content-Digest")
    try:
        members = parse_dictionary(raw)
    except ValueError:
        raise _fail("malformed Content-Digest") from None
    checked = False
    for algorithm, member in members.items():
        hasher = _DIGESTS.get(algorithm)
        if hasher is None:
            continue
        if not isinstance(member, SFItem) or not isinstance(member.value, bytes):
            raise _fail("malformed Content-Digest")
        if not hmac.compare_digest(member.value, hasher(body).digest()):
            raise _fail("content-digest mismatch")
        checked = True
    if not checked:
        raise _fail("Content-Digest has no sha-256 or sha-512 digest")


def _component_value(
    name: str, method: str, target: _Target, url: str, headers: Mapping[str, str]
) -> str:
    if name == "@method":
        return method.upper()
    if name == "@authority":
        return target.authority
    if name == "@path":
        return target.path
    if name == "@query":
        return "?" + (target.query or "")
    if name == "@scheme":
        return target.scheme
    if name == "@request-target":
        return target.path + ("?" + target.query if target.query else "")
    if name == "@target-uri":
        return url
    if name.startswith("@"):
        raise _fail(f"unsupported derived component {name!r}")
    value = headers.get(name)
    if value is None:
        raise _fail(f"covered header {name!r} is missing")
    try:
        return _clean_value(value, name)
    except ValueError:
        raise _fail(f"covered header {name!r} has an invalid value") from None


def _candidate_keys(source: KeySource, keyid: str) -> list[PublicKey]:
    from ._keys import PUBLIC_KEY_TYPES

    if isinstance(source, PUBLIC_KEY_TYPES):
        return [source]
    found = source(keyid)
    if found is None:
        return []
    if isinstance(found, PUBLIC_KEY_TYPES):
        return [found]
    return list(found)


class SignatureVerifier:
    """Checks RFC 9421 request signatures as `RequestSigner` makes them (and compatible ones)."""

    def __init__(
        self,
        *,
        max_skew_s: float = 30.0,
        nonce_store: NonceStore | None = None,
        required_components: Sequence[str] = (
            "@method",
            "@authority",
            "@path",
            HEADER_CORRELATION_ID,
        ),
        max_age_s: float = SIGNATURE_VALIDITY_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_skew_s = max_skew_s
        self.max_age_s = max_age_s
        self.nonce_store = nonce_store if nonce_store is not None else NonceStore(clock=clock)
        self.required_components = tuple(required_components)
        self._clock = clock

    def verify(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        public_key: KeySource,
    ) -> str:
        """Verify the request's signature and return its keyid; else SignatureVerificationError.

        A valid request whose nonce the store has no room for raises `NonceStoreFull`
        (the caller answers "busy, retry later"; the nonce is not recorded).
        """
        lowered = _lower_headers(headers)
        parsed = _parse_signature(lowered)
        keyid = _str_param(parsed.params, "keyid")
        if not keyid:
            raise _fail("signature has no keyid")
        nonce = _str_param(parsed.params, "nonce")
        if not nonce:
            raise _fail("signature has no nonce", keyid)
        if len(nonce) > MAX_NONCE_LENGTH:
            raise _fail(f"nonce longer than {MAX_NONCE_LENGTH} characters", keyid)
        alg = _str_param(parsed.params, "alg")
        expires_at = self._check_times(parsed.params, keyid)
        try:
            target = _target(url)
        except ValueError:
            raise _fail("request URL is not absolute", keyid) from None
        self._check_coverage(parsed.components, target, body, lowered, keyid)
        if body or "content-digest" in lowered:
            _check_digest(lowered, body or b"")
        values = [
            (name, _component_value(name, method, target, url, lowered))
            for name in parsed.components
        ]
        try:
            base = signature_base(values, parsed.params_text)
        except UnicodeEncodeError:
            raise _fail("signature base is not ASCII", keyid) from None
        self._check_signature(public_key, keyid, alg, parsed.signature, base)
        if not self.nonce_store.use(keyid, nonce, expires_at):
            raise _fail("nonce reused", keyid)
        return keyid

    def _check_times(self, params: Params, keyid: str) -> float:
        """Validate created/expires; return when the nonce may be forgotten."""
        created = _int_param(params, "created")
        expires = _int_param(params, "expires")
        if created is None:
            raise _fail("signature has no created time", keyid)
        now, skew = self._clock(), self.max_skew_s
        if created > now + skew:
            raise _fail("signature created in the future", keyid)
        if expires is not None and expires < created:
            raise _fail("signature expires before it was created", keyid)
        if expires is not None and expires < now - skew:
            raise _fail("signature expired", keyid)
        if created < now - self.max_age_s - skew:
            raise _fail("signature expired (created too long ago)", keyid)
        limit = created + self.max_age_s
        return min(limit, expires if expires is not None else limit) + skew

    def _check_coverage(
        self,
        components: list[str],
        target: _Target,
        body: bytes | None,
        headers: Mapping[str, str],
        keyid: str,
    ) -> None:
        """Every required component is covered, and so is each sent header that must be."""
        required = list(self.required_components)
        if target.query is not None:
            required.append("@query")
        if body:
            required.append("content-digest")
            required.extend(name for name in COVERED_WITH_BODY if name in headers)
        required.extend(name for name in COVERED_WHEN_SENT if name in headers)
        for name in required:
            if name not in components:
                raise _fail(f"signature does not cover {name}", keyid)

    def _check_signature(
        self, source: KeySource, keyid: str, alg: str | None, signature: bytes, base: bytes
    ) -> None:
        from ._keys import key_alg, verify_raw

        keys = _candidate_keys(source, keyid)
        if not keys:
            raise _fail("unknown keyid", keyid)
        matched = False
        for key in keys:
            try:
                alg_of_key = key_alg(key, "public_key")
            except GatewayConfigError:
                continue
            if alg is not None and alg != alg_of_key:
                continue
            matched = True
            if verify_raw(key, alg_of_key, signature, base):
                return
        if not matched:
            raise _fail("signature alg does not match the key", keyid)
        raise _fail("signature does not verify", keyid)
