"""Escape attempts a tenant might make, and what PostgreSQL answers to each.

One table drives two proofs: straight against the database (psycopg, exact SQLSTATE) and through
the gateway (real Flight SQL clients, status code). After every attempt the tenant must still be
itself and still see exactly its own rows.

SQL placeholders: {me} / {other} are the tenants' logins, {owner} the tables' owner, {db} the
database. The names are generated identifiers (lowercase letters, digits, `_`), safe to splice.
"""

from __future__ import annotations

from dataclasses import dataclass

from isolation.isolation_db import IsolationDatabase

DENIED = "42501"  # insufficient_privilege: the gateway must answer PERMISSION_DENIED


@dataclass(frozen=True)
class Attempt:
    id: str
    sql: str
    sqlstate: str | None  # what PostgreSQL answers; None: it succeeds (and must change nothing)
    tenant: str = "acme"
    multi: bool = False  # several statements in one string: a gateway may refuse them outright

    def render(self, names: IsolationDatabase) -> str:
        me, other = names.login(self.tenant), names.login("globex" if self.tenant == "acme" else "acme")
        return self.sql.format(me=me.db_user, other=other.db_user, owner=names.owner, db=names.database)


ATTEMPTS = [
    Attempt("set-role-other-tenant", "SET ROLE {other}", DENIED),
    Attempt("set-role-superuser", "SET ROLE postgres", DENIED),
    Attempt("set-role-table-owner", "SET ROLE {owner}", DENIED),
    Attempt("reset-role", "RESET ROLE", None),
    Attempt("set-role-none", "SET ROLE NONE", None),
    Attempt("reset-session-authorization", "RESET SESSION AUTHORIZATION", None),
    Attempt(
        "row-security-off-inside-a-query",
        "SELECT set_config('row_security', 'off', true), (SELECT count(*) FROM shared.orders)",
        None,
    ),  # fmt: skip
    Attempt("set-session-authorization", "SET SESSION AUTHORIZATION {other}", DENIED),
    Attempt("set-config-role", "SELECT set_config('role', '{other}', false)", DENIED),
    Attempt(
        "set-config-session-authorization", "SELECT set_config('session_authorization', 'postgres', false)", DENIED
    ),
    Attempt("search-path-to-foreign-schema", "SET search_path TO acme_private", None, tenant="globex"),
    Attempt("multi-statement-set-role", "SELECT 1; SET ROLE {other}", DENIED, multi=True),
    Attempt("multi-statement-private-table", "SELECT 1; SELECT * FROM acme_private.plans", DENIED, "globex", True),
    Attempt(
        "row-security-off-then-read", "SET row_security = off; SELECT count(*) FROM shared.orders", DENIED, multi=True
    ),
    Attempt(
        "transaction-set-local-role",
        "BEGIN; SET LOCAL ROLE {other}; SELECT count(*) FROM shared.orders; COMMIT",
        DENIED,
        multi=True,
    ),  # fmt: skip
    Attempt("do-block-set-role", "DO $$ BEGIN EXECUTE 'SET ROLE postgres'; END $$", DENIED),
    Attempt("do-block-set-config", "DO $$ BEGIN PERFORM set_config('role', '{other}', false); END $$", DENIED),
    Attempt("copy-table-to-stdout", "COPY shared.orders TO STDOUT", DENIED),
    Attempt("copy-to-server-file", "COPY (SELECT 1) TO '/tmp/isolation-escape'", DENIED),
    Attempt("copy-from-program", "COPY shared.customers FROM PROGRAM 'id'", DENIED),
    Attempt(
        "create-security-definer-function",
        "CREATE FUNCTION shared.escape() RETURNS bigint LANGUAGE sql SECURITY DEFINER "
        "AS 'SELECT count(*) FROM shared.orders'",
        DENIED,
    ),  # fmt: skip
    Attempt(
        "create-function-in-public", "CREATE FUNCTION public.escape() RETURNS int LANGUAGE sql AS 'SELECT 1'", DENIED
    ),
    Attempt("create-temp-function", "CREATE FUNCTION pg_temp.escape() RETURNS int LANGUAGE sql AS 'SELECT 1'", DENIED),
    Attempt("create-temp-table", "CREATE TEMP TABLE shadow (id int)", DENIED),
    Attempt("create-schema", "CREATE SCHEMA escape", DENIED),
    Attempt("pg-read-file", "SELECT pg_read_file('/etc/passwd')", DENIED),
    Attempt("pg-ls-dir", "SELECT pg_ls_dir('.')", DENIED),
    Attempt("lo-import", "SELECT lo_import('/etc/passwd')", DENIED),
    Attempt("load-library", "LOAD 'auto_explain'", DENIED),
    Attempt("create-untrusted-extension", "CREATE EXTENSION file_fdw", DENIED),
    Attempt(
        "dblink-as-superuser", "SELECT * FROM dblink('dbname={db} user=postgres', 'SELECT 1') AS t(x int)", "2F003"
    ),
    Attempt(
        "dblink-as-other-tenant",
        "SELECT * FROM dblink('dbname={db} user={other}', 'SELECT count(*) FROM shared.orders') AS t(n bigint)",
        "2F003",
    ),  # fmt: skip
    Attempt(
        "insert-row-for-other-tenant", "INSERT INTO shared.notes (db_user, body) VALUES ('{other}', 'planted')", DENIED
    ),
    # The other tenant's note has id 2: the collision tells that much (as PostgreSQL does), but
    # with RLS on, PostgreSQL leaves the key's values out of the message.
    Attempt(
        "insert-colliding-with-other-tenants-key", "INSERT INTO shared.notes (id, body) VALUES (2, 'collide')", "23505"
    ),  # fmt: skip
    Attempt("move-own-row-to-other-tenant", "UPDATE shared.notes SET db_user = '{other}'", DENIED),
    Attempt("update-other-tenants-rows", "UPDATE shared.notes SET body = 'defaced' WHERE db_user = '{other}'", None),
    Attempt("delete-other-tenants-rows", "DELETE FROM shared.notes WHERE db_user = '{other}'", None),
    Attempt("disable-row-security", "ALTER TABLE shared.orders DISABLE ROW LEVEL SECURITY", DENIED),
    Attempt("drop-policy", "DROP POLICY own_orders ON shared.orders", DENIED),
    Attempt("grant-self-hidden-table", "GRANT SELECT ON shared.audit_log TO {me}", DENIED),
    Attempt("grant-self-hidden-column", "GRANT SELECT (secret_note) ON shared.orders TO {me}", DENIED),
    Attempt("alter-role-bypassrls", "ALTER ROLE {me} BYPASSRLS", DENIED),
    Attempt("alter-other-role-defaults", "ALTER ROLE {other} SET search_path = acme_private", DENIED),
    Attempt("alter-system", "ALTER SYSTEM SET row_security = off", DENIED),
    Attempt("read-password-hashes", "SELECT rolname, rolpassword FROM pg_authid", DENIED),
    Attempt(
        "terminate-other-tenant",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{other}'",
        DENIED,
    ),  # fmt: skip
    Attempt(
        "cancel-other-tenant", "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE usename = '{other}'", DENIED
    ),  # fmt: skip
]
