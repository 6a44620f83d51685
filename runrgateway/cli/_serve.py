"""`runrgateway serve`: the embedded gateway over HTTP, on loopback only, until a signal.

It must never bind anything but a loopback address.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import shlex
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TextIO

from .._config import is_loopback_host
from .._constants import LOGGER_NAME
from .._environment import ENV_AGENT_ID, ENV_KEY, ENV_URL
from .._errors import (
    GatewayConfigError,
)
from .._keys import AgentKey
from ._context import (
    EXIT_OK,
    EXIT_USAGE,
    PROG,
    Context,
    UsageError,
)


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
    if not is_loopback_host(args.host):
        raise UsageError(
            f"serve binds to loopback only (the embedded gateway is for development): {args.host}"
        )
    from ..testing import EmbeddedGateway, GatewayServer

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
