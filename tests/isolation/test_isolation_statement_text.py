"""Statement text every engine refuses before reading it, on every path text enters the gateway by:
a NUL character (PostgreSQL would run only what precedes it: `SELECT 1\\x00; SET ROLE other`
answered OK) is INVALID_ARGUMENT `NUL_IN_STATEMENT`, and text over `max_statement_bytes` (1 MiB by
default) is INVALID_ARGUMENT `STATEMENT_TOO_LARGE`. Real clients: pyarrow.flight for every command
(ADBC's C strings cannot carry a NUL), ADBC for the size limit.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pyarrow as pa
import pyarrow.flight as fl
import pytest
from conftest import PASSWORD, RunningGateway, start_gateway

from auth import hash_password
from flight_gateway.config import Settings
from flight_gateway.errors import GatewayError, Status
from flight_gateway.policy.statement_text import check_statement_text
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack
from isolation.conftest import _postgres_gateway, _redshift_gateway

ENGINES = ("duckdb", "postgres", "redshift-simulator")
LIMIT = 1 << 20  # the default max_statement_bytes
NUL_SQL = "SELECT 1\x00; SET ROLE postgres"
_TABLE_OPTIONS = pb.CommandStatementIngest.TableDefinitionOptions(
    if_not_exist=pb.CommandStatementIngest.TableDefinitionOptions.TABLE_NOT_EXIST_OPTION_CREATE,
    if_exists=pb.CommandStatementIngest.TableDefinitionOptions.TABLE_EXISTS_OPTION_APPEND,
)


@pytest.fixture(scope="module", params=ENGINES)
def gateway(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    tmp = tmp_path_factory.mktemp(f"statement-text-{request.param}")
    if request.param == "duckdb":
        users = [{"username": "acme", "password_hash": hash_password(PASSWORD), "tenant": "acme"}]
        running = start_gateway(tmp, demo=False, tenants=[{"id": "acme"}], users=users)
    elif request.param == "postgres":
        postgres, names = request.getfixturevalue("postgres"), request.getfixturevalue("isolation_db")
        running, _ = _postgres_gateway(tmp, postgres, names)
    else:
        running, _, _ = _redshift_gateway(tmp, request)
    yield running
    running.gateway.shutdown()


def _query(client: fl.FlightClient, options: fl.FlightCallOptions, sql: str) -> None:
    descriptor = fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=sql)))
    info = client.get_flight_info(descriptor, options)
    client.do_get(info.endpoints[0].ticket, options).read_all()


def _update(client: fl.FlightClient, options: fl.FlightCallOptions, sql: str) -> None:
    descriptor = fl.FlightDescriptor.for_command(pack(pb.CommandStatementUpdate(query=sql)))
    writer, reader = client.do_put(descriptor, pa.schema([]), options)
    writer.done_writing()
    reader.read()
    writer.close()


def _prepare(client: fl.FlightClient, options: fl.FlightCallOptions, sql: str) -> None:
    action = fl.Action("CreatePreparedStatement", pack(pb.ActionCreatePreparedStatementRequest(query=sql)))
    list(client.do_action(action, options))


def _submit_job(client: fl.FlightClient, options: fl.FlightCallOptions, sql: str) -> None:
    list(client.do_action(fl.Action("SubmitJob", json.dumps({"sql": sql}).encode()), options))


def _ingest(client: fl.FlightClient, options: fl.FlightCallOptions, table: str) -> None:
    cmd = pb.CommandStatementIngest(table=table, table_definition_options=_TABLE_OPTIONS)
    data = pa.table({"a": pa.array([1], pa.int32())})
    writer, reader = client.do_put(fl.FlightDescriptor.for_command(pack(cmd)), data.schema, options)
    writer.write_table(data)
    writer.done_writing()
    reader.read()
    writer.close()


PATHS: dict[str, Callable[[fl.FlightClient, fl.FlightCallOptions, str], None]] = {
    "CommandStatementQuery": _query,
    "CommandStatementUpdate": _update,
    "CreatePreparedStatement": _prepare,
    "SubmitJob": _submit_job,
}


@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("text", ["nul", "too-large"])
def test_statement_text_is_refused_on_every_path(gateway: RunningGateway, path: str, text: str) -> None:
    sql, code = (
        (NUL_SQL, "NUL_IN_STATEMENT") if text == "nul" else ("SELECT 1 -- " + "x" * LIMIT, "STATEMENT_TOO_LARGE")
    )
    client, options = gateway.flight_client("acme")
    with client, pytest.raises(pa.ArrowInvalid, match=f"error_code={code}") as refused:
        PATHS[path](client, options, sql)
    if code == "STATEMENT_TOO_LARGE":
        assert f"{LIMIT + 12} bytes" in str(refused.value) and "max_statement_bytes" in str(refused.value)
    with gateway.connect("acme") as conn, conn.cursor() as cur:  # the tenant is still served
        cur.execute("SELECT 1 AS one")
        assert cur.fetchall() == [(1,)]


def test_an_ingest_table_name_with_nul_is_refused(gateway: RunningGateway) -> None:
    client, options = gateway.flight_client("acme")
    with client, pytest.raises(pa.ArrowInvalid, match="error_code=NUL_IN_STATEMENT"):
        _ingest(client, options, "landed\x00; drop table x")


def test_a_statement_at_the_limit_runs(gateway: RunningGateway) -> None:
    sql = "SELECT 1 AS one /* " + "x" * (LIMIT - 22) + " */"
    assert len(sql.encode()) == LIMIT
    with gateway.connect("acme") as conn, conn.cursor() as cur:
        cur.execute(sql)
        assert cur.fetchall() == [(1,)]
        with pytest.raises(Exception, match="error_code=STATEMENT_TOO_LARGE"):
            cur.execute(sql + " ")


def test_the_limit_counts_utf8_bytes() -> None:
    check_statement_text("é" * 512, 1024)  # 1,024 bytes: at the limit
    with pytest.raises(GatewayError, match="1026 bytes, over the limit of 1024 bytes") as refused:
        check_statement_text("é" * 513, 1024)
    assert (refused.value.status, refused.value.code) == (Status.INVALID_ARGUMENT, "STATEMENT_TOO_LARGE")


def test_the_limit_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().max_statement_bytes == LIMIT
    monkeypatch.setenv("FLIGHT_GATEWAY_MAX_STATEMENT_BYTES", "4096")
    assert Settings().max_statement_bytes == 4096
