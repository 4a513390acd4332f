"""Shared fixtures: a real gateway on port 0 with the two demo tenants, and real clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow.flight as fl
import pytest
from services import moto, postgres, redshift_sim  # noqa: F401 - fixtures shared by the whole suite

from flight_gateway.app import Gateway, build
from flight_gateway.config import load_settings

PASSWORD = "correct horse battery staple"
DEMO_ROWS = 2000


@dataclass
class RunningGateway:
    gateway: Gateway
    uri: str
    password: str
    data_dir: Path

    def connect(self, tenant: str = "acme", **kwargs: Any) -> flight_sql.Connection:
        """An ADBC DB-API connection logged in as `tenant` (autocommit: no transactions)."""
        return flight_sql.connect(
            self.uri,
            db_kwargs={"username": tenant, "password": self.password},
            autocommit=True,
            **kwargs,
        )

    def flight_client(self, tenant: str | None = "acme") -> tuple[fl.FlightClient, fl.FlightCallOptions]:
        """A raw pyarrow.flight client and call options carrying the tenant's bearer token."""
        client = fl.FlightClient(self.uri)
        if tenant is None:
            return client, fl.FlightCallOptions()
        header = client.authenticate_basic_token(tenant, self.password)
        return client, fl.FlightCallOptions(headers=[header])


def start_gateway(data_dir: Path, **overrides: Any) -> RunningGateway:
    """A gateway serving on a free loopback port (pyarrow starts serving on construction); a
    `clock` override is the gateway's clock (see manual_clock.py), not a setting."""
    clock = overrides.pop("clock", None)
    settings = load_settings(
        data_dir=data_dir,
        port=0,
        demo_password=PASSWORD,
        demo_rows=overrides.pop("demo_rows", DEMO_ROWS),
        **overrides,
    )
    gateway = build(settings) if clock is None else build(settings, clock=clock)
    return RunningGateway(gateway, f"grpc://127.0.0.1:{gateway.port}", PASSWORD, data_dir)


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    running = start_gateway(tmp_path_factory.mktemp("gateway"))
    yield running
    running.gateway.shutdown()


@pytest.fixture
def connect(gateway: RunningGateway) -> Iterator[Callable[..., flight_sql.Connection]]:
    """Factory for ADBC connections that are closed after the test."""
    opened: list[flight_sql.Connection] = []

    def factory(tenant: str = "acme", **kwargs: Any) -> flight_sql.Connection:
        conn = gateway.connect(tenant, **kwargs)
        opened.append(conn)
        return conn

    yield factory
    for conn in opened:
        conn.close()
