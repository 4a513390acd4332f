"""What the PostgreSQL engine needs to know about a statement's text (never how to rewrite it)."""

from __future__ import annotations

import re

from auth import Tenant
from flight_gateway.bounded_cache import ByteBoundedLru, text_bytes
from flight_gateway.errors import ErrorCode, error
from flight_gateway.kinds import StatementClass, StatementKind
from flight_gateway.policy import check_classes, refuse_transaction_control
from flight_gateway.policy.pg_classify import Classified, classify
from flight_gateway.policy.pg_keywords import TRANSACTION_CONTROL
from flight_gateway.policy.pg_statements import read_statement

__all__ = [
    "TRANSACTION_CONTROL",
    "check_one_statement",
    "classify",
    "first_keyword",
    "read_statement",
    "statement_kind",
]


def check_one_statement(tenant: Tenant, classified: Classified) -> None:
    """Before the database sees the text: transaction control (in any statement of it) is refused
    as on every engine, the tenant's allowances are checked (text not understood is refused to
    restricted tenants: fail closed), and several statements are refused to the others too."""
    if TRANSACTION_CONTROL.intersection(classified.keywords):
        refuse_transaction_control(tenant)
    check_classes(tenant, classified.classes, classified.problem)
    if classified.several:
        raise error(ErrorCode.MULTIPLE_STATEMENTS, "the text holds several statements; send them one at a time")


def first_keyword(sql: str) -> str:
    """The statement's first keyword as PostgreSQL reads it (comments, parentheses skipped)."""
    return classify(sql).keyword


def statement_kind(sql: str, returns_rows: bool, classified: Classified | None = None) -> StatementKind:
    """How the statement runs: a QUERY if it returns rows, else by what it does."""
    if returns_rows:
        return StatementKind.QUERY
    classes = (classified or classify(sql)).classes
    if StatementClass.DML in classes:
        return StatementKind.DML
    if StatementClass.DDL in classes:  # SELECT … INTO is DDL
        return StatementKind.DDL
    return StatementKind.OTHER


def copyable(sql: str) -> str:
    """The driver runs a query as `COPY (<sql>) TO STDOUT`: a trailing `-- comment` would swallow
    the closing parenthesis and a trailing semicolon would end the COPY early."""
    return sql.rstrip().rstrip(";").rstrip() + "\n"


# `?` → `$n` rewrites kept per engine (the original text and its rewrite).
PLACEHOLDER_CACHE_BYTES = 8 << 20
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


def _skip_quoted(sql: str, i: int) -> int:
    """Index just past the literal, identifier, comment or dollar-quoted string at `i` (or `i`)."""
    ch, nxt = sql[i], sql[i + 1 : i + 2]
    if ch == "'" or ch == '"':
        backslashes = ch == "'" and i > 0 and sql[i - 1] in "eE" and (i < 2 or not sql[i - 2].isalnum())
        j = i + 1
        while j < len(sql):
            if backslashes and sql[j] == "\\":
                j += 2
                continue
            if sql[j] == ch:
                if sql[j + 1 : j + 2] == ch:  # doubled quote
                    j += 2
                    continue
                return j + 1
            j += 1
        return len(sql)
    if ch == "-" and nxt == "-":
        end = sql.find("\n", i)
        return len(sql) if end < 0 else end
    if ch == "/" and nxt == "*":
        depth, j = 1, i + 2
        while j < len(sql) and depth:
            if sql.startswith("/*", j):
                depth, j = depth + 1, j + 2
            elif sql.startswith("*/", j):
                depth, j = depth - 1, j + 2
            else:
                j += 1
        return j
    if ch == "$" and (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] == "_")):
        tag = _DOLLAR_TAG.match(sql, i)
        if tag:
            end = sql.find(tag.group(0), tag.end())
            return len(sql) if end < 0 else end + len(tag.group(0))
    return i


def question_marks_to_dollars(sql: str) -> str | None:
    """`?` placeholders (JDBC/ODBC style) as PostgreSQL's `$1`, `$2`, …; None if there are none,
    or if the text already uses `$n`. Quotes, comments and dollar-quoted bodies are left alone;
    `?|` and `?&` stay jsonb operators and `??` stands for a literal `?` (as in JDBC)."""
    out: list[str] = []
    count, i = 0, 0
    while i < len(sql):
        end = _skip_quoted(sql, i)
        if end > i:
            out.append(sql[i:end])
            i = end
            continue
        ch = sql[i]
        if ch == "$" and sql[i + 1 : i + 2].isdigit():
            return None
        if ch == "?":
            nxt = sql[i + 1 : i + 2]
            if nxt == "?":
                out.append("?")
                i += 2
                continue
            if nxt in ("|", "&"):
                out.append(sql[i : i + 2])
                i += 2
                continue
            count += 1
            out.append(f"${count}")
        else:
            out.append(ch)
        i += 1
    return "".join(out) if count else None


class PlaceholderRewrites:
    """SQL texts that needed `?` → `$n` (learnt when PostgreSQL refused the original), so later
    calls with the same text go straight to the rewritten form. Both texts are kept, so the cache
    is bounded by their bytes (least recently used out), not by entries."""

    def __init__(self, max_bytes: int = PLACEHOLDER_CACHE_BYTES) -> None:
        self._entries: ByteBoundedLru[str, str] = ByteBoundedLru(max_bytes, text_bytes)

    def get(self, sql: str) -> str:
        rewritten = self._entries.get(sql)
        return sql if rewritten is None else rewritten

    def put(self, sql: str, rewritten: str) -> None:
        self._entries.put(sql, rewritten)
