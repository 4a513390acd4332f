"""A tenant flooding the gateway's result readers does not starve another: through real clients, on
DuckDB and PostgreSQL, with a pool of two readers.

Tenant `flood` (max_concurrent_streams = 1) opens more stalling streams than there are readers; each
holds its reader inside the engine until cancelled. Tenant `quiet` then runs a query, which must
complete: measured by completion, never by time. With the pool shared first come, first served (the
old ThreadPoolExecutor) the flood takes both readers and the quiet query never starts.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import psycopg
import pyarrow.flight as fl
import pytest
from conftest import PASSWORD, RunningGateway, start_gateway
from engines.postgres.pg_support import pg_database, pg_gateway, tenant
from job_actions_support import wait_for
from services import PostgresService

from auth import hash_password
from flight_gateway.jobs import JobState, SqliteJobStore, fingerprint
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack

MAX_STREAMS = 2
FLOOD_STREAMS = MAX_STREAMS + 2
FLOOD_LIMITS = {"max_concurrent_streams": 1, "weight": 1.0}
QUIET_LIMITS = {"weight": 2.0}
# Heartbeats far apart: a flooding stream holds its reader in the engine, not in a heartbeat.
HEARTBEAT_SECONDS = 600


@dataclass
class Case:
    gateway: RunningGateway
    stalling_query: Callable[[str], str]  # a query that holds its reader before its first batch
    active_on_database: Callable[[str], int] | None  # how many queries with the marker run there


def _duckdb_stall(marker: str) -> str:
    return f"select r as {marker} from range(10000000000000) t(r) where hash(r) = 0"


def _pg_stall(marker: str) -> str:
    return f"select 1 as {marker} from pg_sleep(600)"


@pytest.fixture(scope="module")
def duckdb_case(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Case]:
    tenants = [{"id": "flood", "limits": FLOOD_LIMITS}, {"id": "quiet", "limits": QUIET_LIMITS}]
    users = [{"username": t["id"], "password_hash": hash_password(PASSWORD), "tenant": t["id"]} for t in tenants]
    running = start_gateway(
        tmp_path_factory.mktemp("fair-duckdb"), demo=False, tenants=tenants, users=users,
        max_streams=MAX_STREAMS, heartbeat_seconds=HEARTBEAT_SECONDS,
    )  # fmt: skip
    yield Case(running, _duckdb_stall, None)
    running.gateway.shutdown()


@pytest.fixture(scope="module")
def postgres_case(postgres: PostgresService, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Case]:
    with pg_database(postgres, "fair") as db:
        flood, quiet = db.role("fair_flood"), db.role("fair_quiet")
        running = pg_gateway(
            tmp_path_factory.mktemp("fair-pg"),
            [db.engine(pool={"min_size": 0, "max_size": FLOOD_STREAMS + 1, "acquire_timeout_seconds": 30})],
            [tenant("flood", "fair_flood", flood, limits=FLOOD_LIMITS),
             tenant("quiet", "fair_quiet", quiet, limits=QUIET_LIMITS)],
            max_streams=MAX_STREAMS, heartbeat_seconds=HEARTBEAT_SECONDS,
        )  # fmt: skip
        dsn = postgres.superuser_dsn.rsplit("/", 1)[0] + f"/{db.name}"

        def active(marker: str) -> int:
            with psycopg.connect(dsn, autocommit=True) as conn:
                row = conn.execute(
                    "select count(*) from pg_stat_activity where state = 'active' and query like %s "
                    "and pid <> pg_backend_pid()",
                    (f"%{marker}%",),
                ).fetchone()
            return int(row[0]) if row else 0

        try:
            yield Case(running, _pg_stall, active)
        finally:
            running.gateway.shutdown()


@pytest.fixture(params=["duckdb", "postgres"])
def case(request: pytest.FixtureRequest) -> Case:
    value: Case = request.getfixturevalue(f"{request.param}_case")
    return value


class Stream:
    """A pyarrow.flight stream of the flooding tenant, left open (it only ever sends heartbeats)."""

    def __init__(self, gateway: RunningGateway, sql: str) -> None:
        self.client, options = gateway.flight_client("flood")
        descriptor = fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=sql)))
        info = self.client.get_flight_info(descriptor, options)
        self.reader: fl.FlightStreamReader | None = self.client.do_get(info.endpoints[0].ticket, options)

    def leave(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
        self.client.close()
        self.reader = None  # releasing the reader ends the call (see test_streaming_disconnect.py)


def _run(gateway: RunningGateway, sql: str) -> list[tuple[Any, ...]]:
    with gateway.connect("quiet") as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def _jobs(case: Case, sql: str) -> list[Any]:
    store = SqliteJobStore(case.gateway.data_dir / "jobs.sqlite3")
    try:
        return [j for j in store.list(limit=500) if j.fingerprint == fingerprint(sql)]
    finally:
        store.close()


def test_a_flooding_tenant_does_not_starve_another(case: Case) -> None:
    marker = "flood_" + uuid.uuid4().hex[:12]
    sql = case.stalling_query(marker)
    streams: list[Stream] = []
    pool = ThreadPoolExecutor(1)
    try:
        for _ in range(FLOOD_STREAMS):  # more streams than the gateway has readers
            streams.append(Stream(case.gateway, sql))
        active = case.active_on_database
        if active is not None:
            wait_for(lambda: active(marker) >= 1, "the first flooding query on the database")
        quiet_sql = f"select 42 as answer_{marker}"
        answer = pool.submit(_run, case.gateway, quiet_sql)
        # A failure bound for a starved query (it would wait forever), not a timing threshold.
        wait_for(answer.done, "the quiet tenant's query to complete", timeout=120)
        assert answer.result() == [(42,)]
        if active is not None:
            # Its cap of one: the flooding tenant's other queries wait in the gateway, not the database.
            assert active(marker) == 1
        assert [j.state for j in _jobs(case, quiet_sql)] == [JobState.SUCCEEDED]
    finally:
        for stream in streams:
            stream.leave()
        pool.shutdown(wait=False)  # a starved query completes once the flood is gone; a failure never hangs here

    def all_cancelled() -> bool:
        jobs = _jobs(case, sql)
        return len(jobs) == FLOOD_STREAMS and all(j.state.finished for j in jobs)

    # The running query is interrupted and the queued ones are dropped before they start.
    wait_for(all_cancelled, "every flooding job to end")
    assert {j.state for j in _jobs(case, sql)} == {JobState.CANCELLED}
    if case.active_on_database is not None:
        assert case.active_on_database(marker) == 0
