"""Tests for runrgateway._keys, _sfv and _signing: keys, RFC 8941 fields, RFC 9421 sign/verify,
Content-Digest, nonces."""

from __future__ import annotations

import base64
import copy
import datetime
import pickle
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    InvalidSignature,
    MappingKeyResolver,
    algorithms,
)

from runrgateway._errors import GatewayConfigError
from runrgateway._keys import AgentKey, alg_for_public_key, load_public_key
from runrgateway._sfv import parse_dictionary
from runrgateway._signing import (
    MAX_NONCE_LENGTH,
    NonceStore,
    NonceStoreFull,
    RequestSigner,
    SignatureVerificationError,
    SignatureVerifier,
    content_digest,
    serialize_signature_params,
    signature_base,
)

T0 = 1_800_000_000.0
URL = "https://gateway.example.com/api/proxy-request"
BODY = b'{"agent_token":"t","tool":"serpapi","action":"search","params":{"q":"x"}}'
KINDS = ("ed25519", "ec", "ec-p384", "rsa")
ALG_OF_KIND = {
    "ed25519": "ed25519",
    "ec": "ecdsa-p256-sha256",
    "ec-p384": "ecdsa-p384-sha384",
    "rsa": "rsa-pss-sha512",
}
PYAUTH_ALG = {
    "ed25519": algorithms.ED25519,
    "ecdsa-p256-sha256": algorithms.ECDSA_P256_SHA256,
    "ecdsa-p384-sha384": algorithms.ECDSA_P384_SHA384,
    "rsa-pss-sha512": algorithms.RSA_PSS_SHA512,
}
PKCS8 = serialization.PrivateFormat.PKCS8
TRADITIONAL = serialization.PrivateFormat.TraditionalOpenSSL


def _pem(
    key: object, fmt: serialization.PrivateFormat = PKCS8, password: bytes | None = None
) -> str:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, fmt, encryption).decode()  # type: ignore[attr-defined]


def _body_lines(pem: str) -> list[str]:
    return [
        line
        for line in pem.splitlines()
        if line.strip() and not line.startswith("-----") and ":" not in line
    ]


@pytest.fixture(scope="module")
def keys() -> dict[str, AgentKey]:
    return {kind: AgentKey.generate(kind) for kind in KINDS}


@pytest.fixture(scope="module")
def raw() -> dict[str, object]:
    return {
        "rsa2048": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "rsa3072": rsa.generate_private_key(public_exponent=65537, key_size=3072),
        "rsa1024": rsa.generate_private_key(public_exponent=65537, key_size=1024),
        "p256": ec.generate_private_key(ec.SECP256R1()),
        "p384": ec.generate_private_key(ec.SECP384R1()),
        "k256": ec.generate_private_key(ec.SECP256K1()),
        "ed25519": ed25519.Ed25519PrivateKey.generate(),
    }


# ------------------------------------------------------------------ RFC 9421 known answer

RFC_PRIVATE = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n"
    "-----END PRIVATE KEY-----\n"
)
RFC_PUBLIC = (
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=\n"
    "-----END PUBLIC KEY-----\n"
)
RFC_BASE = (
    '"date": Tue, 20 Apr 2021 02:07:55 GMT\n'
    '"@method": POST\n'
    '"@path": /foo\n'
    '"@authority": example.com\n'
    '"content-type": application/json\n'
    '"content-length": 18\n'
    '"@signature-params": ("date" "@method" "@path" "@authority" "content-type" '
    '"content-length");created=1618884473;keyid="test-key-ed25519"'
)
RFC_SIGNATURE = (
    "wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw=="
)
RFC_COMPONENTS = [
    ("date", "Tue, 20 Apr 2021 02:07:55 GMT"),
    ("@method", "POST"),
    ("@path", "/foo"),
    ("@authority", "example.com"),
    ("content-type", "application/json"),
    ("content-length", "18"),
]
RFC_HEADERS = {
    "Host": "example.com",
    "Date": "Tue, 20 Apr 2021 02:07:55 GMT",
    "Content-Type": "application/json",
    "Content-Length": "18",
    "Signature-Input": 'sig-b26=("date" "@method" "@path" "@authority" "content-type" '
    '"content-length");created=1618884473;keyid="test-key-ed25519"',
    "Signature": f"sig-b26=:{RFC_SIGNATURE}:",
}


def test_rfc9421_b26_signature_base_and_signature() -> None:
    key = AgentKey.from_pem(RFC_PRIVATE)
    assert key.alg == "ed25519"
    params = serialize_signature_params(
        [name for name, _ in RFC_COMPONENTS], {"created": 1618884473, "keyid": "test-key-ed25519"}
    )
    base = signature_base(RFC_COMPONENTS, params)
    assert base == RFC_BASE.encode()
    assert base64.b64encode(key.sign(base)).decode() == RFC_SIGNATURE
    assert key.public_key_pem() == RFC_PUBLIC


