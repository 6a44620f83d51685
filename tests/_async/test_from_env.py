"""`GatewayClient.from_env()`: the environment, overrides, and keys as people store them,
proved over the wire against `GatewayServer` on loopback (it verifies every signature
against the agent's registered public key, so a call that passes used the key we meant)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from runrgateway import GatewayAuthError, GatewayClient, GatewayConfigError
from runrgateway._keys import AgentKey
from runrgateway.testing import GatewayServer


@pytest.fixture(scope="module")
def server() -> Iterator[GatewayServer]:
    with GatewayServer(allow_builtin_tools_by_default=True) as served:
        served.gateway.set_rate_limit(None)
        yield served


def _registered(server: GatewayServer, key: AgentKey) -> dict[str, str]:
    """A real-gateway environment: an agent registered with `key`'s public key."""
    agent = server.gateway.create_agent("env-agent", public_key_pem=key.public_key_pem())
    return {"GATEWAY_URL": server.url, "AGENT_ID": agent.agent_id}


async def _search(gw: GatewayClient) -> Any:
    async with gw:
        return await gw.proxy("serpapi", "search", {"q": "from the environment"})


async def test_from_env_reads_every_variable(server: GatewayServer, agent_key: AgentKey) -> None:
    environ = {
        **_registered(server, agent_key),
        "AGENT_PRIVATE_KEY": agent_key.private_key_pem(),
        "AGENT_INTENT": "lead_discovery",
    }
    gw = GatewayClient.from_env(environ=environ)
    assert (gw.base_url, gw.agent_id, gw.intent) == (
        server.url,
        environ["AGENT_ID"],
        "lead_discovery",
    )
    await _search(gw)
    sent = server.gateway.requests[-1]
    assert sent.route == "proxy-request" and sent.status == 200
    assert sent.json["params"]["intent"] == "lead_discovery"


async def test_keyword_arguments_win_over_the_environment(
    server: GatewayServer, agent_key: AgentKey
) -> None:
    environ = {
        "GATEWAY_URL": "https://elsewhere.example",
        "AGENT_ID": "someone-else",
        "AGENT_PRIVATE_KEY": AgentKey.generate("ed25519").private_key_pem(),
        "AGENT_INTENT": "from-env",
    }
    agent = server.gateway.create_agent("mine", public_key_pem=agent_key.public_key_pem())
    gw = GatewayClient.from_env(
        environ=environ,
        base_url=server.url,
        agent_id=agent.agent_id,
        agent_private_key_pem=agent_key.private_key_pem(),
        default_intent=None,
        max_retries=0,
    )
    assert gw.intent is None
    await _search(gw)  # signed with the override key: the gateway accepted it


async def test_a_key_with_literal_backslash_n_is_accepted(
    server: GatewayServer, agent_key: AgentKey
) -> None:
    one_line = agent_key.private_key_pem().strip().replace("\n", "\\n")
    assert "\n" not in one_line
    environ = {**_registered(server, agent_key), "AGENT_PRIVATE_KEY": one_line}
    await _search(GatewayClient.from_env(environ=environ))
    # and the constructor takes it as well
    await _search(GatewayClient(environ["GATEWAY_URL"], environ["AGENT_ID"], one_line.encode()))


async def test_the_key_from_a_file_with_a_password(server: GatewayServer, tmp_path: Path) -> None:
    key = AgentKey.generate("ec")
    encrypted = key._key.private_bytes(  # what `openssl pkcs8 -topk8 -v2 aes256` writes
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"s3cret"),
    )
    path = tmp_path / "agent.pem"
    path.write_bytes(encrypted)
    environ = {
        **_registered(server, key),
        "AGENT_PRIVATE_KEY_FILE": str(path),
        "AGENT_KEY_PASSWORD": "s3cret",
    }
    await _search(GatewayClient.from_env(environ=environ))
    with pytest.raises(GatewayConfigError, match="key_password") as wrong:
        GatewayClient.from_env(environ={**environ, "AGENT_KEY_PASSWORD": "nope"})
    assert "s3cret" not in str(wrong.value) and "nope" not in str(wrong.value)


async def test_another_agents_key_is_refused_by_the_gateway(
    server: GatewayServer, agent_key: AgentKey
) -> None:
    """The counter-test: the wire check above can fail."""
    environ = {
        **_registered(server, agent_key),
        "AGENT_PRIVATE_KEY": AgentKey.generate("ed25519").private_key_pem(),
    }
    with pytest.raises(GatewayAuthError):
        await _search(GatewayClient.from_env(environ=environ, max_retries=0))


async def test_default_base_url_runs_on_the_embedded_gateway_with_nothing_set() -> None:
    gw = GatewayClient.from_env(environ={}, default_base_url="mock://from-env-default")
    assert gw.base_url == "mock://from-env-default" and gw.agent_id == "mock-agent"
    results = await _search(gw)
    assert results


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "GATEWAY_URL is not set"),
        ({"GATEWAY_URL": "https://gw.example"}, "AGENT_ID is not set and AGENT_PRIVATE_KEY"),
        (
            {"GATEWAY_URL": "https://gw.example", "AGENT_PRIVATE_KEY": "x"},
            "^GATEWAY_URL is https://gw.example but AGENT_ID is not set$",
        ),
        (
            {"GATEWAY_URL": "https://gw.example", "AGENT_ID": "a"},
            "^GATEWAY_URL is https://gw.example but AGENT_PRIVATE_KEY \\(PEM text\\) or "
            "AGENT_PRIVATE_KEY_FILE \\(its path\\) is not set$",
        ),
        (
            {"GATEWAY_URL": "https://gw.example", "AGENT_ID": "a", "AGENT_PRIVATE_KEY": "~/a.pem"},
            "AGENT_PRIVATE_KEY holds a file path, not PEM text: set AGENT_PRIVATE_KEY_FILE",
        ),
        (
            {"AGENT_PRIVATE_KEY": "-----BEGIN", "AGENT_PRIVATE_KEY_FILE": "/k.pem"},
            "not both",
        ),
        (
            {
                "GATEWAY_URL": "https://gw.example",
                "AGENT_ID": "a",
                "AGENT_PRIVATE_KEY_FILE": "/nope/k.pem",
            },
            "AGENT_PRIVATE_KEY_FILE: cannot read /nope/k.pem: No such file",
        ),
        (
            {
                "GATEWAY_URL": "https://gw.example",
                "AGENT_ID": "a",
                "AGENT_PRIVATE_KEY_FILE": "/dev/null",
            },
            "^AGENT_PRIVATE_KEY_FILE: /dev/null is empty$",
        ),
    ],
)
async def test_what_is_missing_is_named_exactly(environ: dict[str, str], message: str) -> None:
    with pytest.raises(GatewayConfigError, match=message):
        GatewayClient.from_env(environ=environ)


async def test_with_a_fallback_url_a_half_set_environment_is_an_error() -> None:
    """AGENT_ID without GATEWAY_URL is a mistake: never fall back to a mock silently."""
    with pytest.raises(GatewayConfigError, match="GATEWAY_URL is not set but AGENT_ID is"):
        GatewayClient.from_env(environ={"AGENT_ID": "a"}, default_base_url="mock://x")


async def test_a_path_passed_to_the_constructor_says_to_use_the_file_variable() -> None:
    with pytest.raises(GatewayConfigError, match=r"looks like a file path.*AGENT_PRIVATE_KEY_FILE"):
        GatewayClient("https://gw.example", "a", "/etc/keys/agent.pem")
