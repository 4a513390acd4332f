"""Fixtures of the isolation proof: the isolation database, and a gateway in front of it per engine.

The gateway tests run once per database engine (`iso` is parametrized): PostgreSQL itself, and the
Redshift simulator when the suite provides one (its backing PostgreSQL gets the same setup).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as flight_sql
import psycopg
import pyarrow.flight as fl
import pytest
from conftest import PASSWORD, RunningGateway, start_gateway
from services import PostgresService

from auth import hash_password
from isolation.isolation_db import IsolationDatabase, apply, drop, new_names, tenant_dsn

# Tenants of the gateway: acme and globex may run any statement class, so that what refuses an
# escape attempt is the database; acme_ro logs in as acme's db user but may only run queries
# (the gateway's policy is the second line of defence).
GATEWAY_TENANTS = ("acme", "globex", "acme_ro")
ENGINES = ("postgres", "redshift-simulator")
Dsn = Callable[[str], str]


@dataclass
class IsolatedGateway:
    engine: str
    running: RunningGateway
    names: IsolationDatabase
    login_dsn: Callable[[str], str]  # tenant -> a DSN that logs in as its db user without the gateway

    def connect(self, tenant: str) -> flight_sql.Connection:
        return self.running.connect(tenant)

    def flight(self, tenant: str) -> tuple[fl.FlightClient, fl.FlightCallOptions]:
        return self.running.flight_client(tenant)

    def login(self, tenant: str) -> str:
        return self.names.login(tenant.removesuffix("_ro")).db_user

    def direct(self, tenant: str) -> psycopg.Connection:
        """A psycopg login as the tenant's db user, straight to the database (no gateway)."""
        return psycopg.connect(self.login_dsn(tenant.removesuffix("_ro")), autocommit=True)


@pytest.fixture(scope="session")
def isolation_db(postgres: PostgresService) -> Iterator[IsolationDatabase]:
    names = new_names()
    apply(postgres.superuser_dsn, names)
    yield names
    drop(postgres.superuser_dsn, names)


def _tenants(names: IsolationDatabase, engine: str) -> list[dict[str, Any]]:
    tenants = []
    for tenant in GATEWAY_TENANTS:
        login = names.login(tenant.removesuffix("_ro"))
        entry: dict[str, Any] = {
            "id": tenant,
            "engine": engine,
            "db_user": login.db_user,
            "db_password": login.password,
        }
        if tenant.endswith("_ro"):
            entry["read_only"] = True
        tenants.append(entry)
    return tenants


def _users() -> list[dict[str, Any]]:
    password_hash = hash_password(PASSWORD)
    return [{"username": t, "password_hash": password_hash, "tenant": t} for t in GATEWAY_TENANTS]


# One connection per tenant pool: every request of a tenant reuses the same database session,
# so anything a statement leaves behind on it would show in the next request.
_POOL = {"min_size": 0, "max_size": 1, "acquire_timeout_seconds": 30}


def _postgres_gateway(tmp: Path, postgres: PostgresService, names: IsolationDatabase) -> tuple[RunningGateway, Dsn]:
    engine = {"name": "pg", "type": "postgres", "host": postgres.host, "port": postgres.port,
              "database": names.database, "sslmode": "disable", "pool": _POOL}  # fmt: skip
    running = start_gateway(tmp, demo=False, engines=[engine], tenants=_tenants(names, "pg"), users=_users())
    if "pg" not in running.gateway.engines:
        running.gateway.shutdown()
        pytest.skip("app.build() does not build [[engines]] type = 'postgres' yet")
    return running, lambda tenant: tenant_dsn(postgres.superuser_dsn, names, tenant)


def _redshift_gateway(tmp: Path, request: pytest.FixtureRequest) -> tuple[RunningGateway, IsolationDatabase, Dsn]:
    """The same setup on the simulator's backing PostgreSQL; the gateway reaches it through the
    Redshift-speaking front with its Redshift engine."""
    sim = request.getfixturevalue("redshift_sim")
    names = new_names()
    apply(sim.superuser_dsn, names)
    request.addfinalizer(lambda: drop(sim.superuser_dsn, names))
    engine = {"name": "rs", "type": "redshift", "host": sim.host, "port": sim.port, "database": names.database,
              "sslmode": "disable", "credentials": "password", "pool": _POOL}  # fmt: skip
    running = start_gateway(tmp, demo=False, engines=[engine], tenants=_tenants(names, "rs"), users=_users())
    if "rs" not in running.gateway.engines:
        running.gateway.shutdown()
        pytest.skip("app.build() does not build [[engines]] type = 'redshift' yet")
    # Direct logins go through the front too: the backing server stores MD5 passwords, which its
    # SCRAM-only TCP logins cannot check.
    return running, names, lambda t: sim.dsn(names.login(t).db_user, names.login(t).password, names.database)


@pytest.fixture(scope="session", params=ENGINES)
def iso(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres: PostgresService,
    isolation_db: IsolationDatabase,
) -> Iterator[IsolatedGateway]:
    tmp = tmp_path_factory.mktemp(f"isolation-{request.param}")
    if request.param == "postgres":
        running, login_dsn = _postgres_gateway(tmp, postgres, isolation_db)
        names = isolation_db
    else:
        running, names, login_dsn = _redshift_gateway(tmp, request)
    yield IsolatedGateway(request.param, running, names, login_dsn)
    running.gateway.shutdown()
