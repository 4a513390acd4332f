"""`flight-gateway sql` as a user runs it: a password from the environment or a terminal only, and
`--max-rows` stops reading the result instead of fetching all of it to print a few rows."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import RunningGateway
from job_actions_support import wait_for

from flight_gateway.client import run_query
from flight_gateway.jobs import Job, JobState, fingerprint

_TOTAL = 20_000_000


def _sql_cli(*args: str, password: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLIGHT_GATEWAY_")}
    if password is not None:
        env["FLIGHT_GATEWAY_PASSWORD"] = password
    return subprocess.run(  # noqa: S603 - our own CLI, fixed argv
        [sys.executable, "-m", "flight_gateway.cli", "sql", *args],
        stdin=subprocess.DEVNULL,  # not a terminal
        start_new_session=True,  # and no controlling terminal for getpass to open instead
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_no_password_and_no_terminal_is_a_clear_error() -> None:
    done = _sql_cli("--uri", "grpc://127.0.0.1:9", "--username", "acme", "select 1", password=None)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "no password" in done.stderr and "FLIGHT_GATEWAY_PASSWORD" in done.stderr


def _finished_job(gateway: RunningGateway, sql: str) -> Job:
    """The statement's job once it has ended (the gateway records the end after the stream closes)."""

    def ended() -> Job | None:
        jobs = [j for j in gateway.gateway.jobs.list("acme", limit=1000) if j.fingerprint == fingerprint(sql)]
        assert len(jobs) <= 1, jobs
        return jobs[0] if jobs and jobs[0].state not in (JobState.QUEUED, JobState.RUNNING) else None

    job: Job = wait_for(ended, "the statement's job to end", timeout=60)
    return job


def test_max_rows_cancels_the_stream_after_the_rows_it_prints(gateway: RunningGateway) -> None:
    sql = f"select * from range({_TOTAL}) t(n) where n >= 0"
    done = _sql_cli("--uri", gateway.uri, "--username", "acme", "--max-rows", "3", sql, password=gateway.password)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].strip() == "n"
    assert [line.strip() for line in lines[2:5]] == ["0", "1", "2"]
    assert lines[5] == "(first 3 rows; more rows exist: increase --max-rows)"
    assert len(lines) == 6
    assert str(_TOTAL) not in done.stdout  # no second, contradictory count
    job = _finished_job(gateway, sql)
    assert job.state is JobState.CANCELLED, job
    assert job.rows is not None and job.rows < _TOTAL // 10, job  # the gateway streamed only a few batches


def test_max_rows_exactly_the_result_reports_no_more_rows(gateway: RunningGateway) -> None:
    exact = run_query(gateway.uri, "acme", gateway.password, "select * from range(3)", max_rows=3)
    assert exact.table.num_rows == 3 and not exact.more
    over = run_query(gateway.uri, "acme", gateway.password, "select * from range(4)", max_rows=3)
    assert over.table.num_rows == 3 and over.more
    empty = run_query(gateway.uri, "acme", gateway.password, "select * from range(0) t(n)", max_rows=3)
    assert empty.table.num_rows == 0 and not empty.more and empty.table.column_names == ["n"]
    done = _sql_cli("--uri", gateway.uri, "--username", "acme", "select * from range(3)", password=gateway.password)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "(3 rows)"
