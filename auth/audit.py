"""Structured authentication events, and a logging filter that keeps secrets out of every log line.

Attach `SecretRedactingFilter` to the *handlers* (a filter on a logger does not see records that
propagate from its children): `handler.addFilter(SecretRedactingFilter())`.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

REDACTED = "[REDACTED]"
_MAX_FIELD_CHARS = 256
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SCHEMES = r"(?:basic|bearer|digest|negotiate)"


@dataclass(frozen=True)
class AuthEvent:
    """One authentication attempt. `reason` is the stable AuthError reason of a failure."""

    outcome: Literal["success", "failure"]
    method: str
    reason: str | None = None
    subject: str | None = None
    tenant: str | None = None
    key_id: str | None = None
    peer: str | None = None


def _clean(value: str | None) -> str | None:
    """Client-supplied text, bounded and free of control characters (no forged log lines)."""
    if value is None:
        return None
    return _CONTROL.sub("?", value[:_MAX_FIELD_CHARS])


def log_auth_event(logger: logging.Logger, event: AuthEvent) -> None:
    """One record: INFO for a success, WARNING for a failure; every field is an `extra` attribute.

    The message carries only gateway-chosen codes, never client-supplied text.
    """
    fields = {name: _clean(value) for name, value in asdict(event).items()}
    if event.outcome == "success":
        logger.info("auth success (%s)", fields["method"], extra=fields)
    else:
        logger.warning("auth failure (%s): %s", fields["method"], fields["reason"] or "unknown", extra=fields)


def _looks_secret(value: str) -> bool:
    """Bearer/Basic values, told apart from prose such as "bearer token" or "Basic authentication"."""
    return len(value) >= 16 or not value.isalpha()


def _basic(match: re.Match[str]) -> str:
    value = match.group(2)
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    return f"{match.group(1)} {REDACTED}" if b":" in decoded or _looks_secret(value) else match.group(0)


def _bearer(match: re.Match[str]) -> str:
    return f"{match.group(1)} {REDACTED}" if _looks_secret(match.group(2)) else match.group(0)


def _api_key(match: re.Match[str]) -> str:
    key_id = re.match(r"[0-9a-z]{12}_", match.group(1))
    return f"fgk_{key_id.group(0) if key_id else ''}{REDACTED}"


_RULES: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    # authorization / proxy-authorization header values, as text, dict/tuple reprs or bytes reprs
    (
        re.compile(rf"(?i)(authorization['\"]?\s*[:=,]\s*\[?\s*(?:b?['\"])?)(?:{_SCHEMES}\s+)?[^\s'\",;)}}\]]+"),
        rf"\g<1>{REDACTED}",
    ),
    (re.compile(r"(?i)\b(basic)\s+([A-Za-z0-9+/=_-]+)"), _basic),
    (re.compile(r"(?i)\b(bearer)\s+([A-Za-z0-9._~+/=-]+)"), _bearer),
    (re.compile(r"fgk_([A-Za-z0-9_-]+)"), _api_key),
    (re.compile(r"fgt1\.[A-Za-z0-9_.-]+"), f"fgt1.{REDACTED}"),
    # JWS (3 segments) and JWE (5 segments) compact forms: the header is base64url JSON, `{"` -> `eyJ`
    (re.compile(r"eyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){2,4}", re.IGNORECASE), REDACTED),
    (
        re.compile(r"(?i)((?:password|passwd|pwd|secret|token)['\"]?\s*[=:]\s*['\"]?)[^\s'\"&;,)}\]]+"),
        rf"\g<1>{REDACTED}",
    ),
    # credentials in URLs: scheme://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]+:)[^\s@/]+@"), rf"\g<1>{REDACTED}@"),
]


def redact_secrets(text: str) -> str:
    """`text` with anything that looks like a credential replaced by [REDACTED]."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def _scrub(value: Any) -> Any:
    return redact_secrets(value) if isinstance(value, str) else value


def _scrub_args(args: Any) -> Any:
    if isinstance(args, Mapping):
        return {key: _scrub(value) for key, value in args.items()}
    return tuple(_scrub(value) for value in args) if isinstance(args, tuple) else args


_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class SecretRedactingFilter(logging.Filter):
    """Scrubs message, args, `extra` string fields, traceback and stack text of every record; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message: str | None = record.getMessage()
        except Exception:  # args that do not fit the format: the handler reports that, without secrets
            message = None
        if message is None:
            record.msg, record.args = redact_secrets(str(record.msg)), _scrub_args(record.args)
        elif (clean := redact_secrets(message)) != message:
            record.msg, record.args = clean, None
        else:
            # The rendered line is clean; args may still reach structured handlers on their own.
            record.args = _scrub_args(record.args)
        for name, value in list(vars(record).items()):
            if name not in _STANDARD_ATTRIBUTES and isinstance(value, str):
                setattr(record, name, redact_secrets(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_secrets(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_secrets(record.stack_info)
        return True
