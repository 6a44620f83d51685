"""Secrets never reach a log record, an error message or a repr; settings are checked."""

from __future__ import annotations

import json
import logging

import httpx2
import pytest

from runrgateway import GatewayClient, GatewayConfigError, GatewayError, TokenOptions
from runrgateway._keys import AgentKey
from runrgateway._signing import SignatureVerifier
from tests.helpers import BASE, proxy_answer, token_answer

from .conftest import Router

SECRET_PARAMS = {
    "q": "plumbers",
    "api_key": "sk-live-abcdef0123456789",
    "nested": {"password": "hunter2-hunter2", "list": [{"client_secret": "cs-0123456789"}]},
    "auth": "Bearer eyJhbGciOi.secretbearer.value",
}
SECRET_VALUES = ["sk-live-abcdef0123456789", "hunter2-hunter2", "cs-0123456789", "secretbearer"]


def pem_lines(pem: str) -> list[str]:
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


async def test_a_whole_session_logs_no_secret(
    router: Router, agent_pem: str, debug_logs: pytest.LogCaptureFixture
) -> None:
    proxy = router.post("/api/proxy-request").mock(
        side_effect=[
            httpx2.Response(503),
            proxy_answer(**{"x-token-rotation-recommended": "true"}),
            httpx2.Response(403, json={"error": "Token expired"}),
            proxy_answer(),
            httpx2.Response(
                400, json={"error": "Parameter validation failed", "details": SECRET_PARAMS}
            ),
        ]
    )
    errors: list[str] = []
    async with GatewayClient(BASE, "agent-1", agent_pem, "research") as gw:
        await gw.proxy("serpapi", "search", SECRET_PARAMS)
        await gw.proxy("serpapi", "search", SECRET_PARAMS)
        token = await gw.get_token({"tools": ["serpapi"], "permissions": ["read"]})
        try:
            await gw.proxy("serpapi", "search", SECRET_PARAMS, token)
        except GatewayError as exc:
            errors += [str(exc), repr(exc), repr(exc.details)]
        errors.append(repr(gw))
    tokens = [r.response.json()["agent_token"] for r in router["token"].calls]
    signatures = [call.request.headers["signature"] for call in proxy.calls]
    logged = "\n".join(record.getMessage() for record in debug_logs.records) + "\n".join(errors)
    assert len([r for r in debug_logs.records if r.levelno == logging.DEBUG]) >= 6
    assert "serpapi:search" in logged and "***MASKED***" in logged
    for secret in [*SECRET_VALUES, *tokens, *signatures, *pem_lines(agent_pem)]:
        assert secret not in logged
    for token in tokens:  # not even the signature half of a token
        assert token.split(".")[1] not in logged


async def test_debug_line_per_attempt(
    router: Router, agent_pem: str, debug_logs: pytest.LogCaptureFixture
) -> None:
    router.post("/api/proxy-request").mock(side_effect=[httpx2.Response(503), proxy_answer()])
    async with GatewayClient(BASE, "agent-1", agent_pem) as gw:
        response = await gw.proxy_response("serpapi", "search", {"q": "x"})
    lines = [r.getMessage() for r in debug_logs.records if "/api/proxy-request" in r.getMessage()]
    assert len(lines) == 2
    assert "attempt=1" in lines[0] and "status=503" in lines[0]
    assert "attempt=2" in lines[1] and "status=200" in lines[1]
    assert all(f"correlation_id={response.correlation_id}" in line for line in lines)
    assert all("elapsed_ms=" in line and "call=serpapi:search" in line for line in lines)


async def test_repr_shows_url_and_agent_only(agent_pem: str) -> None:
    async with GatewayClient(BASE, "agent-1", agent_pem) as gw:
        text = repr(gw) + str(gw)
    assert "https://gw.test" in text and "agent-1" in text
    assert not any(line in text for line in pem_lines(agent_pem))


