"""UNLOAD ... FORMAT AS PARQUET MANIFEST through the front, into moto's S3."""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redshift_connector

from flight_gateway.simulation.process import SimulatorProcess as RedshiftSimulator

QUERY = "select id, tenant, amount, note, placed from orders where note <> ''x'' order by id"


def _unload_sql(bucket: str, prefix: str, query: str = QUERY, options: str = "") -> str:
    return (
        f"UNLOAD ('{query}') TO 's3://{bucket}/{prefix}' "
        f"IAM_ROLE 'arn:aws:iam::123456789012:role/redshift-unload' FORMAT AS PARQUET MANIFEST {options}"
    )


def _read(sim: RedshiftSimulator, prefix: str) -> tuple[dict[str, Any], pa.Table, list[str]]:
    s3 = sim.s3.client()  # type: ignore[union-attr]
    bucket = sim.unload_bucket
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=prefix + "manifest")["Body"].read())
    tables = []
    for entry in manifest["entries"]:
        key = entry["url"].removeprefix(f"s3://{bucket}/")
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert entry["meta"]["content_length"] == len(body)
        table = pq.read_table(io.BytesIO(body))
        assert entry["meta"]["record_count"] == table.num_rows
        tables.append(table)
    keys = [obj["Key"] for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    return manifest, pa.concat_tables(tables), keys


def test_unload_writes_parts_and_manifest_equal_to_the_query(redshift_sim: RedshiftSimulator, rs_connect: Any) -> None:
    prefix = f"unload/{uuid.uuid4().hex}/orders_"
    conn = rs_connect(user="sim_acme")
    cursor = conn.cursor()
    cursor.execute(_unload_sql(redshift_sim.unload_bucket or "", prefix))
    assert cursor.rowcount == -1  # no rows come back, only an INFO notice
    assert any("UNLOAD completed, 2000 record(s) unloaded successfully." in str(n) for n in conn.notices)

    manifest, table, keys = _read(redshift_sim, prefix)
    parts = sorted(key for key in keys if key.endswith(".parquet"))
    assert parts == [f"{prefix}0000_part_00.parquet", f"{prefix}0001_part_00.parquet"]
    assert f"{prefix}manifest" in keys
    assert manifest["meta"]["record_count"] == 2000
    assert manifest["meta"]["content_length"] == sum(e["meta"]["content_length"] for e in manifest["entries"])
    elements = {e["name"]: e["type"] for e in manifest["schema"]["elements"]}
    assert elements["id"] == {"base": "integer"}
    assert elements["amount"] == {"base": "numeric", "precision": 12, "scale": 2}
    assert elements["note"]["base"] == "character varying"

    cursor.execute(QUERY.replace("''", "'"))
    expected = cursor.fetchall()
    got = table.sort_by("id").to_pylist()
    assert [[r["id"], r["tenant"], r["amount"], r["note"], r["placed"]] for r in got] == [list(r) for r in expected]
    assert table.schema.field("amount").type == pa.decimal128(12, 2)
    assert table.schema.field("placed").type == pa.date32()

    cursor.execute(  # Redshift's log of unloaded files, which callers read for row counts
        "select slice, trim(path), line_count, transfer_size, trim(file_format) from stl_unload_log"
        " where path like %s order by slice",
        (f"%{prefix}%",),
    )
    logged = [list(row) for row in cursor.fetchall()]
    by_url = {e["url"]: e["meta"] for e in manifest["entries"]}
    assert [row[0] for row in logged] == [0, 1]
    assert all(by_url[url] == {"content_length": size, "record_count": n} for _, url, n, size, _ in logged)
    assert {row[4] for row in logged} == {"parquet"}


def test_unload_applies_the_users_row_level_security(redshift_sim: RedshiftSimulator, rs_connect: Any) -> None:
    prefix = f"unload/{uuid.uuid4().hex}/"
    cursor = rs_connect(user="IAM:sim_globex", password="temporary").cursor()
    cursor.execute(_unload_sql(redshift_sim.unload_bucket or "", prefix))
    _, table, _ = _read(redshift_sim, prefix)
    assert table.num_rows == 1000
    assert set(table.column("tenant").to_pylist()) == {"sim_globex"}
    acme = rs_connect(user="sim_acme").cursor()
    acme.execute("select count(*) from stl_unload_log where path like %s", (f"%{prefix}%",))
    assert acme.fetchone()[0] == 0  # another user's UNLOAD is not in acme's STL_UNLOAD_LOG


def test_unload_refuses_limit_in_the_outer_select(redshift_sim: RedshiftSimulator, rs_connect: Any) -> None:
    bucket = redshift_sim.unload_bucket or ""
    conn = rs_connect()
    cursor = conn.cursor()
    with pytest.raises(redshift_connector.ProgrammingError) as caught:
        cursor.execute(_unload_sql(bucket, f"unload/{uuid.uuid4().hex}/", "select id from orders limit 10"))
    assert caught.value.args[0]["C"] == "0A000"
    assert "Limit clause is not supported" in caught.value.args[0]["M"]
    conn.rollback()
    prefix = f"unload/{uuid.uuid4().hex}/"
    cursor.execute(_unload_sql(bucket, prefix, "select * from (select id from orders order by id limit 10)"))
    _, table, _ = _read(redshift_sim, prefix)
    assert sorted(table.column("id").to_pylist()) == [1, 2, 4, 5, 7, 8, 10, 11, 13, 14]


def test_unload_splits_by_maxfilesize_and_serial_naming(redshift_sim: RedshiftSimulator, rs_connect: Any) -> None:
    prefix = f"unload/{uuid.uuid4().hex}/big_"
    query = "select g as n, md5(g::text) || md5((g * 7)::text) as payload from generate_series(1, 300000) g"
    cursor = rs_connect().cursor()
    cursor.execute(_unload_sql(redshift_sim.unload_bucket or "", prefix, query, "MAXFILESIZE 5 MB PARALLEL OFF"))
    manifest, table, keys = _read(redshift_sim, prefix)
    parts = sorted(key for key in keys if key.endswith(".parquet"))
    assert len(parts) >= 2
    assert parts[:2] == [f"{prefix}000.parquet", f"{prefix}001.parquet"]
    assert table.num_rows == 300_000 == manifest["meta"]["record_count"]
    assert table.column("n").to_pylist() == list(range(1, 300_001))  # PARALLEL OFF keeps the order


def test_unload_refuses_to_overwrite_without_allowoverwrite(redshift_sim: RedshiftSimulator, rs_connect: Any) -> None:
    bucket = redshift_sim.unload_bucket or ""
    prefix = f"unload/{uuid.uuid4().hex}/"
    conn = rs_connect()
    conn.autocommit = True
    cursor = conn.cursor()
    cursor.execute(_unload_sql(bucket, prefix, "select 1 as one"))
    with pytest.raises(redshift_connector.ProgrammingError, match="ALLOWOVERWRITE"):
        cursor.execute(_unload_sql(bucket, prefix, "select 1 as one"))
    cursor.execute(_unload_sql(bucket, prefix, "select 2 as two", "ALLOWOVERWRITE"))
    _, table, _ = _read(redshift_sim, prefix)
    assert table.column_names == ["two"]


@pytest.mark.parametrize(
    ("options", "sqlstate"),
    [("", "0A000"), ("FORMAT AS CSV", "0A000"), ("MAXFILESIZE 1 MB", "22023")],
)
def test_unload_option_errors(redshift_sim: RedshiftSimulator, rs_connect: Any, options: str, sqlstate: str) -> None:
    sql = (
        f"UNLOAD ('select 1') TO 's3://{redshift_sim.unload_bucket}/unload/{uuid.uuid4().hex}/' "
        f"IAM_ROLE 'arn:aws:iam::123456789012:role/r' {options}"
    )
    with pytest.raises(redshift_connector.ProgrammingError) as caught:
        rs_connect().cursor().execute(sql)
    assert caught.value.args[0]["C"] == sqlstate


def test_unload_to_a_missing_bucket_reports_s3(redshift_sim: RedshiftSimulator, rs_connect: Any) -> None:
    sql = _unload_sql("no-such-bucket-here", "x/", "select 1 as one")
    with pytest.raises(redshift_connector.ProgrammingError, match="S3ServiceException"):
        rs_connect().cursor().execute(sql)


def test_unload_through_psycopg_simple_query(redshift_sim: RedshiftSimulator, sim_tenants: Any) -> None:
    import psycopg

    prefix = f"unload/{uuid.uuid4().hex}/"
    notices: list[str] = []
    dsn = redshift_sim.dsn("sim_acme", sim_tenants.passwords["sim_acme"], sim_tenants.database)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
        conn.execute(_unload_sql(redshift_sim.unload_bucket or "", prefix, "select count(*) as n from orders"))
    assert notices == ["UNLOAD completed, 1 record(s) unloaded successfully."]
    _, table, _ = _read(redshift_sim, prefix)
    assert table.to_pylist() == [{"n": 2000}]


def test_unload_of_no_rows_writes_no_parts(redshift_sim: RedshiftSimulator, rs_connect: Any) -> None:
    prefix = f"unload/{uuid.uuid4().hex}/"
    conn = rs_connect()
    cursor = conn.cursor()
    cursor.execute(_unload_sql(redshift_sim.unload_bucket or "", prefix, "select id from orders where id < 0"))
    assert any("0 record(s) unloaded" in str(n) for n in conn.notices)
    s3 = redshift_sim.s3.client()  # type: ignore[union-attr]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=redshift_sim.unload_bucket, Prefix=prefix).get("Contents", [])]
    assert keys == [prefix + "manifest"]  # as Redshift does since 2019: no empty files
    manifest = json.loads(s3.get_object(Bucket=redshift_sim.unload_bucket, Key=prefix + "manifest")["Body"].read())
    assert manifest["entries"] == [] and manifest["meta"]["record_count"] == 0
    assert manifest["schema"]["elements"] == [{"name": "id", "type": {"base": "integer"}}]
