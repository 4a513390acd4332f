"""Pools belong to tenants, not to database users: acme and acme_ro log in as the same db user,
yet acme_ro's read-only sessions never serve acme, nor acme's writable ones acme_ro; and many
requests of both tenants at once each land on their own tenant's sessions."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from isolation.conftest import IsolatedGateway
from isolation.gateway_client import failure, rows
from isolation.isolation_db import ACME_ROWS, GLOBEX_ROWS

# A write that PostgreSQL describes as a query (it returns rows): only a read-only session stops it.
TOUCH = "UPDATE shared.notes SET body = body RETURNING id"


def test_tenants_sharing_a_database_user_keep_their_own_sessions(iso: IsolatedGateway) -> None:
    for _ in range(3):
        with iso.connect("acme_ro") as conn:
            failure(conn, TOUCH)
        with iso.connect("acme") as conn:
            assert rows(conn, TOUCH) == [(1,)]


def _who(iso: IsolatedGateway, tenant: str) -> tuple[str, list[tuple[object, ...]]]:
    with iso.connect(tenant) as conn:
        return tenant, rows(conn, "SELECT current_user, tenant, count(*) FROM shared.orders GROUP BY tenant")


def test_concurrent_requests_of_both_tenants_stay_apart(iso: IsolatedGateway) -> None:
    expected = {
        "acme": [(iso.login("acme"), "acme", ACME_ROWS)],
        "globex": [(iso.login("globex"), "globex", GLOBEX_ROWS)],
    }
    tenants = ["acme", "globex"] * 12
    with ThreadPoolExecutor(max_workers=8) as pool:
        for tenant, seen in pool.map(lambda t: _who(iso, t), tenants):
            assert seen == expected[tenant]