def test_rfc9421_b26_verifies_with_our_verifier() -> None:
    verifier = SignatureVerifier(
        required_components=("@method", "@authority", "@path"),
        clock=lambda: 1618884473.0,
    )
    with pytest.raises(SignatureVerificationError, match="no nonce"):
        # The RFC example has no nonce; we require one.
        verifier.verify(
            "POST",
            "https://example.com/foo?param=Value&Pet=dog",
            RFC_HEADERS,
            None,
            load_public_key(RFC_PUBLIC),
        )


def test_content_digest_rfc9530_example() -> None:
    assert content_digest(b'{"hello": "world"}') == (
        "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
    )


# ---------------------------------------------------------------------------- key loading


@pytest.mark.parametrize(
    ("name", "fmt", "alg"),
    [
        ("rsa2048", PKCS8, "rsa-pss-sha512"),
        ("rsa2048", TRADITIONAL, "rsa-pss-sha512"),
        ("rsa3072", PKCS8, "rsa-pss-sha512"),
        ("p256", PKCS8, "ecdsa-p256-sha256"),
        ("p256", TRADITIONAL, "ecdsa-p256-sha256"),
        ("p384", PKCS8, "ecdsa-p384-sha384"),
        ("p384", TRADITIONAL, "ecdsa-p384-sha384"),
        ("ed25519", PKCS8, "ed25519"),
    ],
)
def test_from_pem_each_type_and_encoding(
    raw: dict[str, object], name: str, fmt: serialization.PrivateFormat, alg: str
) -> None:
    pem = _pem(raw[name], fmt)
    if fmt is TRADITIONAL:
        assert "RSA PRIVATE KEY" in pem or "EC PRIVATE KEY" in pem
    for source in (pem, pem.encode()):
        key = AgentKey.from_pem(source)
        assert key.alg == alg
        assert alg_for_public_key(load_public_key(key.public_key_pem())) == alg


@pytest.mark.parametrize("password", ["s3cret-pw", b"s3cret-pw"])
@pytest.mark.parametrize("fmt", [PKCS8, TRADITIONAL])
def test_from_pem_encrypted(
    raw: dict[str, object], password: str | bytes, fmt: serialization.PrivateFormat
) -> None:
    pem = _pem(raw["p256"], fmt, password=b"s3cret-pw")
    assert "ENCRYPTED" in pem
    assert AgentKey.from_pem(pem, password).alg == "ecdsa-p256-sha256"


def test_password_for_unencrypted_key_is_accepted(raw: dict[str, object]) -> None:
    assert AgentKey.from_pem(_pem(raw["ed25519"]), "unused").alg == "ed25519"


def test_private_key_pem_round_trip(keys: dict[str, AgentKey]) -> None:
    for kind, key in keys.items():
        pem = key.private_key_pem()
        assert pem.startswith("-----BEGIN PRIVATE KEY-----")
        again = AgentKey.from_pem(pem)
        assert again.alg == ALG_OF_KIND[kind]
        assert again.public_key_pem() == key.public_key_pem()


