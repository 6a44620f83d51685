"""The `runrgateway` command line: demo, keygen, serve, call, token, job, mcp.

Configuration comes from the environment, read as `GatewayClient.from_env()` reads it
(`_environment.py`): ``GATEWAY_URL``, ``AGENT_ID``, the agent's private key as PEM text
in ``AGENT_PRIVATE_KEY`` or in the file ``AGENT_PRIVATE_KEY_FILE``,
``AGENT_KEY_PASSWORD``. Without ``GATEWAY_URL`` the commands use the embedded gateway
(``mock://...``) with a throwaway key, and say so on stderr.

Exit codes: 0 success, 1 the gateway (or the network) refused or failed, 2 usage or
configuration error, 130 interrupted, 141 stdout closed early (a reader such as
``head`` stopped reading: the shell's SIGPIPE convention, quietly). Results go to
stdout; notices, progress and errors to stderr, each line of ours prefixed
``runrgateway <command>:``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import ipaddress
import json
import logging
import os
import shlex
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from ._async._client import GatewayClient
from ._constants import LOGGER_NAME, MAX_TTL_MINUTES, MCP_INSTALL_HINT, MIN_TTL_MINUTES
from ._environment import ENV_AGENT_ID, ENV_KEY, ENV_KEY_FILE, ENV_URL, read_environment
from ._environment import EnvironmentSettings as Settings
from ._errors import (
    JOBS_UNSUPPORTED,
    GatewayConfigError,
    GatewayError,
    GatewayUpstreamError,
    GatewayValidationError,
)
from ._ids import generate_idempotency_key
from ._keys import AgentKey
from ._logs import enable_logging
from ._masking import mask_text
from ._models import JobResponse, TokenInfo, valid_ttl_minutes
from ._sync._client import SyncGatewayClient
from ._version import __version__

EXIT_OK = 0
EXIT_GATEWAY_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports when the reader went away

ENV_TOKEN = "AGENT_TOKEN"

PROG = "runrgateway"
KEY_TYPES = ("ed25519", "rsa", "ec", "ec-p384")
DEMO_RECIPIENT = "demo@example.com"  # example.com never receives mail (RFC 2606)


class UsageError(Exception):
    """A mistake in the command line or the environment: exit code 2."""


# ---------------------------------------------------------------------------- settings


def settings_from_env(environ: Mapping[str, str], default_mock_url: str) -> Settings:
    """What `from_env()` reads; the embedded gateway with a throwaway key when
    GATEWAY_URL is unset (and nothing else is set either)."""
    return read_environment(environ, default_base_url=default_mock_url)


def _announce(settings: Settings, err: TextIO, command: str) -> None:
    # Only when the user set nothing: GATEWAY_URL=mock://x is a choice, not a surprise.
    if settings.fallback_url:
        print(
            f"{PROG} {command}: {ENV_URL} is not set: using the embedded gateway at "
            f"{settings.base_url} "
            f"with a throwaway key (set {ENV_URL}, {ENV_AGENT_ID} and {ENV_KEY} to use a "
            "real gateway)",
            file=err,
        )


def _sync_client(settings: Settings, intent: str | None = None) -> SyncGatewayClient:
    kwargs = dict(settings.kwargs)
    if intent is not None:
        kwargs["default_intent"] = intent
    return SyncGatewayClient(**kwargs)


# ------------------------------------------------------------------------------ output


def report_error(
    exc: GatewayError, err: TextIO, secrets: Sequence[str] = (), command: str | None = None
) -> None:
    """Class name, message and ids on stderr; never a token or key."""
    prefix = f"{PROG} {command}" if command else PROG
    lines = [f"{prefix}: error: {type(exc).__name__}: {exc.message}"]
    if exc.status_code is not None:
        lines.append(f"  status: {exc.status_code}")
    lines.append(f"  code: {exc.code}")
    if exc.reason and exc.reason not in exc.message:
        lines.append(f"  reason: {exc.reason}")
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        lines.append(f"  retry after: {retry_after:g} s")
    if exc.correlation_id:
        lines.append(f"  correlation id: {exc.correlation_id}")
    if exc.server_correlation_id:
        lines.append(f"  gateway correlation id: {exc.server_correlation_id}")
    if exc.attempts > 1:
        lines.append(f"  attempts: {exc.attempts}")
    print(mask_text("\n".join(lines), secrets), file=err)


def _print_json(value: Any, out: TextIO) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str), file=out)


def _setup_logging(verbose: bool, err: TextIO) -> None:
    if verbose:  # the same handler RUNRGATEWAY_LOG adds: never two lines per record
        enable_logging(logging.DEBUG, err)


# ------------------------------------------------------------------------ arguments


def _comma_list(text: str) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list, e.g. serpapi,http_fetch")
    return items


def _ttl(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of minutes: {text!r}") from None
    if not valid_ttl_minutes(value):
        raise argparse.ArgumentTypeError(
            f"must be between {MIN_TTL_MINUTES} and {MAX_TTL_MINUTES} minutes"
        )
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be between 0 and 65535 (0: any free port)")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def parse_params(pairs: Sequence[str], json_text: str | None) -> dict[str, Any]:
    """``--json`` first, then each ``key=value`` (the value parsed as JSON when it parses)."""
    params: dict[str, Any] = {}
    if json_text is not None:
        try:
            loaded = json.loads(json_text)
        except ValueError as exc:
            raise UsageError(f"--json is not valid JSON: {exc}") from None
        if not isinstance(loaded, dict):
            raise UsageError('--json must be a JSON object, e.g. \'{"query": "plumbers"}\'')
        params.update(loaded)
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"expected key=value, got {pair!r}")
        try:
            value: Any = json.loads(text)
        except ValueError:
            value = text
        params[name.strip()] = value
    return params


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log every request (DEBUG, secrets masked) to stderr",
    )
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Command line for 4Runr Gateway. Set GATEWAY_URL, AGENT_ID and AGENT_PRIVATE_KEY "
            "(PEM text) or AGENT_PRIVATE_KEY_FILE to use a real gateway; without them the "
            "commands use the embedded gateway (mock://) with a throwaway key."
        ),
        epilog="Exit codes: 0 success, 1 gateway error, 2 usage error, 130 interrupted, "
        "141 stdout closed early (e.g. piped into head).",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser(
        "demo",
        parents=[common],
        help="the quickstart flow: token, search, fetch, summarise, email job",
        description="Mint a token, search, fetch and summarise a page, and send an email as "
        "a background job. Uses mock://demo unless GATEWAY_URL is set. Makes 4 proxy calls "
        "(gateways allow 5 per agent per minute).",
    )
    demo.set_defaults(run=cmd_demo)

    keygen = commands.add_parser(  # no -v: keygen makes no request to log
        "keygen",
        help="generate an agent key pair",
        description="Generate an agent private key and print its public key for registering "
        "with a gateway. With --out the private key is written to FILE (mode 0600); "
        "without it the private key goes to stdout and the public key to stderr.",
    )
    keygen.add_argument("--type", choices=KEY_TYPES, default="ed25519", help="default: ed25519")
    keygen.add_argument("--out", metavar="FILE", help="write the private key here (new file)")
    keygen.set_defaults(run=cmd_keygen)

    serve = commands.add_parser(
        "serve",
        parents=[common],
        help="run the embedded gateway over HTTP on loopback",
        description="Serve the embedded gateway on loopback until Ctrl-C or SIGTERM. An "
        "agent is created with a fresh key (or --agent-key) and the environment for a "
        "second terminal is printed on stdout.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8080, help="default 8080; 0: a free port")
    serve.add_argument(
        "--agent-key",
        metavar="FILE",
        help="register this private key's agent instead of generating one (e.g. from keygen)",
    )
    serve.add_argument(
        "--rate-limit",
        type=_non_negative_int,
        default=5,
        metavar="CALLS",
        help="proxy calls per agent per 60 s, as the real gateway (default 5; 0: no limit)",
    )
    serve.add_argument(
        "--upstream-mode",
        choices=("live", "mock"),
        default="live",
        help="the tools' answers: live (the shapes production returns; default) or mock "
        "(exactly what the real gateway answers in its UPSTREAM_MODE=mock)",
    )
    serve.add_argument(
        "--no-circuit-breaker",
        action="store_true",
        help="run every tool call (by default 5 failed runs of a tool open its breaker for 30 s)",
    )
    serve.add_argument("--quiet", action="store_true", help="do not log requests to stderr")
    serve.set_defaults(run=cmd_serve)

    call = commands.add_parser(
        "call",
        parents=[common],
        help="make one proxy call; prints the result as JSON",
        description="One proxied call. Parameters are key=value (the value parsed as JSON "
        "when it parses, else kept as a string) and/or --json with an object.",
    )
    call.add_argument("tool", help="e.g. serpapi")
    call.add_argument("action", help="e.g. search")
    call.add_argument("params", nargs="*", metavar="key=value", help="a parameter")
    call.add_argument("--json", dest="json_params", metavar="OBJECT", help="parameters as JSON")
    call.add_argument("--intent", help="the intent sent with the call")
    token_source = call.add_mutually_exclusive_group()
    token_source.add_argument(
        "--token-file",
        metavar="FILE",
        help=f"read the agent token from FILE ('-': stdin) instead of a managed one; "
        f"{ENV_TOKEN} in the environment does the same",
    )
    token_source.add_argument(
        "--token",
        help="the agent token itself (visible to ps and kept in shell history: prefer "
        f"--token-file or {ENV_TOKEN})",
    )
    call.add_argument("--idempotency-key", help="make retries (and repeats) safe with this key")
    mode = call.add_mutually_exclusive_group()
    mode.add_argument(
        "--full", action="store_true", help="print metadata, correlation ids, attempts too"
    )
    mode.add_argument(
        "--async",
        dest="run_async",
        action="store_true",
        help="start a background job and print its id (gateways with jobs only)",
    )
    call.set_defaults(run=cmd_call)

    token = commands.add_parser(
        "token",
        parents=[common],
        help="mint an agent token (printed on stdout)",
        description="Mint an agent token. Only stdout receives the token.",
    )
    token.add_argument("--tools", type=_comma_list, required=True, help="e.g. serpapi,http_fetch")
    token.add_argument(
        "--permissions", type=_comma_list, default=["read"], help="e.g. read,write (default read)"
    )
    token.add_argument("--ttl", type=_ttl, default=15, help="minutes, 1 to 1440 (default 15)")
    token.add_argument(
        "--json", action="store_true", help="print token, token_id, expiry and scope as JSON"
    )
    token.set_defaults(run=cmd_token)

    job = commands.add_parser(
        "job",
        parents=[common],
        help="show a background job (and wait for it)",
        description="Print a job's state as JSON. With --wait, poll until it is done or "
        "failed (exit 1 when it failed or time ran out).",
    )
    job.add_argument("job_id")
    job.add_argument("--wait", action="store_true", help="wait until done or failed")
    job.add_argument(
        "--timeout", type=_positive_float, default=60.0, help="seconds for --wait (default 60)"
    )
    job.set_defaults(run=cmd_job)

    mcp = commands.add_parser(
        "mcp",
        parents=[common],
        help="serve the gateway's tools to MCP clients over stdio",
        description="An MCP server over stdin/stdout: one tool per gateway tool:action the "
        "agent's policies allow (serpapi_search, http_fetch_get, ...), each call signed and "
        'made by the SDK. Needs the extra: pip install "runrgateway[mcp]". Logs go to '
        "stderr (RUNRGATEWAY_LOG=debug|info, or -v). Stops when stdin closes.",
    )
    mcp.add_argument(
        "--tools",
        type=_comma_list,
        metavar="NAMES",
        help="list only these, e.g. serpapi_search,http_fetch (a tool name, tool:action, or "
        "a gateway tool for all its actions)",
    )
    mcp.add_argument(
        "--intent", help="the intent sent with every call (a call's own intent argument wins)"
    )
    mcp.set_defaults(run=cmd_mcp)
    return parser


@dataclass
class Context:
    """What a command gets: its arguments, the environment and the two streams."""

    args: argparse.Namespace
    environ: Mapping[str, str]
    out: TextIO
    err: TextIO
    secrets: list[str] = field(default_factory=list)

    @property
    def command(self) -> str:
        return str(self.args.command)

    def say(self, text: str) -> None:
        """A notice on stderr, prefixed with the command."""
        print(f"{PROG} {self.command}: {text}", file=self.err)

    def settings(self, default_mock_url: str) -> Settings:
        try:
            settings = settings_from_env(self.environ, default_mock_url)
        except GatewayConfigError as exc:
            raise UsageError(exc.message) from None
        self.secrets.extend(settings.secrets)
        _announce(settings, self.err, self.command)
        return settings


# ------------------------------------------------------------------------------ demo


def cmd_demo(ctx: Context) -> int:
    settings = ctx.settings("mock://demo")
    return asyncio.run(_demo(settings, ctx.out))


async def _demo(settings: Settings, out: TextIO) -> int:
    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    where = "the embedded gateway, in process" if settings.mock else "a real gateway"
    say(f"4Runr Gateway demo against {settings.base_url} ({where}), agent {settings.agent_id}")
    async with GatewayClient(**{**settings.kwargs, "default_intent": "lead_discovery"}) as gw:
        say()
        say("1. Token: get_token_info(tools=['serpapi'], permissions=['read'], ttl_minutes=15)")
        info = await gw.get_token_info(
            {"tools": ["serpapi"], "permissions": ["read"], "ttl_minutes": 15}
        )
        say(f"   token id {info.token_id}, expires {info.expires_at:%Y-%m-%d %H:%M:%S} UTC")

        query = "site:linkedin.com Montreal plumber"
        say()
        say(f"2. Search: serpapi:search {query!r} (with that token)")
        found = await gw.proxy("serpapi", "search", {"q": query, "num": 3}, info.agent_token)
        hits = _search_hits(found)
        say(f"   {len(hits)} results")
        for hit in hits:
            say(f"   - {hit.get('title')}  <{hit.get('link') or hit.get('url')}>")
        first_link = next(
            (
                str(hit.get("link") or hit.get("url"))
                for hit in hits
                if hit.get("link") or hit.get("url")
            ),
            "https://example.com/",
        )

        say()
        say(f"3. Fetch: http_fetch:get {first_link} (the SDK mints a read-only token itself)")
        page = await gw.proxy("http_fetch", "get", {"url": first_link})
        page = page if isinstance(page, dict) else {}
        content = str(page.get("data", page.get("body", "")))
        say(f"   {page.get('url')}: HTTP {page.get('status')}, {len(content)} characters")
        say(f"   {_shorten(content, 100)}")

        say()
        say("4. Summarise: openai:chat")
        try:
            chat = await gw.proxy(
                "openai",
                "chat",
                {
                    "model": "gpt-4o-mini",
                    "messages": [{"role": "user", "content": f"Summarise: {content[:2000]}"}],
                },
            )
        except GatewayUpstreamError as exc:  # the real gateway's mock mode always fails here
            say(f"   the gateway's chat tool failed ({exc.message}); going on")
        else:
            say(f"   answer: {_shorten(_chat_text(chat), 160)}")

        say()
        say(f"5. Email: gmail_send:send to {DEMO_RECIPIENT} as a background job")
        email = {
            "to": DEMO_RECIPIENT,
            "subject": "Partnership opportunity",
            "body": f"Hi there, I found {len(hits)} leads for you.",
        }
        try:
            job = await gw.proxy_async(
                "gmail_send", "send", email, idempotency_key=generate_idempotency_key()
            )
        except GatewayError as exc:
            if exc.code != JOBS_UNSUPPORTED:
                raise
            say("   this gateway does not run jobs: it sent the email at once")
            if exc.response is not None:  # the answer it gave instead of a job id
                say(f"   message {_message_id(exc.response.data)}")
        else:
            say(f"   job {job['job_id']} {job['status']}; wait_for_job ...")
            finished = await gw.wait_for_job(job["job_id"], timeout_s=30.0)
            if finished.status != "done":
                say(f"   job {finished.status}: {finished.error}")
                return EXIT_GATEWAY_ERROR
            say(f"   job done: message {_message_id(finished.result)}")
    say()
    say("Done: 4 proxy calls (gateways allow 5 per agent per minute).")
    return EXIT_OK


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# The tools answer in the live shapes (production) or the real gateway's mock-mode shapes
# (docs/tool-answers.md); the demo reads both, as the examples do.


def _search_hits(found: Any) -> list[dict[str, Any]]:
    hits = (found.get("organic_results") or found.get("results")) if isinstance(found, dict) else []
    return [hit for hit in hits or [] if isinstance(hit, dict)]


def _chat_text(chat: Any) -> str:
    try:
        if "choices" in chat:
            return str(chat["choices"][0]["message"]["content"])
        return str(chat["output"])
    except (KeyError, IndexError, TypeError):
        return json.dumps(chat, default=str)


def _message_id(sent: Any) -> str:
    if isinstance(sent, dict):
        return str(sent.get("messageId") or sent.get("id"))
    return json.dumps(sent, default=str)


# ---------------------------------------------------------------------------- keygen


def cmd_keygen(ctx: Context) -> int:
    args, out, err = ctx.args, ctx.out, ctx.err
    key = AgentKey.generate(args.type)
    private_pem = key.private_key_pem()
    if args.out is None:
        out.write(private_pem)
        out.flush()
        ctx.say(f"the public key ({key.alg}) follows: register it with your gateway")
        err.write(key.public_key_pem())
        return EXIT_OK
    path = Path(args.out).expanduser()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise UsageError(f"{path} already exists: not overwriting it") from None
    except OSError as exc:
        raise UsageError(f"cannot create {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(private_pem)
    out.write(key.public_key_pem())
    out.flush()  # first: a closed stdout ends the command before any notice
    ctx.say(f"wrote the private key ({key.alg}) to {path} (mode 0600)")
    ctx.say(f"use it with: export {ENV_KEY_FILE}={shlex.quote(str(path))}")
    ctx.say(f"the public key ({key.alg}) is on stdout: register it with your gateway")
    return EXIT_OK


# ----------------------------------------------------------------------------- serve


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM; the previous handlers come back afterwards."""
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    names = [signal.SIGINT, signal.SIGTERM]
    previous = {signum: signal.signal(signum, handler) for signum in names}
    try:
        yield stop
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def cmd_serve(ctx: Context) -> int:
    args, out, err = ctx.args, ctx.out, ctx.err
    if not _is_loopback(args.host):
        raise UsageError(
            f"serve binds to loopback only (the embedded gateway is for development): {args.host}"
        )
    from .testing import EmbeddedGateway, GatewayServer

    if not args.quiet:
        handler = logging.StreamHandler(err)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        gateway_logger = logging.getLogger(f"{LOGGER_NAME}.gateway")
        gateway_logger.addHandler(handler)
        if gateway_logger.getEffectiveLevel() > logging.INFO:
            gateway_logger.setLevel(logging.INFO)

    key_path: Path | None = None
    if args.agent_key:
        try:
            key = AgentKey.from_pem(Path(args.agent_key).expanduser().read_bytes())
        except OSError as exc:
            raise UsageError(f"cannot read --agent-key {args.agent_key}: {exc.strerror}") from None
        except GatewayConfigError as exc:
            raise UsageError(f"--agent-key {args.agent_key}: {exc.message}") from None
        key_source = Path(args.agent_key).expanduser().resolve()
    else:
        key = AgentKey.generate("ed25519")
        fd, name = tempfile.mkstemp(prefix="runrgateway-agent-", suffix=".pem")  # mode 0600
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(key.private_key_pem())
        key_path = key_source = Path(name)

    try:
        gateway = EmbeddedGateway(
            "server",
            upstream_mode=args.upstream_mode,
            circuit_breaker=not args.no_circuit_breaker,
        )
        server = GatewayServer(
            gateway, host=args.host, port=args.port, allow_builtin_tools_by_default=True
        )
        gateway.set_rate_limit(args.rate_limit or None)
        agent = server.gateway.create_agent("cli-agent", public_key_pem=key.public_key_pem())
        with _stop_on_signals() as stop:
            try:
                server.start()
            except OSError as exc:
                hint = " (try --port 0 for any free port)" if exc.errno == errno.EADDRINUSE else ""
                ctx.say(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror}{hint}")
                return EXIT_USAGE  # a local problem (port taken, bad host), not the gateway
            try:
                _print_serve_banner(out, server.url, agent.agent_id, key_source, key_path, args)
                while not stop.wait(0.2):
                    pass
                ctx.say("stopping the embedded gateway")
            finally:
                server.stop()
    finally:
        if key_path is not None:
            with contextlib.suppress(OSError):
                key_path.unlink()
    return EXIT_OK


