"""Helpers for the job-history tests: JSON actions over pyarrow.flight, the CLI, and raw job rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.flight as fl

from flight_gateway.jobs import Job, JobState, SqliteJobStore


def job_action(client: fl.FlightClient, options: fl.FlightCallOptions, name: str, body: Any) -> Any:
    """Run a job action; `body` is JSON-encoded unless already bytes. The one result, decoded."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    results = list(client.do_action(fl.Action(name, raw), options))
    assert len(results) == 1, results
    return json.loads(results[0].body.to_pybytes())


def list_all(client: fl.FlightClient, options: fl.FlightCallOptions, **request: Any) -> list[list[dict[str, Any]]]:
    """Every page of ListJobs for `request`, following next_page_token to the end."""
    pages: list[list[dict[str, Any]]] = []
    token = None
    while True:
        body = dict(request) | ({"page_token": token} if token else {})
        result = job_action(client, options, "ListJobs", body)
        assert set(result) == {"jobs", "next_page_token"}
        pages.append(result["jobs"])
        token = result["next_page_token"]
        if token is None:
            return pages
        assert len(pages) < 1000, "paging does not end"


def wait_for(probe: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Poll `probe` until it returns something truthy (the gateway's work is asynchronous)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def tag() -> str:
    """A unique identifier-safe suffix, so each test's statements have their own fingerprint."""
    return uuid.uuid4().hex.translate(str.maketrans("0123456789", "ghijklmnop"))


def make_job(tenant: str = "acme", state: JobState = JobState.RUNNING, **fields: Any) -> Job:
    now = time.time()
    defaults: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "tenant": tenant,
        "subject": tenant,
        "kind": "query",
        "fingerprint": "0123456789abcdef",
        "state": state,
        "created_at": now,
        "started_at": now if state is not JobState.QUEUED else None,
    }
    return Job(**(defaults | fields))


def insert_jobs(path: Path, *jobs: Job) -> None:
    """Write job rows straight into a job store file, as another (possibly dead) process would."""
    store = SqliteJobStore(path)
    try:
        for job in jobs:
            store.create(job)
        store.flush()
    finally:
        store.close()


def read_job(path: Path, job_id: str) -> Job | None:
    store = SqliteJobStore(path)
    try:
        return store.get(job_id)
    finally:
        store.close()


def run_jobs_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`flight-gateway jobs ARGS` in a fresh interpreter without this process's FLIGHT_GATEWAY_* env."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLIGHT_GATEWAY_")}
    return subprocess.run(  # noqa: S603 - our own CLI, fixed argv
        [sys.executable, "-m", "flight_gateway.cli", "jobs", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
