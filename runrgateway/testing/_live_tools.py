"""Deterministic fakes of the outside APIs, shaped as the real gateway's *live* adapters
answer (what agents meet in production).

- `serpapi:search`: SerpAPI's own JSON, passed through (`organic_results`, ...). The
  adapter reads `q` and refuses a call without it (the validator demanded `query`).
- `http_fetch:get|head`: the adapter's envelope (`status`, `statusText`, `headers`,
  `data`, `url`); only hosts ending in one of the allowed domains are fetched.
- `openai:chat|complete`: OpenAI's completion objects; the adapter requires `model`.
- `gmail_send:send`: the adapter's envelope (`success`, `messageId`, ...); it reads
  `text` (the validator demanded `body`). `gmail_send:profile`: Gmail's profile.

Failure texts are the adapters' own (they reach the client as a 502's `details`).
Ids, titles and links are digests of the request, the same from run to run: a search
repeated is the same answer. The two timestamps the real adapters always send (a chat
completion's `created`, an email's `timestamp`) come from the gateway's clock.

They never reach the network: every answer is made here.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote_plus, urlsplit

from ._messages import js_truthy
from ._time import iso_utc_ms
from ._tools import ToolCall, ToolFailure, stable_digest

ALLOWED_FETCH_DOMAINS = ("linkedin.com", "company.com", "acme.com", "example.com", "test.com")
_EMAIL = re.compile(r"^[^\s@]+@[^\s@]+\.[^\s@]+$")


def search(call: ToolCall) -> dict[str, Any]:
    params = call.params
    if not js_truthy(params.get("q")):
        raise ToolFailure('Query parameter "q" is required')
    query = str(params["q"])
    engine = str(params.get("engine") or "google")
    count = int(params.get("num") or 10)
    search_id = stable_digest("search", engine, query, count)[:24]
    results = []
    for position in range(1, count + 1):
        tag = stable_digest(query, position)[:10]
        results.append(
            {
                "position": position,
                "title": f"{query} - result {position}",
                "link": f"https://example.com/{tag}",
                "displayed_link": f"https://example.com \u203a {tag}",
                "snippet": f"Result {position} for '{query}' ({tag}).",
                "source": "example.com",
            }
        )
    return {
        "search_metadata": {
            "id": search_id,
            "status": "Success",
            "json_endpoint": f"https://serpapi.com/searches/{search_id}.json",
            "google_url": f"https://www.google.com/search?q={quote_plus(query)}&num={count}",
            "total_time_taken": 0.42,
        },
        "search_parameters": {
            "engine": engine,
            "q": query,
            "google_domain": "google.com",
            "num": str(count),
            "device": "desktop",
        },
        "search_information": {
            "query_displayed": query,
            "total_results": 1000 * count,
            "time_taken_displayed": 0.31,
            "organic_results_state": "Results for exact spelling",
        },
        "organic_results": results,
    }


def _allowed_url(call: ToolCall) -> str:
    url = call.params.get("url")
    if not js_truthy(url):
        raise ToolFailure("URL parameter is required")
    try:
        host = urlsplit(str(url)).hostname or ""
    except ValueError:
        host = ""
    # The adapter's own test: a suffix match on the host name (so "notexample.com" passes).
    if not host or not host.endswith(ALLOWED_FETCH_DOMAINS):
        raise ToolFailure(f"URL not allowed: {url}")
    return str(url)


def _page(url: str) -> str:
    return f"<html><body>Mock page for {url} ({stable_digest(url)[:12]})</body></html>"


def fetch_get(call: ToolCall) -> dict[str, Any]:
    url = _allowed_url(call)
    page = _page(url)
    return {
        "status": 200,
        "statusText": "OK",
        "headers": {
            "content-type": "text/html; charset=utf-8",
            "content-length": str(len(page.encode("utf-8"))),
        },
        "data": page,
        "url": url,
    }


def fetch_head(call: ToolCall) -> dict[str, Any]:
    url = _allowed_url(call)
    return {
        "status": 200,
        "statusText": "OK",
        "headers": {
            "content-type": "text/html; charset=utf-8",
            "content-length": str(len(_page(url).encode("utf-8"))),
            "cache-control": "max-age=604800",
        },
        "url": url,
    }


def _usage(prompt: str, answer: str) -> dict[str, int]:
    prompt_tokens, completion_tokens = len(prompt.split()), len(answer.split())
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def chat(call: ToolCall) -> dict[str, Any]:
    params = call.params
    if not js_truthy(params.get("model")):
        raise ToolFailure("Model parameter is required")
    messages = params.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ToolFailure("Messages array is required and must not be empty")
    last_user = next(
        (str(m.get("content", "")) for m in reversed(messages) if m.get("role") == "user"), ""
    )
    text = f"Mock answer to: {last_user}"
    return {
        "id": f"chatcmpl-{stable_digest(params['model'], text)[:24]}",
        "object": "chat.completion",
        "created": int(call.now),
        "model": params["model"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": _usage(last_user, text),
    }


def complete(call: ToolCall) -> dict[str, Any]:
    params = call.params
    if not (js_truthy(params.get("model")) and js_truthy(params.get("prompt"))):
        raise ToolFailure("Model and prompt are required")
    text = f"Mock completion of: {params['prompt']}"
    return {
        "id": f"cmpl-{stable_digest(params['model'], text)[:24]}",
        "object": "text_completion",
        "created": int(call.now),
        "model": params["model"],
        "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": "stop"}],
        "usage": _usage(str(params["prompt"]), text),
    }


def send(call: ToolCall) -> dict[str, Any]:
    params = call.params
    to, subject, text = params.get("to"), params.get("subject"), params.get("text")
    if not (js_truthy(to) and js_truthy(subject) and js_truthy(text)):
        raise ToolFailure("To, subject, and text are required")
    if not _EMAIL.match(str(to)):
        raise ToolFailure("Invalid recipient email address")
    # Gmail's ids are 16 hex digits. Every send is a new message (two sends of one text
    # get two ids; an idempotent replay gets the first one's), the same from run to run.
    message_id = stable_digest(to, subject, text, call.runs_before)[:16]
    return {
        "success": True,
        "messageId": message_id,
        "threadId": message_id,
        "to": to,
        "subject": subject,
        "timestamp": iso_utc_ms(call.now),
    }


def profile(call: ToolCall) -> dict[str, Any]:
    return {
        "emailAddress": "agent@mock.4runr.local",
        "messagesTotal": 0,
        "threadsTotal": 0,
        "historyId": "1",
    }
