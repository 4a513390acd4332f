"""requests_per_minute shared by replicas through the DynamoDB job store (moto's server): two gateways
on one table count a tenant's calls together, per clock minute, by their (injected) clocks."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pyarrow.flight as fl
import pytest
from conftest import PASSWORD, RunningGateway, start_gateway
from manual_clock import ManualClock
from services import MotoService

from auth import hash_password
from flight_gateway.jobs.dynamodb import DynamoDBJobStore
from flight_gateway.jobs.rate_windows import DynamoRateWindows
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack

MINUTE = 60.0
START = 1_800_000_000.0  # a whole minute (divisible by 60), so the test knows where windows end


def _session(moto: MotoService) -> Any:
    return boto3.Session(
        aws_access_key_id=moto.access_key, aws_secret_access_key=moto.secret_key, region_name=moto.region
    )


@pytest.fixture
def table(moto: MotoService) -> Iterator[str]:
    name = f"jobs-{uuid.uuid4().hex[:10]}"
    DynamoDBJobStore(name, endpoint_url=moto.endpoint_url, create=True, session=_session(moto)).close()
    yield name


def test_a_window_counts_to_its_limit_and_the_next_starts_afresh(moto: MotoService, table: str) -> None:
    windows = DynamoRateWindows(table, region=moto.region, endpoint_url=moto.endpoint_url, session=_session(moto))
    assert [windows.take("acme", 3, START + 1) for _ in range(3)] == [None, None, None]
    assert windows.take("acme", 3, START + 45.5) == pytest.approx(14.5)  # until the minute ends
    assert windows.take("globex", 3, START + 46) is None  # tenants count apart
    assert windows.take("acme", 3, START + MINUTE) is None
    item = moto.client("dynamodb").get_item(
        TableName=table, Key={"pk": {"S": "RATE#acme"}, "sk": {"S": str(int(START // MINUTE))}}
    )["Item"]
    assert item["n"] == {"N": "3"}  # the refused call was not counted
    assert int(item["ttl"]["N"]) > START + MINUTE  # DynamoDB's TTL removes it after its minute
    assert "g" not in item  # so no index (job listings, sweeps) ever sees it


def test_an_unreachable_counter_lets_calls_through(
    moto: MotoService, table: str, caplog: pytest.LogCaptureFixture
) -> None:
    windows = DynamoRateWindows(table, region=moto.region, endpoint_url=moto.endpoint_url, session=_session(moto))
    moto.client("dynamodb").delete_table(TableName=table)
    with caplog.at_level(logging.WARNING, logger="flight_gateway.admission"):
        assert windows.take("acme", 1, START) is None
        assert windows.take("acme", 1, START) is None
    assert "counted on this replica only" in caplog.text


def _replica(tmp_path: Path, moto: MotoService, table: str, clock: ManualClock) -> RunningGateway:
    tenants = [{"id": "acme", "limits": {"requests_per_minute": 3}}]
    users = [{"username": "acme", "password_hash": hash_password(PASSWORD), "tenant": "acme"}]
    return start_gateway(
        tmp_path, clock=clock, demo=False, tenants=tenants, users=users, job_store="dynamodb", dynamodb_table=table,
        dynamodb_endpoint_url=moto.endpoint_url, dynamodb_region=moto.region,
    )  # fmt: skip


def test_replicas_share_a_tenants_calls(
    moto: MotoService, table: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto.secret_key)
    clock = ManualClock(START + 10)
    one, two = _replica(tmp_path / "one", moto, table, clock), _replica(tmp_path / "two", moto, table, clock)
    clients = []
    try:
        schema = fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query="select 1 as one")))
        first, first_options = one.flight_client("acme")
        second, second_options = two.flight_client("acme")
        clients += [first, second]
        first.get_schema(schema, first_options)
        first.get_schema(schema, first_options)
        second.get_schema(schema, second_options)  # each replica's bucket holds 3: only the shared count stops it
        for client, options in ((second, second_options), (first, first_options)):
            with pytest.raises(fl.FlightUnavailableError) as refused:  # GetSchema's would be UNKNOWN (pyarrow)
                client.get_flight_info(schema, options)
            assert "error_code=RATE_LIMITED" in str(refused.value)
            assert "retry after 50 s" in str(refused.value)  # the minute ends 50 s on
        clock.advance(50)
        first.get_schema(schema, first_options)
        second.get_schema(schema, second_options)
    finally:
        for client in clients:
            client.close()
        one.gateway.shutdown()
        two.gateway.shutdown()
