"""The embedded gateway over real HTTP/1.1 (stdlib `ThreadingHTTPServer`), for end-to-end
tests and `runrgateway serve`.

Keep-alive with Content-Length or chunked framing; faults become network events: a
delay sleeps before answering, a drop closes the socket without an answer. One log
line per request on logger ``runrgateway.gateway`` (method, path, status,
correlation id, milliseconds) and never a token, key, signature or parameter.

Anything that can reach loopback may connect (a browser page too), so the server is
bounded by `GatewayLimits`: one thread per connection and at most `max_connections`
of them (one more is answered 503 and closed from the accepting thread); a request
must arrive whole within `request_deadline_s` of the connection opening or of the
previous answer (a reaper thread disconnects slow and half-sent clients); headers
are cut off at `max_header_bytes`, bodies (chunked ones too) at `max_body_bytes`,
and the bodies held at once at `max_body_bytes_in_flight`. A `Host` other than the
loopback names (127.0.0.1, localhost, [::1], any port) is answered 421, so a
DNS-rebinding page cannot reach the admin routes.
"""

from __future__ import annotations

import contextlib
import logging
import math
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from .._constants import HEADER_CORRELATION_ID
from ._gateway import ALLOW_BUILTIN_TOOLS, EmbeddedGateway
from ._limits import DEFAULT_LIMITS, GatewayLimits
from ._messages import GatewayRequest, GatewayResponse

logger = logging.getLogger("runrgateway.gateway")

_MAX_CHUNK_LINE = 1024  # a chunk-size line (hex size and extensions)
_MAX_TRAILER_LINES = 32
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 26\r\nConnection: close\r\n\r\ntoo many open connections\n"
)


class _BodyBudget:
    """Bytes of request bodies held at once, over all connections."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._held = 0
        self._lock = threading.Lock()

    def reserve(self, size: int) -> bool:
        with self._lock:
            if self._held + size > self._limit:
                return False
            self._held += size
            return True

    def release(self, size: int) -> None:
        with self._lock:
            self._held -= size


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The stdlib's backlog of 5 overflows when many clients connect at once (connections
    # reset, or a 1 s SYN retry); a load of concurrent agents needs a deeper queue.
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], gateway: EmbeddedGateway, limits: GatewayLimits
    ) -> None:
        self.gateway = gateway
        self.limits = limits
        self.bodies = _BodyBudget(limits.max_body_bytes_in_flight)
        # every open connection and the monotonic time by which its current request must
        # have arrived whole (None while the gateway works on it)
        self.connections: dict[socket.socket, float | None] = {}
        self.connections_lock = threading.Lock()
        self.reaper_stop = threading.Event()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.allowed_names = frozenset({*_LOOPBACK_NAMES, _host_literal(address[0])})

    # connections -------------------------------------------------------------

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve the connection in its own thread, or refuse it at once when at the cap."""
        deadline = time.monotonic() + self.limits.request_deadline_s
        with self.connections_lock:
            admitted = len(self.connections) < self.limits.max_connections
            if admitted:
                self.connections[request] = deadline
        if not admitted:
            _refuse(request)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except RuntimeError:  # no thread could be started: as if at the cap
            self.shutdown_request(request)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.pop(request, None)
        super().shutdown_request(request)

    def set_deadline(self, connection: socket.socket, deadline: float | None) -> None:
        with self.connections_lock:
            if connection in self.connections:
                self.connections[connection] = deadline

    def reap_forever(self) -> None:
        """Disconnect every connection whose request is late; until `reaper_stop` is set."""
        interval = min(0.25, self.limits.request_deadline_s / 4)
        while not self.reaper_stop.wait(interval):
            now = time.monotonic()
            with self.connections_lock:
                late = [c for c, due in self.connections.items() if due is not None and due < now]
                for connection in late:
                    self.connections[connection] = None  # shut down once
            for connection in late:
                _hard_close(connection)

    def close_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            _hard_close(connection)


