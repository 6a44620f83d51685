"""The examples run for real: the scripts against mock:// and against `runrgateway serve`
in both upstream modes, the Django view from several threads, the notebook in a real
Jupyter kernel."""

from __future__ import annotations

import importlib
import json
import re
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from runrgateway.testing import get_gateway, remove_gateway
from tests.examples_support import EXAMPLES, GATEWAY_ENV, run_script, start_serve

pytestmark = pytest.mark.timeout(90)


# ----------------------------------------------------------------------- scripts


def test_lead_scraper() -> None:
    done = run_script(EXAMPLES / "lead_scraper.py")
    assert done.returncode == 0, done.stderr
    assert "mock://examples" in done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "Found 10 leads"
    assert ' 1. site:linkedin.com "software engineer" "San Francisco" - result 1' in lines
    assert done.stdout.count("https://example.com/") == 10


def test_data_enricher() -> None:
    done = run_script(EXAMPLES / "data_enricher.py", "https://example.org/about")
    assert done.returncode == 1  # example.org is not among the live fetcher's allowed hosts
    assert "GatewayUpstreamError: External API request failed: URL not allowed" in done.stderr
    assert "Traceback" not in done.stderr
    done = run_script(EXAMPLES / "data_enricher.py", "https://acme.com/about")
    assert done.returncode == 0, done.stderr
    assert "Fetched https://acme.com/about: HTTP 200" in done.stdout
    assert "Summary: Mock answer to: Summarize this content: <html><body>Mock page for " in (
        done.stdout
    )


def test_email_engager_sends_once_and_replays() -> None:
    done = run_script(EXAMPLES / "email_engager.py", "--to", "lead@example.com")
    assert done.returncode == 0, done.stderr
    first, _, again = done.stdout.splitlines()
    message_id = first.split("message ")[1].split(" ")[0]
    assert re.fullmatch(r"[0-9a-f]{16}", message_id)
    assert first.startswith("Sent to lead@example.com: message ")
    assert f"message {message_id}, replayed=True" in again


def test_asyncio_gather() -> None:
    done = run_script(EXAMPLES / "asyncio_gather.py")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("8 searches at once in ")  # mock:// has no rate limit
    for city in ("Montreal", "Winnipeg"):
        assert f"first: {city} plumber - result 1" in done.stdout


def test_tracing_prints_three_calls_in_one_trace() -> None:
    done = run_script(EXAMPLES / "tracing.py")
    assert done.returncode == 0, done.stderr
    spans = [line.split(" ", 5) for line in done.stdout.splitlines()]
    names = [span[0] for span in spans]
    assert names == [
        "generate_token",
        "serpapi:search",
        "generate_token",
        "http_fetch:get",
        "serpapi:search",
        "handle-request",
    ]
    fields = [dict(part.split("=", 1) for part in span[1:5]) for span in spans]
    attributes = [json.loads(span[5]) for span in spans]
    assert len({field["trace"] for field in fields}) == 1  # one trace, the handler's
    handler = fields[-1]["span"]
    assert [fields[i]["parent"] for i in (1, 3, 4)] == [handler] * 3
    assert fields[0]["parent"] == fields[1]["span"]  # the mint inside the first call
    assert fields[4]["events"] == "wait,retry" and attributes[4]["runrgateway.attempts"] == 2
    assert attributes[3]["runrgateway.tool"] == "http_fetch"
    assert all(attributes[i]["runrgateway.server_correlation_id"] for i in (1, 3, 4))
    assert "plumber" not in done.stdout  # no parameter value in a span


