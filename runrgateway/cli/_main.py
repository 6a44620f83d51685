"""The entry point: parse, run the command, map what it raised to an exit code.

It decides exit codes and how an error is shown, never what a command does; a
message it prints is masked first.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TextIO

from .._errors import (
    GatewayConfigError,
    GatewayError,
    GatewayValidationError,
)
from .._masking import mask_text
from ._arguments import build_parser
from ._context import (
    EXIT_BROKEN_PIPE,
    EXIT_GATEWAY_ERROR,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    Context,
    UsageError,
    report_error,
    setup_logging,
)


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
    setup_logging(getattr(args, "verbose", False), err)
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
