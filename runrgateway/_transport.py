"""What both clients decide about their HTTP transport, without doing any I/O.

Which `http_client` is accepted, the SDK's own pool settings (limits, the proxy the
environment names for the gateway's URL, the timeout of every request), and the errors
for what the transport can do wrong: a redirect (never followed: the signed request
carries the agent's token), a full pool, a caller's client that cannot be used (bound
to an event loop that is gone, or closed), and a call cut short by `close()`.

The SDK's own pool sends through an `httpx2` transport directly, not through an
`httpx2.Client` (see _pools.py), so what the client would have decided from the
environment is decided here, the way httpx2 decides it; nothing here may reach into
httpx2's private helpers.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.request import getproxies

import httpx2

from ._constants import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_KEEPALIVE_CONNECTIONS,
    HEADER_CORRELATION_ID,
)
from ._errors import ErrorCode, ErrorResponse, GatewayConfigError, GatewayError, GatewayTimeoutError

# What each twin takes, and where to send a user who passed the other kind.
_OTHER_KIND = {
    "AsyncClient": ("Client", "SyncGatewayClient"),
    "Client": ("AsyncClient", "GatewayClient"),
}


def _type_name(value: Any) -> str:
    kind = type(value)
    module = kind.__module__.split(".")[0]
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def check_http_client(http_client: Any, accepted: type[Any], owner: str) -> None:
    """Refuse, before anything is sent, an `http_client` this client cannot send with."""
    if http_client is None or isinstance(http_client, accepted):
        if http_client is not None and http_client.is_closed:
            raise GatewayConfigError("http_client is already closed; pass an open client")
        return
    wanted = f"httpx2.{accepted.__name__}"
    other, other_owner = _OTHER_KIND[accepted.__name__]
    message = f"{owner} takes http_client=None or an {wanted}, not {_type_name(http_client)}"
    if type(http_client).__module__.split(".")[0] == "httpx":
        message += (
            "; an encode httpx client is not accepted: runrgateway sends with httpx2 (its "
            f"exceptions, timeouts and pool are httpx2's). Build the same client with {wanted}"
            "(...), see docs/transport.md"
        )
    elif isinstance(http_client, getattr(httpx2, other)):
        message += f" (an httpx2.{other} goes with {other_owner})"
    raise GatewayConfigError(message)


def _count(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise GatewayConfigError(f"{name} must be an integer >= {minimum}")
    return value


def pool_limits(
    max_connections: Any, max_keepalive_connections: Any, *, caller_client: bool
) -> httpx2.Limits:
    """The limits of the SDK's own pool; with a caller's client they are the caller's."""
    if caller_client and (max_connections is not None or max_keepalive_connections is not None):
        raise GatewayConfigError(
            "max_connections and max_keepalive_connections size the SDK's own pool; with "
            "http_client, set them on your client (httpx2.Limits)"
        )
    connections = (
        DEFAULT_MAX_CONNECTIONS
        if max_connections is None
        else _count(max_connections, "max_connections", 1)
    )
    keepalive = (
        min(DEFAULT_MAX_KEEPALIVE_CONNECTIONS, connections)
        if max_keepalive_connections is None
        else _count(max_keepalive_connections, "max_keepalive_connections", 0)
    )
    if keepalive > connections:
        raise GatewayConfigError(
            f"max_keepalive_connections ({keepalive}) cannot exceed max_connections ({connections})"
        )
    return httpx2.Limits(max_connections=connections, max_keepalive_connections=keepalive)


def environment_proxy(url: httpx2.URL) -> httpx2.Proxy | None:
    """The proxy an `httpx2.Client(trust_env=True)` would use for `url`, or None.

    httpx2's rules, for the one origin a client talks to: ``HTTPS_PROXY`` /
    ``HTTP_PROXY`` for their scheme, else ``ALL_PROXY`` (a value without ``://`` is read
    as ``http://``); none when an entry of ``NO_PROXY`` matches the URL (``*``; a host,
    which also matches its subdomains; ``.host`` or ``*.host``, subdomains only; an IP
    address or network; ``scheme://host[:port]``). `urllib.request.getproxies` reads
    the variables (and the OS settings on macOS and Windows), as httpx2 does.
    """
    proxies = getproxies()
    chosen = proxies.get(url.scheme) or proxies.get("all")
    if not chosen or _no_proxy(url, proxies.get("no", "")):
        return None
    return httpx2.Proxy(chosen if "://" in chosen else f"http://{chosen}")


def _no_proxy(url: httpx2.URL, no_proxy: str) -> bool:
    for entry in (entry.strip() for entry in no_proxy.split(",")):
        if entry == "*":
            return True
        pattern = _no_proxy_pattern(entry) if entry else None
        if pattern is not None and _matches(pattern, url):
            return True
    return False


def _is_ip(text: str, kind: type[ipaddress.IPv4Address | ipaddress.IPv6Address]) -> bool:
    try:
        kind(text.split("/")[0])
    except ValueError:
        return False
    return True


def _no_proxy_pattern(entry: str) -> str | None:
    """A NO_PROXY entry as the URL pattern httpx2 makes of it (curl's reading of NO_PROXY)."""
    if "://" in entry:
        return entry
    if _is_ip(entry, ipaddress.IPv4Address):
        return f"all://{entry}"
    if _is_ip(entry, ipaddress.IPv6Address):
        address, slash, subnet = entry.partition("/")
        return f"all://[{address}]/{subnet}" if slash else f"all://[{entry}]"
    if entry.lower() == "localhost" or entry.startswith("["):
        return f"all://{entry}"
    if "/" in entry:
        return None
    return f"all://{entry}" if entry.startswith("*.") else f"all://*{entry}"


