"""Defaults in one place: timeouts, retries, backoff, token lifetime, read-only actions.

Every default and fixed value of the client lives here once: a module that needs one
imports it rather than writing the number again. Values only, never a function or
I/O. The embedded gateway states its own figures (`testing/_limits.py`) and rules
(`testing/_tools.py`), so that a test can catch the two sides disagreeing.
"""

from __future__ import annotations

from ._version import __version__

DEFAULT_TIMEOUT_MS = 6000
DEFAULT_MAX_RETRIES = 3
DEFAULT_MAX_RETRY_AFTER_S = 20.0
# The longest wait anything can ask for or set, in seconds: a Retry-After beyond it is
# read as this much, and timeout_ms / max_retry_after_s may not exceed it. Finite and
# small enough for every sleep and timer the standard library offers.
LONGEST_WAIT_S = 7 * 24 * 3600.0
# The SDK's own pool (httpx2's defaults); the wait for a free connection has its own
# bound, apart from the per-attempt timeout.
DEFAULT_MAX_CONNECTIONS = 100
DEFAULT_MAX_KEEPALIVE_CONNECTIONS = 20
DEFAULT_POOL_TIMEOUT_MS = 10_000

BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 8.0

# A token asked for without a lifetime (`TokenOptions`) lives this long; managed tokens
# are minted for as long unless `managed_token_ttl_minutes` says otherwise, and
# refreshed this early (the lesser of the two).
DEFAULT_TOKEN_TTL_MINUTES = 15
MANAGED_TOKEN_TTL_MINUTES = DEFAULT_TOKEN_TTL_MINUTES
TOKEN_REFRESH_MARGIN_S = 60.0
TOKEN_REFRESH_MARGIN_FRACTION = 0.10
# Tokens passed in by a caller are refused once older than this.
MAX_TOKEN_AGE_S = 24 * 3600.0
# ...and when issued further in the future than this (clocks drift, not by minutes).
TOKEN_CLOCK_SKEW_S = 60.0
MIN_TTL_MINUTES = 1
MAX_TTL_MINUTES = 1440

# Signed requests stay valid this long after `created` (the signer's `expires`, and the
# verifier's default maximum age).
SIGNATURE_VALIDITY_S = 300

# tool:action pairs that only read; safe to retry, and a managed token needs only "read".
READ_ONLY_ACTIONS: frozenset[str] = frozenset(
    {"serpapi:search", "http_fetch:get", "http_fetch:head", "gmail_send:profile"}
)

JOB_STATUSES = ("queued", "running", "done", "failed")
JOB_FINISHED_STATUSES = ("done", "failed")  # a job in one of these never changes again
JOB_POLL_CAP_S = 5.0

MOCK_URL_PREFIX = "mock://"  # base URLs that name an embedded gateway in this process

MASK = "***MASKED***"
LOGGER_NAME = "runrgateway"

USER_AGENT = f"runrgateway/{__version__}"

# Header names (lower case; httpx headers are case-insensitive).
HEADER_CORRELATION_ID = "x-correlation-id"
HEADER_IDEMPOTENCY_KEY = "idempotency-key"
HEADER_ROTATION_RECOMMENDED = "x-token-rotation-recommended"
HEADER_TOKEN_EXPIRES_AT = "x-token-expires-at"
HEADER_IDEMPOTENT_REPLAYED = "idempotent-replayed"

MCP_INSTALL_HINT = 'the MCP server needs the mcp extra: pip install "runrgateway[mcp]"'
"""What `runrgateway mcp` (and `import runrgateway.mcp`) says when the extra is missing."""
