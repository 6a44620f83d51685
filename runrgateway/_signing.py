"""Agent keys, RFC 9421 HTTP Message Signatures (sign and verify) and RFC 9530 Content-Digest.

No I/O. Both client twins sign with `RequestSigner`; the embedded gateway checks with
`SignatureVerifier`. Only `cryptography` and the standard library are used at run time.
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
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from ._errors import GatewayConfigError

__all__ = [
    "ALG_ECDSA_P256",
    "ALG_ECDSA_P384",
    "ALG_ED25519",
    "ALG_RSA_PSS",
    "AgentKey",
    "NonceStore",
    "PublicKey",
    "RequestSigner",
    "SignatureVerificationError",
    "SignatureVerifier",
    "alg_for_public_key",
    "content_digest",
    "load_public_key",
    "serialize_signature_params",
    "signature_base",
]

ALG_ED25519 = "ed25519"
ALG_ECDSA_P256 = "ecdsa-p256-sha256"
ALG_ECDSA_P384 = "ecdsa-p384-sha384"
ALG_RSA_PSS = "rsa-pss-sha512"

MIN_RSA_BITS = 2048
DEFAULT_VALIDITY_S = 300

PublicKey: TypeAlias = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey
PrivateKey: TypeAlias = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
KeySource: TypeAlias = PublicKey | Callable[[str], PublicKey | Iterable[PublicKey] | None]

_PUBLIC_KEY_TYPES = (ed25519.Ed25519PublicKey, ec.EllipticCurvePublicKey, rsa.RSAPublicKey)
_EC_ALGS: dict[str, str] = {"secp256r1": ALG_ECDSA_P256, "secp384r1": ALG_ECDSA_P384}
_EC_HASHES: dict[str, hashes.HashAlgorithm] = {
    ALG_ECDSA_P256: hashes.SHA256(),
    ALG_ECDSA_P384: hashes.SHA384(),
}
_EC_WIDTH: dict[str, int] = {ALG_ECDSA_P256: 32, ALG_ECDSA_P384: 48}
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=64)
_SHA512 = hashes.SHA512()
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_DIGESTS: dict[str, Callable[[bytes], hashlib._Hash]] = {
    "sha-256": hashlib.sha256,
    "sha-512": hashlib.sha512,
}


# --------------------------------------------------------------------------- key types


def _key_alg(key: PublicKey | PrivateKey, parameter: str) -> str:
    """The RFC 9421 alg for a key (public or private), or GatewayConfigError when unsupported."""
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return ALG_ED25519
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        alg = _EC_ALGS.get(key.curve.name)
        if alg is None:
            raise _config_error(
                parameter, f"EC curve {key.curve.name} is not supported (use P-256 or P-384)"
            )
        return alg
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        if key.key_size < MIN_RSA_BITS:
            raise _config_error(
                parameter,
                f"RSA key is {key.key_size} bits; at least {MIN_RSA_BITS} bits are required",
            )
        return ALG_RSA_PSS
    raise _config_error(
        parameter,
        f"key type {type(key).__name__} is not supported (use Ed25519, EC P-256/P-384 or RSA)",
    )


def _config_error(parameter: str, problem: str) -> GatewayConfigError:
    return GatewayConfigError(f"{parameter}: {problem}", details={"parameter": parameter})


def _pem_bytes(pem: object, parameter: str) -> bytes:
    if isinstance(pem, str):
        if not pem.isascii():
            raise _config_error(parameter, "PEM text must be ASCII")
        return pem.encode("ascii")
    if isinstance(pem, (bytes, bytearray, memoryview)):
        return bytes(pem)
    raise _config_error(parameter, f"expected a PEM str or bytes, got {type(pem).__name__}")


def _not_private_problem(data: bytes) -> str | None:
    """Why PEM data without any private key block is not usable, or None if it has one."""
    if b"-----BEGIN" not in data:
        return "not a PEM private key (no PEM header line)"
    if b"PRIVATE KEY-----" in data:
        return None
    if b"CERTIFICATE-----" in data:
        return "holds a certificate, not a private key"
    if b"PUBLIC KEY-----" in data:
        return "holds a public key, not a private key"
    return "holds no PEM private key block"


def _load_private(data: bytes, password: bytes | None, parameter: str) -> PrivateKey:
    """Parse PEM private key bytes; every failure becomes a GatewayConfigError with no key text."""
    problem = _not_private_problem(data)
    if problem is not None:
        raise _config_error(parameter, problem)
    encrypted = b"ENCRYPTED" in data
    if encrypted and password is None:
        raise _config_error("key_password", f"required: {parameter} is encrypted")
    failure: tuple[str, str] | None = None
    loaded: object = None
    try:
        loaded = serialization.load_pem_private_key(data, password if encrypted else None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # A wrong password usually fails the padding check, but now and then decrypts
        # to bytes that do not parse: for an encrypted key, both mean the password.
        failure = (
            ("key_password", f"does not decrypt {parameter} (wrong password, or a corrupt key?)")
            if encrypted
            else (parameter, "could not be parsed as a PEM private key")
        )
    # Raised outside the except block so neither __cause__ nor __context__ is set.
    if failure is not None:
        raise _config_error(*failure) from None
    if not isinstance(
        loaded, (ed25519.Ed25519PrivateKey, ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)
    ):
        raise _config_error(
            parameter,
            f"key type {type(loaded).__name__} is not supported"
            " (use Ed25519, EC P-256/P-384 or RSA >= 2048 bits)",
        )
    return loaded


def _password_bytes(password: object) -> bytes | None:
    if password is None or isinstance(password, bytes):
        return password
    if isinstance(password, str):
        return password.encode("utf-8")
    raise _config_error("key_password", f"expected str or bytes, got {type(password).__name__}")


class AgentKey:
    """A loaded agent private key (immutable). `repr()` shows only the algorithm."""

    __slots__ = ("_key", "alg")
    _key: PrivateKey
    alg: str

    def __init__(self, private_key: PrivateKey, *, parameter: str = "private_key") -> None:
        alg = _key_alg(private_key, parameter)
        if not isinstance(
            private_key, (ed25519.Ed25519PrivateKey, ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)
        ):
            raise _config_error(parameter, "expected a private key")
        object.__setattr__(self, "_key", private_key)
        object.__setattr__(self, "alg", alg)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("AgentKey is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("AgentKey is immutable")

    def __repr__(self) -> str:
        return f"AgentKey(alg={self.alg!r})"

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("AgentKey cannot be pickled")

    def __copy__(self) -> AgentKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> AgentKey:
        return self

    @classmethod
    def from_pem(
        cls,
        pem: str | bytes,
        password: str | bytes | None = None,
        *,
        parameter: str = "agent_private_key_pem",
    ) -> AgentKey:
        """Load a PEM private key: RSA >= 2048 (PKCS#8/PKCS#1), EC P-256/P-384 (PKCS#8/SEC1),
        Ed25519 (PKCS#8), optionally encrypted. Raises GatewayConfigError naming `parameter`
        (or "key_password"); the message never holds key material."""
        data = _pem_bytes(pem, parameter)
        key = _load_private(data, _password_bytes(password), parameter)
        return cls(key, parameter=parameter)

    @classmethod
    def generate(cls, kind: str = "ed25519") -> AgentKey:
        """A new key: "ed25519", "rsa" (2048 bits), "ec" (P-256) or "ec-p384"."""
        kind_l = kind.lower()
        key: PrivateKey
        if kind_l in ("ed25519", ALG_ED25519):
            key = ed25519.Ed25519PrivateKey.generate()
        elif kind_l in ("rsa", "rsa-2048", ALG_RSA_PSS):
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif kind_l in ("ec", "ec-p256", "p256", ALG_ECDSA_P256):
            key = ec.generate_private_key(ec.SECP256R1())
        elif kind_l in ("ec-p384", "p384", ALG_ECDSA_P384):
            key = ec.generate_private_key(ec.SECP384R1())
        else:
            raise _config_error("kind", f"unknown key kind {kind!r} (ed25519, rsa, ec, ec-p384)")
        return cls(key)

    @property
    def public_key(self) -> PublicKey:
        """The matching cryptography public key object."""
        return self._key.public_key()

    def public_key_pem(self) -> str:
        """SubjectPublicKeyInfo PEM of the public half."""
        return (
            self._key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode("ascii")
        )

    def private_key_pem(self) -> str:
        """Unencrypted PKCS#8 PEM (for `keygen`); handle with care."""
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")

    def sign(self, data: bytes) -> bytes:
        """Raw signature per RFC 9421 section 3.3 (ECDSA as fixed-width r||s, RSA-PSS SHA-512)."""
        key = self._key
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(data)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(key.sign(data, ec.ECDSA(_EC_HASHES[self.alg])))
            width = _EC_WIDTH[self.alg]
            return r.to_bytes(width, "big") + s.to_bytes(width, "big")
        return key.sign(data, _PSS, _SHA512)


def load_public_key(pem: str | bytes) -> PublicKey:
    """Load a PEM public key (SubjectPublicKeyInfo or PKCS#1 RSA) of a supported type."""
    data = _pem_bytes(pem, "public_key")
    loaded: object = None
    failed = False
    try:
        loaded = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        failed = True
    if failed:
        raise _config_error("public_key", "could not be parsed as a PEM public key") from None
    if not isinstance(loaded, _PUBLIC_KEY_TYPES):
        raise _config_error("public_key", f"key type {type(loaded).__name__} is not supported")
    _key_alg(loaded, "public_key")
    return loaded


def alg_for_public_key(key: PublicKey) -> str:
    """The RFC 9421 `alg` name for a public key; GatewayConfigError when unsupported."""
    return _key_alg(key, "public_key")


def _verify_raw(key: PublicKey, alg: str, signature: bytes, data: bytes) -> bool:
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            width = _EC_WIDTH[alg]
            if len(signature) != 2 * width:
                return False
            r = int.from_bytes(signature[:width], "big")
            s = int.from_bytes(signature[width:], "big")
            key.verify(encode_dss_signature(r, s), data, ec.ECDSA(_EC_HASHES[alg]))
        else:
            key.verify(signature, data, _PSS, _SHA512)
    except (InvalidSignature, ValueError):
        return False
    return True


# --------------------------------------------------------------- RFC 8941 structured fields


class Token(str):
    """An RFC 8941 Token (serialized bare, unlike a String)."""

    __slots__ = ()


BareItem: TypeAlias = int | float | str | bytes | bool
Params: TypeAlias = dict[str, BareItem]


@dataclass
class SFItem:
    value: BareItem
    params: Params = field(default_factory=dict)


@dataclass
class SFInnerList:
    items: list[SFItem]
    params: Params = field(default_factory=dict)


_LCALPHA = "abcdefghijklmnopqrstuvwxyz"
_DIGITS = "0123456789"
_KEY_CHARS = frozenset(_LCALPHA + _DIGITS + "_-.*")
_TCHARS = frozenset("!#$%&'*+-.^_`|~" + _DIGITS + _LCALPHA + _LCALPHA.upper() + ":/")
_B64_CHARS = frozenset(_LCALPHA + _LCALPHA.upper() + _DIGITS + "+/=")


class _SFParser:
    """A small RFC 8941 parser for the Dictionary shapes RFC 9421 and RFC 9530 use."""

    def __init__(self, text: str) -> None:
        if not text.isascii():
            raise ValueError("non-ASCII structured field")
        self.s = text
        self.i = 0

    def _peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def _skip(self, chars: str) -> None:
        while self.i < len(self.s) and self.s[self.i] in chars:
            self.i += 1

    def dictionary(self) -> dict[str, SFItem | SFInnerList]:
        result: dict[str, SFItem | SFInnerList] = {}
        self._skip(" ")
        while self.i < len(self.s):
            key = self._key()
            if key in result:
                raise ValueError(f"duplicate dictionary key {key!r}")
            member: SFItem | SFInnerList
            if self._peek() == "=":
                self.i += 1
                member = self._item_or_inner_list()
            else:
                member = SFItem(True, self._params())
            result[key] = member
            self._skip(" \t")
            if self.i >= len(self.s):
                return result
            if self._peek() != ",":
                raise ValueError("expected ',' between dictionary members")
            self.i += 1
            self._skip(" \t")
            if self.i >= len(self.s):
                raise ValueError("trailing comma")
        return result

    def _item_or_inner_list(self) -> SFItem | SFInnerList:
        if self._peek() == "(":
            return self._inner_list()
        return self._item()

    def _inner_list(self) -> SFInnerList:
        self.i += 1  # "("
        items: list[SFItem] = []
        while self.i < len(self.s):
            self._skip(" ")
            if self._peek() == ")":
                self.i += 1
                return SFInnerList(items, self._params())
            items.append(self._item())
            if self._peek() not in (" ", ")"):
                raise ValueError("expected ' ' or ')' in inner list")
        raise ValueError("unterminated inner list")

    def _item(self) -> SFItem:
        value = self._bare_item()
        return SFItem(value, self._params())

    def _params(self) -> Params:
        params: Params = {}
        while self._peek() == ";":
            self.i += 1
            self._skip(" ")
            key = self._key()
            value: BareItem = True
            if self._peek() == "=":
                self.i += 1
                value = self._bare_item()
            params[key] = value
        return params

    def _key(self) -> str:
        start = self.i
        first = self._peek()
        if not first or (first not in _LCALPHA and first != "*"):
            raise ValueError("invalid key")
        self.i += 1
        while self.i < len(self.s) and self.s[self.i] in _KEY_CHARS:
            self.i += 1
        return self.s[start : self.i]

    def _bare_item(self) -> BareItem:
        c = self._peek()
        if c == "-" or (c and c in _DIGITS):
            return self._number()
        if c == '"':
            return self._string()
        if c == ":":
            return self._bytes()
        if c == "?":
            return self._boolean()
        if c and (c.isalpha() or c == "*"):
            return self._token()
        raise ValueError("invalid bare item")

    def _number(self) -> int | float:
        start = self.i
        if self._peek() == "-":
            self.i += 1
        self._skip(_DIGITS + ".")
        text = self.s[start : self.i]
        digits = text.lstrip("-")
        if not digits or not digits[0].isdigit():
            raise ValueError("invalid number")
        if "." not in digits:
            if len(digits) > 15:
                raise ValueError("integer too long")
            return int(text)
        whole, _, frac = digits.partition(".")
        if "." in frac or len(whole) > 12 or not 1 <= len(frac) <= 3:
            raise ValueError("invalid decimal")
        return float(text)

    def _string(self) -> str:
        self.i += 1
        out: list[str] = []
        while self.i < len(self.s):
            c = self.s[self.i]
            self.i += 1
            if c == "\\":
                nxt = self._peek()
                if nxt not in ('"', "\\") or not nxt:
                    raise ValueError("invalid escape in string")
                out.append(nxt)
                self.i += 1
            elif c == '"':
                return "".join(out)
            elif not " " <= c <= "~":
                raise ValueError("invalid character in string")
            else:
                out.append(c)
        raise ValueError("unterminated string")

    def _token(self) -> Token:
        start = self.i
        self.i += 1
        while self.i < len(self.s) and self.s[self.i] in _TCHARS:
            self.i += 1
        return Token(self.s[start : self.i])

    def _bytes(self) -> bytes:
        end = self.s.find(":", self.i + 1)
        if end < 0:
            raise ValueError("unterminated byte sequence")
        text = self.s[self.i + 1 : end]
        if not set(text) <= _B64_CHARS:
            raise ValueError("invalid byte sequence")
        self.i = end + 1
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)

    def _boolean(self) -> bool:
        value = self.s[self.i + 1 : self.i + 2]
        if value not in ("0", "1"):
            raise ValueError("invalid boolean")
        self.i += 2
        return value == "1"


def parse_dictionary(text: str) -> dict[str, SFItem | SFInnerList]:
    """Parse an RFC 8941 Dictionary field value; ValueError when malformed."""
    return _SFParser(text.strip(" \t")).dictionary()


def _ser_string(value: str) -> str:
    if not all(" " <= c <= "~" for c in value):
        raise ValueError("string holds characters a structured field string cannot carry")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ser_bare(value: BareItem) -> str:
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = f"{round(value, 3):.3f}".rstrip("0")
        return text + "0" if text.endswith(".") else text
    if isinstance(value, bytes):
        return ":" + base64.b64encode(value).decode("ascii") + ":"
    if isinstance(value, Token):
        return str(value)
    return _ser_string(value)


def _ser_params(params: Mapping[str, BareItem]) -> str:
    return "".join(
        f";{key}" if value is True else f";{key}={_ser_bare(value)}"
        for key, value in params.items()
    )


def _ser_item(item: SFItem) -> str:
    return _ser_bare(item.value) + _ser_params(item.params)


def serialize_signature_params(components: Sequence[str], params: Mapping[str, BareItem]) -> str:
    """The `@signature-params` value: `("c1" "c2");created=1;keyid="k"` (RFC 9421 2.3)."""
    inner = " ".join(_ser_string(name) for name in components)
    return f"({inner}){_ser_params(params)}"


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
        validity_s: int = DEFAULT_VALIDITY_S,
        label: str = "sig1",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(key, AgentKey):
            raise TypeError("key must be an AgentKey")
        if not keyid:
            raise ValueError("keyid must be a non-empty string")
        if validity_s <= 0:
            raise ValueError("validity_s must be positive")
        if not label or label[0] not in _LCALPHA + "*" or not set(label) <= _KEY_CHARS:
            raise ValueError(f"label {label!r} is not a structured field key")
        self._key = key
        self.keyid = keyid
        self._validity_s = int(validity_s)
        self._label = label
        self._clock = clock
        self._param_tail = f";keyid={_ser_string(keyid)};alg={_ser_string(key.alg)}"

    def __repr__(self) -> str:
        return f"RequestSigner(keyid={self.keyid!r}, alg={self._key.alg!r})"

    @property
    def alg(self) -> str:
        return self._key.alg

    def sign(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> dict[str, str]:
        """The headers to add: Content-Digest (with a body), Signature-Input, Signature."""
        correlation_id = _header(headers, "x-correlation-id")
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
        components.append(("x-correlation-id", correlation_id))
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


# ------------------------------------------------------------------------ verification


class SignatureVerificationError(Exception):
    """A request signature is missing, malformed, stale, replayed or wrong; see `.reason`."""

    def __init__(self, reason: str, *, keyid: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.keyid = keyid


class NonceStore:
    """Thread-safe, bounded memory of used (keyid, nonce) pairs.

    An entry is kept until its `expires_at` (capped at `ttl_s` after it was stored); when
    more than `max_entries` are held the oldest stored entry is dropped first.
    """

    def __init__(
        self,
        *,
        max_entries: int = 100_000,
        ttl_s: float = 900.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_entries < 1 or ttl_s <= 0:
            raise ValueError("max_entries and ttl_s must be positive")
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._expiry: list[tuple[float, tuple[str, str]]] = []

    def __len__(self) -> int:
        with self._lock:
            self._purge(self._clock())
            return len(self._entries)

    def use(self, keyid: str, nonce: str, expires_at: float) -> bool:
        """Record the nonce; False when it was already seen and has not expired."""
        entry = (keyid, nonce)
        with self._lock:
            now = self._clock()
            self._purge(now)
            if entry in self._entries:
                return False
            drop_at = min(expires_at, now + self.ttl_s)
            self._entries[entry] = drop_at
            heapq.heappush(self._expiry, (drop_at, entry))
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
            if len(self._expiry) > 2 * self.max_entries:
                self._expiry = [(t, e) for t, e in self._expiry if self._entries.get(e) == t]
                heapq.heapify(self._expiry)
            return True

    def _purge(self, now: float) -> None:
        expiry = self._expiry
        while expiry and expiry[0][0] <= now:
            drop_at, entry = heapq.heappop(expiry)
            if self._entries.get(entry) == drop_at:
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
    params_text = "(" + " ".join(_ser_item(i) for i in member.items) + ")"
    try:
        params_text += _ser_params(member.params)
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
    if isinstance(source, _PUBLIC_KEY_TYPES):
        return [source]
    found = source(keyid)
    if found is None:
        return []
    if isinstance(found, _PUBLIC_KEY_TYPES):
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
            "x-correlation-id",
        ),
        max_age_s: float = DEFAULT_VALIDITY_S,
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
        """Verify the request's signature and return its keyid; else SignatureVerificationError."""
        lowered = _lower_headers(headers)
        parsed = _parse_signature(lowered)
        keyid = _str_param(parsed.params, "keyid")
        if not keyid:
            raise _fail("signature has no keyid")
        nonce = _str_param(parsed.params, "nonce")
        if not nonce:
            raise _fail("signature has no nonce", keyid)
        alg = _str_param(parsed.params, "alg")
        expires_at = self._check_times(parsed.params, keyid)
        try:
            target = _target(url)
        except ValueError:
            raise _fail("request URL is not absolute", keyid) from None
        self._check_coverage(parsed.components, target, body, keyid)
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
        self, components: list[str], target: _Target, body: bytes | None, keyid: str
    ) -> None:
        required = list(self.required_components)
        if target.query is not None:
            required.append("@query")
        if body:
            required.append("content-digest")
        for name in required:
            if name not in components:
                raise _fail(f"signature does not cover {name}", keyid)

    def _check_signature(
        self, source: KeySource, keyid: str, alg: str | None, signature: bytes, base: bytes
    ) -> None:
        keys = _candidate_keys(source, keyid)
        if not keys:
            raise _fail("unknown keyid", keyid)
        matched = False
        for key in keys:
            try:
                key_alg = _key_alg(key, "public_key")
            except GatewayConfigError:
                continue
            if alg is not None and alg != key_alg:
                continue
            matched = True
            if _verify_raw(key, key_alg, signature, base):
                return
        if not matched:
            raise _fail("signature alg does not match the key", keyid)
        raise _fail("signature does not verify", keyid)
