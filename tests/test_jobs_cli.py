"""Job records for every statement, the `flight-gateway` CLI, and configuration loading."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import pytest
from conftest import PASSWORD, RunningGateway, start_gateway
from serve_process import start_serve

from flight_gateway.config import ConfigError, load_settings
from flight_gateway.jobs import Job, JobState, SqliteJobStore, fingerprint


def _cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `flight-gateway ARGS` in a fresh interpreter, with no FLIGHT_GATEWAY_* from this process."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FLIGHT_GATEWAY_")}
    clean.update(env or {})
    return subprocess.run(  # noqa: S603 - our own CLI, fixed argv
        [sys.executable, "-m", "flight_gateway.cli", *args],
        capture_output=True,
        text=True,
        env=clean,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def jobs_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """A gateway of its own, so the job history holds only this module's statements."""
    running = start_gateway(tmp_path_factory.mktemp("jobs"))
    yield running
    running.gateway.shutdown()


# (sql, tenant, expected kind or None for refused statements, state, error_code, rows)
STATEMENTS: list[tuple[str, str, str | None, JobState, str | None, int | None]] = [
    ("select * from customers where customer_id <= 25", "acme", "query", JobState.SUCCEEDED, None, 25),
    ("select count(*) from orders", "globex", "query", JobState.SUCCEEDED, None, 1),
    ("create table jobs_probe (a integer, b varchar)", "acme", "ddl", JobState.SUCCEEDED, None, None),
    ("insert into jobs_probe values (1, 'secret-value'), (2, 'other')", "acme", "dml", JobState.SUCCEEDED, None, 2),
    ("update jobs_probe set b = 'x' where a = 2", "acme", "dml", JobState.SUCCEEDED, None, 1),
    ("selec oops", "acme", None, JobState.FAILED, "SQL_SYNTAX", None),
    ("select * from jobs_no_such_table", "globex", None, JobState.FAILED, "OBJECT_NOT_FOUND", None),
    ("COPY customers TO '/tmp/jobs.csv'", "acme", None, JobState.FAILED, "STATEMENT_NOT_ALLOWED", None),
    # Fails while running (after planning), so it is a query job that failed.
    ("select error('jobs-boom') as x", "acme", "query", JobState.FAILED, "INVALID_INPUT", None),
]


@pytest.fixture(scope="module")
def recorded(jobs_gateway: RunningGateway) -> dict[str, Job]:
    """Run STATEMENTS through ADBC and return each one's job, by SQL text."""
    connections = {t: jobs_gateway.connect(t) for t in ("acme", "globex")}
    try:
        for sql, tenant, _, state, _, _ in STATEMENTS:
            with connections[tenant].cursor() as cur:
                if state is JobState.SUCCEEDED:
                    cur.execute(sql)
                    cur.fetchall()
                else:
                    with pytest.raises(adbc_driver_manager.Error):
                        cur.execute(sql)
                        cur.fetchall()
    finally:
        for conn in connections.values():
            conn.close()
    jobs = jobs_gateway.gateway.jobs.list(limit=1000)
    out: dict[str, Job] = {}
    for sql, *_ in STATEMENTS:
        matching = [j for j in jobs if j.fingerprint == fingerprint(sql)]
        assert len(matching) == 1, f"expected exactly one job for {sql!r}, got {matching}"
        out[sql] = matching[0]
    return out


@pytest.mark.parametrize(("sql", "tenant", "kind", "state", "error_code", "rows"), STATEMENTS)
def test_every_statement_is_a_job(
    recorded: dict[str, Job],
    sql: str,
    tenant: str,
    kind: str | None,
    state: JobState,
    error_code: str | None,
    rows: int | None,
) -> None:
    job = recorded[sql]
    assert job.tenant == tenant
    assert job.subject == tenant  # demo users are named after their tenant
    assert job.fingerprint == fingerprint(sql)
    assert len(job.fingerprint) >= 8
    assert job.sql_text is None  # not stored unless configured
    assert job.state is state
    assert job.error_code == error_code
    assert job.created_at > 0 and job.finished_at is not None and job.finished_at >= job.created_at
    if kind is not None:
        assert job.kind == kind
    else:
        assert job.kind
    if state is JobState.FAILED:
        assert job.error_message
    if rows is not None:
        assert job.rows == rows


def test_fingerprint_groups_statements_without_values() -> None:
    assert fingerprint("select * from t where a = 1") == fingerprint("SELECT *  from t where a = 42")
    assert fingerprint("select 'alice'") == fingerprint("select 'bob'")
    assert fingerprint("select a from t") != fingerprint("select b from t")
    assert "alice" not in fingerprint("select 'alice'")