@pytest.mark.parametrize(
    "kwargs, parameter",
    [
        ({"base_url": "ftp://gw"}, "base_url"),
        ({"base_url": ""}, "base_url"),
        ({"base_url": "https://user:pw@gw"}, "base_url"),
        ({"agent_id": ""}, "agent_id"),
        ({"agent_id": None}, "agent_id"),
        ({"agent_id": "agént"}, "agent_id"),
        ({"agent_id": 'a"b'}, "agent_id"),
        ({"base_url": "mock://name/v1"}, "base_url"),
        ({"agent_private_key_pem": "test-key"}, "agent_private_key_pem"),
        ({"timeout_ms": 0}, "timeout_ms"),
        ({"timeout_ms": -5}, "timeout_ms"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retry_after_s": -1}, "max_retry_after_s"),
        ({"key_password": 1234}, "key_password"),
        ({"managed_token_ttl_minutes": 0}, "managed_token_ttl_minutes"),
    ],
)
async def test_bad_settings_name_the_parameter(
    agent_pem: str, kwargs: dict[str, object], parameter: str
) -> None:
    settings: dict[str, object] = {
        "base_url": BASE,
        "agent_id": "agent-1",
        "agent_private_key_pem": agent_pem,
    }
    settings.update(kwargs)
    with pytest.raises(GatewayConfigError) as caught:
        GatewayClient(**settings)  # type: ignore[arg-type]
    assert parameter in str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert not any(line in str(caught.value) for line in pem_lines(agent_pem))


async def test_a_broken_key_is_refused_without_echoing_it() -> None:
    broken = AgentKey.generate("rsa").private_key_pem().replace("A", "B", 40)
    with pytest.raises(GatewayConfigError) as caught:
        GatewayClient(BASE, "agent-1", broken)
    text = f"{caught.value} {caught.value!r} {caught.value.__context__!r}"
    assert "agent_private_key_pem" in text
    assert not any(line in text for line in pem_lines(broken))


@pytest.mark.parametrize("kind", ["ed25519", "ec", "ec-p384", "rsa"])
async def test_every_request_is_signed_verifiably(router: Router, kind: str) -> None:
    key = AgentKey.generate(kind)
    proxy = router.post("/api/proxy-request").mock(return_value=proxy_answer())
    jobs = router.get("/api/jobs/j%2F1").mock(
        return_value=httpx2.Response(200, json={"job_id": "j/1", "status": "done"})
    )
    async with GatewayClient(BASE, "agent-9", key.private_key_pem()) as gw:
        await gw.proxy("serpapi", "search", {"q": "é?&/"})
        await gw.get_job("j/1")
    verifier = SignatureVerifier()
    requests = [
        router["token"].calls.last.request,
        proxy.calls.last.request,
        jobs.calls.last.request,
    ]
    for request in requests:
        keyid = verifier.verify(
            request.method, str(request.url), request.headers, request.content, key.public_key
        )
        assert keyid == "agent-9"
    assert (
        f'alg="{AgentKey.generate(kind).alg}"'
        in proxy.calls.last.request.headers["signature-input"]
    )


async def test_encrypted_key_with_password(router: Router) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw-123"),
    ).decode()
    async with GatewayClient(BASE, "agent-1", pem, key_password="pw-123") as gw:
        await gw.get_token(TokenOptions(tools=["serpapi"], permissions=["read"]))
    assert (
        'alg="ecdsa-p256-sha256"' in router["token"].calls.last.request.headers["signature-input"]
    )
    with pytest.raises(GatewayConfigError, match="key_password"):
        GatewayClient(BASE, "agent-1", pem, key_password="wrong")


async def test_a_gateway_echoing_the_token_does_not_put_it_in_the_error(
    router: Router, agent_pem: str
) -> None:
    def echo(request: httpx2.Request) -> httpx2.Response:
        token = json.loads(request.content)["agent_token"]
        return httpx2.Response(
            400, json={"error": f"bad token {token}", "details": {"echo": token}, "reason": token}
        )

    router.post("/api/proxy-request").mock(side_effect=echo)
    async with GatewayClient(BASE, "agent-1", agent_pem, max_retries=0) as gw:
        with pytest.raises(GatewayError) as caught:
            await gw.proxy("serpapi", "search", {"q": "a"})
    token = router["token"].calls.last.response.json()["agent_token"]
    error = caught.value
    for text in (str(error), repr(error), repr(error.details), repr(error.reason), error.message):
        assert token not in text
    assert "***MASKED***" in str(error)


