"""`flight-gateway simulate redshift`: the simulator on its own, with demo tenants and moto for AWS.

Starts (or reuses, under the data directory) the PostgreSQL, the Redshift-speaking front, a moto
server for S3/Redshift/IAM/Secrets Manager unless an endpoint is given, a `dev` database with two
tenant users whose rows are separated by row-level security, and prints what a gateway needs.
"""

from __future__ import annotations

import json
import logging
import secrets
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flight_gateway.simulation.simulator import RedshiftSimulator, S3Target, start_redshift_simulator

BUCKET = "redshift-sim-unload"
CLUSTER = "redshift-sim"
UNLOAD_ROLE = "arn:aws:iam::123456789012:role/redshift-sim-unload"
TENANTS = ("acme", "globex")


def _demo(sim: RedshiftSimulator, passwords: dict[str, str]) -> None:
    from psycopg import sql

    with sim.backend_connect("postgres") as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = 'dev'").fetchone() is None:
            sim.create_database("dev")
        for tenant, password in passwords.items():
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (tenant,)).fetchone()
            statement = sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(
                sql.SQL("ALTER" if exists else "CREATE"), sql.Identifier(tenant), sql.Literal(password)
            )
            conn.execute(statement)
    with sim.backend_connect("dev") as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS public.sales (id integer PRIMARY KEY, tenant varchar(32) NOT NULL,"
            " region varchar(16), amount numeric(12, 2), sold_on date)"
        )
        if conn.execute("SELECT count(*) FROM public.sales").fetchone()[0] == 0:
            conn.execute(
                "INSERT INTO public.sales SELECT g, CASE WHEN g % 2 = 0 THEN 'acme' ELSE 'globex' END,"
                " (ARRAY['emea', 'amer', 'apac'])[1 + g % 3], round((g % 997) * 1.37, 2), date '2024-01-01' + g % 365"
                " FROM generate_series(1, 100000) g"
            )
        conn.execute("ALTER TABLE public.sales ENABLE ROW LEVEL SECURITY")
        conn.execute("DROP POLICY IF EXISTS tenant_rows ON public.sales")
        conn.execute("CREATE POLICY tenant_rows ON public.sales USING (tenant = current_user)")
        conn.execute(f"GRANT SELECT ON public.sales TO {', '.join(TENANTS)}")


def _aws(endpoint: str, region: str) -> None:
    import boto3

    redshift = boto3.client("redshift", endpoint_url=endpoint, region_name=region,
                            aws_access_key_id="testing", aws_secret_access_key="testing")  # noqa: S106 - moto  # fmt: skip
    clusters = redshift.describe_clusters().get("Clusters", [])
    if not any(c["ClusterIdentifier"] == CLUSTER for c in clusters):
        redshift.create_cluster(
            ClusterIdentifier=CLUSTER, NodeType="ra3.xlplus", ClusterType="single-node", DBName="dev",
            MasterUsername="awsuser", MasterUserPassword=secrets.token_urlsafe(12) + "A1",
        )  # fmt: skip


def banner(sim: RedshiftSimulator, passwords: dict[str, str], endpoint: str, region: str) -> list[str]:
    tenants = "\n".join(
        f'[[tenants]]\nid = "{t}"\nengine = "redshift"\ndb_user = "{t}"\n'
        f'db_password_env = "REDSHIFT_SIM_{t.upper()}_PASSWORD"  # or credentials = "iam" on the engine\n'
        for t in passwords
    )
    try_it = (
        f"import redshift_connector as r; c = r.connect(host='{sim.host}', port={sim.port}, user='acme', "  # noqa: S608 - a shell hint, not SQL
        f"password='{passwords['acme']}', database='dev', ssl=False); k = c.cursor(); "
        "k.execute('select count(*) from sales'); print(k.fetchall())"
    )
    return [
        f"Redshift simulator listening on {sim.host}:{sim.port} (PostgreSQL behind it on port {sim.backend.port})",
        "  TLS: not offered (SSLRequest is answered 'N'): connect with ssl=False / sslmode=disable",
        *(f"  tenant user {t}: password {p}" for t, p in passwords.items()),
        "  IAM users IAM:<user> / IAMA:<user> log in as <user> with any password (GetClusterCredentials)",
        f"  backend superuser DSN: {sim.superuser_dsn}",
        f"  AWS APIs (moto): {endpoint} region {region}, access key 'testing' / secret 'testing'",
        f"  UNLOAD bucket: s3://{BUCKET}/   cluster: {CLUSTER}   IAM role: {UNLOAD_ROLE}",
        '  faults: as superuser, select redshift_sim_fault(\'{"kind": "fail", "sqlstate": "57P01"}\')',
        f"  try: python -c {json.dumps(try_it)}",
        "gateway configuration (TOML):",
        "",
        "[[engines]]",
        'name = "redshift"',
        'type = "redshift"',
        f'host = "{sim.host}"',
        f"port = {sim.port}",
        'database = "dev"',
        'sslmode = "disable"',
        f'cluster_identifier = "{CLUSTER}"',
        f'region = "{region}"',
        f'aws_endpoint_url = "{endpoint}"',
        f'unload_iam_role = "{UNLOAD_ROLE}"',
        "",
        tenants,
        "Ctrl-C stops the simulator.",
    ]


def run(
    data_dir: Path,
    *,
    port: int = 0,
    s3_endpoint: str | None = None,
    region: str = "us-east-1",
    out: Callable[[str], Any] = print,
    stop: threading.Event | None = None,
) -> int:
    """Run until `stop` is set or SIGINT/SIGTERM arrives; everything started here is stopped on the way out."""
    stop = stop or threading.Event()
    moto_server: Any = None
    if s3_endpoint is None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per AWS call otherwise
        moto_server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto_server.start()
        host, moto_port = moto_server.get_host_and_port()
        s3_endpoint = f"http://{host}:{moto_port}"
    sim: RedshiftSimulator | None = None
    try:
        secrets_file = data_dir / "demo-passwords.json"
        data_dir.mkdir(parents=True, exist_ok=True)
        passwords = json.loads(secrets_file.read_text()) if secrets_file.exists() else {}
        passwords = {t: passwords.get(t) or secrets.token_urlsafe(12) for t in TENANTS}
        secrets_file.write_text(json.dumps(passwords))
        secrets_file.chmod(0o600)
        sim = start_redshift_simulator(
            data_dir / "postgres", s3=S3Target(s3_endpoint, region), bucket=BUCKET, port=port
        )
        _demo(sim, passwords)
        _aws(s3_endpoint, region)
        for line in banner(sim, passwords, s3_endpoint, region):
            out(line)
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, lambda *_: stop.set())
        stop.wait()
        return 0
    finally:
        if sim is not None:
            sim.stop()
        if moto_server is not None:
            moto_server.stop()
        out("Redshift simulator stopped")
