"""httpx2 transports that route ``mock://<name>/api/...`` requests to an in-process gateway.

Faults become what a real network does: a delay or a slow tool sleeps (and turns
into `httpx2.ReadTimeout` once it passes the request's read timeout), a dropped
connection raises `httpx2.RemoteProtocolError` (or `httpx2.ConnectError` when the
request never left).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import httpx2

from .._constants import HEADER_CORRELATION_ID
from ._agents import normalise_public_key
from ._gateway import EmbeddedGateway
from ._messages import GatewayOutcome, GatewayRequest, GatewayResponse
from ._registry import gateway_name, get_gateway

logger = logging.getLogger("runrgateway.gateway")

_DISCONNECTED = "Server disconnected without sending a response."
_REFUSED = "[Errno 111] Connection refused (injected by the embedded gateway)"


class _MockRouting:
    """What both transports share: the gateway, the client's agent, and request conversion."""

    def __init__(
        self, name: str, *, agent_id: str | None = None, public_key_pem: str | None = None
    ) -> None:
        self.name = gateway_name(name)
        self.agent_id = agent_id
        self.public_key_pem = normalise_public_key(public_key_pem) if public_key_pem else None
        self._attach()

    @property
    def gateway(self) -> EmbeddedGateway:
        return get_gateway(self.name)

    def _attach(self) -> EmbeddedGateway:
        gateway = self.gateway
        if self.agent_id:
            gateway.attach_client(self.agent_id, self.public_key_pem)
        return gateway

    @staticmethod
    def _convert(request: httpx2.Request, body: bytes) -> GatewayRequest:
        raw_path = request.url.raw_path.split(b"?", 1)[0].decode("ascii")
        return GatewayRequest.build(
            request.method,
            raw_path,  # percent-encoded, as a server reads it off the request line
            query=request.url.query.decode("ascii", errors="replace"),
            headers=dict(request.headers.items()),
            body=body,
            url=str(request.url),
        )

    @staticmethod
    def _read_timeout(request: httpx2.Request) -> float | None:
        timeout = request.extensions.get("timeout") or {}
        read = timeout.get("read") if isinstance(timeout, dict) else None
        return float(read) if isinstance(read, (int, float)) else None

    def _finish(
        self, request: httpx2.Request, outcome: GatewayOutcome, started: float
    ) -> httpx2.Response:
        if outcome.dropped_before_sending:
            raise httpx2.ConnectError(_REFUSED, request=request)
        if outcome.drop_after or outcome.response is None:
            raise httpx2.RemoteProtocolError(_DISCONNECTED, request=request)
        response = outcome.response
        _log(request, response, started)
        return _to_httpx(request, response)


class GatewayMockTransport(_MockRouting, httpx2.BaseTransport):
    """Blocking transport for `httpx2.Client`: ``mock://<name>`` -> `get_gateway(name)`."""

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        started = time.perf_counter()
        body = request.read()
        gateway = self._attach()
        converted = self._convert(request, body)
        limit = self._read_timeout(request)
        if gateway.tool_latency_s > 0 and limit is not None:
            outcome = _handle_within(gateway, converted, limit)  # a slow tool times out
            if outcome is None:
                raise httpx2.ReadTimeout("timed out", request=request)
        else:
            outcome = gateway.handle(converted)
        if outcome.delay_s > 0 and not outcome.dropped_before_sending:
            left = None if limit is None else limit - (time.perf_counter() - started)
            if left is not None and outcome.delay_s > left:
                time.sleep(max(0.0, left))
                raise httpx2.ReadTimeout("timed out", request=request)
            time.sleep(outcome.delay_s)
        return self._finish(request, outcome, started)


class AsyncGatewayMockTransport(_MockRouting, httpx2.AsyncBaseTransport):
    """Async transport for `httpx2.AsyncClient`: ``mock://<name>`` -> `get_gateway(name)`.

    The gateway runs in the event loop's thread, or in a worker thread while the
    gateway has a tool latency (so slow tools do not block the loop).
    """

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        started = time.perf_counter()
        body = await request.aread()
        gateway = self._attach()
        converted = self._convert(request, body)
        limit = self._read_timeout(request)
        if gateway.tool_latency_s > 0:
            try:  # the gateway finishes in its thread even when the client stops waiting
                outcome = await asyncio.wait_for(
                    asyncio.to_thread(gateway.handle, converted), timeout=limit
                )
            except asyncio.TimeoutError:
                raise httpx2.ReadTimeout("timed out", request=request) from None
        else:
            outcome = gateway.handle(converted)
        if outcome.delay_s > 0 and not outcome.dropped_before_sending:
            left = None if limit is None else limit - (time.perf_counter() - started)
            if left is not None and outcome.delay_s > left:
                await asyncio.sleep(max(0.0, left))
                raise httpx2.ReadTimeout("timed out", request=request)
            await asyncio.sleep(outcome.delay_s)
        return self._finish(request, outcome, started)


def _handle_within(
    gateway: EmbeddedGateway, request: GatewayRequest, limit_s: float
) -> GatewayOutcome | None:
    """Let the gateway answer on a worker thread; None when it takes longer than `limit_s`
    (it still finishes, as a real server would after the client gave up)."""
    answers: list[GatewayOutcome] = []
    failures: list[BaseException] = []
    done = threading.Event()

    def work() -> None:
        try:
            answers.append(gateway.handle(request))
        except BaseException as exc:  # handed to the caller's thread
            failures.append(exc)
        finally:
            done.set()

    threading.Thread(target=work, name="runrgateway-mock", daemon=True).start()
    if not done.wait(limit_s):
        return None
    if failures:
        raise failures[0]
    return answers[0]


def _to_httpx(request: httpx2.Request, response: GatewayResponse) -> httpx2.Response:
    headers = dict(response.headers)
    headers["content-length"] = str(len(response.body))
    return httpx2.Response(response.status, headers=headers, content=response.body, request=request)


def _log(request: httpx2.Request, response: GatewayResponse, started: float) -> None:
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "%s %s -> %s correlation_id=%s %.1fms",
            request.method,
            request.url.path,
            response.status,
            response.headers.get(HEADER_CORRELATION_ID, "-"),
            (time.perf_counter() - started) * 1000,
        )
