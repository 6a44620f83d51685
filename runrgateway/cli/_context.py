"""What every command shares: exit codes, the context a command runs in, its settings
and how errors are printed (never a token or key).
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from .._environment import ENV_AGENT_ID, ENV_KEY, ENV_URL, read_environment
from .._environment import EnvironmentSettings as Settings
from .._errors import (
    GatewayConfigError,
    GatewayError,
)
from .._logs import enable_logging
from .._masking import mask_text
from .._sync._client import SyncGatewayClient

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


def sync_client(settings: Settings, intent: str | None = None) -> SyncGatewayClient:
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


def print_json(value: Any, out: TextIO) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str), file=out)


def setup_logging(verbose: bool, err: TextIO) -> None:
    if verbose:  # the same handler RUNRGATEWAY_LOG adds: never two lines per record
        enable_logging(logging.DEBUG, err)


# ------------------------------------------------------------------------ arguments


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
