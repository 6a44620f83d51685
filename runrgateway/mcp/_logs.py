"""Logging for the MCP server: stderr only, every line masked, level from RUNRGATEWAY_LOG.

stdout belongs to the protocol, so the server's records (and the SDK's, under the
``runrgateway`` logger) go to stderr. ``RUNRGATEWAY_LOG=debug`` shows one line per
gateway attempt, ``info`` one per tool call; the default shows warnings only. A
handler already on the logger (the application's, or the SDK's own set-up) is kept
and none is added.

It never writes to stdout.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TextIO

from .._constants import LOGGER_NAME
from .._masking import mask_text

ENV_LOG = "RUNRGATEWAY_LOG"
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}


class MaskingFilter(logging.Filter):
    """Masks PEM keys, bearer credentials and the given secrets in every formatted record."""

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self._secrets = tuple(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_text(record.getMessage(), self._secrets)
        record.args = None
        if record.exc_info:  # the traceback is formatted from exc_info: mask it too
            record.exc_text = mask_text(
                logging.Formatter().formatException(record.exc_info), self._secrets
            )
            record.exc_info = None
        return True


def level_from(environ: Mapping[str, str], verbose: bool) -> int:
    """DEBUG with ``-v``; else RUNRGATEWAY_LOG (debug, info, warning); else WARNING."""
    if verbose:
        return logging.DEBUG
    return _LEVELS.get(environ.get(ENV_LOG, "").strip().lower(), logging.WARNING)


def configure(
    environ: Mapping[str, str], verbose: bool, stream: TextIO, secrets: Sequence[str]
) -> None:
    """Send the ``runrgateway`` logger to `stream`, masked, at the chosen level."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level_from(environ, verbose))
    if not logger.handlers:
        to_stream = logging.StreamHandler(stream)
        to_stream.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        logger.addHandler(to_stream)
    for handler in logger.handlers:
        handler.addFilter(MaskingFilter(secrets))
    unknown = environ.get(ENV_LOG, "").strip().lower()
    if unknown and unknown not in _LEVELS:
        logger.warning(
            "%s=%r is not one of %s: using warning", ENV_LOG, unknown, ", ".join(_LEVELS)
        )
