"""Three gateway calls traced with OpenTelemetry; the console exporter prints their spans.

    pip install "runrgateway[otel]" opentelemetry-sdk
    python examples/tracing.py

The program sets up OpenTelemetry as any service would (a global `TracerProvider` with an
exporter: here the console one, one line per span) and makes three calls inside a span
of its own, as a request handler would. The SDK adds a span per call (``tool:action``)
and per managed-token mint (``generate_token``), children of the handler's span, and
sends each request's ``traceparent`` (covered by the request signature) so that the
gateway's own spans would join the same trace. No parameter value, token or key is in
any span: names, ids, attempts and statuses only.

On the embedded gateway (mock://, the default) the third call's first attempt is
answered 503 with ``Retry-After: 0.1``, so its span shows the ``wait`` and ``retry``
events; against a real gateway (GATEWAY_URL set) the three calls are made as they come.
"""

from __future__ import annotations

import asyncio
import json
import sys

from _settings import connect, on_mock  # examples/_settings.py
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

from runrgateway import GatewayClient, GatewayError


def one_line(span: ReadableSpan) -> str:
    """A span as one line: name, ids, attributes and event names."""
    parent = f"{span.parent.span_id:016x}" if span.parent else "-"
    events = ",".join(event.name for event in span.events) or "-"
    attributes = json.dumps(dict(span.attributes or {}), sort_keys=True)
    return (
        f"{span.name} trace={span.context.trace_id:032x} span={span.context.span_id:016x} "
        f"parent={parent} events={events} {attributes}\n"
    )


def set_up_tracing() -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": "tracing-example"}))
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(formatter=one_line)))
    trace.set_tracer_provider(provider)
    return provider


async def handle_request() -> None:
    tracer = trace.get_tracer("tracing-example")
    gw = connect(GatewayClient, default_intent="lead_discovery")
    async with gw:
        with tracer.start_as_current_span("handle-request"):
            await gw.proxy("serpapi", "search", {"q": "montreal plumber", "num": 3})
            await gw.proxy("http_fetch", "get", {"url": "https://example.com"})
            if on_mock(gw):  # show a retry: the embedded gateway's fault injection
                from runrgateway.testing import get_gateway

                get_gateway(gw.base_url).fail_next(1, 503, route="proxy-request", retry_after=0.1)
            # Per-call settings: the same pool and token, a 5 s bound over all retries.
            quick = gw.with_options(timeout_ms=2000, deadline_s=5)
            await quick.proxy("serpapi", "search", {"q": "winnipeg plumber", "num": 3})


def main() -> int:
    provider = set_up_tracing()
    try:
        asyncio.run(handle_request())
    except GatewayError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        provider.shutdown()  # flush the last spans
    return 0


if __name__ == "__main__":
    sys.exit(main())
