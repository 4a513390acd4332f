"""What the gateway keeps: the job store (and its housekeeper), the offload target, and the
secrets kept in the data dir (the token signing key)."""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Callable
from pathlib import Path

from auth.secret_strength import weakness
from flight_gateway.config import ConfigError, Settings
from flight_gateway.extras import import_optional
from flight_gateway.jobs import JobHousekeeper, JobStore, SqliteJobStore
from flight_gateway.offload import LocalOffload, Offload


def private_file(path: Path, make: str) -> str:
    """Read a small secret kept in the data dir, creating it (mode 0600) on first use."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(make + "\n")
    return make


def signing_keys(settings: Settings) -> tuple[dict[str, bytes], str]:
    """The token and ticket signing keys by id, and the id of the one that signs."""
    if settings.token_keys:
        keys = {kid: s.get_secret_value().encode() for kid, s in settings.token_keys.items()}
        active = settings.token_active_key or sorted(keys)[-1]
        if active not in keys:
            raise ConfigError(f"token_active_key: {active!r} is not a key in token_keys")
        return keys, active
    # Without configured keys the gateway keeps one in its data dir, so a restart does not
    # log clients out; replicas must share configured keys instead.
    path = settings.data_dir / "signing-key"
    secret = private_file(path, secrets.token_hex(32))
    problem = weakness(secret)
    if problem is not None:
        raise ConfigError(f"{path}: the kept signing key {problem}, or delete the file to have one generated")
    return {"local": secret.encode()}, "local"


def offload_target(settings: Settings, clock: Callable[[], float]) -> Offload:
    """The offload target: an S3 prefix if offload_target is set, else the local directory."""
    if settings.offload_target is None:
        return LocalOffload(
            settings.offload_path, ttl_seconds=settings.offload_ttl_seconds, part_rows=settings.offload_part_rows,
            max_bytes=settings.offload_max_bytes, clock=clock,
        )  # fmt: skip
    # boto3 only when S3 is configured
    s3 = import_optional("flight_gateway.offload.s3", "aws", "offload_target (S3)")
    target: Offload = s3.S3Offload(
        settings.offload_target, ttl_seconds=settings.offload_ttl_seconds, part_rows=settings.offload_part_rows,
        max_bytes=settings.offload_max_bytes, sse=settings.offload_sse, kms_key_id=settings.offload_kms_key_id,
        client=s3.s3_client(settings.offload_s3_endpoint_url, settings.offload_s3_region), clock=clock,
    )  # fmt: skip
    return target


def open_job_store(settings: Settings) -> JobStore:
    """The configured job store (also for the operator's `jobs` commands); ConfigError if unusable."""
    if settings.job_store == "sqlite":
        return SqliteJobStore(settings.jobs_path)
    dynamodb = import_optional("flight_gateway.jobs.dynamodb", "aws", "job_store = 'dynamodb'")
    assert settings.dynamodb_table is not None  # noqa: S101 - validated with job_store
    try:
        store: JobStore = dynamodb.DynamoDBJobStore(
            settings.dynamodb_table, region=settings.dynamodb_region, endpoint_url=settings.dynamodb_endpoint_url,
            create=settings.dynamodb_create_table,
        )  # fmt: skip
    except ValueError as exc:
        raise ConfigError(f"dynamodb_table: {exc}") from None
    return store


def job_store(settings: Settings, clock: Callable[[], float]) -> tuple[JobStore, JobHousekeeper]:
    """The job store, cleaned up after any previous gateway (restart recovery, retention) before
    this one serves, with this instance's heartbeat running."""
    jobs = open_job_store(settings)
    housekeeper = JobHousekeeper(
        jobs,
        uuid.uuid4().hex,
        heartbeat_seconds=settings.instance_heartbeat_seconds,
        sweep_seconds=settings.job_sweep_seconds,
        retention_seconds=settings.job_retention_days * 86_400,
        ticket_ttl_seconds=settings.ticket_ttl_seconds,
        clock=clock,
    )
    try:
        housekeeper.start()
    except BaseException:
        jobs.close()
        raise
    return jobs, housekeeper