def _certificate_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "agent.example")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _bad_pems(raw: dict[str, object]) -> dict[str, tuple[str, str | bytes | None, str, str]]:
    """name -> (pem, password, parameter named, words the message has)."""
    public = (
        raw["p256"]  # type: ignore[attr-defined]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    encrypted = _pem(raw["rsa2048"], PKCS8, password=b"right")
    corrupt = (
        "-----BEGIN PRIVATE KEY-----\n"
        "TUlJQ2VBSUJBREFOQmdrcWhraUc5dzBCQVFFRkFBU0NBbUl3Z2dKZUFnRUFBb0dC\n"
        "-----END PRIVATE KEY-----\n"
    )
    return {
        "garbage": ("this is not a key at all", None, "agent_private_key_pem", "not a PEM"),
        "corrupt": (corrupt, None, "agent_private_key_pem", "could not be parsed"),
        "public key": (public, None, "agent_private_key_pem", "public key"),
        "certificate": (_certificate_pem(), None, "agent_private_key_pem", "certificate"),
        "rsa1024": (_pem(raw["rsa1024"]), None, "agent_private_key_pem", "1024 bits"),
        "secp256k1": (_pem(raw["k256"]), None, "agent_private_key_pem", "secp256k1"),
        "ed448": (
            _pem(ed448.Ed448PrivateKey.generate()),
            None,
            "agent_private_key_pem",
            "not supported",
        ),
        "no password": (encrypted, None, "key_password", "encrypted"),
        "wrong password": (encrypted, "wrong", "key_password", "does not decrypt"),
        "wrong bytes password": (encrypted, b"wrong", "key_password", "does not decrypt"),
    }


BAD_NAMES = [
    "garbage",
    "corrupt",
    "public key",
    "certificate",
    "rsa1024",
    "secp256k1",
    "ed448",
    "no password",
    "wrong password",
    "wrong bytes password",
]


@pytest.mark.parametrize("case", BAD_NAMES)
def test_from_pem_rejects_without_leaking(raw: dict[str, object], case: str) -> None:
    pem, password, parameter, words = _bad_pems(raw)[case]
    with pytest.raises(GatewayConfigError) as info:
        AgentKey.from_pem(pem, password)
    error = info.value
    assert str(error).startswith(parameter + ":")
    assert words in str(error)
    assert error.details == {"parameter": parameter}
    assert error.__cause__ is None
    assert error.__context__ is None
    texts = [str(error), repr(error), error.message]
    for line in _body_lines(pem):
        for text in texts:
            assert line not in text
    assert "-----BEGIN" not in str(error)


def test_from_pem_parameter_name_is_configurable() -> None:
    with pytest.raises(GatewayConfigError, match=r"^my_key: "):
        AgentKey.from_pem("junk", parameter="my_key")


def test_from_pem_wrong_types() -> None:
    with pytest.raises(GatewayConfigError, match="agent_private_key_pem"):
        AgentKey.from_pem(12345)  # type: ignore[arg-type]
    with pytest.raises(GatewayConfigError, match="key_password"):
        AgentKey.from_pem(RFC_PRIVATE, 12345)  # type: ignore[arg-type]


def test_load_public_key_rejects_junk(raw: dict[str, object]) -> None:
    for junk in ("junk", RFC_PRIVATE, _certificate_pem()):
        with pytest.raises(GatewayConfigError, match=r"^public_key: ") as info:
            load_public_key(junk)
        assert info.value.__context__ is None
    small = raw["rsa1024"].public_key()  # type: ignore[attr-defined]
    small_pem = small.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(GatewayConfigError, match="1024 bits"):
        load_public_key(small_pem)


def test_generate_unknown_kind() -> None:
    with pytest.raises(GatewayConfigError, match="kind"):
        AgentKey.generate("dsa")


# -------------------------------------------------------------------------------- secrets


def test_agent_key_repr_and_immutability(keys: dict[str, AgentKey]) -> None:
    for kind, key in keys.items():
        assert repr(key) == f"AgentKey(alg={ALG_OF_KIND[kind]!r})"
        assert str(key) == repr(key)
        signer = RequestSigner(key, "agent-7")
        assert repr(signer) == f"RequestSigner(keyid='agent-7', alg={ALG_OF_KIND[kind]!r})"
        for line in _body_lines(key.private_key_pem()):
            assert line not in repr(key) and line not in repr(signer) and line not in str(signer)
        with pytest.raises(AttributeError):
            key.alg = "none"  # type: ignore[misc]
        with pytest.raises(TypeError):
            pickle.dumps(key)
        assert copy.deepcopy(key) is key


# -------------------------------------------------------------------------------- signing


def _signed(
    key: AgentKey,
    *,
    method: str = "POST",
    url: str = URL,
    body: bytes | None = BODY,
    clock: Callable[[], float] = lambda: T0,
    keyid: str = "agent-1",
) -> dict[str, str]:
    headers = {"X-Correlation-Id": "corr-123", "Content-Type": "application/json"}
    headers.update(RequestSigner(key, keyid, clock=clock).sign(method, url, headers, body))
    return headers


def test_sign_headers_shape(keys: dict[str, AgentKey]) -> None:
    headers = _signed(keys["ed25519"], url=URL + "?a=1&b=two")
    assert headers["Content-Digest"] == content_digest(BODY)
    sig_input = headers["Signature-Input"]
    prefix = (
        'sig1=("@method" "@authority" "@path" "@query" "content-digest" "content-type"'
        ' "x-correlation-id");'
        f"created={int(T0)};expires={int(T0) + 300};nonce="
    )
    assert sig_input.startswith(prefix)
    assert sig_input.endswith(';keyid="agent-1";alg="ed25519"')
    parsed = parse_dictionary(sig_input)["sig1"]
    nonce = parsed.params["nonce"]
    assert isinstance(nonce, str) and len(nonce) >= 22 and "=" not in nonce
    assert headers["Signature"].startswith("sig1=:") and headers["Signature"].endswith(":")


def test_sign_without_body_or_query(keys: dict[str, AgentKey]) -> None:
    for body in (None, b""):
        headers = _signed(keys["ed25519"], method="GET", url="http://h:8080", body=body)
        assert "Content-Digest" not in headers
        assert headers["Signature-Input"].startswith(
            'sig1=("@method" "@authority" "@path" "x-correlation-id");'
        )


def test_sign_fresh_created_and_nonce_each_call(keys: dict[str, AgentKey]) -> None:
    now = [T0]
    signer = RequestSigner(keys["ed25519"], "a", validity_s=60, label="x", clock=lambda: now[0])
    headers = {"x-correlation-id": "c"}
    first = signer.sign("POST", URL, headers, BODY)
    now[0] += 5
    second = signer.sign("POST", URL, headers, BODY)
    p1 = parse_dictionary(first["Signature-Input"])["x"].params
    p2 = parse_dictionary(second["Signature-Input"])["x"].params
    assert p1["nonce"] != p2["nonce"]
    assert (p1["created"], p1["expires"]) == (int(T0), int(T0) + 60)
    assert p2["created"] == int(T0) + 5


def test_sign_requires_correlation_id(keys: dict[str, AgentKey]) -> None:
    signer = RequestSigner(keys["ed25519"], "a")
    with pytest.raises(ValueError, match="X-Correlation-Id"):
        signer.sign("POST", URL, {"Content-Type": "application/json"}, BODY)
    with pytest.raises(ValueError):
        signer.sign("POST", URL, {"X-Correlation-Id": "a\r\nb"}, BODY)


def _components(sig_input: str, label: str = "sig1") -> list[str]:
    member = parse_dictionary(sig_input)[label]
    return [str(item.value) for item in member.items]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("url", "authority", "path", "query"),
    [
        ("https://Example.COM:443/a/b", "example.com", "/a/b", None),
        ("http://example.com:80", "example.com", "/", None),
        ("http://example.com:8443/x?y=1", "example.com:8443", "/x", "?y=1"),
        ("https://example.com:80/", "example.com:80", "/", None),
        ("http://[::1]:9000/p?", "[::1]:9000", "/p", None),
        ("http://user:pw@127.0.0.1/p%20q?a=%2F", "127.0.0.1", "/p%20q", "?a=%2F"),
    ],
)
def test_derived_components(
    keys: dict[str, AgentKey], url: str, authority: str, path: str, query: str | None
) -> None:
    key = keys["ed25519"]
    headers = _signed(key, url=url, body=None)
    names = _components(headers["Signature-Input"])
    assert ("@query" in names) == (query is not None)
    values = {
        "@method": "POST",
        "@authority": authority,
        "@path": path,
        "x-correlation-id": "corr-123",
    }
    if query is not None:
        values["@query"] = query
    params = headers["Signature-Input"].split("=", 1)[1]
    base = signature_base([(name, values[name]) for name in names], params)
    signature = base64.b64decode(headers["Signature"].split(":")[1])
    key.public_key.verify(signature, base)  # raises when the base differs


