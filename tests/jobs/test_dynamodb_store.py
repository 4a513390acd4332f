"""What only the DynamoDB job store has: its table (keys, indexes, TTL), its settings, and the
errors a gateway gives when the table is missing or DynamoDB cannot be reached."""

from __future__ import annotations

import json
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from conftest import start_gateway
from job_actions_support import run_jobs_cli
from services import MotoService

from flight_gateway.config import ConfigError, load_settings
from flight_gateway.errors import GatewayError, Status
from flight_gateway.jobs import Job, JobState
from flight_gateway.jobs.dynamodb import DynamoDBJobStore


def _session(moto: MotoService) -> Any:
    return boto3.Session(
        aws_access_key_id=moto.access_key, aws_secret_access_key=moto.secret_key, region_name=moto.region
    )


def test_created_table_has_keys_indexes_and_ttl(moto: MotoService) -> None:
    table = f"jobs-{uuid.uuid4().hex[:10]}"
    store = DynamoDBJobStore(table, endpoint_url=moto.endpoint_url, create=True, session=_session(moto))
    DynamoDBJobStore(table, endpoint_url=moto.endpoint_url, create=True, session=_session(moto)).close()  # idempotent
    try:
        client = moto.client("dynamodb")
        described = client.describe_table(TableName=table)["Table"]
        assert [(k["AttributeName"], k["KeyType"]) for k in described["KeySchema"]] == [("pk", "HASH"), ("sk", "RANGE")]
        indexes = {
            i["IndexName"]: [k["AttributeName"] for k in i["KeySchema"]] for i in described["GlobalSecondaryIndexes"]
        }
        assert indexes == {
            "tenant-created": ["tenant", "created_key"],
            "all-created": ["g", "created_key"],
            "open-created": ["open_state", "created_key"],
            "expiring": ["g", "ttl"],
        }
        ttl = client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        assert ttl["TimeToLiveStatus"] == "ENABLED" and ttl["AttributeName"] == "ttl"
        # A finished job's item carries its retention as TTL; unfinished ones sit in the sparse index.
        store.create(Job("a" * 32, "acme", "s", "query", "f", JobState.QUEUED, 100.0, expires_at=200.5))
        item = client.get_item(TableName=table, Key={"pk": {"S": "JOB#" + "a" * 32}, "sk": {"S": "JOB"}})["Item"]
        assert item["ttl"] == {"N": "201"} and item["open_state"] == {"S": "QUEUED"}
        store.finish("a" * 32, JobState.SUCCEEDED, 150.0)
        item = client.get_item(TableName=table, Key={"pk": {"S": "JOB#" + "a" * 32}, "sk": {"S": "JOB"}})["Item"]
        assert "open_state" not in item and item["state"] == {"S": "SUCCEEDED"}
    finally:
        store.close()


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"job_store": "dynamodb"}, "dynamodb_table"),
        ({"job_store": "dynamodb", "dynamodb_table": "x"}, "dynamodb_table"),
        ({"job_store": "cassandra"}, "job_store"),
        ({"offload_target": "/tmp/offload"}, "offload_target"),  # noqa: S108 - a path that must be refused
        ({"offload_target": "s3://Bad_Bucket/p"}, "offload_target"),
        ({"offload_sse": "AES256"}, "offload_sse"),
        ({"offload_target": "s3://bucket/p", "offload_sse": "rot13"}, "offload_sse"),
        ({"offload_target": "s3://bucket/p", "offload_sse": "AES256", "offload_kms_key_id": "k"}, "offload_kms_key_id"),
    ],
)
def test_store_settings_are_validated(tmp_path: Path, settings: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        load_settings(data_dir=tmp_path, **settings)


def test_a_missing_table_fails_start_up_naming_the_setting(moto: MotoService, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto.secret_key)
    settings = {"job_store": "dynamodb", "dynamodb_table": f"absent-{uuid.uuid4().hex[:8]}",
                "dynamodb_endpoint_url": moto.endpoint_url, "dynamodb_region": moto.region}  # fmt: skip
    with pytest.raises(ConfigError, match="dynamodb_table: .* does not exist; .*dynamodb_create_table"):
        start_gateway(tmp_path, **settings)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    try:
        unreachable = settings | {"dynamodb_endpoint_url": f"http://127.0.0.1:{closed.getsockname()[1]}"}
        with pytest.raises(ConfigError, match="could not be reached"):
            start_gateway(tmp_path, **unreachable)
    finally:
        closed.close()


def test_an_unreachable_table_is_a_clear_unavailable_error(moto: MotoService) -> None:
    table = f"jobs-{uuid.uuid4().hex[:10]}"
    store = DynamoDBJobStore(table, endpoint_url=moto.endpoint_url, create=True, session=_session(moto))
    try:
        moto.client("dynamodb").delete_table(TableName=table)
        with pytest.raises(GatewayError) as err:
            store.get("a" * 32)
        assert err.value.status is Status.UNAVAILABLE and err.value.code == "JOB_STORE_UNAVAILABLE"
        assert "ResourceNotFoundException" in err.value.message and "try again" in err.value.message
    finally:
        store.close()


def test_operator_commands_read_the_dynamodb_table(moto: MotoService, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    table = f"jobs-{uuid.uuid4().hex[:10]}"
    store = DynamoDBJobStore(table, endpoint_url=moto.endpoint_url, create=True, session=_session(moto))
    job = Job(uuid.uuid4().hex, "acme", "alice", "query", "f", JobState.RUNNING, time.time(), instance_id="gone")
    store.create(job)
    store.close()
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'job_store = "dynamodb"\ndynamodb_table = "{table}"\n'
        f'dynamodb_endpoint_url = "{moto.endpoint_url}"\ndynamodb_region = "{moto.region}"\n'
    )
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto.secret_key)
    listed = run_jobs_cli("list", "--config", str(config), "--data-dir", str(tmp_path), "--json")
    assert listed.returncode == 0, listed.stderr
    assert [j["id"] for j in json.loads(listed.stdout)] == [job.id]
    cancelled = run_jobs_cli("cancel", job.id, "--config", str(config), "--data-dir", str(tmp_path))
    assert cancelled.returncode == 0, cancelled.stderr
    reopened = DynamoDBJobStore(table, endpoint_url=moto.endpoint_url, session=_session(moto))
    try:
        got = reopened.get(job.id)
        assert got is not None and got.state is JobState.CANCELLED
    finally:
        reopened.close()
