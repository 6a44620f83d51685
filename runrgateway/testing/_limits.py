"""`GatewayLimits`: every bound of the embedded gateway and `runrgateway serve`, in one place.

`runrgateway serve` takes requests from anything that can reach loopback (a browser
page included), without credentials: registering an agent is open. Each store and
the HTTP server are therefore bounded in memory, threads and time, and the figures
live here so that a reader finds them all at once and a test can shrink them. No
I/O and no behaviour here: the stores and the server read these values.

A bound is never written as a number anywhere else in the gateway.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

MIB = 1024 * 1024


class StoreFull(Exception):
    """A store holds as much as its `GatewayLimits` bound allows; nothing was added."""


@dataclass(frozen=True)
class GatewayLimits:
    """The bounds of one embedded gateway and its HTTP server (defaults suit `serve`).

    HTTP server:
        max_header_bytes: the request line and headers of one request (431 beyond).
        max_body_bytes: the largest request body, Content-Length or chunked (413 beyond).
        max_body_bytes_in_flight: request bodies held at once over all connections (a
            request that would exceed it is answered 503 with Retry-After).
        max_connections: open connections served at once; one more is answered 503 and
            closed at once (each connection has one thread, so this bounds threads too).
        request_deadline_s: a request (line, headers and body) must arrive whole within
            this time of the connection opening or of the previous answer; a slow or
            half-sent client is disconnected then. Also the keep-alive idle limit.
    Request log (`EmbeddedGateway.requests`):
        log_max_requests, log_max_bytes: the log keeps the latest requests within both.
        log_body_bytes: bodies up to this size are kept (parsed, masked); larger ones
            are recorded by size only.
        log_header_chars: each header value is cut to this many characters.
    Signatures:
        max_nonces: nonces remembered until their signatures expire; when that many
            are still live, new signed requests get 503 with Retry-After (a live nonce
            is never forgotten: forgetting one would let its request be replayed).
    Idempotency keys (count, and bytes of the answers kept for replays):
        idempotency_keys_per_agent, idempotency_bytes_per_agent: an agent over either
            loses its own oldest key.
        idempotency_keys_total, idempotency_bytes_total: over either, the oldest key of
            the agent holding the most goes, so one agent never evicts another agent's
            keys while it holds more.
    Background jobs (``"async": true`` calls), kept an hour after they finish:
        jobs_per_agent, job_bytes_per_agent: an agent over either loses its own oldest.
        jobs_total, job_bytes_total: over either, the agent holding the most loses its
            oldest.
    Agents and policies (registering either is open on `serve`):
        max_agents, max_policies: beyond them `create-agent` / `policies` answer 507 (a
            policy is read on every call: their number is also each call's cost).
    Token registry (provenance):
        tokens_per_agent: live tokens kept per agent; one more drops that agent's oldest.
        tokens_total: a backstop over all agents (registering agents is open too); over
            it the agent holding the most tokens loses its oldest.
        expired_token_grace_s: an expired token stays known this long (its callers get
            "Token expired" rather than "not found"), then it is pruned.
    """

    max_header_bytes: int = 64 * 1024
    max_body_bytes: int = 10 * MIB
    max_body_bytes_in_flight: int = 64 * MIB
    max_connections: int = 512
    request_deadline_s: float = 30.0
    log_max_requests: int = 10_000
    log_max_bytes: int = 32 * MIB
    log_body_bytes: int = 64 * 1024
    log_header_chars: int = 512
    max_nonces: int = 100_000
    idempotency_keys_per_agent: int = 1_000
    idempotency_keys_total: int = 50_000
    idempotency_bytes_per_agent: int = 4 * MIB
    idempotency_bytes_total: int = 32 * MIB
    jobs_per_agent: int = 1_000
    jobs_total: int = 10_000
    job_bytes_per_agent: int = 4 * MIB
    job_bytes_total: int = 32 * MIB
    max_agents: int = 100_000
    max_policies: int = 10_000
    tokens_per_agent: int = 10_000
    tokens_total: int = 100_000
    expired_token_grace_s: float = 3600.0

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"GatewayLimits.{item.name} must be a positive number: {value!r}")


DEFAULT_LIMITS = GatewayLimits()