# -------------------------------------------------------------- interop: pyauth verifies us


def _request(
    method: str, url: str, headers: Mapping[str, str], body: bytes | None
) -> httpx2.Request:
    return httpx2.Request(method, url, headers=dict(headers), content=body)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("method", "url", "body"),
    [("POST", URL, BODY), ("GET", URL.replace("proxy-request", "jobs/j%2F1") + "?x=1&y=%20", None)],
)
def test_pyauth_verifies_our_signatures(
    keys: dict[str, AgentKey], kind: str, method: str, url: str, body: bytes | None
) -> None:
    key = keys[kind]
    headers = _signed(
        key, method=method, url=url, body=body, clock=lambda: datetime.datetime.now().timestamp()
    )
    request = _request(method, url, headers, body)
    verifier = HTTPMessageVerifier(
        signature_algorithm=PYAUTH_ALG[key.alg],
        key_resolver=MappingKeyResolver(public_keys={"agent-1": key.public_key}, private_keys={}),
    )
    required = ["@method", "@authority", "@path", "x-correlation-id"]
    if "?" in url:
        required.append("@query")
    results = verifier.verify(request, require_components=required, body=body or b"")
    assert len(results) == 1
    assert results[0].parameters["keyid"] == "agent-1"
    assert results[0].parameters["alg"] == key.alg
    assert results[0].nonce

    # pyauth also catches a tampered body given only the public key.
    if body:
        tampered = _request(method, url, headers, body + b" ")
        with pytest.raises(InvalidSignature):
            verifier.verify(tampered, body=body + b" ")


# -------------------------------------------------------------- interop: we verify pyauth


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("with_query", [False, True])
def test_we_verify_pyauth_signatures(
    keys: dict[str, AgentKey], kind: str, with_query: bool
) -> None:
    key = keys[kind]
    url = URL + ("?page=2&q=a%20b" if with_query else "")
    request = _request(
        "POST",
        url,
        {"X-Correlation-Id": "corr-9", "Content-Digest": content_digest(BODY)},
        BODY,
    )
    covered = ["@method", "@authority", "@path"]
    if with_query:
        covered.append("@query")
    covered += ["content-digest", "x-correlation-id"]
    private = serialization.load_pem_private_key(key.private_key_pem().encode(), None)
    signer = HTTPMessageSigner(
        signature_algorithm=PYAUTH_ALG[key.alg],
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={"agent-9": private}),
    )
    now = datetime.datetime.now()
    signer.sign(
        request,
        key_id="agent-9",
        created=now,
        expires=now + datetime.timedelta(seconds=300),
        nonce=secrets.token_urlsafe(16),
        label="sig1",
        covered_component_ids=covered,
        use_existing_digest=True,
    )
    verifier = SignatureVerifier()
    assert (
        verifier.verify("POST", str(request.url), request.headers, BODY, key.public_key)
        == "agent-9"
    )
    with pytest.raises(SignatureVerificationError, match="nonce reused"):
        verifier.verify("POST", str(request.url), request.headers, BODY, key.public_key)


