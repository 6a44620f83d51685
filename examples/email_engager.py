"""Email engager: send an email through the gateway with an idempotency key
(the seed README's third example).

    python examples/email_engager.py [--to prospect@example.com]

`gmail_send:send` changes the world, so the SDK retries it only when it carries an
idempotency key *and* the gateway keeps keys (it echoes the `Idempotency-Key` header, as
the embedded gateway does): then a retry after a lost answer replays the first answer
instead of sending again. The real gateway keeps no keys, so there the email is sent once
and a failure is reported, never resent. On the embedded gateway the script sends the
same request twice to show the replay: one email goes out.

Uses a real gateway when GATEWAY_URL is set (see _settings.py; then the
email is really sent, once), else the embedded gateway (mock://examples).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from _settings import connect, on_mock  # examples/_settings.py

from runrgateway import GatewayClient, GatewayError, generate_idempotency_key


async def send_email(to: str) -> None:
    async with connect(GatewayClient) as gw:
        # Send email (with idempotency): the same key on every retry of this call.
        idempotency_key = generate_idempotency_key()
        email = {
            "to": to,
            "subject": "Partnership opportunity",
            "body": "Hi there, I think we could work together...",
            "idempotency_key": idempotency_key,
        }
        sent = await gw.proxy_response("gmail_send", "send", email)
        print(f"Sent to {to}: message {message_id(sent.data)} (idempotency key {idempotency_key})")
        print(f"  correlation id {sent.correlation_id}, attempts {sent.attempts}")

        if on_mock(gw):  # the embedded gateway keeps keys: the same key is a replay
            again = await gw.proxy_response("gmail_send", "send", email)
            print(
                f"Sent again with the same key: message {message_id(again.data)}, "
                f"replayed={again.idempotent_replayed} (the email went out once)"
            )


def message_id(sent: dict[str, Any]) -> str:
    """ "messageId" live, "id" in the real gateway's mock mode (docs/tool-answers.md)."""
    return str(sent.get("messageId") or sent.get("id"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--to", default="prospect@example.com")
    args = parser.parse_args()
    try:
        asyncio.run(send_email(args.to))
    except GatewayError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
