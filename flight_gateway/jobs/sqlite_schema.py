"""The SQLite job store's schema, and its migration from files written by earlier versions.

A job store outlives gateway upgrades (operators keep the data dir), so opening a file adds the
columns and tables it lacks instead of requiring a fresh file; columns are only ever added, so an
older gateway can still read and write a migrated file.
"""

from __future__ import annotations

import sqlite3

_TABLES = (
    """
    create table if not exists jobs (
        id text primary key,
        tenant text not null,
        subject text not null,
        kind text not null,
        fingerprint text not null,
        state text not null,
        created_at real not null,
        started_at real,
        finished_at real,
        rows integer,
        bytes integer,
        error_code text,
        error_message text,
        sql_text text,
        peer text not null default '',
        delivery text not null default 'stream',
        user_agent text not null default '',
        engine_query_id text,
        sqlstate text,
        instance_id text not null default '',
        expires_at real,
        offload_location text,
        offload_expires_at real,
        label text,
        result text,
        admission text,
        queued_ms integer,
        truncated text
    )
    """,
    """
    create table if not exists instances (
        id text primary key,
        host text not null,
        pid integer not null,
        started_at real not null,
        heartbeat_at real not null,
        heartbeat_seconds real not null,
        stopped_at real
    )
    """,
    # Client request ids (idempotency): the primary key is the atomic claim.
    """
    create table if not exists requests (
        tenant text not null,
        request_id text not null,
        statement text not null,
        job_id text not null,
        created_at real not null,
        expires_at real not null,
        primary key (tenant, request_id)
    )
    """,
)
# Columns added since the first release, with the declarations ALTER TABLE gives them there.
_ADDED_COLUMNS = (
    ("user_agent", "text not null default ''"),
    ("engine_query_id", "text"),
    ("sqlstate", "text"),
    ("instance_id", "text not null default ''"),
    ("expires_at", "real"),
    ("offload_location", "text"),
    ("offload_expires_at", "real"),
    ("label", "text"),
    ("result", "text"),
    ("admission", "text"),
    ("queued_ms", "integer"),
    ("truncated", "text"),
)
_INDEXES = (
    "create index if not exists jobs_tenant_created on jobs (tenant, created_at)",
    "create index if not exists jobs_created on jobs (created_at)",
    "create index if not exists jobs_expires on jobs (expires_at)",
    # Sweeps look only at unfinished jobs, a handful among millions of records.
    "create index if not exists jobs_unfinished on jobs (state, created_at) where state in ('QUEUED', 'RUNNING')",
    "create index if not exists requests_expires on requests (expires_at)",
)

COLUMNS = (
    "id", "tenant", "subject", "kind", "fingerprint", "state", "created_at", "started_at", "finished_at",
    "rows", "bytes", "error_code", "error_message", "sql_text", "peer", "delivery", "user_agent",
    "engine_query_id", "sqlstate", "instance_id", "expires_at", "offload_location", "offload_expires_at",
    "label", "result", "admission", "queued_ms", "truncated",
)  # fmt: skip
REQUEST_COLUMNS = ("tenant", "request_id", "statement", "job_id", "created_at", "expires_at")
INSTANCE_COLUMNS = ("id", "host", "pid", "started_at", "heartbeat_at", "heartbeat_seconds", "stopped_at")


def migrate(con: sqlite3.Connection) -> None:
    """Create or upgrade the schema in one immediate transaction, so two processes opening the
    same old file at once cannot both add a column."""
    con.execute("begin immediate")
    try:
        for ddl in _TABLES:
            con.execute(ddl)
        present = {str(row[1]) for row in con.execute("pragma table_info(jobs)")}
        for name, declaration in _ADDED_COLUMNS:
            if name not in present:
                con.execute(f"alter table jobs add column {name} {declaration}")
        for ddl in _INDEXES:
            con.execute(ddl)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