def _print_serve_banner(
    out: TextIO,
    url: str,
    agent_id: str,
    key_source: Path,
    temporary_key: Path | None,
    args: argparse.Namespace,
) -> None:
    limit = (
        f"{args.rate_limit} proxy calls per agent per 60 s, as the real gateway"
        if args.rate_limit
        else "none"
    )
    breaker = "off" if args.no_circuit_breaker else "on"
    lines = [
        f"# 4Runr embedded gateway listening on {url} (Ctrl-C to stop)",
        f"# rate limit: {limit} (--rate-limit N to change, 0 for none); tool answers: "
        f"{args.upstream_mode} shapes (--upstream-mode); circuit breaker: {breaker}",
        f"# agent {agent_id} may use every built-in tool; its private key is {key_source}"
        + (" (mode 0600, deleted when the gateway stops)" if temporary_key else ""),
        "# in a second terminal:",
        f"export {ENV_URL}={url} {ENV_AGENT_ID}={agent_id} "
        f'{ENV_KEY}="$(cat {shlex.quote(str(key_source))})"',
        f"# then try: {PROG} call serpapi search query='Montreal plumber' num=3",
    ]
    print("\n".join(lines), file=out, flush=True)


# ------------------------------------------------------------------- call, token, job


def cmd_call(ctx: Context) -> int:
    args = ctx.args
    params = parse_params(args.params, args.json_params)
    token = _call_token(ctx)
    if token:
        ctx.secrets.append(token)
    settings = ctx.settings("mock://cli")
    if settings.mock and args.run_async:
        ctx.say(
            f"note: {settings.base_url} lives in this process only: the job id "
            "cannot be looked up by a later command (set GATEWAY_URL to reach a gateway)"
        )
    with _sync_client(settings, args.intent) as gw:
        if args.run_async:
            result: Any = gw.proxy_async(
                args.tool, args.action, params, token, idempotency_key=args.idempotency_key
            )
        elif args.full:
            result = gw.proxy_response(
                args.tool, args.action, params, token, idempotency_key=args.idempotency_key
            ).to_dict()
        else:
            result = gw.proxy(
                args.tool, args.action, params, token, idempotency_key=args.idempotency_key
            )
    _print_json(result, ctx.out)
    return EXIT_OK


