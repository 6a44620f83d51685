"""Data enricher: fetch a page and summarise it with OpenAI through the gateway
(the seed README's second example).

    python examples/data_enricher.py [URL]

Uses a real gateway when GATEWAY_URL is set (see _settings.py), else the
embedded gateway (mock://examples).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from _settings import gateway_settings  # examples/_settings.py

from runrgateway import GatewayClient, GatewayError


async def enrich_data(url: str) -> tuple[dict[str, Any], str]:
    async with GatewayClient(**gateway_settings()) as gw:
        # Fetch website content (read-only: retried safely on a transient failure).
        page = await gw.proxy("http_fetch", "get", {"url": url})
        content = str(page.get("content", ""))[:4000]

        # Summarise with OpenAI.
        summary = await gw.proxy(
            "openai",
            "chat",
            {"messages": [{"role": "user", "content": f"Summarize this content: {content}"}]},
        )
    return page, summary["choices"][0]["message"]["content"]


def main() -> int:
    url = sys.argv[1] if len(sys.argv) > 1 else "https://example.com"
    try:
        page, summary = asyncio.run(enrich_data(url))
    except GatewayError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(
        f"Fetched {page['url']}: HTTP {page['status']}, {len(page.get('content', ''))} characters"
    )
    print(f"Summary: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
