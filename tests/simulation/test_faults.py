"""Fault injection: failed, delayed and dropped statements, through the Python API and the control statement."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
import redshift_connector

from flight_gateway.simulation.process import SimulatorProcess as RedshiftSimulator


def test_fail_next_n_with_sqlstate(redshift_sim: RedshiftSimulator, rs_connect: Any) -> None:
    conn = rs_connect()
    conn.autocommit = True
    cursor = conn.cursor()
    redshift_sim.faults.fail_next(2, sqlstate="53300", message="too many connections for the queue", user="sim_acme")
    for _ in range(2):  # the second run reuses redshift_connector's cached prepared statement: a Bind only
        with pytest.raises(redshift_connector.ProgrammingError) as caught:
            cursor.execute("select count(*) from orders")
        assert caught.value.args[0]["C"] == "53300"
        assert caught.value.args[0]["M"] == "too many connections for the queue"
    cursor.execute("select count(*) from orders")
    assert cursor.fetchone()[0] == 2000
    assert redshift_sim.faults.pending() == 0


def test_fault_narrowed_by_user_and_text(redshift_sim: RedshiftSimulator, rs_connect: Any) -> None:
    redshift_sim.faults.fail_next(sqlstate="40001", user="sim_globex", match="from orders")
    acme = rs_connect().cursor()
    acme.execute("select count(*) from orders")  # another user: untouched
    globex = rs_connect(user="sim_globex").cursor()
    globex.execute("select 1")  # other text: untouched
    with pytest.raises(redshift_connector.ProgrammingError) as caught:
        globex.execute("select count(*) FROM ORDERS")
    assert caught.value.args[0]["C"] == "40001"


def test_fail_through_psycopg_simple_and_extended(redshift_sim: RedshiftSimulator, sim_tenants: Any) -> None:
    import psycopg

    dsn = redshift_sim.dsn("sim_acme", sim_tenants.passwords["sim_acme"], sim_tenants.database)
    with psycopg.connect(dsn, autocommit=True) as conn:
        redshift_sim.faults.fail_next(2, sqlstate="57P01", message="terminating connection due to administrator")
        with pytest.raises(psycopg.errors.AdminShutdown):
            conn.execute("select 1")
        with pytest.raises(psycopg.errors.AdminShutdown):
            conn.execute("select %s::int", (1,))
        assert conn.execute("select %s::int", (7,)).fetchone() == (7,)


def test_delay_holds_the_statement(redshift_sim: RedshiftSimulator, rs_connect: Any) -> None:
    cursor = rs_connect().cursor()
    redshift_sim.faults.delay_next(0.3)
    started = time.monotonic()
    cursor.execute("select 42")
    assert cursor.fetchone()[0] == 42
    assert time.monotonic() - started >= 0.3


def test_cancel_ends_a_delay_with_57014(redshift_sim: RedshiftSimulator, sim_tenants: Any) -> None:
    import psycopg

    dsn = redshift_sim.dsn("sim_acme", sim_tenants.passwords["sim_acme"], sim_tenants.database)
    with psycopg.connect(dsn, autocommit=True) as conn:
        redshift_sim.faults.delay_next(60)
        fired = redshift_sim.faults.fired
        errors: list[BaseException] = []

        def run() -> None:
            try:
                conn.execute("select 1")
            except psycopg.Error as exc:
                errors.append(exc)

        worker = threading.Thread(target=run)
        worker.start()
        deadline = time.monotonic() + 10
        while redshift_sim.faults.fired == fired and time.monotonic() < deadline:
            time.sleep(0.01)  # poll for the statement to reach the delay
        conn.cancel()
        worker.join(10)
        assert not worker.is_alive()
        assert len(errors) == 1 and isinstance(errors[0], psycopg.errors.QueryCanceled)


def test_drop_mid_result(redshift_sim: RedshiftSimulator, sim_tenants: Any) -> None:
    import psycopg

    dsn = redshift_sim.dsn("sim_acme", sim_tenants.passwords["sim_acme"], sim_tenants.database)
    with psycopg.connect(dsn, autocommit=True) as conn:
        redshift_sim.faults.drop_next(after_bytes=20_000)
        with pytest.raises(psycopg.OperationalError):
            conn.execute("select * from orders").fetchall()
        assert conn.closed or conn.broken


def test_drop_before_the_statement(redshift_sim: RedshiftSimulator, rs_connect: Any) -> None:
    cursor = rs_connect().cursor()
    redshift_sim.faults.drop_next()
    with pytest.raises((redshift_connector.InterfaceError, redshift_connector.OperationalError, OSError)):
        cursor.execute("select 1")
        cursor.fetchall()


def test_standalone_control_statement_is_superuser_only(redshift_sim: RedshiftSimulator, rs_connect: Any) -> None:
    spec = '{"kind": "fail", "count": 1, "sqlstate": "XX001", "message": "disk full", "match": "canary"}'
    with pytest.raises(redshift_connector.ProgrammingError) as caught:
        rs_connect().cursor().execute(f"select redshift_sim_fault('{spec}')")
    assert caught.value.args[0]["C"] == "42501"
    assert redshift_sim.faults.pending() == 0

    import psycopg

    backend = redshift_sim.backend
    with psycopg.connect(redshift_sim.dsn("postgres", backend.password, "postgres"), autocommit=True) as conn:
        (status,) = conn.execute(f"select redshift_sim_fault('{spec}')").fetchone()
        assert json.loads(status)["pending"] == 1
        assert redshift_sim.faults.pending() == 1
        with pytest.raises(psycopg.errors.DataCorrupted, match="disk full"):
            conn.execute("select 'canary'")
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            conn.execute("""select redshift_sim_fault('{"kind": "explode"}')""")


def test_cancel_reaches_postgres(redshift_sim: RedshiftSimulator, sim_tenants: Any) -> None:
    import psycopg

    dsn = redshift_sim.dsn("sim_acme", sim_tenants.passwords["sim_acme"], sim_tenants.database)
    for _ in range(4):  # PostgreSQL's secret keys are random signed ints: meet negative ones too
        with psycopg.connect(dsn, autocommit=True) as conn:
            errors: list[BaseException] = []

            def run(conn: psycopg.Connection[Any] = conn, errors: list[BaseException] = errors) -> None:
                try:
                    conn.execute("select pg_sleep(60)")
                except psycopg.Error as exc:
                    errors.append(exc)

            worker = threading.Thread(target=run)
            worker.start()
            with redshift_sim.backend_connect("postgres") as admin:
                deadline = time.monotonic() + 10
                query = "select count(*) from pg_stat_activity where query = 'select pg_sleep(60)'"
                while admin.execute(query).fetchone() != (1,) and time.monotonic() < deadline:
                    time.sleep(0.01)  # poll until the sleep runs in PostgreSQL
            conn.cancel()  # libpq's blocking PQcancel: fine with the simulator in its own process
            worker.join(10)
            assert not worker.is_alive()
            assert len(errors) == 1 and isinstance(errors[0], psycopg.errors.QueryCanceled)