# What each script prints against `runrgateway serve` (default 5 calls a minute), per
# upstream mode: live (production's answers) and mock (the real gateway's mock mode).
SERVED_EXPECTATIONS: dict[str, dict[str, list[str]]] = {
    "lead_scraper.py": {
        "live": ["Found 10 leads", ' 1. site:linkedin.com "software engineer" "San Francisco" - '],
        "mock": ["Found 10 leads", ' 1. Result 1 for site:linkedin.com "software engineer"'],
    },
    "data_enricher.py": {
        "live": ["Fetched https://example.com: HTTP 200", "Summary: Mock answer to: Summarize"],
        "mock": [
            "openai:chat failed at the gateway, no summary: External API request failed: "
            "Cannot read properties of undefined (reading 'slice')",
            "Fetched https://example.com: HTTP 200, 98 characters",
        ],
    },
    "email_engager.py": {
        "live": ["Sent to prospect@example.com: message ", "attempts 1"],
        "mock": ["Sent to prospect@example.com: message mock_", "attempts 1"],
    },
    "tracing.py": {
        "live": ["serpapi:search trace=", "http_fetch:get trace=", "handle-request trace="],
        "mock": ["serpapi:search trace=", "http_fetch:get trace=", "handle-request trace="],
    },
    "asyncio_gather.py": {
        "live": ["5 searches at once", "Montreal   3 results, first: Montreal plumber - result 1"],
        "mock": [
            "5 searches at once",
            "Montreal   3 results, first: Result 1 for Montreal plumber",
        ],
    },
}


@pytest.mark.parametrize("mode", ["live", "mock"])
@pytest.mark.parametrize("script", sorted(SERVED_EXPECTATIONS))
def test_each_example_against_a_served_gateway(script: str, mode: str) -> None:
    """Unchanged scripts against `runrgateway serve` over HTTP, in both upstream modes; each
    within the real gateway's 5 calls a minute, and never a traceback."""
    server = start_serve("--upstream-mode", mode)
    try:
        done = run_script(EXAMPLES / script, env=server.env)
    finally:
        assert server.stop(signal.SIGTERM) == 0
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "mock://" not in done.stderr
    for expected in SERVED_EXPECTATIONS[script][mode]:
        assert expected in done.stdout, done.stdout
    if script == "email_engager.py":  # one email, sent once
        sends = [line for line in server.stderr_lines if "POST /api/proxy-request 200" in line]
        assert len(sends) == 1, server.stderr_lines


def test_an_example_after_the_minute_is_used_up() -> None:
    """The rate limit of a served gateway, met as a user meets it: a message, no traceback."""
    server = start_serve("--quiet")
    assert server.key_path is not None
    # The key as keygen leaves it, in a file: AGENT_PRIVATE_KEY_FILE instead of the PEM text.
    from_file = {
        "GATEWAY_URL": server.env["GATEWAY_URL"],
        "AGENT_ID": server.env["AGENT_ID"],
        "AGENT_PRIVATE_KEY_FILE": str(server.key_path),
    }
    try:
        gathered = run_script(EXAMPLES / "asyncio_gather.py", env=server.env)
        enriched = run_script(EXAMPLES / "data_enricher.py", env=from_file)
    finally:
        assert server.stop(signal.SIGTERM) == 0
    assert gathered.returncode == 0, gathered.stderr
    assert gathered.stdout.startswith("5 searches at once")
    # 5 calls used up the agent's minute: the next example is told to wait.
    assert enriched.returncode == 1
    assert "GatewayRateLimitError: Rate limit exceeded" in enriched.stderr
    assert "Traceback" not in enriched.stderr


# ------------------------------------------------------------------------ Django


@pytest.fixture(scope="module")
def django_app() -> Iterator[ModuleType]:
    django = pytest.importorskip("django")
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="tests-only",
            ROOT_URLCONF="app",
            ALLOWED_HOSTS=["testserver"],
            INSTALLED_APPS=[],
            MIDDLEWARE=[],
        )
        django.setup()
    sys.path.insert(0, str(EXAMPLES / "django_app"))
    remove_gateway("mock://django-example")
    try:
        module = importlib.import_module("app")
        yield module
    finally:
        sys.path.remove(str(EXAMPLES / "django_app"))
        sys.modules.pop("app", None)
        remove_gateway("mock://django-example")