# ---------------------------------------------------------------------- our verifier: good


def _verifier(now: float = T0, **kwargs: object) -> SignatureVerifier:
    return SignatureVerifier(clock=lambda: now, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", KINDS)
def test_verify_round_trip_each_key_type(keys: dict[str, AgentKey], kind: str) -> None:
    key = keys[kind]
    headers = _signed(key, url=URL + "?z=1")
    lowered = {name.lower(): value for name, value in headers.items()}
    assert _verifier().verify("post", URL + "?z=1", lowered, BODY, key.public_key) == "agent-1"


def test_verify_with_resolver_and_several_keys(keys: dict[str, AgentKey]) -> None:
    key = keys["ec"]
    others = [keys["ed25519"].public_key, AgentKey.generate("ec").public_key]
    seen: list[str] = []

    def resolve(keyid: str) -> list[object]:
        seen.append(keyid)
        return [*others, key.public_key]

    headers = _signed(key, keyid="agent-42")
    assert _verifier().verify("POST", URL, headers, BODY, resolve) == "agent-42"  # type: ignore[arg-type]
    assert seen == ["agent-42"]


def test_verify_accepts_sha512_content_digest(keys: dict[str, AgentKey]) -> None:
    import hashlib

    key = keys["ed25519"]
    digest = "sha-512=:" + base64.b64encode(hashlib.sha512(BODY).digest()).decode() + ":"
    headers = {"X-Correlation-Id": "c", "Content-Digest": digest}
    params = serialize_signature_params(
        ["@method", "@authority", "@path", "content-digest", "x-correlation-id"],
        {"created": int(T0), "nonce": "n1", "keyid": "a", "alg": "ed25519"},
    )
    base = signature_base(
        [
            ("@method", "POST"),
            ("@authority", "gateway.example.com"),
            ("@path", "/api/proxy-request"),
            ("content-digest", digest),
            ("x-correlation-id", "c"),
        ],
        params,
    )
    headers["Signature-Input"] = f"s={params}"
    headers["Signature"] = "s=:" + base64.b64encode(key.sign(base)).decode() + ":"
    assert _verifier().verify("POST", URL, headers, BODY, key.public_key) == "a"


# --------------------------------------------------------------------- our verifier: bad


@dataclass
class Case:
    method: str = "POST"
    url: str = URL
    body: bytes | None = BODY
    headers: dict[str, str | None] = field(default_factory=dict)
    now: float = T0
    reason: str = "signature does not verify"


def _craft(
    key: AgentKey, components: list[tuple[str, str]], params: dict[str, object]
) -> dict[str, str]:
    text = serialize_signature_params([name for name, _ in components], params)  # type: ignore[arg-type]
    signature = key.sign(signature_base(components, text))
    return {
        "Signature-Input": f"sig1={text}",
        "Signature": "sig1=:" + base64.b64encode(signature).decode() + ":",
    }


NEGATIVE = {
    "changed body": Case(body=BODY + b" ", reason="content-digest mismatch"),
    "changed body and digest": Case(body=b"{}", headers={"Content-Digest": content_digest(b"{}")}),
    "changed method": Case(method="PUT"),
    "changed path": Case(url=URL.replace("proxy-request", "generate-token")),
    "changed host": Case(url=URL.replace("gateway.", "evil.")),
    "added query": Case(url=URL + "?x=1", reason="signature does not cover @query"),
    "changed correlation id": Case(headers={"X-Correlation-Id": "other"}),
    "expired": Case(now=T0 + 300 + 31, reason="signature expired"),
    "created in the future": Case(now=T0 - 31, reason="created in the future"),
    "missing Signature": Case(headers={"Signature": None}, reason="missing Signature"),
    "missing Signature-Input": Case(
        headers={"Signature-Input": None}, reason="missing Signature-Input"
    ),
    "missing Content-Digest": Case(
        headers={"Content-Digest": None}, reason="missing Content-Digest"
    ),
    "missing correlation id": Case(
        headers={"X-Correlation-Id": None}, reason="covered header 'x-correlation-id' is missing"
    ),
    "malformed Signature-Input": Case(
        headers={"Signature-Input": 'sig1=("@method"'}, reason="malformed Signature-Input"
    ),
    "malformed Signature": Case(
        headers={"Signature": "sig1=:not base64!:"}, reason="malformed Signature"
    ),
    "label mismatch": Case(headers={"Signature": "other=:AAAA:"}, reason="no label in common"),
    "corrupt signature bytes": Case(headers={"Signature": "sig1=:" + "A" * 88 + ":"}),
}


@pytest.mark.parametrize("kind", ["ed25519", "ec"])
@pytest.mark.parametrize("name", list(NEGATIVE))
def test_verify_rejects(keys: dict[str, AgentKey], kind: str, name: str) -> None:
    case = NEGATIVE[name]
    key = keys[kind]
    headers: dict[str, str] = _signed(key)
    for header, value in case.headers.items():
        if value is None:
            headers.pop(header)
        else:
            headers[header] = value
    with pytest.raises(SignatureVerificationError) as info:
        _verifier(case.now).verify(case.method, case.url, headers, case.body, key.public_key)
    assert case.reason in info.value.reason
    assert str(info.value) == info.value.reason


def test_verify_rejects_replayed_nonce(keys: dict[str, AgentKey]) -> None:
    key = keys["rsa"]
    headers = _signed(key)
    verifier = _verifier()
    verifier.verify("POST", URL, headers, BODY, key.public_key)
    with pytest.raises(SignatureVerificationError, match="nonce reused") as info:
        verifier.verify("POST", URL, headers, BODY, key.public_key)
    assert info.value.keyid == "agent-1"
    # A fresh signature of the same request (a retry) is not a replay.
    verifier.verify("POST", URL, _signed(key), BODY, key.public_key)


def test_failed_verification_does_not_burn_the_nonce(keys: dict[str, AgentKey]) -> None:
    key = keys["ed25519"]
    headers = _signed(key)
    verifier = _verifier()
    with pytest.raises(SignatureVerificationError):
        verifier.verify("POST", URL, headers, BODY, keys["ec"].public_key)
    assert verifier.verify("POST", URL, headers, BODY, key.public_key) == "agent-1"


def test_verify_rejects_wrong_key_and_alg(keys: dict[str, AgentKey]) -> None:
    headers = _signed(keys["ed25519"])
    other = AgentKey.generate("ed25519").public_key
    with pytest.raises(SignatureVerificationError, match="signature does not verify"):
        _verifier().verify("POST", URL, headers, BODY, other)
    with pytest.raises(SignatureVerificationError, match="alg does not match"):
        _verifier().verify("POST", URL, headers, BODY, keys["rsa"].public_key)
    with pytest.raises(SignatureVerificationError, match="unknown keyid"):
        _verifier().verify("POST", URL, headers, BODY, lambda keyid: None)


def test_verify_rejects_stale_created_even_with_far_expires(keys: dict[str, AgentKey]) -> None:
    headers = _signed(keys["ed25519"], clock=lambda: T0)
    signer = RequestSigner(keys["ed25519"], "agent-1", validity_s=86_400, clock=lambda: T0)
    headers.update(signer.sign("POST", URL, headers, BODY))
    with pytest.raises(SignatureVerificationError, match="created too long ago"):
        _verifier(T0 + 400).verify("POST", URL, headers, BODY, keys["ed25519"].public_key)


SIGNED_PARTS = [
    ("@method", "POST"),
    ("@authority", "gateway.example.com"),
    ("@path", "/api/proxy-request"),
    ("x-correlation-id", "c"),
]


@pytest.mark.parametrize(
    ("components", "params", "reason"),
    [
        (SIGNED_PARTS, {"created": int(T0), "keyid": "a"}, "no nonce"),
        (SIGNED_PARTS, {"created": int(T0), "nonce": "n"}, "no keyid"),
        (SIGNED_PARTS, {"nonce": "n", "keyid": "a"}, "no created"),
        (SIGNED_PARTS, {"created": "1", "nonce": "n", "keyid": "a"}, "must be an integer"),
        (
            SIGNED_PARTS,
            {"created": int(T0), "expires": int(T0) - 1, "nonce": "n", "keyid": "a"},
            "expires before",
        ),
        (SIGNED_PARTS[1:], {"created": int(T0), "nonce": "n", "keyid": "a"}, "cover @method"),
        (
            [*SIGNED_PARTS[:3], ("x-correlation-id", "c")],
            {"created": int(T0), "nonce": "n", "keyid": "a", "alg": "rsa-pss-sha512"},
            "alg does not match",
        ),
    ],
)
def test_verify_rejects_crafted(
    keys: dict[str, AgentKey],
    components: list[tuple[str, str]],
    params: dict[str, object],
    reason: str,
) -> None:
    key = keys["ed25519"]
    headers = {"X-Correlation-Id": "c", **_craft(key, components, params)}
    with pytest.raises(SignatureVerificationError, match=reason):
        _verifier().verify("POST", URL, headers, None, key.public_key)


def test_verify_rejects_uncovered_digest(keys: dict[str, AgentKey]) -> None:
    key = keys["ed25519"]
    params = {"created": int(T0), "nonce": "n", "keyid": "a"}
    headers = {
        "X-Correlation-Id": "c",
        "Content-Digest": content_digest(BODY),
        **_craft(key, SIGNED_PARTS, params),
    }
    with pytest.raises(SignatureVerificationError, match="does not cover content-digest"):
        _verifier().verify("POST", URL, headers, BODY, key.public_key)
    # The same headers without a body are fine only when the digest matches the empty body.
    with pytest.raises(SignatureVerificationError, match="content-digest mismatch"):
        _verifier().verify("POST", URL, headers, None, key.public_key)


def test_verify_header_lookup_is_case_insensitive(keys: dict[str, AgentKey]) -> None:
    key = keys["ed25519"]
    headers = {name.upper(): value for name, value in _signed(key).items()}
    assert _verifier().verify("POST", URL, headers, BODY, key.public_key) == "agent-1"
    assert (
        _verifier().verify("POST", URL, httpx2.Headers(headers), BODY, key.public_key) == "agent-1"
    )


# ------------------------------------------------- headers that change what the gateway does

KEYED = {"Idempotency-Key": "send-42", "traceparent": "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"}


def _signed_with(key: AgentKey, extra: dict[str, str], body: bytes | None = BODY) -> dict[str, str]:
    headers = {"X-Correlation-Id": "corr-123", "Content-Type": "application/json", **extra}
    headers.update(RequestSigner(key, "agent-1", clock=lambda: T0).sign("POST", URL, headers, body))
    return headers


def test_sign_covers_each_sent_header_that_changes_the_call(keys: dict[str, AgentKey]) -> None:
    headers = _signed_with(keys["ed25519"], {**KEYED, "tracestate": "vendor=1"})
    assert _components(headers["Signature-Input"]) == [
        "@method",
        "@authority",
        "@path",
        "content-digest",
        "content-type",
        "x-correlation-id",
        "idempotency-key",
        "traceparent",
        "tracestate",
    ]
    assert _verifier().verify("POST", URL, headers, BODY, keys["ed25519"].public_key) == "agent-1"


def test_content_type_is_covered_only_with_a_body(keys: dict[str, AgentKey]) -> None:
    headers = _signed_with(keys["ed25519"], {}, body=None)
    assert "content-type" not in _components(headers["Signature-Input"])
    assert _verifier().verify("POST", URL, headers, None, keys["ed25519"].public_key)


@pytest.mark.parametrize(
    ("name", "tampered"),
    [
        ("Idempotency-Key", "send-43"),
        ("Content-Type", "text/plain"),
        ("traceparent", "00-" + "ef" * 16 + "-" + "cd" * 8 + "-01"),
    ],
)
def test_changing_a_covered_header_breaks_the_signature(
    keys: dict[str, AgentKey], name: str, tampered: str
) -> None:
    headers = _signed_with(keys["ed25519"], KEYED)
    headers[name] = tampered
    with pytest.raises(SignatureVerificationError, match="does not verify"):
        _verifier().verify("POST", URL, headers, BODY, keys["ed25519"].public_key)


@pytest.mark.parametrize("name", ["Idempotency-Key", "Content-Type", "traceparent"])
def test_removing_a_covered_header_is_refused(keys: dict[str, AgentKey], name: str) -> None:
    # Stripping the key is the attack that matters: a retried send would run twice.
    headers = _signed_with(keys["ed25519"], KEYED)
    del headers[name]
    with pytest.raises(SignatureVerificationError, match=r"missing|does not verify"):
        _verifier().verify("POST", URL, headers, BODY, keys["ed25519"].public_key)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Idempotency-Key", "added-later"),
        ("Content-Type", "text/plain"),
        ("traceparent", KEYED["traceparent"]),
        ("tracestate", "vendor=1"),
    ],
)
def test_a_sent_header_the_signature_does_not_cover_is_refused(
    keys: dict[str, AgentKey], name: str, value: str
) -> None:
    # Signed without the header, which is then added on the path.
    key = keys["ed25519"]
    headers = {"X-Correlation-Id": "corr-123"}
    headers.update(RequestSigner(key, "agent-1", clock=lambda: T0).sign("POST", URL, headers, BODY))
    headers[name] = value
    with pytest.raises(SignatureVerificationError, match=f"does not cover {name.lower()}"):
        _verifier().verify("POST", URL, headers, BODY, key.public_key)


