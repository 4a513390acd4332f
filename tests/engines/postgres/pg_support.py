"""A database of its own per test module on the suite's real PostgreSQL, tenant roles with
passwords, and a gateway whose tenants log in as those roles."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from conftest import PASSWORD, RunningGateway, start_gateway
from services import PostgresService

from auth import hash_password

_HASH = hash_password(PASSWORD)


@dataclass
class PgDatabase:
    """A fresh database; `admin` is a superuser connection to it (autocommit)."""

    service: PostgresService
    name: str
    admin: psycopg.Connection[Any]
    roles: list[str] = field(default_factory=list)

    def sql(self, *statements: str) -> None:
        for statement in statements:
            self.admin.execute(statement)  # type: ignore[arg-type]  # test SQL, literal

    def one(self, query: str, *args: Any) -> Any:
        row = self.admin.execute(query, args).fetchone()  # type: ignore[arg-type]
        return None if row is None else row[0]

    def role(self, name: str, password: str | None = None, *, grants: Sequence[str] = ()) -> str:
        """A LOGIN role that may use the public schema; returns its password."""
        password = password or uuid.uuid4().hex
        self.sql(
            f"create role {name} login password '{password}'",
            f"grant connect on database {self.name} to {name}",
            f"grant usage on schema public to {name}",
            *grants,
        )
        self.roles.append(name)
        return password

    def engine(self, name: str = "pg", **overrides: Any) -> dict[str, Any]:
        return {
            "name": name, "type": "postgres", "host": self.service.host, "port": self.service.port,
            "database": self.name, "sslmode": "disable", **overrides,
        }  # fmt: skip


@contextmanager
def pg_database(service: PostgresService, prefix: str) -> Iterator[PgDatabase]:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(service.superuser_dsn, autocommit=True) as root:
        root.execute(f"create database {name}")  # type: ignore[arg-type]
    dsn = service.superuser_dsn.rsplit("/", 1)[0] + f"/{name}"
    admin = psycopg.connect(dsn, autocommit=True)
    db = PgDatabase(service, name, admin)
    try:
        yield db
    finally:
        admin.close()
        with psycopg.connect(service.superuser_dsn, autocommit=True) as root:
            root.execute(f"drop database {name} with (force)")  # type: ignore[arg-type]
            for role in db.roles:
                root.execute(f"drop role if exists {role}")  # type: ignore[arg-type]


def tenant(tenant_id: str, db_user: str, password: str | None = None, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": tenant_id, "engine": extra.pop("engine", "pg"), "db_user": db_user, **extra}
    if password is not None:
        entry["db_password"] = password
    return entry


def pg_gateway(
    data_dir: Path, engines: list[dict[str, Any]], tenants: list[dict[str, Any]], **overrides: Any
) -> RunningGateway:
    """A gateway (no demo tenants) where each tenant id is also a username with the suite's password."""
    users = [{"username": t["id"], "password_hash": _HASH, "tenant": t["id"]} for t in tenants]
    return start_gateway(data_dir, engines=engines, tenants=tenants, users=users, demo=False, **overrides)