def test_failed_statement_text_is_not_stored_by_default(jobs_gateway: RunningGateway) -> None:
    """Without store_sql_text the job store keeps no statement text, not even inside error messages."""
    secret = "hunter2-do-not-store"
    statements = [
        f"selec '{secret}' as password",
        f"select '{secret}'::integer as password",
        f"select * from customers where name = '{secret}' and no_such_column = 1",
    ]
    with jobs_gateway.connect("acme") as conn:
        for sql in statements:
            with conn.cursor() as cur, pytest.raises(adbc_driver_manager.Error):
                cur.execute(sql)
                cur.fetchall()
    jobs = {j.fingerprint: j for j in jobs_gateway.gateway.jobs.list(limit=1000)}
    for sql in statements:
        job = jobs[fingerprint(sql)]
        assert job.state is JobState.FAILED
        assert job.error_code
        assert secret not in json.dumps(asdict(job), default=str), job
    result = _cli("jobs", "list", "--data-dir", str(jobs_gateway.data_dir), "--json", "--limit", "1000")
    assert result.returncode == 0, result.stderr
    assert secret not in result.stdout


def test_sql_text_is_stored_when_configured(tmp_path: Path) -> None:
    running = start_gateway(tmp_path, store_sql_text=True)
    try:
        sql = "select name from customers where customer_id = 3"
        with running.connect("acme") as conn, conn.cursor() as cur:
            cur.execute(sql)
            assert cur.fetchall() == [("acme customer 3",)]
        [job] = [j for j in running.gateway.jobs.list() if j.fingerprint == fingerprint(sql)]
        assert job.sql_text == sql
    finally:
        running.gateway.shutdown()


def test_jobs_list_json(jobs_gateway: RunningGateway, recorded: dict[str, Job]) -> None:
    result = _cli("jobs", "list", "--data-dir", str(jobs_gateway.data_dir), "--json", "--limit", "1000")
    assert result.returncode == 0, result.stderr
    listed = {item["id"]: item for item in json.loads(result.stdout)}
    for sql, job in recorded.items():
        item = listed[job.id]
        assert item["tenant"] == job.tenant
        assert item["subject"] == job.subject
        assert item["kind"] == job.kind
        assert item["fingerprint"] == job.fingerprint
        assert item["state"] == job.state.value
        assert item["error_code"] == job.error_code
        assert item["rows"] == job.rows
        assert item["sql_text"] is None
        assert "secret-value" not in json.dumps(item), sql
    created = [item["created_at"] for item in json.loads(result.stdout)]
    assert created == sorted(created, reverse=True)  # newest first


def test_jobs_list_json_tenant_filter(jobs_gateway: RunningGateway, recorded: dict[str, Job]) -> None:
    result = _cli("jobs", "list", "--data-dir", str(jobs_gateway.data_dir), "--json", "--tenant", "globex")
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert listed
    assert {item["tenant"] for item in listed} == {"globex"}
    globex_ids = {job.id for job in recorded.values() if job.tenant == "globex"}
    assert globex_ids <= {item["id"] for item in listed}


def test_jobs_list_text(jobs_gateway: RunningGateway, recorded: dict[str, Job]) -> None:
    result = _cli("jobs", "list", "--data-dir", str(jobs_gateway.data_dir), "--limit", "1000")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for job in recorded.values():
        [line] = [line for line in lines if line.startswith(job.id)]
        assert job.tenant in line
        assert job.state.value in line
        if job.error_code:
            assert job.error_code in line
    assert "secret-value" not in result.stdout


def test_jobs_list_without_a_store(tmp_path: Path) -> None:
    result = _cli("jobs", "list", "--data-dir", str(tmp_path / "empty"))
    assert result.returncode != 0
    assert "job store" in result.stderr


