"""The embedded gateway over real HTTP/1.1 (stdlib `ThreadingHTTPServer`), for end-to-end
tests and `runrgateway serve`.

Keep-alive with Content-Length framing; faults become network events: a delay
sleeps before answering, a drop closes the socket without an answer. One log line
per request on logger ``runrgateway.gateway`` (method, path, status, correlation
id, milliseconds) and never a token, key, signature or parameter.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from .._constants import HEADER_CORRELATION_ID
from ._gateway import ALLOW_BUILTIN_TOOLS, EmbeddedGateway
from ._messages import GatewayRequest, GatewayResponse

logger = logging.getLogger("runrgateway.gateway")

_IDLE_CONNECTION_TIMEOUT_S = 30.0
_MAX_BODY_BYTES = 10 * 1024 * 1024


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The stdlib's backlog of 5 overflows when many clients connect at once (connections
    # reset, or a 1 s SYN retry); a load of concurrent agents needs a deeper queue.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], gateway: EmbeddedGateway) -> None:
        self.gateway = gateway
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def close_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            _hard_close(connection)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = _IDLE_CONNECTION_TIMEOUT_S
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the stdlib's stderr access log; `_serve` logs one line itself."""

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _serve(self) -> None:
        started = time.perf_counter()
        body = self._read_body()
        if body is None:
            return
        split = urlsplit(self.path)
        headers = {name: value for name, value in self.headers.items()}
        host = self.headers.get("host") or self._own_address()
        request = GatewayRequest.build(
            self.command,
            split.path,
            query=split.query,
            headers=headers,
            body=body,
            url=f"http://{host}{self.path}",
        )
        outcome = self.server.gateway.handle(request)
        if outcome.delay_s > 0:
            time.sleep(outcome.delay_s)
        response = outcome.response
        if outcome.drops or response is None:
            self._log(request, None, started)
            self.close_connection = True
            _hard_close(self.connection)
            return
        self._log(request, response, started)
        self._write(response)

    def _own_address(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host!s}:{port}"

    def _read_body(self) -> bytes | None:
        if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
            return self._read_chunked()
        length_text = self.headers.get("content-length") or "0"
        try:
            length = int(length_text)
        except ValueError:
            length = -1
        if length < 0 or length > _MAX_BODY_BYTES:
            self._write(GatewayResponse(400, {"content-type": "text/plain"}, b"bad Content-Length"))
            self.close_connection = True
            return None
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _write(self, response: GatewayResponse) -> None:
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                if name != "content-length":
                    self.send_header(name, value)
            self.send_header("content-length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
            self.wfile.flush()
        except OSError:  # the client gave up (timed out) before the answer left
            self.close_connection = True

    def _log(
        self, request: GatewayRequest, response: GatewayResponse | None, started: float
    ) -> None:
        # The idempotency key, and whether the answer was a replay, let a reader of the
        # log tell a side effect that ran twice from one answered twice.
        replayed = response is not None and "idempotent-replayed" in response.headers
        logger.info(
            "%s %s %s correlation_id=%s idempotency_key=%s%s %.1fms",
            request.method,
            request.path,
            "dropped" if response is None else response.status,
            "-" if response is None else response.headers.get(HEADER_CORRELATION_ID, "-"),
            request.headers.get("idempotency-key", "-"),
            " replayed" if replayed else "",
            (time.perf_counter() - started) * 1000,
        )


def _hard_close(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)


class GatewayServer:
    """An `EmbeddedGateway` served over HTTP on loopback; a context manager.

    Without `gateway` a new one is made (real-gateway behaviour: unknown agents get
    404, no policy means denied). `allow_builtin_tools_by_default` installs the
    allow-built-in-tools policy for agents that have none, so a demo works at once.
    Port 0 lets the OS pick a free port; `url` tells which.
    """

    def __init__(
        self,
        gateway: EmbeddedGateway | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        allow_builtin_tools_by_default: bool = False,
    ) -> None:
        self.gateway = gateway or EmbeddedGateway("server")
        if allow_builtin_tools_by_default:
            self.gateway.set_default_policy(ALLOW_BUILTIN_TOOLS)
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"GatewayServer(url={self.url if self._server else None!r})"

    @property
    def url(self) -> str:
        """``http://<host>:<port>`` once started."""
        if self._server is None:
            raise RuntimeError("the server is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> GatewayServer:
        """Bind and serve in a daemon thread; returns self."""
        if self._server is not None:
            return self
        self._server = _Server(self._address, self.gateway)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="runrgateway-server",
            daemon=True,
        )
        self._thread.start()
        logger.info("embedded gateway listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and the listening socket."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5.0)

    def __enter__(self) -> GatewayServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
