"""The operator and client subcommands of `flight-gateway`: `jobs`, `sql` and `auth` (`cli.py` holds
the parser, `serve` and the entry point)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa

from flight_gateway.config import Settings, client_password, load_settings

if TYPE_CHECKING:
    from flight_gateway.jobs import Job, JobStore

T = TypeVar("T")


def load(args: argparse.Namespace, *, serving: bool = False, **extra: Any) -> Settings:
    return load_settings(args.config, serving=serving, data_dir=args.data_dir, **extra)


def _job_store(args: argparse.Namespace) -> JobStore | None:
    settings = load(args)
    if settings.job_store == "dynamodb":
        from flight_gateway.app import open_job_store

        return open_job_store(settings)
    if not settings.jobs_path.exists():
        print(f"no job store at {settings.jobs_path} (has the gateway run with this data dir?)", file=sys.stderr)
        return None
    from flight_gateway.jobs import SqliteJobStore

    return SqliteJobStore(settings.jobs_path)


def jobs_list(args: argparse.Namespace) -> int:
    from flight_gateway.jobs import JobState

    store = _job_store(args)
    if store is None:
        return 1
    try:
        jobs = store.list(args.tenant, args.limit, state=JobState(args.state) if args.state else None)
    finally:
        store.close()
    if args.json:
        from flight_gateway.jobs.operator import job_record

        print(json.dumps([job_record(j) for j in jobs], indent=2))
        return 0
    from flight_gateway.jobs.operator import table

    print(table(jobs))
    return 0


def _with_job(args: argparse.Namespace, use: Callable[[JobStore, Job], T]) -> T | None:
    """`use(store, job)` for the job named on the command line; None (after a message) if absent."""
    store = _job_store(args)
    if store is None:
        return None
    try:
        job = store.get(args.job_id)
        if job is None:
            print(f"no job {args.job_id} in this job store", file=sys.stderr)
            return None
        return use(store, job)
    finally:
        store.close()


def jobs_show(args: argparse.Namespace) -> int:
    from flight_gateway.jobs.operator import detail, job_record, owner

    found = _with_job(args, lambda store, job: (job, *owner(store, job, time.time())))
    if found is None:
        return 1
    job, instance, alive = found
    if args.json:
        print(json.dumps(job_record(job) | {"instance_alive": alive}, indent=2))
    else:
        print(detail(job, instance, alive))
    return 0


def jobs_cancel(args: argparse.Namespace) -> int:
    from flight_gateway.jobs.operator import cancel

    outcome = _with_job(args, lambda store, job: cancel(store, job, time.time()))
    if outcome is None:
        return 1
    print(f"{outcome.status}: {outcome.message}")
    if outcome.warning:
        print(f"note: {outcome.warning}", file=sys.stderr)
    return 0


def run_sql(args: argparse.Namespace) -> int:
    from flight_gateway.client import run_query

    if args.max_rows < 1:
        print("error: --max-rows must be at least 1", file=sys.stderr)
        return 2
    password = _sql_password(args.username)
    if password is None:
        print(
            "error: no password: set FLIGHT_GATEWAY_PASSWORD, or run in a terminal to be prompted for it",
            file=sys.stderr,
        )
        return 2
    try:
        roots = args.tls_root_certs.read_bytes() if args.tls_root_certs else None
        result = run_query(args.uri, args.username, password, args.query, roots, max_rows=args.max_rows)
    except (pa.ArrowException, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(_format_table(result.table, more=result.more))
    return 0


def _sql_password(username: str) -> str | None:
    """FLIGHT_GATEWAY_PASSWORD, else a prompt when stdin is a terminal; None when neither gives one."""
    password = client_password()
    if password is not None:
        return password
    if not sys.stdin.isatty():
        return None
    try:
        return getpass.getpass(f"password for {username}: ") or None
    except EOFError:
        return None


def _format_table(table: pa.Table, *, more: bool) -> str:
    """Aligned plain-text columns, like a SQL shell; `more`: rows beyond `table` exist (not read)."""
    rows = table.to_pylist()
    columns = table.column_names
    cells = [columns] + [["NULL" if r[c] is None else str(r[c]) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    if more:
        lines.append(f"(first {table.num_rows} rows; more rows exist: increase --max-rows)")
    else:
        lines.append(f"({table.num_rows} rows)")
    return "\n".join(lines)


def auth_hash_password(args: argparse.Namespace) -> int:
    from auth import hash_password

    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if password != getpass.getpass("again: "):
            print("passwords differ", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\n")
    if not password:
        print("empty password", file=sys.stderr)
        return 1
    print(hash_password(password))
    return 0


def auth_create_key(args: argparse.Namespace) -> int:
    from auth.api_keys import generate_api_key, render_api_key_toml

    expires = None
    if args.expires_in_days is not None:
        expires = datetime.now(UTC) + timedelta(days=args.expires_in_days)
    key, record = generate_api_key(args.tenant, subject=args.subject or "", expires_at=expires)
    print(f"API key (shown once; store it now): {key}", file=sys.stderr, flush=True)
    print("Add this to the gateway's config file:", file=sys.stderr, flush=True)
    print(render_api_key_toml(record))
    return 0
