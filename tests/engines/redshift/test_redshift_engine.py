"""The Redshift engine through the real gateway and a real Flight SQL client, against the Redshift
simulator: types, metadata, WLM query group, statement timeout, errors with Redshift SQLSTATEs,
IAM logins via moto, and the simulator's injected faults (retry a read, never a write)."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as flight_sql
import grpc
import pyarrow as pa
import pyarrow.flight as fl
import pytest
from conftest import PASSWORD, RunningGateway, start_gateway
from flight_wire import RawFlight, command_descriptor
from services import MotoService

from auth import Tenant, hash_password
from flight_gateway.config import RedshiftEngineConfig, TenantConfig
from flight_gateway.engines.redshift.engine import RedshiftEngine
from flight_gateway.errors import GatewayError, Status
from flight_gateway.jobs import JobState, fingerprint
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack
from flight_gateway.simulation.simulator import RedshiftSimulator

READER, READER_PW = "rs_reader", "Reader-pass1"
WRITER, WRITER_PW = "rs_writer", "Writer-pass1"
IAM_USER = "rs_iam"


@pytest.fixture(scope="module")
def database(redshift_sim: RedshiftSimulator) -> str:
    name = f"rs_{uuid.uuid4().hex[:8]}"
    redshift_sim.create_database(name)
    with redshift_sim.backend_connect(name) as conn:
        for statement in (
            f"CREATE USER {READER} PASSWORD '{READER_PW}'",
            f"CREATE USER {WRITER} PASSWORD '{WRITER_PW}'",
            f"CREATE USER {IAM_USER} PASSWORD 'Unused-pass1'",
            "CREATE TABLE public.kinds (id bigint PRIMARY KEY, small smallint, i integer, r real, d double precision,"
            " n numeric(12, 3), b boolean, c char(3), v varchar(20), day date, t time, tz timetz, ts timestamp,"
            " tstz timestamptz, doc super, raw varbyte, shape geometry, sketch hllsketch)",
            "INSERT INTO public.kinds VALUES (1, 7, -8, 1.5, 2.25, 1234.5, true, 'ab', 'it''s', '2026-03-04',"
            " '01:02:03.5', '10:00:00+02', '2026-03-04 05:06:07.125', '2026-03-04 05:06:07+01', '{\"a\": [1, 2]}',"
            " '\\x00ff', '\\x0101000000', '{\"sketch\": 1}'),"
            " (2" + ", NULL" * 17 + ")",
            "CREATE TABLE public.big AS SELECT g::bigint AS id, g * 0.5::float8 AS half "
            "FROM generate_series(1, 150000) g",
            "CREATE TABLE public.hidden (secret int PRIMARY KEY)",
            "CREATE TABLE public.parent (pid int PRIMARY KEY)",
            "CREATE TABLE public.child (cid int, pid int REFERENCES public.parent (pid))",
            "CREATE TABLE public.secret_child (pid int REFERENCES public.parent (pid))",
            "CREATE TABLE public.events (id int)",
            'CREATE TABLE public."o\'hara" (x int)',
            f'GRANT SELECT ON public.kinds, public.big, public."o\'hara", public.parent, public.child '
            f"TO {READER}, {IAM_USER}",
            f"GRANT SELECT, INSERT ON public.events TO {WRITER}",
        ):
            conn.execute(statement)  # type: ignore[arg-type]  # test SQL, literal
    return name


def _engine(sim: RedshiftSimulator, database: str, **extra: Any) -> dict[str, Any]:
    return {"name": "rs", "type": "redshift", "host": sim.host, "port": sim.port, "database": database,
            "sslmode": "disable", **extra}  # fmt: skip


@pytest.fixture(scope="module")
def gw(
    tmp_path_factory: pytest.TempPathFactory, redshift_sim: RedshiftSimulator, database: str
) -> Iterator[RunningGateway]:
    password_hash = hash_password(PASSWORD)
    running = start_gateway(
        tmp_path_factory.mktemp("rs-gateway"),
        engines=[_engine(redshift_sim, database, statement_timeout_seconds=30)],
        tenants=[
            {"id": "reader", "engine": "rs", "db_user": READER, "db_password": READER_PW, "wlm_query_group": "dash"},
            {"id": "writer", "engine": "rs", "db_user": WRITER, "db_password": WRITER_PW},
            {
                "id": "hasty",
                "engine": "rs",
                "db_user": READER,
                "db_password": READER_PW,
                "limits": {"statement_timeout_seconds": 0.5},
            },
        ],  # fmt: skip
        users=[{"username": t, "password_hash": password_hash, "tenant": t} for t in ("reader", "writer", "hasty")],
    )
    yield running
    running.gateway.shutdown()


def _query(gw: RunningGateway, tenant: str, sql: str) -> pa.Table:
    with gw.connect(tenant) as conn, conn.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetch_arrow_table()


def test_types_reach_the_client_as_documented(gw: RunningGateway) -> None:
    table = _query(gw, "reader", "SELECT * FROM kinds ORDER BY id")
    expected = {
        "id": pa.int64(), "small": pa.int16(), "i": pa.int32(), "r": pa.float32(), "d": pa.float64(),
        "n": pa.decimal128(12, 3), "b": pa.bool_(), "c": pa.string(), "v": pa.string(), "day": pa.date32(),
        "t": pa.time64("us"), "tz": pa.string(), "ts": pa.timestamp("us"), "tstz": pa.timestamp("us", tz="UTC"),
        "doc": pa.string(), "raw": pa.binary(), "shape": pa.binary(), "sketch": pa.string(),
    }  # fmt: skip
    assert {f.name: f.type for f in table.schema} == expected
    first, second = table.to_pylist()
    assert first["small"] == 7 and first["i"] == -8 and first["r"] == 1.5 and first["d"] == 2.25
    assert first["n"] == Decimal("1234.500") and first["b"] is True and first["c"] == "ab " and first["v"] == "it's"
    assert first["day"] == dt.date(2026, 3, 4) and first["t"] == dt.time(1, 2, 3, 500000)
    assert first["tz"] == "10:00:00+02"
    assert first["ts"] == dt.datetime(2026, 3, 4, 5, 6, 7, 125000)
    assert first["tstz"] == dt.datetime(2026, 3, 4, 4, 6, 7, tzinfo=dt.UTC)
    assert first["doc"] is not None and first["doc"].replace(" ", "") == '{"a":[1,2]}'
    assert first["raw"] == b"\x00\xff" and first["shape"] == b"\x01\x01\x00\x00\x00"
    assert all(value is None for key, value in second.items() if key != "id")


def test_prepared_statement_with_a_parameter(gw: RunningGateway) -> None:
    with gw.connect("reader") as conn, conn.cursor() as cursor:
        parameters = cursor.adbc_prepare("SELECT id, n, tstz FROM kinds WHERE id = $1")
        cursor.execute("SELECT id, n, tstz FROM kinds WHERE id = $1", parameters=(1,))
        table = cursor.fetch_arrow_table()
    assert parameters.types == [pa.int64()]
    assert table.schema.types == [pa.int64(), pa.decimal128(12, 3), pa.timestamp("us", tz="UTC")]
    assert table.column("id").to_pylist() == [1]


def test_question_mark_placeholders_as_jdbc_and_odbc_send_them(gw: RunningGateway) -> None:
    sql = "SELECT id, '?' AS mark FROM kinds WHERE id = ? /* ? */"
    with gw.connect("reader") as conn, conn.cursor() as cursor:
        parameters = cursor.adbc_prepare(sql)
        cursor.execute(sql, parameters=(1,))
        table = cursor.fetch_arrow_table()
    assert parameters.types == [pa.int64()]
    assert table.to_pylist() == [{"id": 1, "mark": "?"}]


def test_job_records_name_the_backend_that_ran_the_query(gw: RunningGateway) -> None:
    marker = uuid.uuid4().hex
    sql = f"SELECT id, '{marker}' AS marker FROM kinds"
    with gw.connect("reader") as conn, conn.cursor() as cursor:
        cursor.execute(sql)
        cursor.fetch_arrow_table()
    deadline = time.monotonic() + 10
    while True:  # the record is written behind the reply
        jobs = [j for j in gw.gateway.jobs.list(limit=200) if j.fingerprint == fingerprint(sql) and j.finished_at]
        if jobs or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert jobs and jobs[0].state is JobState.SUCCEEDED
    pid = (jobs[0].engine_query_id or "").removeprefix("pid:")
    assert pid.isdigit() and int(pid) > 0, jobs[0].engine_query_id


def test_large_results_stream_in_batches(gw: RunningGateway) -> None:
    with gw.connect("reader") as conn, conn.cursor() as cursor:
        cursor.execute("SELECT id, half FROM big ORDER BY id")
        reader = cursor.fetch_record_batch()
        sizes = [batch.num_rows for batch in reader]
    assert sum(sizes) == 150000 and len(sizes) > 1


def test_query_group_is_the_tenants(gw: RunningGateway) -> None:
    assert _query(gw, "reader", "SHOW query_group").column(0).to_pylist() == ["dash"]


def test_statement_timeout_is_deadline_exceeded(gw: RunningGateway) -> None:
    with pytest.raises(flight_sql.Error) as info:
        _query(gw, "hasty", "SELECT pg_sleep(5)")
    assert "statement timeout" in str(info.value)
    assert _query(gw, "reader", "SELECT 1 AS one").column(0).to_pylist() == [1]  # 30 s engine default: fine


@pytest.mark.parametrize(
    ("sql", "status"),
    [
        ("SELECT * FROM no_such_table", "NOT_FOUND"),
        ("SELEC 1", "INVALID_ARGUMENT"),
        ("SELECT * FROM hidden", "PERMISSION_DENIED"),
        ("BEGIN", "UNIMPLEMENTED"),
        (
            "UNLOAD ('SELECT 1') TO 's3://b/x/' IAM_ROLE 'arn:aws:iam::123456789012:role/r'",
            "PERMISSION_DENIED",
        ),
        (
            "/* a */ COPY kinds FROM 's3://b/x' IAM_ROLE 'arn:aws:iam::123456789012:role/r'",
            "PERMISSION_DENIED",
        ),
    ],
)
def test_errors_map_by_sqlstate(gw: RunningGateway, sql: str, status: str) -> None:
    client, _ = gw.flight_client(None)
    key, value = client.authenticate_basic_token("reader", gw.password)
    headers = [(key.decode(), value.decode())]
    raw = RawFlight.connect(gw.uri)
    try:
        with pytest.raises(grpc.RpcError) as info:
            # Some errors surface when the statement is described, privileges only when it runs.
            endpoint = raw.get_flight_info(command_descriptor(pb.CommandStatementQuery(query=sql)), headers)
            raw.do_get(endpoint.endpoints[0].ticket.ticket, headers)
    finally:
        raw.close()
    assert info.value.code().name == status
    assert "Traceback" not in (info.value.details() or "")


def _table_names(objects: list[dict[str, Any]]) -> list[str]:
    return [
        t["table_name"] for c in objects for s in c["catalog_db_schemas"] or [] for t in s["db_schema_tables"] or []
    ]


def test_catalog_is_privilege_filtered_and_patterns_are_bound(gw: RunningGateway, database: str) -> None:
    with gw.connect("reader") as conn:
        objects = conn.adbc_get_objects(depth="tables", catalog_filter=database).read_all().to_pylist()
        names = {
            t["table_name"] for c in objects for s in c["catalog_db_schemas"] or [] for t in s["db_schema_tables"] or []
        }
        assert {"kinds", "big", "o'hara"} <= names and "hidden" not in names and "events" not in names
        quoted = conn.adbc_get_objects(depth="tables", table_name_filter="o'h%").read_all().to_pylist()
        found = [
            t["table_name"] for c in quoted for s in c["catalog_db_schemas"] or [] for t in s["db_schema_tables"] or []
        ]
        assert found == ["o'hara"]
        schema = conn.adbc_get_table_schema("kinds", db_schema_filter="public")
    assert schema.field("n").type == pa.decimal128(12, 3) and schema.field("doc").type == pa.string()
    assert schema.field("raw").type == pa.binary() and schema.field("tstz").type == pa.timestamp("us", tz="UTC")


def test_a_read_is_retried_once_after_a_dropped_connection(gw: RunningGateway, redshift_sim: RedshiftSimulator) -> None:
    marker = f"retry_{uuid.uuid4().hex[:6]}"
    redshift_sim.faults.drop_next(1, user=READER, match=marker)
    try:
        table = _query(gw, "reader", f"SELECT count(*) AS {marker} FROM big")
    finally:
        redshift_sim.faults.clear()
    assert table.column(0).to_pylist() == [150000]


def test_a_write_is_never_retried(gw: RunningGateway, redshift_sim: RedshiftSimulator, database: str) -> None:
    marker = f"w{uuid.uuid4().hex[:6]}"
    redshift_sim.faults.drop_next(1, user=WRITER, match=marker, after_bytes=1)
    try:
        with gw.connect("writer") as conn, conn.cursor() as cursor, pytest.raises(flight_sql.Error) as info:
            cursor.execute(f"INSERT INTO events /* {marker} */ VALUES (1)")
    finally:
        redshift_sim.faults.clear()
    assert "UNAVAILABLE" in repr(info.value) or "connection" in str(info.value).lower()
    with redshift_sim.backend_connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (1,)  # ran once, not twice
    with gw.connect("writer") as conn, conn.cursor() as cursor:  # the pool recovered
        cursor.execute("INSERT INTO events VALUES (2)")
        assert cursor.rowcount == 1


def test_injected_redshift_sqlstate_reaches_the_client(gw: RunningGateway, redshift_sim: RedshiftSimulator) -> None:
    marker = f"f{uuid.uuid4().hex[:6]}"
    redshift_sim.faults.fail_next(1, sqlstate="53100", message="Disk Full", user=READER, match=marker)
    try:
        with pytest.raises(flight_sql.Error) as info:
            _query(gw, "reader", f"SELECT 1 AS {marker}")
    finally:
        redshift_sim.faults.clear()
    assert "Disk Full" in str(info.value) and "Traceback" not in str(info.value)


def test_cancel_interrupts_a_running_query(redshift_sim: RedshiftSimulator, database: str) -> None:
    config = RedshiftEngineConfig(**_engine(redshift_sim, database))
    tenant = TenantConfig(id="reader", engine="rs", db_user=READER, db_password=READER_PW)  # type: ignore[arg-type]
    engine = RedshiftEngine(config, {"reader": tenant})
    marker = f"slow_{uuid.uuid4().hex[:6]}"
    outcome: list[BaseException] = []
    try:
        with engine.session(Tenant(id="reader", engine="rs", db_user=READER)) as session:

            def run() -> None:
                try:
                    session.execute(f"SELECT pg_sleep(60) AS {marker}", None, 1000).read_all()
                except BaseException as exc:
                    outcome.append(exc)

            worker = threading.Thread(target=run)
            worker.start()
            with redshift_sim.backend_connect(database) as admin:
                waiting = threading.Event()
                while not admin.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE %s",
                    (f"%AS {marker}",),
                ).fetchone()[0]:  # type: ignore[index]
                    assert not waiting.wait(0.02) and worker.is_alive()
            session.cancel()
            worker.join(30)
            assert not worker.is_alive()
    finally:
        engine.close()
    assert len(outcome) == 1 and isinstance(outcome[0], GatewayError)
    assert outcome[0].status is Status.CANCELLED


def test_iam_credentials_log_in_as_the_tenants_user(
    tmp_path: Path, redshift_sim: RedshiftSimulator, database: str, moto: MotoService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto.secret_key)
    cluster = f"c{uuid.uuid4().hex[:10]}"
    moto.client("redshift").create_cluster(
        ClusterIdentifier=cluster, NodeType="ra3.xlplus", MasterUsername="admin", MasterUserPassword="Passw0rd1"
    )
    engine = _engine(redshift_sim, database, credentials="iam", cluster_identifier=cluster, region=moto.region,
                     aws_endpoint_url=moto.endpoint_url)  # fmt: skip
    running = start_gateway(
        tmp_path,
        engines=[engine],
        tenants=[{"id": "iam", "engine": "rs", "db_user": IAM_USER}],
        users=[{"username": "iam", "password_hash": hash_password(PASSWORD), "tenant": "iam"}],
    )
    try:
        assert _query(running, "iam", "SELECT current_user AS u").column(0).to_pylist() == [IAM_USER]
    finally:
        running.gateway.shutdown()


def test_connections_name_the_tenant_and_estimates_come_from_explain(
    redshift_sim: RedshiftSimulator, database: str
) -> None:
    config = RedshiftEngineConfig(**_engine(redshift_sim, database))
    tenant = TenantConfig(id="reader", engine="rs", db_user=READER, db_password=READER_PW)  # type: ignore[arg-type]
    engine = RedshiftEngine(config, {"reader": tenant})
    try:
        with engine.session(Tenant(id="reader", engine="rs", db_user=READER)) as session:
            name = session.execute("SELECT current_setting('application_name') AS a", None, 10).read_all()
            estimate = session.estimate_rows("SELECT * FROM big", None)
            assert session.estimate_rows("INSERT INTO events VALUES (1)", None) is None
    finally:
        engine.close()
    assert name.column(0).to_pylist() == ["flight-gateway/reader"]
    assert estimate is not None and 100_000 <= estimate <= 200_000


def test_a_rotated_secret_is_read_again_after_the_login_is_refused(
    redshift_sim: RedshiftSimulator, database: str, moto: MotoService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto.secret_key)
    user = f"rot_{uuid.uuid4().hex[:6]}"
    secrets = moto.client("secretsmanager")
    arn = secrets.create_secret(Name=f"redshift/{user}", SecretString='{"username": "x", "password": "First-pw1"}')[
        "ARN"
    ]
    with redshift_sim.backend_connect(database) as admin:
        admin.execute(f"CREATE USER {user} PASSWORD 'First-pw1'")  # type: ignore[arg-type]
    config = RedshiftEngineConfig(
        **_engine(redshift_sim, database, credentials="secrets_manager", region=moto.region,
                  aws_endpoint_url=moto.endpoint_url)
    )  # fmt: skip
    tenant_config = TenantConfig(id="rot", engine="rs", db_user=user, db_secret_arn=arn)
    engine = RedshiftEngine(config, {"rot": tenant_config})
    tenant = Tenant(id="rot", engine="rs", db_user=user)
    try:
        with engine.side_connection(tenant) as conn:
            assert conn.execute(b"SELECT current_user").fetchone() == (user,)
        with redshift_sim.backend_connect(database) as admin:
            admin.execute(f"ALTER USER {user} PASSWORD 'Second-pw2'")  # type: ignore[arg-type]
        secrets.put_secret_value(SecretId=arn, SecretString='{"password": "Second-pw2"}')
        with engine.side_connection(tenant) as conn:  # the cached first password is refused, then re-read
            assert conn.execute(b"SELECT current_user").fetchone() == (user,)
    finally:
        engine.close()


def test_keys_are_those_of_readable_tables(redshift_sim: RedshiftSimulator, database: str) -> None:
    config = RedshiftEngineConfig(**_engine(redshift_sim, database))
    tenant = TenantConfig(id="reader", engine="rs", db_user=READER, db_password=READER_PW)  # type: ignore[arg-type]
    engine = RedshiftEngine(config, {"reader": tenant})
    try:
        with engine.session(Tenant(id="reader", engine="rs", db_user=READER)) as session:
            catalog = session.catalog()
            keys = catalog.primary_keys(None, "public", "kinds")
            hidden = catalog.primary_keys(None, "public", "hidden")
            references = catalog.foreign_keys((None, "public", "parent"), (None, None, None))
    finally:
        engine.close()
    assert [(k.schema, k.table, k.column, k.seq) for k in keys] == [("public", "kinds", "id", 1)]
    assert hidden == []  # no privilege on the table: not even its key's name
    assert [(f.fk_table, f.fk_column, f.pk_table, f.pk_column, f.pk_name) for f in references] == [
        ("child", "pid", "parent", "pid", "parent_pkey")
    ]  # secret_child's reference stays hidden


def test_session_changes_end_with_the_statement_and_read_only_tenants_cannot_write(
    redshift_sim: RedshiftSimulator, database: str
) -> None:
    config = RedshiftEngineConfig(**_engine(redshift_sim, database, pool={"max_size": 1}))
    tenants = {
        "writer": TenantConfig(id="writer", engine="rs", db_user=WRITER, db_password=WRITER_PW),  # type: ignore[arg-type]
        "viewer": TenantConfig(id="viewer", engine="rs", db_user=WRITER, db_password=WRITER_PW, read_only=True),  # type: ignore[arg-type]
    }
    engine = RedshiftEngine(config, tenants)
    writer = Tenant(id="writer", engine="rs", db_user=WRITER, wlm_query_group=None)
    viewer = Tenant(id="viewer", engine="rs", db_user=WRITER, allowed_statements=frozenset({"query"}))
    state = "SELECT current_setting('search_path') AS p, current_setting('application_name') AS a"
    try:
        with engine.session(writer) as session:
            before = session.execute(state, None, 10).read_all().to_pylist()
            session.execute("SELECT set_config('search_path', 'nowhere', false) AS s", None, 10).read_all()
            session.execute("SELECT set_config('application_name', 'escaped', false) AS s", None, 10).read_all()
        with engine.session(writer) as session:  # the same (only) connection, reset on its way back
            assert session.execute(state, None, 10).read_all().to_pylist() == before
        with engine.session(viewer) as session, pytest.raises(GatewayError) as info:
            session.execute_update("INSERT INTO events VALUES (99)", None)
        assert info.value.status is Status.PERMISSION_DENIED
        with engine.session(viewer) as session, pytest.raises(GatewayError):
            session.execute("INSERT INTO events VALUES (98) RETURNING id", None, 10).read_all()
        with engine.session(viewer) as session:
            assert (
                session.execute("SELECT count(*) AS n FROM events WHERE id > 97", None, 10).read_all()[0][0].as_py()
                == 0
            )
    finally:
        engine.close()


def _command(gw: RunningGateway, tenant: str, cmd: Any) -> pa.Table:
    client, options = gw.flight_client(tenant)
    try:
        info = client.get_flight_info(fl.FlightDescriptor.for_command(pack(cmd)), options)
        return client.do_get(info.endpoints[0].ticket, options).read_all()
    finally:
        client.close()


def test_sql_info_and_type_info_are_redshifts(gw: RunningGateway) -> None:
    types = _command(gw, "reader", pb.CommandGetXdbcTypeInfo()).column("type_name").to_pylist()
    assert {"integer", "numeric", "character varying", "super", "varbyte", "geometry", "time with time zone"} <= set(
        types
    )
    assert "uuid" not in types and "bytea" not in types  # PostgreSQL's, not Redshift's
    info = _command(gw, "reader", pb.CommandGetSqlInfo(info=[1, 508, 505, 507, 10]))
    values = dict(zip(info.column("info_name").to_pylist(), info.column("value").to_pylist(), strict=True))
    assert "Redshift" in values[1] and "AZ64" in values[508]
    # Quoted identifiers fold to lower case too (enable_case_sensitive_identifier off); no bulk ingest.
    assert values[505] == pb.SqlSupportedCaseSensitivity.SQL_CASE_SENSITIVITY_LOWERCASE
    assert values[507] == pb.SqlNullOrdering.SQL_NULLS_SORTED_HIGH
    assert values[10] is False


def test_streaming_is_bounded_and_leaves_no_arrow_memory(redshift_sim: RedshiftSimulator, database: str) -> None:
    config = RedshiftEngineConfig(**_engine(redshift_sim, database))
    tenant = TenantConfig(id="reader", engine="rs", db_user=READER, db_password=READER_PW)  # type: ignore[arg-type]
    engine = RedshiftEngine(config, {"reader": tenant})
    baseline = pa.total_allocated_bytes()
    peak = rows = 0
    try:
        with engine.session(Tenant(id="reader", engine="rs", db_user=READER)) as session:
            reader = session.execute("SELECT id, half FROM big", None, 10_000)
            for batch in reader:
                assert batch.num_rows <= 10_000
                rows += batch.num_rows
                peak = max(peak, pa.total_allocated_bytes() - baseline)
                del batch
            reader.close()
    finally:
        engine.close()
    assert rows == 150_000
    assert peak < 150_000 * 16 / 4  # a few batches of 16-byte rows at most, never the whole result
    assert pa.total_allocated_bytes() == baseline