def _call_token(ctx: Context) -> str | None:
    """The caller's token: --token, --token-file (``-``: stdin) or AGENT_TOKEN; else None
    (the SDK mints managed tokens)."""
    args = ctx.args
    if args.token is not None:
        text: str = args.token
        where = "--token"
    elif args.token_file is not None:
        where = "--token-file"
        try:
            if args.token_file == "-":
                text = sys.stdin.read()
            else:
                text = Path(args.token_file).expanduser().read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problem = exc.strerror if isinstance(exc, OSError) and exc.strerror else "unreadable"
            raise UsageError(f"cannot read --token-file {args.token_file}: {problem}") from None
    else:
        text = ctx.environ.get(ENV_TOKEN, "")
        where = ENV_TOKEN
        if not text.strip():
            return None
    token = text.strip()
    if not token or any(char.isspace() for char in token):
        # "NAME: value" would read as a secret to the masking of messages: no colon here.
        raise UsageError(f"{where} must hold one agent token (no spaces or line breaks inside)")
    return token


def cmd_token(ctx: Context) -> int:
    args = ctx.args
    settings = ctx.settings("mock://cli")
    if settings.mock:
        ctx.say(f"note: a token from {settings.base_url} is only valid inside this process")
    with _sync_client(settings) as gw:
        info = gw.get_token_info(
            {"tools": args.tools, "permissions": args.permissions, "ttl_minutes": args.ttl}
        )
    if args.json:
        _print_json(_token_json(info), ctx.out)
    else:
        print(info.agent_token, file=ctx.out)
    return EXIT_OK


