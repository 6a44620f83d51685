"""A minimal Django project in one file: a view that searches through the gateway with
one module-level `SyncGatewayClient`, shared by every request thread.

    python examples/django_app/app.py runserver 127.0.0.1:8000
    curl 'http://127.0.0.1:8000/search?q=Montreal+plumber'

The blocking client is safe to share between threads (its managed tokens are minted once
for all of them, its connection pool is shared), so create it once per process, at import,
not per request. `from_env()` reads GATEWAY_URL, AGENT_ID and AGENT_PRIVATE_KEY (or
AGENT_PRIVATE_KEY_FILE); without GATEWAY_URL it uses the embedded gateway
(mock://django-example).

In a real project `gateway` lives in a module of your app (e.g. `myapp/gateway.py`) and
the views import it; settings stay in settings.py.
"""

from __future__ import annotations

import atexit
import sys

from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.http import require_GET

from runrgateway import (
    GatewayError,
    GatewayPolicyError,
    GatewayRateLimitError,
    GatewayValidationError,
    SyncGatewayClient,
)

gateway = SyncGatewayClient.from_env(
    default_base_url="mock://django-example", default_intent="lead_discovery"
)
atexit.register(gateway.close)


@require_GET
def search(request: HttpRequest) -> JsonResponse:
    query = request.GET.get("q", "").strip()
    if not query:
        return JsonResponse({"error": "add ?q=..."}, status=400)
    num_text = request.GET.get("num", "5")
    num = min(int(num_text), 100) if num_text.isdigit() and num_text != "0" else 5
    try:
        found = gateway.proxy("serpapi", "search", {"q": query, "num": num})
    except GatewayError as exc:
        return _error_response(exc)
    # "organic_results" live, "results" in the real gateway's mock mode (docs/tool-answers.md).
    hits = found.get("organic_results") or found.get("results") or []
    results = [{"title": hit["title"], "link": hit.get("link") or hit.get("url")} for hit in hits]
    return JsonResponse({"query": query, "results": results})


def _error_response(exc: GatewayError) -> JsonResponse:
    """Map gateway errors to HTTP answers; the correlation id lets support find the call."""
    body = {
        "error": type(exc).__name__,
        "message": exc.message,
        "correlation_id": exc.correlation_id,
    }
    if isinstance(exc, GatewayRateLimitError):
        response = JsonResponse({**body, "retry_after": exc.retry_after}, status=429)
        if exc.retry_after is not None:
            response["Retry-After"] = str(int(exc.retry_after + 0.999))
        return response
    if isinstance(exc, GatewayPolicyError):
        return JsonResponse(body, status=403)
    if isinstance(exc, GatewayValidationError):
        return JsonResponse(body, status=400)
    return JsonResponse(body, status=502)


urlpatterns = [path("search", search)]


if __name__ == "__main__":
    from django.conf import settings
    from django.core.management import execute_from_command_line

    settings.configure(
        DEBUG=True,
        SECRET_KEY="example-only-not-secret",
        ROOT_URLCONF=__name__,
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        INSTALLED_APPS=[],
        MIDDLEWARE=[],
    )
    execute_from_command_line(sys.argv)
