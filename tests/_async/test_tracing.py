"""OpenTelemetry spans and trace propagation, read from the SDK's in-memory exporter,
against `GatewayServer` over a real loopback socket.

Each client gets its own `tracer_provider`, so nothing here touches OpenTelemetry's
global state (other tests, run after these, see no spans and no trace headers).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk.trace", reason="the tracing tests need opentelemetry-sdk")

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, StatusCode
from opentelemetry.trace.span import TraceFlags, TraceState

from runrgateway import (
    GatewayClient,
    GatewayConfigError,
    GatewayTimeoutError,
    GatewayValidationError,
)
from runrgateway._keys import AgentKey
from runrgateway.testing import ALLOW_BUILTIN_TOOLS, EmbeddedGateway, GatewayServer

pytestmark = pytest.mark.timeout(60)

# Values that must never reach a span: the params' secrets (and the token, key, signature).
SECRET_QUERY = "q-secret-8f3a1c"
SECRET_KEY = "sk-live-9d2e7b6a5c4f3e2d1c0b"
EMAIL = {"to": "to-secret-5e1@example.com", "subject": "s-secret-41d2", "body": "b-secret-77aa"}


@pytest.fixture(scope="module")
def server() -> Iterator[GatewayServer]:
    # log_secrets: the span test reads the whole tokens and signatures back from the
    # request log, to prove that none of them reached a span.
    gateway = EmbeddedGateway(
        "tracing", default_policy=ALLOW_BUILTIN_TOOLS, rate_limit=None, log_secrets=True
    )
    with GatewayServer(gateway) as running:
        yield running


@pytest.fixture
def gateway(server: GatewayServer) -> Iterator[EmbeddedGateway]:
    yield server.gateway
    server.gateway.reset()


@pytest.fixture
def key() -> AgentKey:
    return AgentKey.generate("ed25519")


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
async def client(
    server: GatewayServer, gateway: EmbeddedGateway, key: AgentKey, provider: TracerProvider
) -> AsyncIterator[GatewayClient]:
    agent = gateway.create_agent("traced agent", public_key_pem=key.public_key_pem())
    async with GatewayClient(
        server.url, agent.agent_id, key.private_key_pem(), tracer_provider=provider
    ) as gw:
        yield gw


def by_name(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]


async def test_one_span_per_call_with_its_names_and_ids(
    client: GatewayClient, exporter: InMemorySpanExporter
) -> None:
    first = await client.proxy_response("serpapi", "search", {"q": SECRET_QUERY})
    again = await client.proxy_response("serpapi", "search", {"q": "again"})
    sent = await client.proxy_response("gmail_send", "send", EMAIL)
    spans = exporter.get_finished_spans()
    assert sorted(span.name for span in spans) == sorted(
        ["generate_token", "serpapi:search", "serpapi:search", "generate_token", "gmail_send:send"]
    )
    searches = by_name(spans, "serpapi:search")
    for span, response in zip(searches, (first, again), strict=True):
        assert span.kind is SpanKind.CLIENT
        assert span.instrumentation_scope is not None
        assert span.instrumentation_scope.name == "runrgateway"
        assert span.attributes is not None
        assert dict(span.attributes) == {
            "runrgateway.tool": "serpapi",
            "runrgateway.action": "search",
            "runrgateway.attempts": 1,
            "runrgateway.correlation_id": response.correlation_id,
            "runrgateway.server_correlation_id": response.server_correlation_id,
            "http.request.method": "POST",
            "http.response.status_code": 200,
        }
        assert span.status.status_code is StatusCode.UNSET
    (email,) = by_name(spans, "gmail_send:send")
    assert email.attributes is not None
    assert email.attributes["runrgateway.correlation_id"] == sent.correlation_id
    # Each managed-token mint is a span of its own, inside the call it was made for.
    mints = by_name(spans, "generate_token")
    parents = {mint.parent.span_id for mint in mints if mint.parent is not None}
    assert parents == {searches[0].context.span_id, email.context.span_id}
    assert {mint.attributes["runrgateway.tools"] for mint in mints if mint.attributes} == {
        ("serpapi",),
        ("gmail_send",),
    }


async def test_retries_and_waits_are_span_events(
    client: GatewayClient, gateway: EmbeddedGateway, exporter: InMemorySpanExporter
) -> None:
    await client.proxy("serpapi", "search", {"q": "warm up"})
    exporter.clear()
    gateway.fail_next(2, 503, route="proxy-request", retry_after=0.05)
    response = await client.proxy_response("serpapi", "search", {"q": SECRET_QUERY})
    (span,) = exporter.get_finished_spans()
    assert span.attributes is not None and span.attributes["runrgateway.attempts"] == 3
    assert response.attempts == 3
    assert [event.name for event in span.events] == ["wait", "retry", "wait", "retry"]
    waits = [dict(event.attributes or {}) for event in span.events if event.name == "wait"]
    assert waits == [
        {
            "runrgateway.attempt": attempt,
            "runrgateway.wait_s": 0.05,
            "runrgateway.wait_reason": "retry-after",
            "http.response.status_code": 503,
        }
        for attempt in (1, 2)
    ]
    retries = [dict(event.attributes or {}) for event in span.events if event.name == "retry"]
    assert retries == [{"runrgateway.attempt": 2}, {"runrgateway.attempt": 3}]


async def test_a_failed_call_has_its_error_type_and_code(
    client: GatewayClient, gateway: EmbeddedGateway, exporter: InMemorySpanExporter
) -> None:
    with pytest.raises(GatewayValidationError) as raised:
        await client.proxy("openai", "chat", {"messages": [], "api_key": SECRET_KEY})
    deadline = client.with_options(max_retry_after_s=60, deadline_s=1)
    gateway.fail_next(1, 503, route="proxy-request", retry_after=30)
    with pytest.raises(GatewayTimeoutError):
        await deadline.proxy("serpapi", "search", {"q": SECRET_QUERY})
    spans = exporter.get_finished_spans()
    (chat,) = by_name(spans, "openai:chat")
    assert chat.attributes is not None
    assert chat.attributes["error.type"] == "GatewayValidationError"
    assert chat.attributes["http.response.status_code"] == 400
    assert chat.attributes["runrgateway.attempts"] == 1
    assert chat.status.status_code is StatusCode.ERROR
    assert chat.status.description == raised.value.code  # the code, never the message
    (search,) = by_name(spans, "serpapi:search")
    assert search.attributes is not None
    assert search.attributes["error.type"] == "GatewayTimeoutError"
    assert [event.name for event in search.events] == ["deadline"]
    assert dict(search.events[0].attributes or {}) == {
        "runrgateway.deadline_s": 1.0,
        "runrgateway.attempts": 1,
        "runrgateway.wait_s": 30.0,
    }


async def test_traceparent_is_sent_signed_and_continues_the_callers_trace(
    client: GatewayClient, gateway: EmbeddedGateway, exporter: InMemorySpanExporter
) -> None:
    # The caller's trace, as a service would have it from its own incoming request.
    caller = SpanContext(
        trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
        span_id=0x00F067AA0BA902B7,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=TraceState([("vendor", "opaque-1")]),
    )
    token = otel_context.attach(trace.set_span_in_context(NonRecordingSpan(caller)))
    try:
        await client.proxy("serpapi", "search", {"q": SECRET_QUERY})
    finally:
        otel_context.detach(token)
    (call,) = by_name(exporter.get_finished_spans(), "serpapi:search")
    assert call.context.trace_id == caller.trace_id
    assert call.parent is not None and call.parent.span_id == caller.span_id
    for request, span_name in zip(
        gateway.requests, ("generate_token", "serpapi:search"), strict=True
    ):
        (span,) = by_name(exporter.get_finished_spans(), span_name)
        # W3C trace context: version-traceid-parentid-flags; the parent is the SDK's span.
        assert request.headers["traceparent"] == (
            f"00-{caller.trace_id:032x}-{span.context.span_id:016x}-01"
        )
        assert request.headers["tracestate"] == "vendor=opaque-1"
        covered = request.headers["signature-input"]
        assert '"traceparent"' in covered and '"tracestate"' in covered
        assert request.status in (200, 201)  # the gateway checked the signature over both


async def test_no_trace_headers_without_a_trace(
    server: GatewayServer, gateway: EmbeddedGateway, key: AgentKey
) -> None:
    agent = gateway.create_agent("untraced agent", public_key_pem=key.public_key_pem())
    async with GatewayClient(server.url, agent.agent_id, key.private_key_pem()) as gw:
        await gw.proxy("serpapi", "search", {"q": "nobody traces this"})
    # OpenTelemetry is loaded in this process, but no provider is set and no span is
    # current: nothing to send, and nothing extra to sign.
    for request in gateway.requests:
        assert "traceparent" not in request.headers
        assert "traceparent" not in request.headers["signature-input"]


async def test_no_secret_reaches_any_span(
    client: GatewayClient, gateway: EmbeddedGateway, exporter: InMemorySpanExporter, key: AgentKey
) -> None:
    await client.proxy("serpapi", "search", {"q": SECRET_QUERY, "api_key": SECRET_KEY})
    await client.proxy("gmail_send", "send", EMAIL)
    caller_token = await client.get_token({"tools": ["serpapi"], "permissions": ["read"]})
    await client.proxy("serpapi", "search", {"q": SECRET_QUERY}, caller_token)
    started = await client.proxy_async("serpapi", "search", {"q": SECRET_QUERY})
    await client.wait_for_job(started["job_id"], timeout_s=10)
    await client.get_policy()
    with pytest.raises(GatewayValidationError):
        await client.proxy("openai", "chat", {"messages": [], "api_key": SECRET_KEY})
    spans = exporter.get_finished_spans()
    assert {"get_job", "get_policy", "generate_token"} <= {span.name for span in spans}
    secrets: list[str] = [SECRET_QUERY, SECRET_KEY, *EMAIL.values(), caller_token]
    secrets += [key.private_key_pem().splitlines()[1]]
    for request in gateway.requests:
        body: Any = request.json or {}
        if isinstance(body, dict) and isinstance(body.get("agent_token"), str):
            secrets.append(body["agent_token"])
        secrets.append(request.headers["signature"].split(":")[1])
    assert len(secrets) > 10
    exported = "\n".join(span.to_json() for span in spans)
    exported += json.dumps([dict(span.resource.attributes) for span in spans])
    found = [secret for secret in secrets if secret in exported]
    assert found == [], "secrets in the exported spans"


def test_a_tracer_provider_must_be_one(server: GatewayServer, key: AgentKey) -> None:
    with pytest.raises(GatewayConfigError, match="tracer_provider"):
        GatewayClient(server.url, "agent", key.private_key_pem(), tracer_provider="jaeger")
