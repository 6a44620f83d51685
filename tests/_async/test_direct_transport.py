"""The SDK's own pool sends each attempt through its transport directly, over a real
loopback socket: environment proxies, timeouts, connection reuse, bodies closed, only
the headers the gateway reads; and a caller's `http_client` keeps its full path."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import httpx2
import pytest

from runrgateway import (
    GatewayClient,
    GatewayTimeoutError,
    GatewayUpstreamError,
    GatewayValidationError,
)
from runrgateway._keys import AgentKey
from runrgateway.testing import ALLOW_BUILTIN_TOOLS, EmbeddedGateway, GatewayServer

SEARCH = {"q": "direct transport", "query": "direct transport"}
READ = {"tools": ["serpapi"], "permissions": ["read"]}
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(scope="module")
def server() -> Iterator[GatewayServer]:
    gateway = EmbeddedGateway("direct", default_policy=ALLOW_BUILTIN_TOOLS, rate_limit=None)
    with GatewayServer(gateway) as running:
        yield running


@pytest.fixture
def gateway(server: GatewayServer) -> Iterator[EmbeddedGateway]:
    yield server.gateway
    server.gateway.reset()


@pytest.fixture
def agent(gateway: EmbeddedGateway) -> tuple[str, str]:
    key = AgentKey.generate("ed25519")
    created = gateway.create_agent("direct agent", public_key_pem=key.public_key_pem())
    return created.agent_id, key.private_key_pem()


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No proxy variable in the environment, in either case."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


class _Relay:
    """A TCP relay in front of the gateway that counts the connections it accepted."""

    def __init__(self, target: str) -> None:
        url = httpx2.URL(target)
        self._target = (url.host, url.port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.accepted = 0
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            upstream = socket.create_connection(self._target)
            self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()

    def close(self) -> None:
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)


@pytest.fixture
def relay(server: GatewayServer) -> Iterator[_Relay]:
    running = _Relay(server.url)
    yield running
    running.close()


# ------------------------------------------------------------------------ proxies


@pytest.fixture
def proxy_server() -> Iterator[GatewayServer]:
    """Stands for an HTTP proxy: a second gateway that answers what is sent to it."""
    stand_in = EmbeddedGateway(
        "stand-in-proxy", auto_register_agents=True, default_policy=ALLOW_BUILTIN_TOOLS
    )
    with GatewayServer(stand_in) as running:
        yield running


async def test_no_proxy_in_the_environment_means_a_direct_connection(
    server: GatewayServer,
    gateway: EmbeddedGateway,
    agent: tuple[str, str],
    no_proxy_env: pytest.MonkeyPatch,
) -> None:
    async with GatewayClient(server.url, *agent) as client:
        await client.get_token(READ)
    assert gateway.count("generate-token") == 1


async def test_the_environment_proxy_carries_the_calls(
    server: GatewayServer,
    gateway: EmbeddedGateway,
    agent: tuple[str, str],
    proxy_server: GatewayServer,
    no_proxy_env: pytest.MonkeyPatch,
) -> None:
    no_proxy_env.setenv("HTTP_PROXY", proxy_server.url)
    async with GatewayClient(server.url, *agent) as client:
        await client.get_token(READ)
    assert gateway.count("generate-token") == 0
    assert proxy_server.gateway.count("generate-token") == 1
    # An HTTP proxy gets the absolute URL of the gateway as the request target.
    assert proxy_server.gateway.requests[-1].path == "/api/generate-token"


async def test_no_proxy_names_the_gateway_and_the_proxy_is_skipped(
    server: GatewayServer,
    gateway: EmbeddedGateway,
    agent: tuple[str, str],
    proxy_server: GatewayServer,
    no_proxy_env: pytest.MonkeyPatch,
) -> None:
    no_proxy_env.setenv("http_proxy", proxy_server.url)
    no_proxy_env.setenv("NO_PROXY", "example.com, 127.0.0.1")
    async with GatewayClient(server.url, *agent) as client:
        await client.get_token(READ)
    assert gateway.count("generate-token") == 1
    assert proxy_server.gateway.count("generate-token") == 0


# ----------------------------------------------------------------------- timeouts


async def test_a_read_timeout_is_a_timeout_error(
    server: GatewayServer, gateway: EmbeddedGateway, agent: tuple[str, str]
) -> None:
    gateway.delay_next(1, 2.0, route="proxy-request")
    started = time.monotonic()
    async with GatewayClient(server.url, *agent, timeout_ms=300, max_retries=0) as client:
        with pytest.raises(GatewayTimeoutError) as raised:
            await client.proxy("serpapi", "search", SEARCH)
    assert "ReadTimeout" in str(raised.value)
    assert time.monotonic() - started < 1.8


async def test_a_connect_timeout_is_a_timeout_error(agent: tuple[str, str]) -> None:
    # A listener whose accept queue is full: the next SYN is dropped, the connect hangs.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    try:
        async with GatewayClient(
            f"http://127.0.0.1:{port}", *agent, timeout_ms=300, max_retries=0
        ) as client:
            with pytest.raises(GatewayTimeoutError) as raised:
                await client.get_token(READ)
        assert "ConnectTimeout" in str(raised.value)
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


async def test_a_pool_timeout_is_pool_full(
    server: GatewayServer, gateway: EmbeddedGateway, agent: tuple[str, str]
) -> None:
    from tests.helpers import async_run_concurrently

    gateway.delay_next(1, 1.0, route="proxy-request")
    async with GatewayClient(
        server.url, *agent, max_connections=1, pool_timeout_ms=200, timeout_ms=5000
    ) as client:
        await client.get_token(READ)  # the token first: both calls then need the pool

        async def call() -> object:
            try:
                return await client.proxy("serpapi", "search", SEARCH)
            except GatewayTimeoutError as exc:
                return exc

        outcomes = await async_run_concurrently([call, call])
    full = [o for o in outcomes if isinstance(o, GatewayTimeoutError)]
    assert len(full) == 1 and full[0].code == "POOL_FULL"


# ------------------------------------------------------- reuse, closing, headers


async def test_twenty_sequential_calls_share_one_connection(
    relay: _Relay, gateway: EmbeddedGateway, agent: tuple[str, str]
) -> None:
    async with GatewayClient(relay.url, *agent) as client:
        for _ in range(20):
            await client.proxy("serpapi", "search", SEARCH)
    assert gateway.count("proxy-request") == 20
    assert relay.accepted == 1


async def test_every_answer_is_read_and_closed_errors_and_retries_included(
    relay: _Relay, gateway: EmbeddedGateway, agent: tuple[str, str]
) -> None:
    """One connection, a pool of one: an answer left open would starve the next attempt."""
    async with GatewayClient(
        relay.url, *agent, max_connections=1, max_keepalive_connections=1,
        pool_timeout_ms=500, max_retry_after_s=0.5,
    ) as client:  # fmt: skip
        await client.get_token(READ)
        for _ in range(5):
            gateway.fail_next(1, 503, route="proxy-request", retry_after=0)  # retried
            assert await client.proxy("serpapi", "search", SEARCH)
            gateway.fail_next(1, 400, route="proxy-request")
            with pytest.raises(GatewayValidationError):
                await client.proxy("serpapi", "search", SEARCH)
            gateway.fail_next(1, 502, route="proxy-request")
            with pytest.raises(GatewayUpstreamError):
                await client.proxy("gmail_send", "send", {"to": "a@b.c", "subject": "s"})
    assert relay.accepted == 1


async def test_only_the_headers_the_gateway_reads_are_sent(
    server: GatewayServer, gateway: EmbeddedGateway, agent: tuple[str, str]
) -> None:
    async with GatewayClient(server.url, *agent) as client:
        await client.proxy("serpapi", "search", SEARCH)
    sent = {name.lower() for name in gateway.requests[-1].headers}
    assert sent == {
        "host", "content-length", "content-type", "user-agent", "x-correlation-id",
        "idempotency-key", "content-digest", "signature-input", "signature",
    }  # fmt: skip


async def test_a_callers_http_client_takes_its_full_path(
    server: GatewayServer, gateway: EmbeddedGateway, agent: tuple[str, str]
) -> None:
    seen: list[str] = []

    async def on_request(request: httpx2.Request) -> None:
        seen.append(f"request {request.url.path}")

    async def on_response(response: httpx2.Response) -> None:
        seen.append(f"response {response.status_code}")

    async with httpx2.AsyncClient(
        headers={"x-team": "research"},
        event_hooks={"request": [on_request], "response": [on_response]},
    ) as http:
        async with GatewayClient(server.url, *agent, http_client=http) as client:
            await client.proxy("serpapi", "search", SEARCH)
        assert not http.is_closed  # ours to close, not the SDK's
    assert seen == [
        "request /api/generate-token",
        "response 201",
        "request /api/proxy-request",
        "response 200",
    ]
    assert gateway.requests[-1].headers.get("x-team") == "research"


async def test_mock_urls_take_the_direct_path_too() -> None:
    async with GatewayClient("mock://direct-transport", "agent-1", "test-key") as client:
        found = await client.proxy("serpapi", "search", SEARCH)
    assert found
