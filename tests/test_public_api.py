"""The names the contract promises, and what `import runrgateway` costs."""

import json
import subprocess
import sys

import httpx2

import runrgateway
from runrgateway import extract_correlation_id, generate_correlation_id, generate_idempotency_key

PROMISED = {
    "GatewayClient", "SyncGatewayClient", "GatewayError", "GatewayConfigError",
    "GatewayValidationError", "GatewayAuthError", "GatewayTokenError", "GatewayPolicyError",
    "GatewayRateLimitError", "GatewayUpstreamError", "GatewayNetworkError", "GatewayTimeoutError",
    "TokenOptions", "JobResponse", "ProxyResponse", "generate_idempotency_key",
    "generate_correlation_id", "extract_correlation_id", "mask_sensitive", "__version__",
}  # fmt: skip


def test_promised_names_are_exported() -> None:
    assert set(runrgateway.__all__) >= PROMISED
    for name in runrgateway.__all__:
        assert getattr(runrgateway, name) is not None


def test_error_hierarchy() -> None:
    from runrgateway import (
        GatewayAuthError,
        GatewayConfigError,
        GatewayError,
        GatewayNetworkError,
        GatewayPolicyError,
        GatewayRateLimitError,
        GatewayTimeoutError,
        GatewayTokenError,
        GatewayValidationError,
    )

    assert issubclass(GatewayTokenError, GatewayAuthError)
    assert issubclass(GatewayTimeoutError, GatewayNetworkError)
    assert issubclass(GatewayConfigError, ValueError) and issubclass(
        GatewayValidationError, ValueError
    )
    assert not issubclass(GatewayPolicyError, GatewayAuthError)
    assert not issubclass(GatewayRateLimitError, GatewayAuthError)
    assert all(issubclass(cls, GatewayError) for cls in (GatewayTokenError, GatewayTimeoutError))


def test_ids_are_unique_and_extractable() -> None:
    assert len({generate_correlation_id() for _ in range(1000)}) == 1000
    assert len({generate_idempotency_key() for _ in range(1000)}) == 1000
    assert extract_correlation_id({"X-Correlation-Id": "abc"}) == "abc"
    assert extract_correlation_id(httpx2.Response(200, headers={"x-correlation-id": "r1"})) == "r1"
    assert extract_correlation_id(runrgateway.GatewayError("x", correlation_id="c1")) == "c1"
    assert extract_correlation_id({}) is None


def test_importing_the_sdk_leaves_the_test_gateway_alone() -> None:
    code = "import sys, runrgateway; print('runrgateway.testing' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# What `from runrgateway import GatewayClient` must not load: each costs a program's first
# line time it may never need (bench_cold_start.py counts it; its `_MUST_BE_LAZY` matches).
MUST_STAY_LAZY = (
    "cryptography",  # with the first key: building a client, `AgentKey`, a verifier
    "runrgateway._keys",
    "runrgateway.testing",
    "dataclasses_json",
    "marshmallow",
    "tenacity",
    "opentelemetry",
)


def test_importing_a_client_defers_the_heavy_modules_until_a_client_is_built() -> None:
    code = (
        "import sys, json\n"
        "def loaded():\n"
        f"    return sorted({{m.split('.')[0] if m.split('.')[0] != 'runrgateway' else m\n"
        f"                   for m in sys.modules}} & set({MUST_STAY_LAZY!r}))\n"
        "from runrgateway import GatewayClient, SyncGatewayClient\n"
        "before = loaded()\n"
        "from runrgateway import _masking  # its big pattern compiles on first use too\n"
        "assert _masking._pattern.cache_info().currsize == 0, 'mask pattern compiled'\n"
        "client = SyncGatewayClient('http://127.0.0.1:9', 'agent-1', sys.stdin.read())\n"
        "print(json.dumps([before, loaded()]))\n"
        "client.close()\n"
    )
    pem = runrgateway.AgentKey.generate("ed25519").private_key_pem()
    out = subprocess.run(
        [sys.executable, "-c", code], input=pem, capture_output=True, text=True, check=True
    )
    before, after = json.loads(out.stdout)
    assert before == []
    assert {"cryptography", "runrgateway._keys"} <= set(after)  # the key loads it, and only then


def test_py_typed_ships() -> None:
    from importlib.resources import files

    assert files("runrgateway").joinpath("py.typed").is_file()


def test_errors_show_their_public_path_and_pickle() -> None:
    import pickle

    error = runrgateway.GatewayRateLimitError(
        "Rate limit exceeded", retry_after=52.0, status_code=429, correlation_id="c1"
    )
    assert type(error).__module__ == "runrgateway"
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.retry_after, copy.status_code, copy.correlation_id) == (
        runrgateway.GatewayRateLimitError,
        52.0,
        429,
        "c1",
    )


def test_every_public_name_reports_the_public_module() -> None:
    """Each class and function in `__all__`, the lazily loaded clients and key class
    included, is `runrgateway.<name>`: in a fresh interpreter, whether the public name
    is reached first or its private module was imported before it."""
    code = (
        "import importlib, runrgateway\n"
        "import runrgateway._sync._client  # a private path first: still reported public\n"
        "for name in runrgateway.__all__:\n"
        "    value = getattr(runrgateway, name)\n"
        "    if isinstance(value, type) or callable(value):\n"
        "        print(name, value.__module__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    reported = dict(line.split() for line in out.stdout.splitlines())
    expected = {n for n in runrgateway.__all__ if n != "__version__"}
    assert set(reported) == expected  # every public name is a class or a function
    assert {n: m for n, m in reported.items() if m != "runrgateway"} == {}
    for name in ("GatewayClient", "SyncGatewayClient", "AgentKey"):
        assert getattr(runrgateway, name).__module__ == "runrgateway"


def test_lazy_names_load_once_and_pickle_by_their_public_path() -> None:
    import pickle

    assert runrgateway.AgentKey is runrgateway.AgentKey
    assert "AgentKey" in vars(runrgateway)  # cached: __getattr__ is not asked again
    assert (
        pickle.loads(pickle.dumps(runrgateway.SyncGatewayClient)) is runrgateway.SyncGatewayClient
    )
    assert "GatewayClient" in dir(runrgateway)
