"""`flight-gateway` command line: serve, jobs, sql, auth."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

from flight_gateway import __version__
from flight_gateway.cli_commands import (
    auth_create_key,
    auth_hash_password,
    jobs_cancel,
    jobs_list,
    jobs_show,
    load,
    run_sql,
)
from flight_gateway.config import ConfigError
from flight_gateway.logs import configure_logging

_EXAMPLE_QUERY = '"select * from customers limit 5"'
_EPILOG = """\
configuration: TOML file (--config), environment variables FLIGHT_GATEWAY_<KEY>, and flags;
flags win over the environment, which wins over the file. See docs/configuration-reference.md for every key.
"""


def _settings_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML configuration file")
    parser.add_argument("--data-dir", type=Path, help="state directory (default ./.flight-gateway)")


def _serve(args: argparse.Namespace) -> int:
    from flight_gateway.app import build
    from flight_gateway.process_memory import return_large_blocks_to_the_os

    settings = load(
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
    # The server already accepts calls once built; the main thread only waits for a signal. Not
    # pyarrow's serve(): a SIGTERM that arrived before serve() started waiting (say, right after the
    # banner) made the shutdown it triggered race with serve() and left the process running for good.
    # The wait is sliced because the kernel may hand the signal to one of gRPC's threads: Python then
    # only runs the handler once the main thread wakes up on its own. The handlers are in place before
    # the banner, which is what tells a supervisor (or a test) that the gateway is up.
    stopping = threading.Event()

    def stop(signum: int, frame: object) -> None:
        logging.getLogger("flight_gateway").info("signal %d: shutting down", signum)
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
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
    try:
        print("\n".join(lines), flush=True)
        while not stopping.wait(timeout=0.2):
            pass
    finally:
        gateway.shutdown()
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
    listing.set_defaults(run=jobs_list)
    show = jobs_sub.add_parser(
        "show", help="one job, every field", description="Show one job (any tenant). Exit code 1: no such job."
    )
    _settings_args(show)
    show.add_argument("job_id", metavar="ID")
    show.add_argument("--json", action="store_true", help="JSON output")
    show.set_defaults(run=jobs_show)
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
    cancel.set_defaults(run=jobs_cancel)

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
    sql.set_defaults(run=run_sql)

    auth = sub.add_parser("auth", help="credentials helpers")
    auth_sub = auth.add_subparsers(dest="auth_command", required=True, metavar="ACTION")
    hp = auth_sub.add_parser("hash-password", help="print an scrypt hash for a [[users]] entry (reads stdin)")
    hp.set_defaults(run=auth_hash_password)
    ck = auth_sub.add_parser(
        "create-key",
        help="make a new API key: prints the key once (stderr) and its [[api_keys]] entry (stdout)",
    )
    ck.add_argument("--tenant", required=True, help="tenant the key acts as")
    ck.add_argument("--subject", help="who the key is for (default key:<id>)")
    ck.add_argument("--expires-in-days", type=float, help="expiry (default: never)")
    ck.set_defaults(run=auth_create_key)

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
