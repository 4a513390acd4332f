"""The DynamoDB job table: keys, indexes, TTL, records as items, and opening (or creating) it.

One table, key (pk, sk):

* a job:        pk `JOB#<id>`, sk `JOB`; `g` = `JOB`, `created_key` = `<created_at>#<id>`
  (fixed-width, so string order is (created_at, id) order), `open_state` only while QUEUED or
  RUNNING (a sparse index: sweeps read only unfinished jobs), `ttl` = retention (epoch seconds);
* an instance:  pk `INSTANCES`, sk `<instance id>` (one item collection: listed by one query);
* a request id: pk `REQ#<tenant>#<request id>`, sk `REQ`; `g` = `REQ`, `ttl` = its expiry.

Indexes (all attributes projected): `tenant-created` (tenant, created_key) lists a tenant's
jobs newest first; `all-created` (g, created_key) lists everyone's; `open-created`
(open_state, created_key) finds unfinished jobs; `expiring` (g, ttl) finds what retention
deletes. DynamoDB's own TTL deletion (within days) backs up the sweeps.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from flight_gateway.errors import ErrorCode, error
from flight_gateway.jobs.models import Instance, Job, JobState, RequestClaim

JOB_SK = "JOB"
INSTANCES_PK = "INSTANCES"
REQUEST_SK = "REQ"
TTL = "ttl"
EXISTS = "attribute_exists(#pk)"
BY_TENANT, BY_TIME, OPEN, EXPIRING = "tenant-created", "all-created", "open-created", "expiring"
_FLOATS = {"created_at", "started_at", "finished_at", "expires_at", "offload_expires_at"}
_INTS = {"rows", "bytes", "queued_ms"}
_JOB_FIELDS = tuple(f.name for f in dataclasses.fields(Job))
_INSTANCE_FIELDS = tuple(f.name for f in dataclasses.fields(Instance))
_INTERNAL = {"pk", "sk", "g", "created_key", "open_state", TTL}


def number(value: float | int) -> Decimal:
    # repr round-trips a float exactly; Decimal(float) would carry binary noise into the item.
    return Decimal(repr(value))


def ttl_of(expires_at: float) -> Decimal:
    return Decimal(math.ceil(expires_at))


def created_key(created_at: float, job_id: str = "") -> str:
    key = f"{created_at:017.6f}"
    return f"{key}#{job_id}" if job_id else key


def job_key(job_id: str) -> dict[str, str]:
    return {"pk": f"JOB#{job_id}", "sk": JOB_SK}


def request_key(tenant: str, request_id: str) -> dict[str, str]:
    return {"pk": f"REQ#{tenant}#{request_id}", "sk": REQUEST_SK}


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: number(v) if isinstance(v, float | int) and not isinstance(v, bool) else v for k, v in values.items()}


def job_item(job: Job) -> dict[str, Any]:
    values = {name: getattr(job, name) for name in _JOB_FIELDS}
    values["state"] = job.state.value
    item = _plain({k: v for k, v in values.items() if v is not None})
    item.update(job_key(job.id), g=JOB_SK, created_key=created_key(job.created_at, job.id))
    if not job.state.finished:
        item["open_state"] = job.state.value
    if job.expires_at is not None:
        item[TTL] = ttl_of(job.expires_at)
    return item


def job_from(item: dict[str, Any]) -> Job:
    values: dict[str, Any] = {}
    for name, value in item.items():
        if name in _INTERNAL or name not in _JOB_FIELDS:
            continue
        if name in _FLOATS:
            value = float(value)
        elif name in _INTS:
            value = int(value)
        values[name] = value
    values["state"] = JobState(values["state"])
    return Job(**values)


def instance_item(instance: Instance) -> dict[str, Any]:
    values = {name: getattr(instance, name) for name in _INSTANCE_FIELDS}
    item = _plain({k: v for k, v in values.items() if v is not None})
    item.update(pk=INSTANCES_PK, sk=instance.id)
    return item


def instance_from(item: dict[str, Any]) -> Instance:
    stopped = item.get("stopped_at")
    return Instance(
        id=str(item["id"]),
        host=str(item["host"]),
        pid=int(item["pid"]),
        started_at=float(item["started_at"]),
        heartbeat_at=float(item["heartbeat_at"]),
        heartbeat_seconds=float(item["heartbeat_seconds"]),
        stopped_at=None if stopped is None else float(stopped),
    )


def request_item(claim: RequestClaim) -> dict[str, Any]:
    item = _plain(dataclasses.asdict(claim))
    item.update(request_key(claim.tenant, claim.request_id), g=REQUEST_SK)
    item[TTL] = ttl_of(claim.expires_at)
    return item


def request_from(item: dict[str, Any]) -> RequestClaim:
    return RequestClaim(
        tenant=str(item["tenant"]),
        request_id=str(item["request_id"]),
        statement=str(item["statement"]),
        job_id=str(item["job_id"]),
        created_at=float(item["created_at"]),
        expires_at=float(item["expires_at"]),
    )


def _index(name: str, hash_key: str, range_key: str) -> dict[str, Any]:
    return {
        "IndexName": name,
        "KeySchema": [{"AttributeName": hash_key, "KeyType": "HASH"}, {"AttributeName": range_key, "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "ALL"},
    }


def create_table(client: Any, table: str) -> None:
    """Create the job table (on-demand capacity) with its indexes and TTL, and wait until it is
    active; a table another replica is creating at the same moment is waited for."""
    attributes = [("pk", "S"), ("sk", "S"), ("tenant", "S"), ("created_key", "S"), ("g", "S"), ("open_state", "S")]
    try:
        client.create_table(
            TableName=table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": t} for n, t in [*attributes, (TTL, "N")]],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            GlobalSecondaryIndexes=[
                _index(BY_TENANT, "tenant", "created_key"),
                _index(BY_TIME, "g", "created_key"),
                _index(OPEN, "open_state", "created_key"),
                _index(EXPIRING, "g", TTL),
            ],
        )
    except client.exceptions.ResourceInUseException:
        pass
    client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    status = client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]["TimeToLiveStatus"]
    if status in ("DISABLED", "DISABLING"):
        client.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL})


def update_job(table: Any, job_id: str, expression: str, values: dict[str, Any], condition: str = EXISTS) -> bool:
    """One conditional update of a job: whether the condition held (by default: the job exists,
    so an update never creates a job)."""
    # Every attribute goes by a #placeholder: DynamoDB reserves hundreds of words (state, rows, sqlstate).
    names = {name: name[1:] for name in re.findall(r"#\w+", f"{expression} {condition}")}
    kwargs: dict[str, Any] = {"Key": job_key(job_id), "UpdateExpression": expression, "ConditionExpression": condition}
    if names:
        kwargs["ExpressionAttributeNames"] = names
    if values:
        kwargs["ExpressionAttributeValues"] = values
    with reachable():
        try:
            table.update_item(**kwargs)
        except ClientError as exc:
            if conditional(exc):
                return False
            raise
    return True


def _code(exc: BotoCoreError | ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code")) if isinstance(exc, ClientError) else type(exc).__name__


def conditional(exc: ClientError) -> bool:
    return _code(exc) == "ConditionalCheckFailedException"


@contextlib.contextmanager
def reachable() -> Iterator[None]:
    """DynamoDB failures as the gateway's own error (never a botocore message with endpoints)."""
    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise error(
            ErrorCode.JOB_STORE_UNAVAILABLE, f"the job store (DynamoDB) failed ({_code(exc)}); try again"
        ) from exc


def open_table(table: str, *, region: str | None, endpoint_url: str | None, create: bool, session: Any) -> Any:
    """The table (a boto3 Table resource), created first if asked; ValueError if it is missing
    or cannot be reached (the caller names the setting)."""
    config = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=20)
    resource = (session or boto3).resource("dynamodb", region_name=region, endpoint_url=endpoint_url, config=config)
    client = resource.meta.client
    try:
        if create:
            create_table(client, table)
        client.describe_table(TableName=table)
    except client.exceptions.ResourceNotFoundException:
        raise ValueError(
            f"table {table!r} does not exist; create it (see docs/jobs.md) or set dynamodb_create_table = true"
        ) from None
    except (BotoCoreError, ClientError) as exc:
        raise ValueError(
            f"table {table!r} could not be reached ({_code(exc)}); check region, endpoint and IAM"
        ) from None
    return resource.Table(table)
