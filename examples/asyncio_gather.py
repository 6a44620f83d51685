"""Several gateway calls at once with one `GatewayClient` and `asyncio.gather`.

    python examples/asyncio_gather.py

One client per event loop, shared by every task: the concurrent searches share one
managed token (a single `generate-token` request) and one connection pool.

The real 4Runr Gateway (and `runrgateway serve`) allows 5 proxy calls per agent per
60 s. Against such a gateway (GATEWAY_URL set) this script makes at most 5 calls, the
whole budget of a minute: other calls made by the same agent in that minute will meet
`GatewayRateLimitError`, whose `retry_after` says how long to wait. The embedded gateway
(mock://, the default) has no rate limit, so there it searches every city.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from _settings import connect, on_mock  # examples/_settings.py

from runrgateway import GatewayClient, GatewayError

CALLS_PER_MINUTE = 5  # the gateway's limit per agent
CITIES = ["Montreal", "Toronto", "Vancouver", "Calgary", "Ottawa", "Quebec", "Halifax", "Winnipeg"]


async def search_all(cities: list[str]) -> dict[str, list[dict[str, Any]]]:
    gw = connect(GatewayClient, default_intent="lead_discovery")
    if not on_mock(gw):
        cities = cities[:CALLS_PER_MINUTE]

    async with gw:

        async def search(city: str) -> list[dict[str, Any]]:
            found = await gw.proxy("serpapi", "search", {"q": f"{city} plumber", "num": 3})
            # "organic_results" live, "results" in mock mode: docs/tool-answers.md.
            return list(found.get("organic_results") or found.get("results") or [])

        results = await asyncio.gather(*(search(city) for city in cities))
    return dict(zip(cities, results, strict=True))


def main() -> int:
    started = time.perf_counter()
    try:
        by_city = asyncio.run(search_all(CITIES))
    except GatewayError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    elapsed_ms = (time.perf_counter() - started) * 1000
    print(f"{len(by_city)} searches at once in {elapsed_ms:.0f} ms")
    for city, results in by_city.items():
        print(f"{city:<10} {len(results)} results, first: {results[0]['title']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
