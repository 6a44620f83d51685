"""Helpers shared by the async tests and their generated sync twins."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import httpx2

from runrgateway._tokens import format_utc

T = TypeVar("T")

BASE = "https://gw.test"  # where the `router` fixture answers in the client tests


async def async_run_concurrently(calls: list[Callable[[], Awaitable[T]]]) -> list[T]:
    """Run the calls at once as asyncio tasks (unasync: `run_concurrently`, threads)."""
    return list(await asyncio.gather(*(call() for call in calls)))


async def async_run_with(
    calls: list[Callable[[], Awaitable[T]]], action: Callable[[], Awaitable[object]], after_s: float
) -> list[T | BaseException]:
    """Start the calls at once, run `action` `after_s` later, then collect every outcome
    (results and exceptions alike). unasync: `run_with`, on threads."""
    tasks = [asyncio.ensure_future(call()) for call in calls]
    await asyncio.sleep(after_s)
    await action()
    return list(await asyncio.gather(*tasks, return_exceptions=True))


def run_with(
    calls: list[Callable[[], T]], action: Callable[[], object], after_s: float
) -> list[T | BaseException]:
    """`async_run_with` on one thread per call."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(call) for call in calls]
        time.sleep(after_s)
        action()
        return [future.exception() or future.result() for future in futures]


def run_concurrently(calls: list[Callable[[], T]], max_workers: int = 16) -> list[T]:
    """Run the calls at once on threads; results in order."""
    with ThreadPoolExecutor(max_workers=max_workers) as pool:
        futures = [pool.submit(call) for call in calls]
        return [future.result() for future in futures]


def gateway_token(
    *,
    tools: list[str],
    permissions: list[str] | None = None,
    issued_at: datetime | None = None,
    expires_at: datetime | None = None,
    agent_id: str = "agent-1",
) -> str:
    """A token in the real gateway's `base64(json).hexhmac` form (HMAC key is made up)."""
    issued = issued_at or datetime.now(timezone.utc)
    payload = {
        "agent_id": agent_id,
        "agent_name": "test agent",
        "tools": tools,
        "permissions": permissions or ["read"],
        "expires_at": format_utc(expires_at or issued + timedelta(minutes=15)),
        "nonce": uuid.uuid4().hex,  # two tokens minted in one millisecond still differ
        "issued_at": format_utc(issued),
    }
    text = base64.b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()
    signature = hmac.new(b"not-the-gateway-secret", text.encode(), hashlib.sha256).hexdigest()
    return f"{text}.{signature}"


def json_body(request: httpx2.Request) -> Any:
    return json.loads(request.content)


def token_answer(request: httpx2.Request) -> httpx2.Response:
    """A router side effect answering generate-token as the real gateway does (201)."""
    body = json_body(request)
    issued = datetime.now(timezone.utc)
    expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    token = gateway_token(
        tools=body["tools"], permissions=body["permissions"], issued_at=issued, expires_at=expires
    )
    return httpx2.Response(
        201,
        json={
            "agent_token": token,
            "token_id": f"tok-{hashlib.sha256(token.encode()).hexdigest()[:12]}",
            "expires_at": body["expires_at"],
            "agent_name": "test agent",
        },
    )


def proxy_answer(data: Any = None, status: int = 200, **headers: str) -> httpx2.Response:
    """The real gateway's success body for /api/proxy-request."""
    return httpx2.Response(
        status,
        json={
            "success": True,
            "data": {"ok": True} if data is None else data,
            "metadata": {"agent_id": "agent-1", "tool": "t", "action": "a", "response_time_ms": 3},
        },
        headers={"x-correlation-id": "req_1700000000000_abcdefghi", **headers},
    )


def keeping_keys(
    *answers: httpx2.Response | Exception,
) -> Callable[[httpx2.Request], httpx2.Response]:
    """A router side effect for a gateway that keeps idempotency keys (wire.md Part B): the
    answers in turn, each echoing the request's `Idempotency-Key`; exceptions are raised."""
    queue = list(answers)

    def answer(request: httpx2.Request) -> httpx2.Response:
        outcome = queue.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        key = request.headers.get("idempotency-key")
        if key is not None:
            outcome.headers["idempotency-key"] = key
        return outcome

    return answer
