"""The embedded PostgreSQL launcher: restarts keep the cluster, a new work directory at an old
path (pytest reuses its numbered directories) gets a fresh one instead of a stale password."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg

from flight_gateway.simulation.local_postgres import start_local_postgres


def _value(dsn: str, sql: str) -> object:
    with psycopg.connect(dsn, connect_timeout=10) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return row[0]


def test_restart_keeps_data_and_a_new_work_dir_starts_fresh(tmp_path: Path) -> None:
    work_dir = tmp_path / "pg"
    server = start_local_postgres(work_dir)
    try:
        with psycopg.connect(server.dsn(), connect_timeout=10) as conn:
            conn.execute("create table kept as select 42 as v")
    finally:
        server.stop()
    server = start_local_postgres(work_dir)
    try:
        assert _value(server.dsn(), "select v from kept") == 42
    finally:
        server.stop()
    shutil.rmtree(work_dir)
    server = start_local_postgres(work_dir)
    try:
        assert _value(server.dsn(), "select to_regclass('kept') is null") is True
    finally:
        server.stop()


def test_a_server_left_running_by_a_removed_work_dir_is_replaced(tmp_path: Path) -> None:
    work_dir = tmp_path / "pg"
    leftover = start_local_postgres(work_dir)
    shutil.rmtree(work_dir)  # as when a crashed test session's directory is cleaned up
    server = start_local_postgres(work_dir)
    try:
        assert _value(server.dsn(), "select 1") == 1
        assert leftover.process.wait(timeout=10) is not None
    finally:
        server.stop()
        leftover.stop()
