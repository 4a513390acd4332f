"""The isolation database: two tenants whose boundaries PostgreSQL itself enforces.

Applied as superuser to a fresh database. Every role name carries a per-run suffix because roles
are cluster-wide: the suite's PostgreSQL (or one given by DSN) is shared with other tests and
earlier runs, and a fixed `acme_user` could collide with theirs.

What the database decides:
* `shared.orders` / `shared.customers`: rows of both tenants under FORCE ROW LEVEL SECURITY with a
  policy keyed on `current_user` (the login; a tenant cannot change it, unlike a session setting).
* `shared.orders.secret_note`: never granted (column-level GRANT SELECT), so `SELECT *` fails and
  catalogs do not list it.
* `shared.audit_log`: no privilege at all for tenants.
* `acme_private`: USAGE for acme only.
* `shared.order_totals`: a security_invoker view (the policy applies to the caller, not the owner).
* `dblink` is installed, as it often is, to prove a tenant cannot use it to log in as someone else.
* `REVOKE ALL ON DATABASE … FROM PUBLIC`: no TEMP (no temp objects shadowing definer functions),
  CONNECT only for the tenant logins.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

ACME_ROWS = 5
GLOBEX_ROWS = 3
ACME_TOTAL = sum(range(1, ACME_ROWS + 1)) * 10
GLOBEX_TOTAL = sum(range(1, GLOBEX_ROWS + 1)) * 100
VISIBLE_ORDER_COLUMNS = ["id", "tenant", "customer_id", "amount"]


@dataclass(frozen=True)
class TenantLogin:
    tenant: str
    db_user: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class IsolationDatabase:
    """Names and credentials of one applied setup."""

    database: str
    owner: str
    acme: TenantLogin
    globex: TenantLogin

    def login(self, tenant: str) -> TenantLogin:
        return {"acme": self.acme, "globex": self.globex}[tenant]

    @property
    def roles(self) -> list[str]:
        return [self.acme.db_user, self.globex.db_user, self.owner]


def new_names() -> IsolationDatabase:
    suffix = secrets.token_hex(3)
    return IsolationDatabase(
        database=f"isolation_{suffix}",
        owner=f"iso_owner_{suffix}",
        acme=TenantLogin("acme", f"acme_user_{suffix}", secrets.token_urlsafe(16)),
        globex=TenantLogin("globex", f"globex_user_{suffix}", secrets.token_urlsafe(16)),
    )


# Placeholders: {owner}, {acme}, {globex} are identifiers; rows name tenants by their login.
_OBJECTS = """
CREATE EXTENSION IF NOT EXISTS dblink;
CREATE SCHEMA shared AUTHORIZATION {owner};
CREATE SCHEMA acme_private AUTHORIZATION {owner};
SET ROLE {owner};

CREATE TABLE shared.customers (
    id integer PRIMARY KEY,
    db_user name NOT NULL,
    name text NOT NULL
);
CREATE TABLE shared.orders (
    id integer PRIMARY KEY,
    db_user name NOT NULL,
    tenant text NOT NULL,
    customer_id integer NOT NULL REFERENCES shared.customers (id),
    amount numeric(12, 2) NOT NULL,
    secret_note text NOT NULL
);
CREATE TABLE shared.audit_log (id integer PRIMARY KEY, what text NOT NULL);
CREATE TABLE acme_private.plans (
    id integer PRIMARY KEY,
    customer_id integer NOT NULL REFERENCES shared.customers (id),
    plan text NOT NULL
);
CREATE VIEW shared.order_totals WITH (security_invoker = true) AS
    SELECT tenant, count(*) AS orders, sum(amount) AS total FROM shared.orders GROUP BY tenant;

INSERT INTO shared.customers VALUES (1, {acme_literal}, 'Acme Corp'), (2, {globex_literal}, 'Globex Inc');
INSERT INTO shared.orders
    SELECT i, {acme_literal}, 'acme', 1, i * 10, 'acme secret ' || i FROM generate_series(1, {acme_rows}) AS i;
INSERT INTO shared.orders
    SELECT 100 + i, {globex_literal}, 'globex', 2, i * 100, 'globex secret ' || i
    FROM generate_series(1, {globex_rows}) AS i;
INSERT INTO shared.audit_log VALUES (1, 'nobody but the owner reads this');
INSERT INTO acme_private.plans VALUES (1, 1, 'acme gold plan');

ALTER TABLE shared.customers ENABLE ROW LEVEL SECURITY;
ALTER TABLE shared.customers FORCE ROW LEVEL SECURITY;
ALTER TABLE shared.orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE shared.orders FORCE ROW LEVEL SECURITY;
CREATE POLICY own_customers ON shared.customers USING (db_user = current_user);
CREATE POLICY own_orders ON shared.orders USING (db_user = current_user);

GRANT USAGE ON SCHEMA shared TO {acme}, {globex};
GRANT USAGE ON SCHEMA acme_private TO {acme};
GRANT SELECT ON shared.customers, shared.order_totals TO {acme}, {globex};
GRANT SELECT (id, tenant, customer_id, amount) ON shared.orders TO {acme}, {globex};
GRANT SELECT ON acme_private.plans TO {acme};
RESET ROLE;
"""


def apply(superuser_dsn: str, names: IsolationDatabase) -> None:
    """Create the roles and the database named in `names` and fill it (as superuser)."""
    ident = sql.Identifier
    with psycopg.connect(superuser_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(ident(names.owner)))
        for login in (names.acme, names.globex):
            conn.execute(
                sql.SQL(
                    "CREATE ROLE {} LOGIN PASSWORD {} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
                ).format(ident(login.db_user), sql.Literal(login.password))
            )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(ident(names.database)))
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(ident(names.database)))
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}, {}").format(
                ident(names.database), ident(names.acme.db_user), ident(names.globex.db_user)
            )
        )
    with psycopg.connect(database_dsn(superuser_dsn, names.database), autocommit=True) as conn:
        script = sql.SQL(_OBJECTS).format(
            owner=ident(names.owner),
            acme=ident(names.acme.db_user),
            globex=ident(names.globex.db_user),
            acme_literal=sql.Literal(names.acme.db_user),
            globex_literal=sql.Literal(names.globex.db_user),
            acme_rows=sql.Literal(ACME_ROWS),
            globex_rows=sql.Literal(GLOBEX_ROWS),
        )
        conn.execute(script)


def drop(superuser_dsn: str, names: IsolationDatabase) -> None:
    ident = sql.Identifier
    with psycopg.connect(superuser_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident(names.database)))
        for role in names.roles:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(ident(role)))


def database_dsn(dsn: str, database: str) -> str:
    """`dsn` with its database replaced (URL or key=value form)."""
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    info["dbname"] = database
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in info.items() if v is not None})


def tenant_dsn(superuser_dsn: str, names: IsolationDatabase, tenant: str) -> str:
    """A DSN that logs in as the tenant over TCP with its password, as the gateway does."""
    login = names.login(tenant)
    info = psycopg.conninfo.conninfo_to_dict(superuser_dsn)
    info.update(dbname=names.database, user=login.db_user, password=login.password)
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in info.items() if v is not None})
