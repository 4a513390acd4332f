"""Logging for `flight-gateway serve`: text lines on stderr, secrets redacted on every handler.

`--log-level DEBUG` is the gateway's own detail (loggers `flight_gateway.*` and `auth.*`: each
call's identity, each job's outcome). Libraries stay at INFO whatever the level: their DEBUG output
carries credentials the redacting filter cannot know (botocore logs signed request headers and
whole response bodies, such as Secrets Manager secret values and Redshift temporary passwords).
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from auth.audit import SecretRedactingFilter

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
GATEWAY_LOGGERS = ("flight_gateway", "auth")


def configure_logging(level: str, stream: TextIO | None = None) -> None:
    """Send records to `stream` (stderr): the gateway's at `level`, the libraries' at INFO or above."""
    wanted = logging.getLevelNamesMapping()[level.upper()]
    # force: a library that configured the root logger at import must not silence ours.
    logging.basicConfig(level=max(wanted, logging.INFO), format=FORMAT, stream=stream or sys.stderr, force=True)
    for name in GATEWAY_LOGGERS:
        logging.getLogger(name).setLevel(wanted)
    for handler in logging.getLogger().handlers:
        # On the handler, so records from every logger pass through it.
        handler.addFilter(SecretRedactingFilter())
