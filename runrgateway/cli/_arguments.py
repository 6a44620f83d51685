"""The argument parser: every command, its options and the checks of their values.

Parsing only: a command's work lives in its own module, which this one imports to
name the function each subcommand runs.

It never reads the environment, a file or the network: that is each command's.
"""

from __future__ import annotations

import argparse

from .._constants import MAX_TTL_MINUTES, MIN_TTL_MINUTES
from .._models import valid_ttl_minutes
from .._version import __version__
from ._calls import cmd_call, cmd_job, cmd_token
from ._context import (
    ENV_TOKEN,
    PROG,
)
from ._demo import cmd_demo
from ._keygen import KEY_TYPES, cmd_keygen
from ._mcp import cmd_mcp
from ._serve import cmd_serve


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
