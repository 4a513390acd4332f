"""Which client statements the front must change before PostgreSQL sees them, and into what.

PostgreSQL runs everything else unchanged. Rewrites keep the statement's shape for the driver
(one statement in, one statement out) so the relay never has to edit the server's answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_COPY_STDIO = re.compile(r"^\s*copy\b.*?\b(from\s+stdin|to\s+stdout)\b", re.IGNORECASE | re.DOTALL)
_SET_QUERY_GROUP = re.compile(r"^\s*set\s+(?:session\s+)?query_group\s*(?:to|=)\s*(.+?)\s*;?\s*$", re.I | re.S)
_RESET_QUERY_GROUP = re.compile(r"^\s*reset\s+query_group\s*;?\s*$", re.IGNORECASE)
_SHOW_QUERY_GROUP = re.compile(r"^\s*show\s+query_group\s*;?\s*$", re.IGNORECASE)
_UNLOAD = re.compile(r"^\s*unload\s*\(", re.IGNORECASE)
_FAULT = re.compile(
    r"^\s*select\s+(?:pg_catalog\.)?redshift_sim_fault\s*\(\s*'((?:[^']|'')*)'\s*\)\s*;?\s*$", re.I | re.S
)

QUERY_GROUP_GUC = "redshift.query_group"


@dataclass(frozen=True)
class Refusal:
    sqlstate: str
    message: str


@dataclass(frozen=True)
class Rewritten:
    sql: str


@dataclass(frozen=True)
class Unload:
    sql: str


@dataclass(frozen=True)
class FaultControl:
    spec: str


Handling = Refusal | Rewritten | Unload | FaultControl | None


def fail_sql(sqlstate: str, message: str) -> str:
    return f"CALL pg_catalog.redshift_sim_fail({quote(sqlstate)}, {quote(message)})"


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _syntax_error_near(sql: str, token_start: int, token: str) -> Refusal:
    # Redshift's parser errors name the token and up to ~20 characters leading to it.
    context = sql[max(0, token_start - 20) : token_start + len(token)].strip()
    return Refusal("42601", f'syntax error at or near "{token}" in context "{context}", at line 1')


def classify(sql: str) -> Handling:
    """What to do with one statement's text (None: relay unchanged)."""
    head = sql.lstrip()[:12].lower()
    if head.startswith("copy"):
        match = _COPY_STDIO.match(sql)
        if match:
            token = match.group(1).split()[-1]
            return _syntax_error_near(sql, match.end(1) - len(token), token.upper())
        return None
    if head.startswith("set"):
        match = _SET_QUERY_GROUP.match(sql)
        return Rewritten(f"SET {QUERY_GROUP_GUC} TO {match.group(1)}") if match else None
    if head.startswith("reset"):
        return Rewritten(f"RESET {QUERY_GROUP_GUC}") if _RESET_QUERY_GROUP.match(sql) else None
    if head.startswith("show"):
        if _SHOW_QUERY_GROUP.match(sql):
            return Rewritten(f"SELECT pg_catalog.current_setting('{QUERY_GROUP_GUC}') AS query_group")
        return None
    if head.startswith("unload"):
        return Unload(sql) if _UNLOAD.match(sql) else None
    if head.startswith("select"):
        match = _FAULT.match(sql)
        return FaultControl(match.group(1).replace("''", "'")) if match else None
    return None


def split_statements(sql: str) -> list[str]:
    """Split a simple-query string on top-level semicolons (quotes, dollar quotes, comments respected)."""
    statements: list[str] = []
    start = i = 0
    n = len(sql)
    while i < n:
        ch = sql[i]
        if ch == "'" or ch == '"':
            end = sql.find(ch, i + 1)
            while end != -1 and end + 1 < n and sql[end + 1] == ch:
                end = sql.find(ch, end + 2)
            i = n if end == -1 else end + 1
        elif ch == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end == -1 else end + 1
        elif ch == "/" and sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end == -1 else end + 2
        elif ch == "$":
            tag = re.match(r"\$[A-Za-z_]*\$", sql[i:])
            if tag:
                end = sql.find(tag.group(0), i + len(tag.group(0)))
                i = n if end == -1 else end + len(tag.group(0))
            else:
                i += 1
        elif ch == ";":
            statements.append(sql[start : i + 1])
            start = i = i + 1
        else:
            i += 1
    if sql[start:].strip():
        statements.append(sql[start:])
    return statements
