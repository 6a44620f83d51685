"""`environment_proxy` decides as `httpx2.Client(trust_env=True)` would, case by case.

The SDK's own pool sends through an httpx2 transport directly, so it reads the proxy
variables itself; httpx2's own routing (its mounts, sorted as the client sorts them)
is the oracle here. Over a socket: tests/_async/test_direct_transport.py.
"""

from __future__ import annotations

import httpx2
import pytest
from httpx2._utils import URLPattern, get_environment_proxies

from runrgateway._transport import environment_proxy

_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
P = "http://proxy.internal:3128"
CASES: list[tuple[dict[str, str], str]] = [
    ({}, "https://gw.example.com"),
    ({"HTTPS_PROXY": P}, "https://gw.example.com"),
    ({"HTTPS_PROXY": P}, "http://127.0.0.1:8080"),
    ({"HTTP_PROXY": P}, "http://127.0.0.1:8080"),
    ({"HTTP_PROXY": P}, "https://gw.example.com"),
    ({"ALL_PROXY": P}, "https://gw.example.com"),
    ({"ALL_PROXY": "socks5://s:1080", "HTTPS_PROXY": P}, "https://gw.example.com"),
    ({"HTTPS_PROXY": "proxy.internal:3128"}, "https://gw.example.com"),
    ({"HTTPS_PROXY": P, "NO_PROXY": "*"}, "https://gw.example.com"),
    ({"HTTPS_PROXY": P, "NO_PROXY": "example.com"}, "https://gw.example.com"),
    ({"HTTPS_PROXY": P, "NO_PROXY": "example.com"}, "https://example.com"),
    ({"HTTPS_PROXY": P, "NO_PROXY": "example.com"}, "https://notexample.com"),
    ({"HTTPS_PROXY": P, "NO_PROXY": ".example.com"}, "https://example.com"),
    ({"HTTPS_PROXY": P, "NO_PROXY": ".example.com"}, "https://gw.example.com"),
    ({"HTTPS_PROXY": P, "NO_PROXY": "*.example.com"}, "https://example.com"),
    ({"HTTPS_PROXY": P, "NO_PROXY": "other.org, gw.example.com"}, "https://gw.example.com"),
    ({"HTTP_PROXY": P, "NO_PROXY": "localhost"}, "http://localhost:8080"),
    ({"HTTP_PROXY": P, "NO_PROXY": "127.0.0.1"}, "http://127.0.0.1:8080"),
    ({"HTTP_PROXY": P, "NO_PROXY": "127.0.0.0/8"}, "http://127.0.0.1:8080"),
    ({"HTTP_PROXY": P, "NO_PROXY": "10.0.0.0/8"}, "http://127.0.0.1:8080"),
    ({"HTTP_PROXY": P, "NO_PROXY": "::1"}, "http://[::1]:8080"),
    ({"HTTP_PROXY": P, "NO_PROXY": "[::1]"}, "http://[::1]:8080"),
    ({"HTTPS_PROXY": P, "NO_PROXY": "https://gw.example.com"}, "https://gw.example.com"),
    ({"HTTPS_PROXY": P, "NO_PROXY": "http://gw.example.com"}, "https://gw.example.com"),
    ({"HTTPS_PROXY": P, "NO_PROXY": "all://gw.example.com:8443"}, "https://gw.example.com"),
    (
        {"HTTPS_PROXY": P, "NO_PROXY": "all://gw.example.com:8443"},
        "https://gw.example.com:8443",
    ),
    ({"HTTPS_PROXY": P, "NO_PROXY": "example.com/path"}, "https://example.com"),
]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in _VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.delenv("REQUEST_METHOD", raising=False)
    return monkeypatch


def _httpx2_decides(url: httpx2.URL) -> str | None:
    """The proxy URL httpx2's client routes `url` through (its mounts, most specific first)."""
    mounts = sorted(
        ((URLPattern(key), value) for key, value in get_environment_proxies().items()),
        key=lambda mount: mount[0],
    )
    for pattern, proxy in mounts:
        if pattern.matches(url):
            return None if proxy is None else str(httpx2.Proxy(proxy).url)
    return None


@pytest.mark.parametrize(("variables", "target"), CASES)
def test_the_proxy_is_the_one_httpx2_would_use(
    env: pytest.MonkeyPatch, variables: dict[str, str], target: str
) -> None:
    for name, value in variables.items():
        env.setenv(name, value)
    url = httpx2.URL(target)
    ours = environment_proxy(url)
    assert (None if ours is None else str(ours.url)) == _httpx2_decides(url)


def test_a_proxy_is_found_and_skipped_as_the_table_says(env: pytest.MonkeyPatch) -> None:
    """The oracle itself is not trivially None: the table exercises both outcomes."""
    env.setenv("HTTPS_PROXY", P)
    assert environment_proxy(httpx2.URL("https://gw.example.com")) is not None
    env.setenv("NO_PROXY", "gw.example.com")
    assert environment_proxy(httpx2.URL("https://gw.example.com")) is None