class _CappedReader:
    """The connection's reader, with a byte budget for the request line and headers.

    The stdlib reads up to 100 header lines of 64 kB each; over the budget this reader
    answers end-of-file and raises `overflowed`, and the handler answers 431.
    """

    def __init__(self, raw: Any, budget: int) -> None:
        self._raw = raw
        self._budget = budget
        self.remaining: float = budget
        self.overflowed = False

    def start_headers(self) -> None:
        self.remaining, self.overflowed = self._budget, False

    def start_body(self) -> None:
        self.remaining = float("inf")

    def readline(self, size: int = -1) -> bytes:
        if self.remaining <= 0:
            self.overflowed = True
            return b""
        cap = self.remaining + 1  # one byte more than allowed: enough to see an overflow
        limit = cap if size < 0 else min(size, cap)
        line: bytes = self._raw.readline(-1 if math.isinf(limit) else int(limit))
        if len(line) > self.remaining:
            self.overflowed = True
            return b""
        self.remaining -= len(line)
        return line

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._raw.read(size)
        return data

    def close(self) -> None:
        self._raw.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    rfile: Any

    def setup(self) -> None:
        super().setup()
        # The deadline reaper does the real work; the socket timeout is a backstop.
        self.connection.settimeout(self.server.limits.request_deadline_s + 5.0)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rfile = _CappedReader(self.rfile, self.server.limits.max_header_bytes)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()

    def handle_one_request(self) -> None:
        self.rfile.start_headers()
        super().handle_one_request()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the stdlib's stderr access log; `_serve` logs one line itself."""

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _serve(self) -> None:
        started = time.perf_counter()
        self.rfile.start_body()
        if self.rfile.overflowed:
            self._refuse(431, "request headers too large")
            return
        for name in ("host", "content-length", "transfer-encoding"):
            if len(self.headers.get_all(name) or ()) > 1:
                # two framings (or two names) read differently by each hop: smuggling
                self._refuse(400, f"more than one {name} header")
                return
        host = (self.headers.get("host") or "").strip().lower()
        if not _host_allowed(host, self.server.allowed_names):
            # DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends its own name
            self._refuse(421, "this server answers to its loopback address only")
            return
        body = self._read_body()
        if body is None:
            return
        try:
            self._answer(body, host, started)
        finally:
            self.server.bodies.release(len(body))

    def _answer(self, body: bytes, host: str, started: float) -> None:
        self.server.set_deadline(self.connection, None)  # the gateway's time is not the client's
        split = urlsplit(self.path)
        headers = {name: value for name, value in self.headers.items()}
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

    # bodies -------------------------------------------------------------------

    def _read_body(self) -> bytes | None:
        """The whole body; None when the request was answered (4xx, 503) or abandoned."""
        encoding = (self.headers.get("transfer-encoding") or "").strip().lower()
        if encoding:
            if encoding != "chunked" or "content-length" in self.headers:
                # both framings at once is how requests are smuggled past proxies
                return self._refuse(400, "unsupported Transfer-Encoding")
            return self._read_chunked()
        length_text = (self.headers.get("content-length") or "0").strip()
        if not (length_text.isascii() and length_text.isdigit()) or len(length_text) > 18:
            return self._refuse(400, "bad Content-Length")
        length = int(length_text)
        if length > self.server.limits.max_body_bytes:
            return self._refuse(413, "request body too large")
        if not self.server.bodies.reserve(length):
            return self._refuse(503, "too many request bodies in flight", retry_after=1)
        body = self.rfile.read(length) if length else b""
        if len(body) < length:  # the client went away (or was disconnected as late)
            self.server.bodies.release(length)
            self.close_connection = True
            return None
        return body

    def _read_chunked(self) -> bytes | None:
        cap = self.server.limits.max_body_bytes
        chunks: list[bytes] = []
        body: bytes | None = None
        reserved = 0
        try:
            while True:
                line = self.rfile.readline(_MAX_CHUNK_LINE + 1)
                if not line:
                    self.close_connection = True
                    return None
                size_text = line.split(b";", 1)[0].strip()
                if (
                    len(line) > _MAX_CHUNK_LINE
                    or not line.endswith(b"\n")
                    or not size_text
                    or len(size_text) > 16
                    or not _HEX_DIGITS.issuperset(size_text)
                ):
                    return self._refuse(400, "malformed chunk size")
                size = int(size_text, 16)
                if size == 0:
                    body = self._read_trailers(b"".join(chunks))
                    return body
                if reserved + size > cap:
                    return self._refuse(413, "request body too large")
                if not self.server.bodies.reserve(size):
                    return self._refuse(503, "too many request bodies in flight", retry_after=1)
                reserved += size
                data = self.rfile.read(size)
                chunks.append(data)
                if len(data) < size:
                    self.close_connection = True
                    return None
                if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                    return self._refuse(400, "malformed chunk")
        finally:
            if body is None:  # answered or abandoned: the caller will not release it
                self.server.bodies.release(reserved)

    def _read_trailers(self, body: bytes) -> bytes | None:
        for _ in range(_MAX_TRAILER_LINES):
            line = self.rfile.readline(_MAX_CHUNK_LINE + 1)
            if line in (b"\r\n", b"\n"):
                return body
            if not line:
                self.close_connection = True
                return None
        return self._refuse(400, "too many trailer lines")

    # answers ------------------------------------------------------------------

    def _refuse(self, status: int, text: str, *, retry_after: int | None = None) -> bytes | None:
        """Answer with a plain-text error and close the connection (the rest is unread).

        Returns None: a body reader returns what this returns ("no body to handle").
        """
        headers = {"content-type": "text/plain", "connection": "close"}
        if retry_after is not None:
            headers["retry-after"] = str(retry_after)
        self.close_connection = True
        self._write(GatewayResponse(status, headers, f"{text}\n".encode()))
        return None

    def _write(self, response: GatewayResponse) -> None:
        limits = self.server.limits
        self.server.set_deadline(self.connection, time.monotonic() + limits.request_deadline_s)
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
        # the next request on this connection has the whole deadline again
        self.server.set_deadline(self.connection, time.monotonic() + limits.request_deadline_s)

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


