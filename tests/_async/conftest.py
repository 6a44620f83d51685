"""The `router` fixture: a fake gateway behind an httpx2 `MockTransport`.

It keeps the small part of respx's API the client tests use (respx does not support
httpx2): ``router.post(path).mock(return_value=..., side_effect=...)``, ``router.get``,
``router.route(method=..., path=...)``, ``router["token"]``, ``router.calls.last.request``,
``router.calls.call_count``, ``route.called``, ``route.call_count``, ``route.calls``.

The transport is plugged in where the SDK builds its own HTTP client
(`AsyncPools.new_transport`), so a client made with no `http_client` runs its own
path: requests handed to the transport directly, the pool per event loop, close().
`router.http_client()` gives a caller-owned client on the same routes.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest

from runrgateway._pools import AsyncPools
from tests.helpers import BASE, token_answer


class Call:
    def __init__(self, request: httpx2.Request, response: httpx2.Response | None) -> None:
        self.request = request
        self.response = response


class CallList(list[Call]):
    @property
    def last(self) -> Call:
        return self[-1]

    @property
    def call_count(self) -> int:
        return len(self)


class Route:
    """Requests matching a method and a path (percent-encoded, as sent); None matches any."""

    def __init__(self, method: str | None, path: str | None, name: str | None) -> None:
        self.method = method
        self.path = path
        self.name = name
        self.calls = CallList()
        self.return_value: httpx2.Response | None = None
        self._side_effect: Any = None

    @property
    def side_effect(self) -> Any:
        return self._side_effect

    @side_effect.setter
    def side_effect(self, effect: Any) -> None:
        # A list is a sequence of effects, one per call (respx's semantics).
        self._side_effect = iter(effect) if isinstance(effect, (list, tuple)) else effect

    def mock(self, return_value: httpx2.Response | None = None, side_effect: Any = None) -> Route:
        self.return_value = return_value
        self.side_effect = side_effect
        return self

    @property
    def called(self) -> bool:
        return bool(self.calls)

    @property
    def call_count(self) -> int:
        return len(self.calls)

    def matches(self, request: httpx2.Request) -> bool:
        path = request.url.raw_path.split(b"?", 1)[0].decode("ascii")
        return (self.method is None or request.method == self.method) and (
            self.path is None or path == self.path
        )

    async def answer(self, request: httpx2.Request) -> httpx2.Response:
        effect = self._side_effect
        if isinstance(effect, Iterator):
            effect = next(effect)
        response = await _apply(effect, request)
        if response is None:
            response = self.return_value
        if response is None:
            response = httpx2.Response(200)
        if "content-encoding" in response.headers:
            return response  # its content is decoded already: a copy could not be encoded
        try:
            content = response.content
        except httpx2.ResponseNotRead:  # a stream: the client reads (and decodes) it
            return response
        # A fresh copy per call, as a server sends a new answer each time.
        return httpx2.Response(response.status_code, headers=response.headers, content=content)


async def _apply(effect: Any, request: httpx2.Request) -> httpx2.Response | None:
    if effect is None:
        return None
    if isinstance(effect, type) and issubclass(effect, BaseException):
        effect = effect("injected by the router")
    if isinstance(effect, BaseException):
        if isinstance(effect, httpx2.RequestError):
            effect.request = request  # as raised by a real transport
        raise effect
    if isinstance(effect, httpx2.Response):
        return effect
    if callable(effect):
        result = effect(request)
        if inspect.isawaitable(result):
            result = await result
        return result  # type: ignore[no-any-return]
    raise TypeError(f"router: unsupported side_effect {effect!r}")


class Router:
    """Routes for requests to `base_url`; the first matching route answers."""

    def __init__(self, base_url: str) -> None:
        self._base = httpx2.URL(base_url)
        self._routes: list[Route] = []
        self.calls = CallList()
        self.transport = httpx2.MockTransport(self._handle)

    def route(
        self, *, method: str | None = None, path: str | None = None, name: str | None = None
    ) -> Route:
        """A route; one with the same method and path replaces the older one, in place."""
        new = Route(method, path, name)
        for index, old in enumerate(self._routes):
            if (old.method, old.path) == (method, path):
                new.name = name or old.name
                self._routes[index] = new
                return new
        self._routes.append(new)
        return new

    def get(self, path: str, *, name: str | None = None) -> Route:
        return self.route(method="GET", path=path, name=name)

    def post(self, path: str, *, name: str | None = None) -> Route:
        return self.route(method="POST", path=path, name=name)

    def __getitem__(self, name: str) -> Route:
        for route in self._routes:
            if route.name == name:
                return route
        raise KeyError(name)

    def http_client(self, **kwargs: Any) -> httpx2.AsyncClient:
        """A caller-owned client whose requests reach these routes."""
        return httpx2.AsyncClient(transport=self.transport, **kwargs)

    async def _handle(self, request: httpx2.Request) -> httpx2.Response:
        if (request.url.scheme, request.url.netloc) != (self._base.scheme, self._base.netloc):
            raise AssertionError(f"router: request to another origin: {request.url}")
        for route in self._routes:
            if route.matches(request):
                try:
                    response = await route.answer(request)
                except BaseException:
                    route.calls.append(Call(request, None))
                    self.calls.append(Call(request, None))
                    raise
                call = Call(request, response)
                route.calls.append(call)
                self.calls.append(call)
                return response
        raise AssertionError(f"router: no route for {request.method} {request.url}")


def _own_transport(
    router: Router,
) -> Callable[[httpx2.Limits, httpx2.Proxy | None], httpx2.MockTransport]:
    def build(limits: httpx2.Limits, proxy: httpx2.Proxy | None) -> httpx2.MockTransport:
        return router.transport

    return build


@pytest.fixture
def router(monkeypatch: pytest.MonkeyPatch) -> Iterator[Router]:
    """A `Router` for `BASE`; the route named "token" answers generate-token like the gateway."""
    mock = Router(BASE)
    mock.post("/api/generate-token", name="token").mock(side_effect=token_answer)
    monkeypatch.setattr(AsyncPools, "new_transport", staticmethod(_own_transport(mock)))
    yield mock
