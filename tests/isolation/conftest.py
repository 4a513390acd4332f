"""Fixtures of the isolation proof: the isolation database on the suite's PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from isolation_db import IsolationDatabase, apply, drop, new_names
from services import PostgresService


@pytest.fixture(scope="session")
def isolation_db(postgres: PostgresService) -> Iterator[IsolationDatabase]:
    names = new_names()
    apply(postgres.superuser_dsn, names)
    yield names
    drop(postgres.superuser_dsn, names)