# ---------------------------------------------------------------------- structured fields


def test_parse_dictionary_forms() -> None:
    parsed = parse_dictionary('a=("x" "y";k=1);p=?1;q;n=-12;d=1.5;t=tok/en, b=:AQID:, c, e=?0')
    a = parsed["a"]
    assert [item.value for item in a.items] == ["x", "y"]  # type: ignore[union-attr]
    assert a.items[1].params == {"k": 1}  # type: ignore[union-attr]
    assert a.params == {"p": True, "q": True, "n": -12, "d": 1.5, "t": "tok/en"}
    assert parsed["b"].value == b"\x01\x02\x03"  # type: ignore[union-attr]
    assert parsed["c"].value is True  # type: ignore[union-attr]
    assert parsed["e"].value is False  # type: ignore[union-attr]
    assert parse_dictionary('s=("a\\"b\\\\c")')["s"].items[0].value == 'a"b\\c'  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "text",
    ['a=("x"', "a=1,", "A=1", 'a="\\x"', "a=:abc", "a=1 b=2", 'a=("x""y")', "a=1, a=2", "a=?2"],
)
def test_parse_dictionary_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_dictionary(text)


def test_serialize_signature_params_escapes() -> None:
    assert serialize_signature_params(
        ["@method"], {"keyid": 'a"b\\c', "created": 5, "x": True}
    ) == ('("@method");keyid="a\\"b\\\\c";created=5;x')
    with pytest.raises(ValueError):
        serialize_signature_params(["@method"], {"keyid": "line\nbreak"})