def test_django_view_from_several_threads(
    django_app: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.test import Client

    for name in GATEWAY_ENV:
        monkeypatch.delenv(name, raising=False)
    gateway = get_gateway("mock://django-example")  # mock://: no rate limit for 24 calls
    gateway.tool_latency_s = 0.02  # let the requests overlap
    answers: list[tuple[int, dict[str, Any]]] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker(index: int) -> None:
        client = Client()
        start.wait(timeout=10)
        for round_ in range(3):
            response = client.get("/search", {"q": f"plumber {index}-{round_}", "num": "2"})
            with lock:
                answers.append((response.status_code, json.loads(response.content)))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(answers) == 24
    assert all(status == 200 for status, _ in answers), answers
    assert {body["results"][0]["title"] for _, body in answers} == {
        f"plumber {i}-{r} - result 1" for i in range(8) for r in range(3)
    }
    # One module-level client for every thread: one managed token minted for all of them.
    assert gateway.count("generate-token") == 1
    assert gateway.count("proxy-request") == 24


def test_django_view_maps_gateway_errors(django_app: ModuleType) -> None:
    from django.test import Client

    client = Client()
    assert client.get("/search").status_code == 400
    gateway = get_gateway("mock://django-example")
    gateway.set_rate_limit(None)
    gateway.fail_next(1, 429, route="proxy-request", retry_after=45)
    limited = client.get("/search", {"q": "roofers"})
    assert limited.status_code == 429
    assert limited["Retry-After"] == "45"
    body = json.loads(limited.content)
    assert body["error"] == "GatewayRateLimitError" and body["retry_after"] == 45
    assert body["correlation_id"].startswith("runr-")


def test_django_view_reads_the_real_mock_modes_answers(django_app: ModuleType) -> None:
    from django.test import Client

    gateway = get_gateway("mock://django-example")
    gateway.upstream_mode = "mock"
    try:
        answer = Client().get("/search", {"q": "roofers", "num": "2"})
    finally:
        gateway.upstream_mode = "live"
    assert answer.status_code == 200
    assert json.loads(answer.content)["results"] == [
        {"title": "Result 1 for roofers", "link": "https://example.com/roofers/1"},
        {"title": "Result 2 for roofers", "link": "https://example.com/roofers/2"},
    ]


# ---------------------------------------------------------------------- notebook


def run_notebook(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str]) -> list[str]:
    """Execute the notebook in a real kernel with `env` (and no other gateway settings);
    returns each code cell's printed text."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    for name in GATEWAY_ENV:  # the kernel inherits this environment: never a real gateway
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # The kernel runs this interpreter (the one with runrgateway installed), even when the
    # machine has another "python3" kernelspec installed for the user.
    spec = tmp_path / "kernels" / "python3" / "kernel.json"
    spec.parent.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec.write_text(json.dumps({"argv": argv, "display_name": "Python 3", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    notebook = nbformat.read(EXAMPLES / "notebook.ipynb", as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")
    client = nbclient.NotebookClient(
        notebook,
        timeout=60,
        startup_timeout=60,
        kernel_name="python3",
        resources={"metadata": {"path": str(EXAMPLES)}},
    )
    client.execute()
    outputs = []
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert not any(o.get("output_type") == "error" for o in cell.outputs), cell.outputs
            outputs.append("".join(o.get("text", "") for o in cell.outputs))
    return outputs


def test_notebook_runs_in_a_real_kernel(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    setup, blocking, awaited = run_notebook(monkeypatch, tmp_path, {})
    assert "gateway: mock://notebook" in setup
    assert "event loop already running: True" in setup  # the blocking client ran inside it
    assert blocking.splitlines()[0].startswith("1 Montreal plumber - result 1 https://example.com/")
    assert len(blocking.splitlines()) == 3
    assert awaited.startswith("answer: Mock answer to: Summarise: Montreal plumber - result 1")


def test_notebook_against_a_served_gateway_in_mock_mode(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The real gateway's mock mode: other shapes, and its chat bug met without an error."""
    server = start_serve("--quiet", "--upstream-mode", "mock")
    try:
        setup, blocking, awaited = run_notebook(monkeypatch, tmp_path, server.env)
    finally:
        assert server.stop(signal.SIGTERM) == 0
    assert f"gateway: {server.url}" in setup
    assert blocking.splitlines() == [
        f"{n} Result {n} for Montreal plumber https://example.com/Montreal%20plumber/{n}"
        for n in (1, 2, 3)
    ]
    assert awaited == (
        "answer: (no answer: External API request failed: Cannot read properties of "
        "undefined (reading 'slice'))\n"
    )