# -- --help ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        ((), ["serve", "jobs", "--version", "FLIGHT_GATEWAY_"]),
        (("serve",), ["--port", "--host", "--data-dir", "--config", "--demo-rows", "--no-demo", "--log-level"]),
        (("jobs", "list"), ["--data-dir", "--config", "--json", "--tenant", "--limit"]),
    ],
    ids=["top", "serve", "jobs-list"],
)
def test_help(args: tuple[str, ...], mentions: list[str]) -> None:
    result = _cli(*args, "--help")
    assert result.returncode == 0, result.stderr
    for option in mentions:
        assert option in result.stdout, option


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "flight-gateway"
    assert script.exists()
    result = subprocess.run(  # noqa: S603 - the installed console script
        [str(script), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0
    assert "serve" in result.stdout


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_stops_cleanly_on_signal(tmp_path: Path, signum: signal.Signals) -> None:
    """Kubernetes stops pods with SIGTERM, terminals with SIGINT: both end `serve` without a traceback."""
    running = start_serve(tmp_path, demo_rows=100)
    try:
        conn = flight_sql.connect(running.uri, db_kwargs={"username": "acme", "password": PASSWORD}, autocommit=True)
        with conn, conn.cursor() as cur:
            cur.execute("select count(*) from customers")
            assert cur.fetchone() == (10,)
        running.process.send_signal(signum)
        deadline = time.monotonic() + 30
        while running.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert running.process.poll() is not None, "serve did not stop within 30 s"
    finally:
        code = running.stop()
    errors = running.stderr()
    assert "Traceback" not in errors, errors
    assert code in ((0,) if signum == signal.SIGTERM else (0, 130)), (code, errors)
    # The job store survived the stop intact.
    store = SqliteJobStore(running.data_dir / "jobs.sqlite3")
    try:
        assert any(j.state is JobState.SUCCEEDED for j in store.list())
    finally:
        store.close()


# -- invalid configuration fails at start, naming the key --------------------------------------


def _serve_with(
    tmp_path: Path, toml: str | None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    args = ["serve", "--data-dir", str(tmp_path / "data")]
    if toml is not None:
        config = tmp_path / "gateway.toml"
        config.write_text(toml)
        args += ["--config", str(config)]
    return _cli(*args, env={"FLIGHT_GATEWAY_DEMO_PASSWORD": "pw", **(env or {})}, timeout=60)


@pytest.mark.parametrize(
    ("toml", "env", "key"),
    [
        ("port = 99999\n", None, "port"),
        ("port = 0\nbogus_setting = 1\n", None, "bogus_setting"),
        ("port = 0\nbatch_rows = 1\n", None, "batch_rows"),
        ('port = 0\ntoken_keys = { k1 = "short" }\n', None, "token_keys"),
        (None, {"FLIGHT_GATEWAY_PORT": "abc"}, "port"),
        (None, {"FLIGHT_GATEWAY_PORT": "0", "FLIGHT_GATEWAY_TOKEN_TTL_SECONDS": "5"}, "token_ttl_seconds"),
    ],
    ids=["port-range", "unknown-key", "batch-rows", "weak-token-key", "env-port-not-int", "env-token-ttl"],
)
def test_invalid_config_fails_at_start(tmp_path: Path, toml: str | None, env: dict[str, str] | None, key: str) -> None:
    result = _serve_with(tmp_path, toml, env)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert key in result.stderr
    assert "listening" not in result.stdout
    assert "Traceback" not in result.stderr


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    result = _cli("serve", "--config", str(tmp_path / "nope.toml"), "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert "nope.toml" in result.stderr
    with pytest.raises(ConfigError, match="nope.toml"):
        load_settings(tmp_path / "nope.toml")


# -- precedence: flags > env > file > defaults -------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key in list(os.environ):
        if key.startswith("FLIGHT_GATEWAY_"):
            monkeypatch.delenv(key)
    return monkeypatch


def test_config_file_values_are_applied(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        "\n".join(
            [
                'host = "10.1.2.3"',
                "port = 1111",
                f'data_dir = "{tmp_path / "state"}"',
                "batch_rows = 2048",
                "ticket_ttl_seconds = 120",
                "store_sql_text = true",
                'log_level = "DEBUG"',
                "demo = false",
                "[[tenants]]",
                'id = "tenant-one"',
                "read_only = true",
            ]
        )
    )
    settings = load_settings(config)
    assert settings.host == "10.1.2.3"
    assert settings.port == 1111
    assert settings.data_dir == tmp_path / "state"
    assert settings.jobs_path == tmp_path / "state" / "jobs.sqlite3"
    assert settings.batch_rows == 2048
    assert settings.ticket_ttl_seconds == 120
    assert settings.store_sql_text is True
    assert settings.log_level == "DEBUG"
    assert settings.demo_enabled is False
    assert [(t.id, t.read_only) for t in settings.tenants] == [("tenant-one", True)]
    # Untouched keys keep their defaults.
    assert settings.token_ttl_seconds == 12 * 3600


def test_flags_override_env_override_file(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text("port = 1111\nbatch_rows = 2048\nticket_ttl_seconds = 120\n")
    assert load_settings(config).port == 1111
    clean_env.setenv("FLIGHT_GATEWAY_PORT", "2222")
    clean_env.setenv("FLIGHT_GATEWAY_BATCH_ROWS", "4096")
    settings = load_settings(config)
    assert settings.port == 2222  # env beats file
    assert settings.batch_rows == 4096
    assert settings.ticket_ttl_seconds == 120  # file still applies where env is silent
    settings = load_settings(config, port=3333, batch_rows=None)
    assert settings.port == 3333  # flag beats env
    assert settings.batch_rows == 4096  # an unset flag (None) does not override
    assert load_settings(None, port=4444).port == 4444
    assert load_settings(None).port == 2222
    clean_env.delenv("FLIGHT_GATEWAY_PORT")
    assert load_settings(None).port == 8815  # the default


def test_invalid_values_name_the_key(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="port"):
        load_settings(None, port=70000)
    clean_env.setenv("FLIGHT_GATEWAY_PORT", "abc")
    with pytest.raises(ConfigError, match="FLIGHT_GATEWAY_PORT"):
        load_settings(None)
    clean_env.delenv("FLIGHT_GATEWAY_PORT")
    config = tmp_path / "bad.toml"
    config.write_text("no_such_key = true\n")
    with pytest.raises(ConfigError, match="no_such_key"):
        load_settings(config)
    config.write_text("port = [\n")
    with pytest.raises(ConfigError, match="bad.toml"):
        load_settings(config)
