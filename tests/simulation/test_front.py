"""What redshift_connector and libpq see when they connect through the simulator's front."""

from __future__ import annotations

from typing import Any

import pytest
import redshift_connector

from flight_gateway.simulation.process import SimulatorProcess as RedshiftSimulator


def _statuses(conn: Any) -> dict[str, str]:
    return {key.decode(): value.decode() for key, value in conn.parameter_statuses}


def test_redshift_connector_sees_redshift_at_startup(rs_connect: Any) -> None:
    conn = rs_connect()
    statuses = _statuses(conn)
    assert statuses["server_version"] == "8.0.2"
    assert statuses["client_encoding"] == "UNICODE"
    assert statuses["server_encoding"] == "UNICODE"
    assert statuses["session_authorization"] == "sim_acme"
    assert statuses["is_superuser"] == "off"
    assert "server_protocol_version" not in statuses  # the simulator speaks the base (text) protocol
    cursor = conn.cursor()
    cursor.execute("select version()")
    (version,) = cursor.fetchone()
    assert version.startswith("PostgreSQL 8.0.2 on i686-pc-linux-gnu")
    assert "Redshift 1.0." in version


def test_query_fetch_and_dataframe(rs_connect: Any) -> None:
    cursor = rs_connect().cursor()
    cursor.execute("select id, amount, note from orders where id <= %s order by id", (4,))
    rows = cursor.fetchall()
    assert [list(row) for row in rows] == [
        [1, pytest.approx(1.25), "order 1"],
        [2, pytest.approx(2.5), "order 2"],
        [4, pytest.approx(5.0), "order 4"],
    ]  # id 3 belongs to sim_globex: RLS applies to the front's logins
    cursor.execute("select id, tenant, placed from orders order by id")
    frame = cursor.fetch_dataframe()
    assert len(frame) == 2000
    assert set(frame["tenant"]) == {"sim_acme"}


def test_iam_user_maps_to_role_and_any_password(rs_connect: Any) -> None:
    cursor = rs_connect(user="IAM:sim_globex", password="temporary-from-getclustercredentials").cursor()
    cursor.execute("select current_user, count(*) from orders group by 1")
    assert [list(row) for row in cursor.fetchall()] == [["sim_globex", 1000]]
    cursor = rs_connect(user="IAMA:sim_acme", password="x").cursor()
    cursor.execute("select current_user")
    assert cursor.fetchone()[0] == "sim_acme"


def test_wrong_password_is_refused_like_postgres(rs_connect: Any) -> None:
    with pytest.raises(redshift_connector.ProgrammingError) as caught:
        rs_connect(password="wrong")
    assert caught.value.args[0]["C"] == "28P01"


def test_scram_stored_password_gets_a_scram_exchange(redshift_sim: RedshiftSimulator, rs_connect: Any) -> None:
    with redshift_sim.backend_connect("postgres") as conn:
        conn.execute("SET password_encryption = 'scram-sha-256'")
        conn.execute("DROP ROLE IF EXISTS sim_scram")
        conn.execute("CREATE ROLE sim_scram LOGIN PASSWORD 'scram-secret'")
    cursor = rs_connect(user="sim_scram", password="scram-secret", database="postgres").cursor()
    cursor.execute("select current_user")
    assert cursor.fetchone()[0] == "sim_scram"
    with pytest.raises(redshift_connector.ProgrammingError) as caught:
        rs_connect(user="sim_scram", password="not-it", database="postgres")
    assert caught.value.args[0]["C"] == "28P01"


def test_unknown_database_is_reported(rs_connect: Any) -> None:
    with pytest.raises(redshift_connector.ProgrammingError) as caught:
        rs_connect(database="no_such_db")
    assert caught.value.args[0]["C"] == "3D000"


def test_psycopg_through_the_front(redshift_sim: RedshiftSimulator, sim_tenants: Any) -> None:
    import psycopg

    dsn = redshift_sim.dsn("sim_acme", sim_tenants.passwords["sim_acme"], sim_tenants.database)
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.info.parameter_status("server_version") == "8.0.2"
        assert conn.info.server_version == 80002
        assert conn.execute("select count(*) from orders").fetchone() == (2000,)
        with conn.cursor(binary=True) as cursor:  # libpq's binary results pass the relay untouched
            cursor.execute("select id, amount from orders where id = %s", (2,))
            row = cursor.fetchone()
        assert row is not None and row[0] == 2 and float(row[1]) == 2.5
        cursor = conn.execute("set query_group to 'mixed'; show query_group")  # rewritten inside a multi-statement
        assert cursor.nextset() and cursor.fetchone() == ("mixed",)


def test_query_group_set_show_reset(rs_connect: Any) -> None:
    conn = rs_connect()
    conn.autocommit = True
    cursor = conn.cursor()
    cursor.execute("show query_group")
    assert cursor.fetchone()[0] == "default"
    cursor.execute("set query_group to 'etl_nightly'")
    cursor.execute("show query_group")
    assert cursor.fetchone()[0] == "etl_nightly"
    cursor.execute("reset query_group")
    cursor.execute("show query_group")
    assert cursor.fetchone()[0] == "default"


def test_statement_timeout_is_native(rs_connect: Any) -> None:
    conn = rs_connect()
    conn.autocommit = True
    cursor = conn.cursor()
    cursor.execute("set statement_timeout to 50")
    with pytest.raises(redshift_connector.ProgrammingError) as caught:
        cursor.execute("select pg_sleep(5)")
    assert caught.value.args[0]["C"] == "57014"


@pytest.mark.parametrize(
    ("sql", "token"),
    [("copy orders to stdout", "STDOUT"), ("COPY orders (id) FROM STDIN", "STDIN"),
     ("copy (select 1) to stdout with (format binary)", "STDOUT")],
)  # fmt: skip
def test_copy_stdio_is_refused_as_redshift_does(rs_connect: Any, sql: str, token: str) -> None:
    cursor = rs_connect().cursor()
    with pytest.raises(redshift_connector.ProgrammingError) as caught:
        cursor.execute(sql)
    error = caught.value.args[0]
    assert error["C"] == "42601"
    assert error["M"].startswith(f'syntax error at or near "{token}"')


def test_psycopg_copy_is_refused(redshift_sim: RedshiftSimulator, sim_tenants: Any) -> None:
    import psycopg

    dsn = redshift_sim.dsn("sim_acme", sim_tenants.passwords["sim_acme"], sim_tenants.database)
    with psycopg.connect(dsn) as conn, conn.cursor() as cursor:
        with pytest.raises(psycopg.errors.SyntaxError, match="STDOUT"):
            with cursor.copy("COPY (select id from orders) TO STDOUT (FORMAT BINARY)") as copy:
                list(copy)


def test_protocol_3_2_request_is_negotiated_down(redshift_sim: RedshiftSimulator, sim_tenants: Any) -> None:
    import psycopg

    dsn = redshift_sim.dsn("sim_acme", sim_tenants.passwords["sim_acme"], sim_tenants.database)
    with psycopg.connect(dsn + "?max_protocol_version=3.2&min_protocol_version=3.0") as conn:
        assert conn.pgconn.protocol_version == 3
        assert conn.execute("select 1").fetchone() == (1,)