def _host_allowed(host: str, names: frozenset[str]) -> bool:
    """Whether a `Host` value names this machine's loopback: ``name`` or ``name:port``.

    The name is what a DNS-rebinding page cannot fake (the browser sends the page's own
    name). Any port is accepted: behind a port forward (``ssh -L``, a container's port
    mapping) or an HTTP proxy the client's port is not the one this server bound.
    """
    name, _, port = host.rpartition(":") if not host.endswith("]") else (host, "", "")
    if not name or (port and not port.isdigit()):
        name = host
    return name in names


def _host_literal(host: str) -> str:
    return f"[{host}]" if ":" in host else host.lower()


def _refuse(connection: socket.socket) -> None:
    """Tell a client over the connection cap to come back, without ever blocking."""
    with contextlib.suppress(OSError):
        connection.setblocking(False)
        connection.send(_BUSY)


def _hard_close(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)


class GatewayServer:
    """An `EmbeddedGateway` served over HTTP on loopback; a context manager.

    Without `gateway` a new one is made (real-gateway behaviour: unknown agents get
    404, no policy means denied). `allow_builtin_tools_by_default` installs the
    allow-built-in-tools policy for agents that have none, so a demo works at once.
    Port 0 lets the OS pick a free port; `url` tells which. The server's bounds are the
    gateway's `limits` (`GatewayLimits`) unless `limits` is given.
    """

    def __init__(
        self,
        gateway: EmbeddedGateway | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        allow_builtin_tools_by_default: bool = False,
        limits: GatewayLimits | None = None,
    ) -> None:
        self.gateway = gateway or EmbeddedGateway("server", limits=limits or DEFAULT_LIMITS)
        if allow_builtin_tools_by_default:
            self.gateway.set_default_policy(ALLOW_BUILTIN_TOOLS)
        self.limits = limits or self.gateway.limits
        self._address = (host, port)
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []

    def __repr__(self) -> str:
        return f"GatewayServer(url={self.url if self._server else None!r})"

    @property
    def url(self) -> str:
        """``http://<host>:<port>`` once started."""
        if self._server is None:
            raise RuntimeError("the server is not started")
        host, port = self._server.server_address[:2]
        return f"http://{_host_literal(str(host))}:{port}"

    @property
    def open_connections(self) -> int:
        """Connections being served now (each holds one thread)."""
        if self._server is None:
            return 0
        with self._server.connections_lock:
            return len(self._server.connections)

    def start(self) -> GatewayServer:
        """Bind and serve in a daemon thread; returns self."""
        if self._server is not None:
            return self
        server = self._server = _Server(self._address, self.gateway, self.limits)
        self._threads = [
            threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="runrgateway-server",
                daemon=True,
            ),
            threading.Thread(target=server.reap_forever, name="runrgateway-reaper", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        logger.info("embedded gateway listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and the listening socket."""
        server, threads = self._server, self._threads
        if server is None:
            return
        self._server, self._threads = None, []
        server.shutdown()
        server.reaper_stop.set()
        server.close_connections()
        server.server_close()
        for thread in threads:
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
