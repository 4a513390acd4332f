"""DynamoDB job store: one table shared by every replica (layout in jobs/dynamodb_schema.py).

Semantics match SqliteJobStore, with the guards as condition expressions so two replicas cannot
race each other into a wrong state: a job is created only if absent, started only from QUEUED,
cancelled only while unfinished, failed by recovery only while RUNNING on the dead instance, and
deleted by retention only once finished; updates never create a job that does not exist. Reads by
id are strongly consistent; listings read indexes, which DynamoDB updates within about a second.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from flight_gateway.errors import ErrorCode, error
from flight_gateway.jobs.dynamodb_schema import (
    BY_TENANT,
    BY_TIME,
    EXISTS,
    EXPIRING,
    INSTANCES_PK,
    JOB_SK,
    OPEN,
    REQUEST_SK,
    TTL,
    conditional,
    created_key,
    instance_from,
    instance_item,
    job_from,
    job_item,
    job_key,
    number,
    open_table,
    reachable,
    request_from,
    request_item,
    request_key,
    ttl_of,
    update_job,
)
from flight_gateway.jobs.models import Instance, Job, JobState, RequestClaim

log = logging.getLogger("flight_gateway.jobs")
_QUEUED, _RUNNING = JobState.QUEUED.value, JobState.RUNNING.value


class DynamoDBJobStore:
    def __init__(
        self,
        table: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        create: bool = False,
        session: Any = None,
    ) -> None:
        self._table = open_table(table, region=region, endpoint_url=endpoint_url, create=create, session=session)

    # -- jobs ---------------------------------------------------------------------------------

    def _update(self, job_id: str, expression: str, values: dict[str, Any], condition: str = EXISTS) -> bool:
        return update_job(self._table, job_id, expression, values, condition)

    def create(self, job: Job) -> None:
        with reachable():
            try:
                self._table.put_item(Item=job_item(job), ConditionExpression="attribute_not_exists(pk)")
            except ClientError as exc:
                if not conditional(exc):
                    raise
                log.warning("job %s already exists; the second record was not written", job.id)

    def start(self, job_id: str, at: float, instance_id: str | None = None) -> None:
        # The instance that runs a job owns it from now on (any replica may redeem a ticket).
        owner = ", #instance_id = :i" if instance_id else ""
        values = {":r": _RUNNING, ":at": number(at), ":q": _QUEUED, **({":i": instance_id} if instance_id else {})}
        self._update(
            job_id, f"SET #state = :r, #started_at = :at, #open_state = :r{owner}", values, "#state = :q"
        )  # fmt: skip

    def finish(
        self,
        job_id: str,
        state: JobState,
        at: float,
        *,
        rows: int | None = None,
        bytes_: int | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
        sqlstate: str | None = None,
        engine_query_id: str | None = None,
    ) -> None:
        # Not guarded by the current state (as in SQLite): the process that ran the statement
        # reports how it really ended, even after an operator or a sweep has marked the record.
        fields = {"#rows": rows, "#bytes": bytes_, "#error_code": error_code, "#error_message": error_message,
                  "#sqlstate": sqlstate}  # fmt: skip
        sets = ["#state = :s", "#finished_at = :at", "#started_at = if_not_exists(#started_at, :at)"]
        removes = [] if not state.finished else ["#open_state"]
        values: dict[str, Any] = {":s": state.value, ":at": number(at)}
        if not state.finished:
            sets.append("#open_state = :s")
        if engine_query_id is not None:
            sets.append("#engine_query_id = :eq")
            values[":eq"] = engine_query_id
        for i, (name, value) in enumerate(fields.items()):
            if value is None:
                removes.append(name)
            else:
                sets.append(f"{name} = :v{i}")
                values[f":v{i}"] = number(value) if isinstance(value, int) else value
        self._update(job_id, f"SET {', '.join(sets)}" + (f" REMOVE {', '.join(removes)}" if removes else ""), values)

    def set_offload(self, job_id: str, location: str, expires_at: float) -> None:
        values = {":d": "offload", ":l": location, ":e": number(expires_at)}
        self._update(job_id, "SET #delivery = :d, #offload_location = :l, #offload_expires_at = :e", values)

    def set_result(self, job_id: str, result: str) -> None:
        self._update(job_id, "SET #result = :v", {":v": result})

    def set_admission(self, job_id: str, decision: str, queued_ms: int | None = None) -> None:
        waited = {":q": number(queued_ms)} if queued_ms is not None else {}
        expression = "SET #admission = :a" + (", #queued_ms = :q" if waited else "")
        self._update(job_id, expression, {":a": decision, **waited})

    def set_truncated(self, job_id: str, what: str) -> None:
        self._update(job_id, "SET #truncated = :t", {":t": what})

    def _close_unfinished(self, job_id: str, state: JobState, at: float, code: str, message: str, guard: str,
                          extra: dict[str, Any]) -> bool:  # fmt: skip
        values = {":s": state.value, ":at": number(at), ":c": code, ":m": message, **extra}
        expression = "SET #state = :s, #finished_at = :at, #error_code = :c, #error_message = :m REMOVE #open_state"
        return self._update(job_id, expression, values, guard)

    def cancel_unfinished(self, job_id: str, at: float, *, error_code: str, error_message: str) -> bool:
        return self._close_unfinished(
            job_id, JobState.CANCELLED, at, error_code, error_message, "#state IN (:q, :r)",
            {":q": _QUEUED, ":r": _RUNNING},
        )  # fmt: skip

    def get(self, job_id: str) -> Job | None:
        with reachable():
            item = self._table.get_item(Key=job_key(job_id), ConsistentRead=True).get("Item")
        return job_from(item) if item else None

    def _query(self, limit: int | None = None, **kwargs: Any) -> Iterator[dict[str, Any]]:
        with reachable():
            while True:
                page = self._table.query(**kwargs, **({"Limit": limit} if limit else {}))
                yield from page.get("Items", [])
                if "LastEvaluatedKey" not in page:
                    return
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def list(
        self,
        tenant: str | None = None,
        limit: int = 50,
        *,
        state: JobState | None = None,
        kind: str | None = None,
        since: float | None = None,
        before: tuple[float, str] | None = None,
    ) -> list[Job]:
        """Newest first by (created_at, id), like SqliteJobStore.list."""
        if tenant is not None:
            index, key = BY_TENANT, Key("tenant").eq(tenant)
        elif state is not None and not state.finished:
            index, key = OPEN, Key("open_state").eq(state.value)
        else:
            index, key = BY_TIME, Key("g").eq(JOB_SK)
        low = created_key(since) if since is not None else None
        high = created_key(*before) if before is not None else None
        if low is not None and high is not None:
            if low > high:  # DynamoDB refuses an empty range rather than answering nothing
                return []
            key &= Key("created_key").between(low, high)
        elif low is not None:
            key &= Key("created_key").gte(low)
        elif high is not None:
            key &= Key("created_key").lt(high)
        kwargs: dict[str, Any] = {"IndexName": index, "KeyConditionExpression": key, "ScanIndexForward": False}
        filters = [Attr(name).eq(value) for name, value in (("state", state and state.value), ("kind", kind)) if value]
        if filters:
            kwargs["FilterExpression"] = filters[0] if len(filters) == 1 else filters[0] & filters[1]
        jobs: list[Job] = []
        for item in self._query(max(limit, 100) if filters else limit + 1, **kwargs):
            if item["created_key"] == high:  # `between` includes its upper end; `before` does not
                continue
            jobs.append(job_from(item))
            if len(jobs) >= limit:
                break
        return jobs

    # -- client request ids (idempotency) -----------------------------------------------------

    def claim_request(self, claim: RequestClaim) -> RequestClaim:
        """See JobStore.claim_request: a conditional put makes the claim exactly-once across replicas."""
        for _ in range(5):
            with reachable():
                try:
                    self._table.put_item(
                        Item=request_item(claim),
                        ConditionExpression="attribute_not_exists(pk) OR expires_at <= :now",
                        ExpressionAttributeValues={":now": number(claim.created_at)},
                    )
                    return claim
                except ClientError as exc:
                    if not conditional(exc):
                        raise
                key = request_key(claim.tenant, claim.request_id)
                held = self._table.get_item(Key=key, ConsistentRead=True).get("Item")
            if held is not None:
                return request_from(held)
            # Deleted between our put and our read (it had expired): claim again.
        raise error(ErrorCode.JOB_STORE_UNAVAILABLE, "the request id is contended; try again")

    def forget_requests(self, expired_before: float) -> int:
        return self._delete_expiring(REQUEST_SK, expired_before, Attr("expires_at").lte(number(expired_before)))

    def _delete_expiring(self, group: str, now: float, condition: Any) -> int:
        key = Key("g").eq(group) & Key(TTL).lte(ttl_of(now))
        deleted = 0
        for item in list(self._query(IndexName=EXPIRING, KeyConditionExpression=key, FilterExpression=condition)):
            with reachable():
                try:
                    self._table.delete_item(Key={"pk": item["pk"], "sk": item["sk"]}, ConditionExpression=condition)
                    deleted += 1
                except ClientError as exc:
                    if not conditional(exc):
                        raise
        return deleted

    # -- housekeeping: instances, restart recovery, retention ---------------------------------

    def save_instance(self, instance: Instance) -> None:
        with reachable():
            self._table.put_item(Item=instance_item(instance))

    def instances(self) -> Sequence[Instance]:
        items = self._query(KeyConditionExpression=Key("pk").eq(INSTANCES_PK), ConsistentRead=True)
        return [instance_from(item) for item in items]

    def forget_instances(self, heartbeat_before: float, keep: str) -> int:
        forgotten = 0
        for instance in self.instances():
            if instance.id == keep or instance.heartbeat_at >= heartbeat_before:
                continue
            with reachable():
                try:
                    self._table.delete_item(
                        Key={"pk": INSTANCES_PK, "sk": instance.id},
                        ConditionExpression=Attr("heartbeat_at").lt(number(heartbeat_before)),
                    )
                    forgotten += 1
                except ClientError as exc:
                    if not conditional(exc):
                        raise
        return forgotten

    def _open(self, key: Any, condition: Any = None) -> Sequence[dict[str, Any]]:
        """Unfinished jobs (the sparse index), read in full before any of them is changed."""
        kwargs = {"FilterExpression": condition} if condition is not None else {}
        return list(self._query(IndexName=OPEN, KeyConditionExpression=key, **kwargs))

    def running_instance_ids(self) -> set[str]:
        return {str(item.get("instance_id", "")) for item in self._open(Key("open_state").eq(_RUNNING))}

    def fail_running(self, instance_id: str, at: float, *, error_code: str, error_message: str) -> int:
        failed = 0
        for item in self._open(Key("open_state").eq(_RUNNING), Attr("instance_id").eq(instance_id)):
            failed += self._close_unfinished(
                str(item["id"]), JobState.FAILED, at, error_code, error_message, "#state = :r AND #instance_id = :i",
                {":r": _RUNNING, ":i": instance_id},
            )  # fmt: skip
        return failed

    def cancel_queued(self, created_before: float, at: float, *, error_code: str, error_message: str) -> int:
        key = Key("open_state").eq(_QUEUED) & Key("created_key").lt(created_key(created_before))
        cancelled = 0
        for item in self._open(key):
            cancelled += self._close_unfinished(
                str(item["id"]), JobState.CANCELLED, at, error_code, error_message, "#state = :q", {":q": _QUEUED}
            )
        return cancelled

    def purge_expired(self, now: float) -> int:
        """Delete finished jobs past their retention; unfinished ones wait, as in SQLite."""
        finished = Attr("expires_at").lte(number(now)) & ~Attr("state").is_in([_QUEUED, _RUNNING])
        return self._delete_expiring(JOB_SK, now, finished)

    def close(self) -> None:
        self._table.meta.client.close()
