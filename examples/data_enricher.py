"""Data enricher: fetch a page and summarise it with OpenAI through the gateway
(the seed README's second example).

    python examples/data_enricher.py [URL]

Uses a real gateway when GATEWAY_URL is set (see _settings.py), else the
embedded gateway (mock://examples). The real gateway's mock mode cannot run
`openai:chat` (its mock adapter reads `input`, not `messages`): the script then
says so and still shows the fetched page.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from _settings import connect  # examples/_settings.py

from runrgateway import GatewayClient, GatewayError, GatewayUpstreamError


async def enrich_data(url: str) -> tuple[dict[str, Any], str | None]:
    async with connect(GatewayClient) as gw:
        # Fetch website content (read-only: retried safely on a transient failure).
        page = await gw.proxy("http_fetch", "get", {"url": url})
        # The page is in "data" (live) or "body" (mock mode): docs/tool-answers.md.
        content = str(page.get("data", page.get("body", "")))[:4000]

        # Summarise with OpenAI (the live gateway requires a model).
        try:
            summary = await gw.proxy(
                "openai",
                "chat",
                {
                    "model": "gpt-4o-mini",
                    "messages": [{"role": "user", "content": f"Summarize this content: {content}"}],
                },
            )
        except GatewayUpstreamError as exc:
            print(f"openai:chat failed at the gateway, no summary: {exc.message}")
            return page, None
    # An OpenAI completion live, {"output": ...} in mock mode.
    if "choices" in summary:
        return page, summary["choices"][0]["message"]["content"]
    return page, summary.get("output")


def main() -> int:
    url = sys.argv[1] if len(sys.argv) > 1 else "https://example.com"
    try:
        page, summary = asyncio.run(enrich_data(url))
    except GatewayError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    content = str(page.get("data", page.get("body", "")))
    print(f"Fetched {page['url']}: HTTP {page['status']}, {len(content)} characters")
    if summary is not None:
        print(f"Summary: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