@pytest.mark.parametrize(
    "value", ["gmail_send:send", ["nocolon"], [":send"], ["gmail_send:"], [3], 5]
)
async def test_read_only_actions_must_be_tool_action_pairs(agent_pem: str, value: object) -> None:
    with pytest.raises(GatewayConfigError, match="read_only_actions"):
        GatewayClient(BASE, "agent-1", agent_pem, read_only_actions=value)  # type: ignore[arg-type]


async def test_default_intent_is_a_setting(agent_pem: str) -> None:
    with pytest.raises(GatewayConfigError, match="default_intent"):
        GatewayClient(BASE, "agent-1", agent_pem, default_intent="")


async def test_a_closed_client_says_so(router: Router, agent_pem: str) -> None:
    client = GatewayClient(BASE, "agent-1", agent_pem)
    async with client:
        await client.get_token({"tools": ["serpapi"], "permissions": ["read"]})
    with pytest.raises(GatewayError, match="is closed") as caught:
        await client.get_token({"tools": ["serpapi"], "permissions": ["read"]})
    assert caught.value.code == "CLIENT_CLOSED"
    with pytest.raises(GatewayError, match="is closed"):
        async with client:
            pass
    assert router["token"].call_count == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://gateway.example.com",
        "http://10.0.0.7:3000",
        "http://[2001:db8::1]:3000",
        "http://localhost.example.com",
        "HTTP://Gateway.Example.com/base",
    ],
)
async def test_plain_http_off_the_machine_is_refused(agent_pem: str, url: str) -> None:
    with pytest.raises(GatewayConfigError) as caught:
        GatewayClient(url, "agent-1", agent_pem)
    assert caught.value.details == {"parameter": "base_url"}
    assert "clear text" in str(caught.value) and "allow_insecure_http=True" in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:3000",
        "http://127.8.9.10",
        "http://localhost:3000",
        "http://LOCALHOST.",
        "http://api.localhost:8080",
        "http://[::1]:3000",
    ],
)
async def test_plain_http_to_loopback_is_allowed(agent_pem: str, url: str) -> None:
    async with GatewayClient(url, "agent-1", agent_pem) as gw:
        assert gw.base_url == url.rstrip("/")


async def test_plain_http_with_the_opt_in_reaches_the_gateway(agent_pem: str) -> None:
    router = Router("http://gateway.internal:3000")
    router.post("/api/generate-token", name="token").mock(side_effect=token_answer)
    proxy = router.post("/api/proxy-request").mock(return_value=proxy_answer())
    async with router.http_client() as http:
        async with GatewayClient(
            "http://gateway.internal:3000",
            "agent-1",
            agent_pem,
            http_client=http,
            allow_insecure_http=True,
        ) as gw:
            await gw.proxy("serpapi", "search", {"q": "a"})
    assert proxy.call_count == 1


@pytest.mark.parametrize(("value", "allowed"), [("1", True), ("true", True), ("0", False)])
async def test_the_opt_in_from_the_environment(agent_pem: str, value: str, allowed: bool) -> None:
    environ = {
        "GATEWAY_URL": "http://gateway.internal:3000",
        "AGENT_ID": "agent-1",
        "AGENT_PRIVATE_KEY": agent_pem,
        "GATEWAY_ALLOW_INSECURE_HTTP": value,
    }
    if allowed:
        assert GatewayClient.from_env(environ=environ).base_url == environ["GATEWAY_URL"]
    else:
        with pytest.raises(GatewayConfigError, match="clear text"):
            GatewayClient.from_env(environ=environ)


@pytest.mark.parametrize(("value", "where"), [("maybe", "GATEWAY_ALLOW_INSECURE_HTTP")])
async def test_a_bad_opt_in_value_is_refused(agent_pem: str, value: str, where: str) -> None:
    environ = {
        "GATEWAY_URL": "http://gateway.internal:3000",
        "AGENT_ID": "agent-1",
        "AGENT_PRIVATE_KEY": agent_pem,
        where: value,
    }
    with pytest.raises(GatewayConfigError) as caught:
        GatewayClient.from_env(environ=environ)
    assert caught.value.details == {"parameter": where}
    with pytest.raises(GatewayConfigError, match="True or False"):
        GatewayClient(BASE, "agent-1", agent_pem, allow_insecure_http="yes")  # type: ignore[arg-type]
