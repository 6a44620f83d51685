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

One module per command (`_demo`, `_keygen`, `_serve`, `_calls`, `_mcp`); `_arguments`
builds the parser, `_context` holds what they share and `_main` maps outcomes to exit
codes. Commands go through the public client only: nothing here signs or sends itself.

A secret (a key, a token) must never reach stdout or stderr, except where a command
exists to print it (`keygen`, `token`).
"""

from ._arguments import build_parser
from ._context import (
    EXIT_BROKEN_PIPE,
    EXIT_GATEWAY_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    report_error,
)
from ._main import main

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_GATEWAY_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "UsageError",
    "build_parser",
    "main",
    "report_error",
]
