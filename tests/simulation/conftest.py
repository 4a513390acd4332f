"""Tenant roles and data in the shared simulator, and driver connections through its front."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from flight_gateway.simulation.process import SimulatorProcess as RedshiftSimulator


@dataclass(frozen=True)
class SimTenants:
    database: str
    passwords: dict[str, str]


@pytest.fixture(scope="session")
def sim_tenants(redshift_sim: RedshiftSimulator) -> SimTenants:
    """Database `simdev` owned by `sim_owner`: table `orders` with RLS by tenant; acme and globex may read it."""
    passwords = {name: secrets.token_urlsafe(12) for name in ("sim_owner", "sim_acme", "sim_globex")}
    with redshift_sim.backend_connect("postgres") as conn:
        for name, password in passwords.items():
            conn.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
    redshift_sim.create_database("simdev")
    with redshift_sim.backend_connect("simdev") as conn:
        conn.execute("ALTER SCHEMA public OWNER TO sim_owner")
        conn.execute("SET ROLE sim_owner")
        conn.execute(
            "CREATE TABLE orders (id integer PRIMARY KEY, tenant varchar(16) NOT NULL, amount numeric(12, 2),"
            " note varchar(40), placed date)"
        )
        conn.execute(
            "INSERT INTO orders SELECT g, CASE WHEN g % 3 = 0 THEN 'sim_globex' ELSE 'sim_acme' END,"
            " g * 1.25, 'order ' || g, date '2024-01-01' + g FROM generate_series(1, 3000) g"
        )
        conn.execute("CREATE TABLE owner_only (secret text)")
        conn.execute("ALTER TABLE orders ENABLE ROW LEVEL SECURITY")
        conn.execute("CREATE POLICY by_tenant ON orders USING (tenant = current_user)")
        conn.execute("GRANT SELECT ON orders TO sim_acme, sim_globex")
    return SimTenants("simdev", passwords)


@pytest.fixture
def rs_connect(redshift_sim: RedshiftSimulator, sim_tenants: SimTenants) -> Iterator[Callable[..., Any]]:
    """redshift_connector connections through the front, closed after the test (faults cleared too)."""
    import redshift_connector

    opened: list[Any] = []

    def connect(user: str = "sim_acme", password: str | None = None, **kwargs: Any) -> Any:
        role = user.split(":", 1)[-1]
        conn = redshift_connector.connect(
            host=redshift_sim.host,
            port=redshift_sim.port,
            user=user,
            password=password if password is not None else sim_tenants.passwords[role],
            database=kwargs.pop("database", sim_tenants.database),
            ssl=False,
            **kwargs,
        )
        opened.append(conn)
        return conn

    yield connect
    redshift_sim.faults.clear()
    for conn in opened:
        try:
            conn.close()
        except Exception:  # noqa: S110 - a connection a test dropped on purpose cannot close cleanly
            pass
