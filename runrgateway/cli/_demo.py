"""`runrgateway demo`: the quickstart flow (token, search, fetch, summarise, email job).

It reads the tools' answers in both shapes the gateways give (docs/tool-answers.md).

It never needs a gateway variable: with none set it runs against `mock://demo`, and
it goes through the public client only.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, TextIO

from .._async._client import GatewayClient
from .._environment import EnvironmentSettings as Settings
from .._errors import (
    ErrorCode,
    GatewayError,
    GatewayUpstreamError,
)
from .._ids import generate_idempotency_key
from ._context import (
    EXIT_GATEWAY_ERROR,
    EXIT_OK,
    Context,
)

DEMO_RECIPIENT = "demo@example.com"  # example.com never receives mail (RFC 2606)


def cmd_demo(ctx: Context) -> int:
    settings = ctx.settings("mock://demo")
    return asyncio.run(_demo(settings, ctx.out))


async def _demo(settings: Settings, out: TextIO) -> int:
    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    where = "the embedded gateway, in process" if settings.mock else "a real gateway"
    say(f"4Runr Gateway demo against {settings.base_url} ({where}), agent {settings.agent_id}")
    async with GatewayClient(**{**settings.kwargs, "default_intent": "lead_discovery"}) as gw:
        say()
        say("1. Token: get_token_info(tools=['serpapi'], permissions=['read'], ttl_minutes=15)")
        info = await gw.get_token_info(
            {"tools": ["serpapi"], "permissions": ["read"], "ttl_minutes": 15}
        )
        say(f"   token id {info.token_id}, expires {info.expires_at:%Y-%m-%d %H:%M:%S} UTC")

        query = "site:linkedin.com Montreal plumber"
        say()
        say(f"2. Search: serpapi:search {query!r} (with that token)")
        found = await gw.proxy("serpapi", "search", {"q": query, "num": 3}, info.agent_token)
        hits = _search_hits(found)
        say(f"   {len(hits)} results")
        for hit in hits:
            say(f"   - {hit.get('title')}  <{hit.get('link') or hit.get('url')}>")
        first_link = next(
            (
                str(hit.get("link") or hit.get("url"))
                for hit in hits
                if hit.get("link") or hit.get("url")
            ),
            "https://example.com/",
        )

        say()
        say(f"3. Fetch: http_fetch:get {first_link} (the SDK mints a read-only token itself)")
        page = await gw.proxy("http_fetch", "get", {"url": first_link})
        page = page if isinstance(page, dict) else {}
        content = str(page.get("data", page.get("body", "")))
        say(f"   {page.get('url')}: HTTP {page.get('status')}, {len(content)} characters")
        say(f"   {_shorten(content, 100)}")

        say()
        say("4. Summarise: openai:chat")
        try:
            chat = await gw.proxy(
                "openai",
                "chat",
                {
                    "model": "gpt-4o-mini",
                    "messages": [{"role": "user", "content": f"Summarise: {content[:2000]}"}],
                },
            )
        except GatewayUpstreamError as exc:  # the real gateway's mock mode always fails here
            say(f"   the gateway's chat tool failed ({exc.message}); going on")
        else:
            say(f"   answer: {_shorten(_chat_text(chat), 160)}")

        say()
        say(f"5. Email: gmail_send:send to {DEMO_RECIPIENT} as a background job")
        email = {
            "to": DEMO_RECIPIENT,
            "subject": "Partnership opportunity",
            "body": f"Hi there, I found {len(hits)} leads for you.",
        }
        try:
            job = await gw.proxy_async(
                "gmail_send", "send", email, idempotency_key=generate_idempotency_key()
            )
        except GatewayError as exc:
            if exc.code != ErrorCode.JOBS_UNSUPPORTED:
                raise
            say("   this gateway does not run jobs: it sent the email at once")
            if exc.response is not None:  # the answer it gave instead of a job id
                say(f"   message {_message_id(exc.response.data)}")
        else:
            say(f"   job {job['job_id']} {job['status']}; wait_for_job ...")
            finished = await gw.wait_for_job(job["job_id"], timeout_s=30.0)
            if finished.status != "done":
                say(f"   job {finished.status}: {finished.error}")
                return EXIT_GATEWAY_ERROR
            say(f"   job done: message {_message_id(finished.result)}")
    say()
    say("Done: 4 proxy calls (gateways allow 5 per agent per minute).")
    return EXIT_OK


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# The tools answer in the live shapes (production) or the real gateway's mock-mode shapes
# (docs/tool-answers.md); the demo reads both, as the examples do.


def _search_hits(found: Any) -> list[dict[str, Any]]:
    hits = (found.get("organic_results") or found.get("results")) if isinstance(found, dict) else []
    return [hit for hit in hits or [] if isinstance(hit, dict)]


def _chat_text(chat: Any) -> str:
    try:
        if "choices" in chat:
            return str(chat["choices"][0]["message"]["content"])
        return str(chat["output"])
    except (KeyError, IndexError, TypeError):
        return json.dumps(chat, default=str)


def _message_id(sent: Any) -> str:
    if isinstance(sent, dict):
        return str(sent.get("messageId") or sent.get("id"))
    return json.dumps(sent, default=str)


# ---------------------------------------------------------------------------- keygen