def _matches(pattern: str, url: httpx2.URL) -> bool:
    try:
        parsed = httpx2.URL(pattern)
    except (httpx2.InvalidURL, ValueError):
        return False  # like curl and httpx2: an entry that cannot be parsed is ignored
    if parsed.scheme != "all" and parsed.scheme != url.scheme:
        return False
    if parsed.port is not None and parsed.port != url.port:
        return False
    prefix = parsed.path.removeprefix("/")
    if prefix:  # a network: "192.168.0.0/16", "[::1]/64"
        try:
            network = ipaddress.ip_network(f"{parsed.host}/{prefix}", strict=False)
            return ipaddress.ip_address(url.host) in network
        except ValueError:
            return False
    host = parsed.host
    if not host or host == "*":
        return True
    if host.startswith("*."):  # subdomains only
        return re.fullmatch(f".+\\.{re.escape(host[2:])}", url.host) is not None
    if host.startswith("*"):  # the domain and its subdomains
        return re.fullmatch(f"(.+\\.)?{re.escape(host[1:])}", url.host) is not None
    return host == url.host


def direct_request(
    method: str,
    url: httpx2.URL,
    body: bytes | None,
    headers: dict[str, str],
    timeout: httpx2.Timeout,
) -> httpx2.Request:
    """One attempt's request as the SDK's own transport takes it (no client around it).

    The same request `httpx2.Request(method, url, content=body, headers=...)` builds,
    with ``Host`` first and ``Content-Length`` last, but handed its stream and those two
    headers ready made: httpx2 then skips preparing them (merging default headers,
    encoding the content), which cost more than all the rest of building the request.
    """
    ready = {"host": url.netloc.decode("ascii"), **headers}
    if body is not None:
        ready["content-length"] = str(len(body))
    elif method in ("POST", "PUT", "PATCH"):  # as httpx2 does for a body-less write
        ready["content-length"] = "0"
    return httpx2.Request(
        method,
        url,
        stream=httpx2.ByteStream(body or b""),
        headers=ready,
        extensions={"timeout": timeout.as_dict()},  # what httpx2's client sets
    )


def check_pool_timeout_ms(pool_timeout_ms: Any) -> float:
    """The bound on the wait for a free connection, in seconds."""
    if (
        isinstance(pool_timeout_ms, bool)
        or not isinstance(pool_timeout_ms, (int, float))
        or not pool_timeout_ms > 0
    ):
        raise GatewayConfigError("pool_timeout_ms must be a positive number of milliseconds")
    return float(pool_timeout_ms) / 1000.0


def redirect_error(
    response: httpx2.Response, url: httpx2.URL, correlation_id: str, attempts: int
) -> GatewayError:
    """A 3xx from the gateway: reported, never followed (nor its body used)."""
    location = response.headers.get("location")
    try:
        target = url.join(location).host if location else None
    except httpx2.InvalidURL:
        target = None
    where = f"to host {target!r}" if target else "without a usable Location"
    return GatewayError(
        f"the gateway answered {response.status_code}, a redirect {where}; runrgateway never "
        "follows redirects (the signed request carries the agent's token): set base_url to "
        "the gateway's final address",
        code=ErrorCode.REDIRECT_REFUSED,
        status_code=response.status_code,
        correlation_id=correlation_id,
        server_correlation_id=response.headers.get(HEADER_CORRELATION_ID),
        attempts=attempts,
        response=ErrorResponse.of(response.status_code, response.content, response.headers),
    )


def pool_full_error(
    limits: httpx2.Limits | None, pool_timeout_s: float, correlation_id: str, attempts: int
) -> GatewayTimeoutError:
    """No connection of the pool came free in time: nothing was sent."""
    if limits is None:
        sized = "the pool of the http_client you passed (its httpx2.Limits)"
        advice = "raise its limits or send fewer calls at once"
    else:
        sized = (
            f"max_connections={limits.max_connections}, "
            f"max_keepalive_connections={limits.max_keepalive_connections}"
        )
        advice = "raise max_connections, or send fewer calls at once"
    return GatewayTimeoutError(
        f"the connection pool was full: no connection came free within pool_timeout_ms="
        f"{pool_timeout_s * 1000:g} ({sized}); nothing was sent; {advice}",
        code=ErrorCode.POOL_FULL,
        correlation_id=correlation_id,
        attempts=attempts,
    )


def unusable_client_error(exc: Exception, correlation_id: str, attempts: int) -> GatewayError:
    """The caller's `http_client` refused to send (closed, or bound to another event loop)."""
    text = str(exc)[:200]
    if "closed" in text.lower() and "loop" not in text.lower():
        why = "it was closed; pass an open client, or none and let runrgateway own its pool"
    else:
        why = (
            "an httpx2.AsyncClient belongs to the event loop it first sent in, and this call "
            "runs in another one (a second asyncio.run()?); create the http_client in the "
            "loop that uses it, or pass none: the client's own pool follows the event loop"
        )
    return GatewayError(
        f"the http_client you passed could not send ({type(exc).__name__}: {text}): {why}",
        code=ErrorCode.HTTP_CLIENT_UNUSABLE,
        correlation_id=correlation_id,
        attempts=attempts,
    )


def closed_error(
    owner: str, correlation_id: str | None = None, attempts: int = 1, *, in_flight: bool = False
) -> GatewayError:
    """A call made after `close()`, or cut short by it (the gateway may then have acted)."""
    if not in_flight:
        message = f"{owner} is closed; create a new client (a closed one cannot be reopened)"
    else:
        message = (
            f"{owner} was closed while this call was in flight; the gateway may have acted "
            "on it (send it again from a new client with the same idempotency key)"
        )
    return GatewayError(
        message, code=ErrorCode.CLIENT_CLOSED, correlation_id=correlation_id, attempts=attempts
    )
