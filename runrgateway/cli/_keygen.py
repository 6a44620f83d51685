"""`runrgateway keygen`: a new agent key pair; the private half only ever to a 0600 file
or stdout.

The private half must never reach stderr, a log line or a file others can read.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from .._environment import ENV_KEY_FILE
from .._keys import AgentKey
from ._context import (
    EXIT_OK,
    Context,
    UsageError,
)

KEY_TYPES = ("ed25519", "rsa", "ec", "ec-p384")


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