def _token_json(info: TokenInfo) -> dict[str, Any]:
    return {
        "agent_token": info.agent_token,
        "token_id": info.token_id,
        "expires_at": info.expires_at.isoformat().replace("+00:00", "Z"),
        "agent_name": info.agent_name,
        "tools": list(info.tools),
        "permissions": list(info.permissions),
    }


def cmd_job(ctx: Context) -> int:
    args, err = ctx.args, ctx.err
    settings = ctx.settings("mock://cli")
    if settings.mock:
        ctx.say(
            f"note: {settings.base_url} lives in this process only: it knows only "
            "jobs started here (set GATEWAY_URL to reach a gateway)"
        )
    with _sync_client(settings) as gw:
        if not args.wait:
            job = gw.get_job(args.job_id)
        elif _is_tty(err):
            job = _wait_with_progress(gw, args.job_id, args.timeout, err)
        else:
            job = gw.wait_for_job(args.job_id, timeout_s=args.timeout)
    _print_json(job.to_dict(), ctx.out)
    if args.wait and job.status == "failed":
        ctx.say(f"error: job {job.job_id} failed: {job.error}")
        return EXIT_GATEWAY_ERROR
    return EXIT_OK


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _wait_with_progress(
    gw: SyncGatewayClient, job_id: str, timeout_s: float, err: TextIO
) -> JobResponse:
    """`wait_for_job` with a status line on a terminal."""

    def show(job: JobResponse, elapsed_s: float) -> None:
        err.write(f"\r{PROG} job: {job_id} {job.status:<8} {elapsed_s:5.1f} s")
        err.flush()

    try:
        return gw.wait_for_job(job_id, timeout_s=timeout_s, on_poll=show)
    finally:
        err.write("\n")
        err.flush()


