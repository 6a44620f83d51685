"""Agent keys: loading PEM private and public keys, generating new ones, raw sign and verify.

The one home of key handling: the client signs with an `AgentKey`, the CLI's `keygen` and
the embedded gateway generate keys here, and the verifier checks raw signatures with
`verify_raw`. No I/O, and no error or repr ever holds key material: a failure names the
parameter and the problem, never the PEM text.
"""

from __future__ import annotations

from typing import TypeAlias

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
    "PUBLIC_KEY_TYPES",
    "AgentKey",
    "PrivateKey",
    "PublicKey",
    "alg_for_public_key",
    "key_alg",
    "load_public_key",
    "verify_raw",
]

ALG_ED25519 = "ed25519"
ALG_ECDSA_P256 = "ecdsa-p256-sha256"
ALG_ECDSA_P384 = "ecdsa-p384-sha384"
ALG_RSA_PSS = "rsa-pss-sha512"

MIN_RSA_BITS = 2048

PublicKey: TypeAlias = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey
PrivateKey: TypeAlias = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

PUBLIC_KEY_TYPES = (ed25519.Ed25519PublicKey, ec.EllipticCurvePublicKey, rsa.RSAPublicKey)
_EC_ALGS: dict[str, str] = {"secp256r1": ALG_ECDSA_P256, "secp384r1": ALG_ECDSA_P384}
_EC_HASHES: dict[str, hashes.HashAlgorithm] = {
    ALG_ECDSA_P256: hashes.SHA256(),
    ALG_ECDSA_P384: hashes.SHA384(),
}
_EC_WIDTH: dict[str, int] = {ALG_ECDSA_P256: 32, ALG_ECDSA_P384: 48}
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=64)
_SHA512 = hashes.SHA512()


def key_alg(key: PublicKey | PrivateKey, parameter: str) -> str:
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
        alg = key_alg(private_key, parameter)
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
    if not isinstance(loaded, PUBLIC_KEY_TYPES):
        raise _config_error("public_key", f"key type {type(loaded).__name__} is not supported")
    key_alg(loaded, "public_key")
    return loaded


def alg_for_public_key(key: PublicKey) -> str:
    """The RFC 9421 `alg` name for a public key; GatewayConfigError when unsupported."""
    return key_alg(key, "public_key")


def verify_raw(key: PublicKey, alg: str, signature: bytes, data: bytes) -> bool:
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
