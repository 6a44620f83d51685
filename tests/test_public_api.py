"""The names the contract promises, and what `import runrgateway` costs."""

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
