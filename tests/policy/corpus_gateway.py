"""What the per-engine corpus tests share: prepare each statement through the real gateway with a
real client (ADBC's prepare: CreatePreparedStatement, the gateway's describe and admission; no
statement runs), and the answers the refused corpus may get."""

from __future__ import annotations

import adbc_driver_flightsql.dbapi as flight_sql
from corpus import Entry

REFUSALS = ("error_code=STATEMENT_NOT_ALLOWED", "error_code=STATEMENT_NOT_UNDERSTOOD")
TABLES = ("region", "nation", "part", "supplier", "partsupp", "customer", "orders", "lineitem", "events")


def prepare_each(conn: flight_sql.Connection, entries: list[Entry]) -> dict[str, str | None]:
    """Entry id -> the error preparing it gave (None: accepted)."""
    answers: dict[str, str | None] = {}
    for entry in entries:
        with conn.cursor() as cur:
            try:
                cur.adbc_prepare(entry.sql)
                answers[entry.id] = None
            except flight_sql.Error as error:
                answers[entry.id] = str(error)
    return answers


def not_accepted(answers: dict[str, str | None]) -> dict[str, str]:
    return {name: error for name, error in answers.items() if error is not None}


def not_refused(answers: dict[str, str | None]) -> dict[str, str | None]:
    """Answers other than a policy refusal (PermissionDenied with one of REFUSALS)."""
    return {
        name: error
        for name, error in answers.items()
        if error is None or not any(code in error for code in REFUSALS) or "PermissionDenied" not in error
    }


def snapshot(conn: flight_sql.Connection) -> list[tuple[object, ...]]:
    """What the refused corpus must leave as it was: the tables and nation's rows."""
    with conn.cursor() as cur:
        cur.execute("select n_nationkey, n_name, n_regionkey, n_comment from nation order by n_nationkey")
        rows: list[tuple[object, ...]] = list(cur.fetchall())
        for table in TABLES:
            cur.execute(f"select count(*) from {table}")  # the corpus's own table names
            rows.append((table, *cur.fetchall()[0]))
    return rows


def listed(answers: dict[str, str] | dict[str, str | None]) -> str:
    """One line per entry, for an assertion's message."""
    return "\n".join(f"{name}: {(error or 'accepted')[:300]}" for name, error in sorted(answers.items()))
