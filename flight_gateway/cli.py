"""`flight-gateway` command line: serve, jobs, sql, auth."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa

from flight_gateway import __version__
from flight_gateway.config import ConfigError, Settings, client_password, load_settings
from flight_gateway.logs import configure_logging

if TYPE_CHECKING:
    from flight_gateway.jobs import Job, JobStore

T = TypeVar("T")

_EXAMPLE_QUERY = '"select * from customers limit 5"'
_EPILOG = """\
configuration: TOML file (--config), environment variables FLIGHT_GATEWAY_<KEY>, and flags;
flags win over the environment, which wins over the file. See docs/configuration-reference.md for every key.
"""


def _settings_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML configuration file")
    parser.add_argument("--data-dir", type=Path, help="state directory (default ./.flight-gateway)")


def _load(args: argparse.Namespace, *, serving: bool = False, **extra: Any) -> Settings:
    return load_settings(args.config, serving=serving, data_dir=args.data_dir, **extra)


def _serve(args: argparse.Namespace) -> int:
    from flight_gateway.app import build
    from flight_gateway.process_memory import return_large_blocks_to_the_os

    settings = _load(
        args,
        host=args.host,
        port=args.port,
        demo_rows=args.demo_rows,
        serving=True,
        demo=args.demo,
        log_level=args.log_level,
        tls_self_signed=True if args.tls_self_signed else None,
    )
    configure_logging(settings.log_level)
    return_large_blocks_to_the_os()
    try:
        gateway = build(settings)
    except (pa.ArrowException, OSError) as exc:
        print(
            f"flight-gateway: cannot serve on {settings.host}:{settings.port}: {exc} "
            "(is another process using the port? choose another with --port)",
            file=sys.stderr,
        )
        return 2
    uri = f"{'grpc+tls' if settings.tls_enabled else 'grpc'}://{settings.host}:{gateway.port}"
    lines = [f"flight-gateway {__version__} listening on {uri}", *gateway.banner]
    if settings.demo_enabled:
        roots = f" --tls-root-certs {settings.data_dir / 'tls-self-signed.pem'}" if settings.tls_self_signed else ""
        lines += [
            "connect with ADBC (Python):",
            "  import adbc_driver_flightsql.dbapi as flight_sql",
            f'  conn = flight_sql.connect("{uri}", db_kwargs={{"username": "acme", "password": "<password>"}}, '
            "autocommit=True)",
            f"JDBC: jdbc:arrow-flight-sql://{settings.host}:{gateway.port}?useEncryption={str(settings.tls_enabled).lower()}"
            "&user=acme&password=<password>",
            f"try it: flight-gateway sql --uri {uri} --username acme{roots} {_EXAMPLE_QUERY}",
        ]
    print("\n".join(lines), flush=True)

    def stop(signum: int, frame: object) -> None:
        # shutdown() waits for serve() to return, so it cannot run inside the handler itself.
        logging.getLogger("flight_gateway").info("signal %d: shutting down", signum)
        threading.Thread(target=gateway.server.shutdown, name="shutdown", daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        gateway.serve()
    finally:
        gateway.shutdown()
    return 0


def _job_store(args: argparse.Namespace) -> JobStore | None:
    settings = _load(args)
    if settings.job_store == "dynamodb":
        from flight_gateway.app import open_job_store

        return open_job_store(settings)
    if not settings.jobs_path.exists():
        print(f"no job store at {settings.jobs_path} (has the gateway run with this data dir?)", file=sys.stderr)
        return None
    from flight_gateway.jobs import SqliteJobStore

    return SqliteJobStore(settings.jobs_path)


def _jobs_list(args: argparse.Namespace) -> int:
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


def _jobs_show(args: argparse.Namespace) -> int:
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


def _jobs_cancel(args: argparse.Namespace) -> int:
    from flight_gateway.jobs.operator import cancel

    outcome = _with_job(args, lambda store, job: cancel(store, job, time.time()))
    if outcome is None:
        return 1
    print(f"{outcome.status}: {outcome.message}")
    if outcome.warning:
        print(f"note: {outcome.warning}", file=sys.stderr)
    return 0


def _sql(args: argparse.Namespace) -> int:
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


def _hash_password(args: argparse.Namespace) -> int:
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


def _create_key(args: argparse.Namespace) -> int:
    from auth.api_keys import generate_api_key, render_api_key_toml

    expires = None
    if args.expires_in_days is not None:
        expires = datetime.now(UTC) + timedelta(days=args.expires_in_days)
    key, record = generate_api_key(args.tenant, subject=args.subject or "", expires_at=expires)
    print(f"API key (shown once; store it now): {key}", file=sys.stderr, flush=True)
    print("Add this to the gateway's config file:", file=sys.stderr, flush=True)
    print(render_api_key_toml(record))
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="flight-gateway",
        description="Multi-tenant Arrow Flight SQL gateway (embedded DuckDB by default).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--version", action="version", version=f"flight-gateway {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the gateway", description="Run the gateway until SIGINT/SIGTERM.")
    _settings_args(serve)
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8815; 0 picks a free port)")
    serve.add_argument("--demo-rows", type=int, help="size of each demo tenant's dataset (default 100000)")
    demo = serve.add_mutually_exclusive_group()
    demo.add_argument(
        "--demo",
        action="store_true",
        default=None,
        help="serve the demo tenants acme and globex (default: only when nothing is configured)",
    )
    demo.add_argument(
        "--no-demo", dest="demo", action="store_false", default=None, help="do not serve the demo tenants"
    )
    serve.add_argument(
        "--tls-self-signed",
        action="store_true",
        help="serve grpc+tls:// with a throwaway self-signed certificate (local trials only)",
    )
    serve.add_argument("--log-level", type=str.upper, choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    serve.set_defaults(run=_serve)

    jobs = sub.add_parser("jobs", help="inspect the job history", description="Inspect recorded statements.")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", required=True, metavar="ACTION")
    listing = jobs_sub.add_parser("list", help="recent jobs, newest first")
    _settings_args(listing)
    listing.add_argument("--tenant", help="only this tenant's jobs")
    listing.add_argument(
        "--state",
        type=str.upper,
        choices=["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"],
        help="only jobs in this state",
    )
    listing.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    listing.add_argument("--json", action="store_true", help="JSON output")
    listing.set_defaults(run=_jobs_list)
    show = jobs_sub.add_parser(
        "show", help="one job, every field", description="Show one job (any tenant). Exit code 1: no such job."
    )
    _settings_args(show)
    show.add_argument("job_id", metavar="ID")
    show.add_argument("--json", action="store_true", help="JSON output")
    show.set_defaults(run=_jobs_show)
    cancel = jobs_sub.add_parser(
        "cancel",
        help="mark a QUEUED or RUNNING job CANCELLED in the job store",
        description=(
            "Mark a QUEUED or RUNNING job CANCELLED in the job store (any tenant), e.g. a record a crashed "
            "gateway left behind. This command has no connection to a running gateway: a query running in a "
            "live gateway is interrupted only when cancelled through the gateway, with its CancelJob action or "
            "CancelFlightInfo; if the job is RUNNING in a live gateway instance, the command says so. "
            "Exit code 0: cancelled, or already ended (NOT_CANCELLABLE); 1: no such job."
        ),
    )
    _settings_args(cancel)
    cancel.add_argument("job_id", metavar="ID")
    cancel.set_defaults(run=_jobs_cancel)

    sql = sub.add_parser(
        "sql",
        help="run one query through a gateway (tiny client)",
        description=(
            "Run one query; the password comes from FLIGHT_GATEWAY_PASSWORD or, when stdin is a terminal, "
            "a prompt (exit status 2 without either)."
        ),
    )
    sql.add_argument("query")
    sql.add_argument("--uri", default="grpc://127.0.0.1:8815")
    sql.add_argument("--username", required=True)
    sql.add_argument(
        "--max-rows", type=int, default=50, help="print at most this many rows and stop reading (default 50)"
    )
    sql.add_argument("--tls-root-certs", type=Path, help="PEM file of the CA (or self-signed cert) to trust")
    sql.set_defaults(run=_sql)

    auth = sub.add_parser("auth", help="credentials helpers")
    auth_sub = auth.add_subparsers(dest="auth_command", required=True, metavar="ACTION")
    hp = auth_sub.add_parser("hash-password", help="print an scrypt hash for a [[users]] entry (reads stdin)")
    hp.set_defaults(run=_hash_password)
    ck = auth_sub.add_parser(
        "create-key",
        help="make a new API key: prints the key once (stderr) and its [[api_keys]] entry (stdout)",
    )
    ck.add_argument("--tenant", required=True, help="tenant the key acts as")
    ck.add_argument("--subject", help="who the key is for (default key:<id>)")
    ck.add_argument("--expires-in-days", type=float, help="expiry (default: never)")
    ck.set_defaults(run=_create_key)

    simulate = sub.add_parser("simulate", help="local stand-ins for cloud databases (tests, demos)")
    simulate_sub = simulate.add_subparsers(dest="simulate_command", required=True, metavar="SYSTEM")
    redshift = simulate_sub.add_parser(
        "redshift",
        help="a Redshift simulator: local PostgreSQL behind a Redshift-speaking front, moto for AWS APIs",
        description="Run until Ctrl-C. See flight_gateway/simulation/README.md for what differs from Redshift.",
    )
    redshift.add_argument("--port", type=int, default=0, help="front port (default: a free one)")
    redshift.add_argument("--data-dir", type=Path, default=Path(".redshift-sim"), help="PostgreSQL data and demo state")
    redshift.add_argument("--s3-endpoint", help="S3/AWS API endpoint to use instead of starting moto's server")
    redshift.set_defaults(run=_simulate_redshift)
    return top


def _simulate_redshift(args: argparse.Namespace) -> int:
    from flight_gateway.simulation.standalone import run

    return run(args.data_dir, port=args.port, s3_endpoint=args.s3_endpoint, out=lambda line: print(line, flush=True))


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except ConfigError as exc:
        print(f"flight-gateway: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
