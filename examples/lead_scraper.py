"""Lead scraper: search for leads through the gateway (the seed README's first example).

    python examples/lead_scraper.py ["search words"]

Uses a real gateway when GATEWAY_URL is set (see _settings.py), else the
embedded gateway (mock://examples), so it runs anywhere.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from _settings import connect  # examples/_settings.py

from runrgateway import GatewayClient, GatewayError


async def scrape_leads(query: str) -> list[dict[str, Any]]:
    async with connect(GatewayClient, default_intent="lead_discovery") as gw:
        found = await gw.proxy("serpapi", "search", {"q": query, "engine": "google", "num": 10})
    # SerpAPI's answer lists hits in "organic_results"; the real gateway's mock mode in
    # "results" (see docs/tool-answers.md).
    return list(found.get("organic_results") or found.get("results") or [])


def main() -> int:
    query = (
        sys.argv[1]
        if len(sys.argv) > 1
        else 'site:linkedin.com "software engineer" "San Francisco"'
    )
    try:
        leads = asyncio.run(scrape_leads(query))
    except GatewayError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"Found {len(leads)} leads")
    for number, lead in enumerate(leads, 1):
        print(f"{number:>2}. {lead['title']}\n    {lead.get('link') or lead.get('url')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