# ----------------------------------------------------------------------------- NonceStore


def test_nonce_store_full_refuses_instead_of_evicting() -> None:
    store = NonceStore(max_entries=3, clock=lambda: T0)
    for nonce in ("n1", "n2", "n3"):
        assert store.use("k", nonce, T0 + 100)
    with pytest.raises(NonceStoreFull) as full:
        store.use("k", "n4", T0 + 100)
    assert full.value.retry_after_s == pytest.approx(100)
    assert len(store) == 3
    assert not store.use("k", "n1", T0 + 100)  # still remembered: a replay, even when full


def test_nonce_store_keeps_each_nonce_until_its_signature_expires() -> None:
    now = [T0]
    store = NonceStore(clock=lambda: now[0])
    assert store.use("k", "a", T0 + 10)
    assert store.use("k", "b", T0 + 1000)
    assert store.use("other", "a", T0 + 10)  # nonces are per keyid
    now[0] = T0 + 5
    assert not store.use("k", "a", T0 + 10)
    now[0] = T0 + 11
    assert store.use("k", "a", T0 + 20)
    now[0] = T0 + 999
    assert not store.use("k", "b", T0 + 1000)
    now[0] = T0 + 1000
    assert store.use("k", "b", T0 + 2000)
    now[0] = T0 + 10_000
    assert len(store) == 0