# ------------------------------------------------------------------------------- mcp


def cmd_mcp(ctx: Context) -> int:
    """`runrgateway mcp`: the MCP server (imported here only: the base install lacks mcp)."""
    from . import mcp as tools

    args = ctx.args
    try:
        requested = tools.resolve_names(args.tools) if args.tools else None
    except tools.UnknownToolName as exc:
        raise UsageError(f"--tools: {exc}") from None
    try:
        server = tools.load_server()
    except ImportError as exc:
        if exc.name != "mcp":
            raise
        print(f"{PROG} mcp: {MCP_INSTALL_HINT}", file=ctx.err)
        return EXIT_USAGE
    from .mcp._logs import configure

    settings = ctx.settings("mock://mcp")
    configure(ctx.environ, bool(getattr(args, "verbose", False)), ctx.err, ctx.secrets)

    async def serve() -> None:
        # Made inside the loop that uses it (one async client per event loop).
        kwargs = dict(settings.kwargs)
        if args.intent is not None:
            kwargs["default_intent"] = args.intent
        client = GatewayClient(**kwargs)
        await server.run_stdio(client, requested=requested, secrets=ctx.secrets)

    asyncio.run(serve())
    return EXIT_OK


# ------------------------------------------------------------------------------ main


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the command line; returns the exit code (argparse exits 2 on bad usage itself)."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    args = build_parser().parse_args(argv)
    _setup_logging(getattr(args, "verbose", False), err)
    ctx = Context(args, os.environ if environ is None else environ, out, err)
    run: Callable[[Context], int] = args.run
    try:
        code = run(ctx)
        out.flush()  # here, where a closed pipe is caught, not in Python's exit handler
        return code
    except BrokenPipeError:
        return _reader_gone(out)
    except UsageError as exc:
        ctx.say(f"error: {mask_text(str(exc), ctx.secrets)}")
        return EXIT_USAGE
    except GatewayConfigError as exc:
        ctx.say(f"configuration error: {exc.message}")
        return EXIT_USAGE
    except GatewayValidationError as exc:
        if exc.status_code is None:  # refused before sending: the arguments are wrong
            ctx.say(f"error: {mask_text(exc.message, ctx.secrets)}")
            return EXIT_USAGE
        report_error(exc, err, ctx.secrets, ctx.command)
        return EXIT_GATEWAY_ERROR
    except GatewayError as exc:
        report_error(exc, err, ctx.secrets, ctx.command)
        return EXIT_GATEWAY_ERROR
    except KeyboardInterrupt:
        ctx.say("interrupted")
        return EXIT_INTERRUPTED


def _reader_gone(out: TextIO) -> int:
    """stdout's reader closed early (``runrgateway demo | head -2``): end quietly.

    The reader has what it wanted, so this is not an error to report. Python's own
    flush of stdout at exit would fail again and print a traceback: point the
    descriptor at /dev/null first (the recipe in Python's `signal` docs).
    """
    if out is sys.stdout:
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
    return EXIT_BROKEN_PIPE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
