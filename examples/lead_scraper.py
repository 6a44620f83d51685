"""Lead scraper: search for leads through the gateway (the seed README's first example).

    python examples/lead_scraper.py ["search words"]

Uses a real gateway when GATEWAY_URL, AGENT_ID and AGENT_PRIVATE_KEY are set, else the
embedded gateway (mock://examples), so it runs anywhere.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from runrgateway import GatewayClient, GatewayError


def gateway_settings() -> dict[str, Any]:
    """The real gateway from the environment, or the embedded one with a placeholder key."""
    if os.environ.get("GATEWAY_URL"):
        return {
            "base_url": os.environ["GATEWAY_URL"],
            "agent_id": os.environ["AGENT_ID"],
            "agent_private_key_pem": os.environ["AGENT_PRIVATE_KEY"],
        }
    print("GATEWAY_URL is not set: using the embedded gateway (mock://examples)", file=sys.stderr)
    return {
        "base_url": "mock://examples",
        "agent_id": "example-agent",
        "agent_private_key_pem": "test-key",  # mock:// only: the client signs with a throwaway key
    }


async def scrape_leads(query: str) -> list[dict[str, Any]]:
    async with GatewayClient(**gateway_settings(), default_intent="lead_discovery") as gw:
        results = await gw.proxy("serpapi", "search", {"q": query, "engine": "google", "num": 10})
    return list(results)


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
    for lead in leads:
        print(f"{lead['position']:>2}. {lead['title']}\n    {lead['link']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