def test_nonce_store_frees_slots_as_signatures_expire() -> None:
    now = [T0]
    store = NonceStore(max_entries=10, clock=lambda: now[0])
    for i in range(10):
        assert store.use("k", str(i), T0 + 1 + i)
    with pytest.raises(NonceStoreFull):
        store.use("k", "new", T0 + 100)
    now[0] = T0 + 2.5  # nonces 0 and 1 expired
    assert store.use("k", "new", T0 + 100) and store.use("k", "new2", T0 + 100)
    assert len(store) == 10 and len(store._expiry) == 10


def test_nonce_store_refuses_long_nonces() -> None:
    store = NonceStore(clock=lambda: T0)
    assert store.use("k", "n" * MAX_NONCE_LENGTH, T0 + 10)
    with pytest.raises(ValueError, match="longer than 64"):
        store.use("k", "n" * (MAX_NONCE_LENGTH + 1), T0 + 10)


def test_verifier_refuses_a_long_nonce_before_checking_the_signature(
    keys: dict[str, AgentKey],
) -> None:
    key = keys["ed25519"]
    headers = _signed(key)
    nonce = parse_dictionary(headers["Signature-Input"])["sig1"].params["nonce"]
    assert isinstance(nonce, str)
    headers["Signature-Input"] = headers["Signature-Input"].replace(nonce, "x" * 65)
    store = NonceStore(clock=lambda: T0)
    with pytest.raises(SignatureVerificationError, match="nonce longer than 64"):
        _verifier(nonce_store=store).verify("POST", URL, headers, BODY, key.public_key)
    assert len(store) == 0


def test_nonce_store_thread_safety() -> None:
    store = NonceStore()
    threads_n = 32
    barrier = threading.Barrier(threads_n)
    results: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        outcome = [store.use("k", "same", 1e12) for _ in range(50)]
        with lock:
            results.extend(outcome)

    threads = [threading.Thread(target=worker) for _ in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 1
    assert len(results) == threads_n * 50


def test_verifier_uses_given_nonce_store(keys: dict[str, AgentKey]) -> None:
    store = NonceStore(clock=lambda: T0)
    key = keys["ed25519"]
    headers = _signed(key)
    _verifier(nonce_store=store).verify("POST", URL, headers, BODY, key.public_key)
    # A second verifier sharing the store (another worker) sees the replay.
    with pytest.raises(SignatureVerificationError, match="nonce reused"):
        _verifier(nonce_store=store).verify("POST", URL, headers, BODY, key.public_key)


def test_a_wrong_password_is_always_blamed_on_key_password() -> None:
    """A wrong password now and then decrypts to bytes that do not parse (about 1 in 256
    with PKCS#8's padding): that is still the password, never 'not a PEM key'."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec as ec_keys

    encryption = serialization.BestAvailableEncryption(b"pw-123")
    for _ in range(1500):
        pem = ec_keys.generate_private_key(ec_keys.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )
        with pytest.raises(GatewayConfigError) as caught:
            AgentKey.from_pem(pem, "wrong")
        assert str(caught.value).startswith("key_password:")
