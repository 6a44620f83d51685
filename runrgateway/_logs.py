"""Turning on the SDK's logs without code: ``RUNRGATEWAY_LOG=debug`` or ``info``.

Read once, when `runrgateway` is imported (as openai-python reads ``OPENAI_LOG``): a
handler writing to stderr is added to the ``runrgateway`` logger. What is logged is
unchanged by this switch: the records were masked when they were made.

It never adds a handler when the variable is unset: a library stays quiet unless asked.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Mapping
from typing import TextIO

from ._constants import LOGGER_NAME

ENV_LOG = "RUNRGATEWAY_LOG"
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO}
_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


class _SdkHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler this module adds, told apart from the application's own handlers."""


def enable_logging(level: int, stream: TextIO | None = None) -> None:
    """Send the ``runrgateway`` logger's records at `level` and above to `stream`.

    Idempotent: a second call for the same stream changes the level instead of adding a
    second handler (so ``RUNRGATEWAY_LOG`` and the CLI's ``-v`` do not print twice).
    """
    target = sys.stderr if stream is None else stream
    logger = logging.getLogger(LOGGER_NAME)
    if not any(
        isinstance(handler, _SdkHandler) and handler.stream is target for handler in logger.handlers
    ):
        handler = _SdkHandler(target)
        handler.setFormatter(logging.Formatter(_FORMAT))
        logger.addHandler(handler)
    logger.setLevel(level)


def setup_from_environment(environ: Mapping[str, str] | None = None) -> None:
    """Apply ``RUNRGATEWAY_LOG`` (``debug`` or ``info``, any case); unset or empty: nothing."""
    value = (os.environ if environ is None else environ).get(ENV_LOG, "").strip()
    if not value:
        return
    level = _LEVELS.get(value.lower())
    if level is None:
        warnings.warn(
            f"{ENV_LOG}={value!r} is not 'debug' or 'info': ignored", RuntimeWarning, stacklevel=2
        )
        return
    enable_logging(level)
