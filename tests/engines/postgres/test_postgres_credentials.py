"""Tenant credentials: Secrets Manager (moto's server) with caching and rotation, and password
sources that fail at start-up naming the config key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pg_support import PgDatabase, pg_database, pg_gateway, tenant
from services import MotoService, PostgresService

from flight_gateway.config import ConfigError
from flight_gateway.engines.pgwire.aws_secrets import SecretsManagerPasswords, password_from_secret, region_of


@pytest.fixture
def aws_env(moto: MotoService, monkeypatch: pytest.MonkeyPatch) -> MotoService:
    # The gateway uses the default AWS credential chain; moto accepts any keys.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto.secret_key)
    return moto


@pytest.fixture
def db(postgres: PostgresService) -> Any:
    with pg_database(postgres, "creds") as database:
        yield database


def _query(gw: Any, tenant_id: str, sql: str) -> list[tuple[Any, ...]]:
    with gw.connect(tenant_id) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def test_password_from_secrets_manager_with_rotation(aws_env: MotoService, db: PgDatabase, tmp_path: Path) -> None:
    password = db.role("sm_user")
    secrets = aws_env.client("secretsmanager")
    arn = secrets.create_secret(
        Name=f"db/{db.name}", SecretString=json.dumps({"username": "sm_user", "password": password})
    )["ARN"]
    engine = db.engine(region=aws_env.region, aws_endpoint_url=aws_env.endpoint_url)
    gw = pg_gateway(tmp_path, [engine], [tenant("sm", "sm_user", db_secret_arn=arn)])
    try:
        assert _query(gw, "sm", "select current_user") == [("sm_user",)]
        # Rotate: the database and the secret get a new password; pooled connections live on,
        # and a new connection re-reads the secret after the cached password is refused.
        rotated = "rotated-" + password
        db.sql(f"alter role sm_user password '{rotated}'")
        secrets.put_secret_value(SecretId=arn, SecretString=json.dumps({"password": rotated}))
        db.sql("select pg_terminate_backend(pid) from pg_stat_activity where usename = 'sm_user'")
        assert _query(gw, "sm", "select 2") == [(2,)]
    finally:
        gw.gateway.shutdown()


def test_missing_secret_is_unavailable_naming_the_arn(aws_env: MotoService, db: PgDatabase, tmp_path: Path) -> None:
    arn = f"arn:aws:secretsmanager:{aws_env.region}:123456789012:secret:missing-AbCdEf"
    engine = db.engine(aws_endpoint_url=aws_env.endpoint_url)
    db.role("nosecret_user")
    gw = pg_gateway(tmp_path, [engine], [tenant("ns", "nosecret_user", db_secret_arn=arn)])
    try:
        with pytest.raises(Exception, match="CREDENTIALS_UNAVAILABLE") as error:
            _query(gw, "ns", "select 1")
        assert arn in str(error.value)
        assert "ResourceNotFoundException" in str(error.value)
    finally:
        gw.gateway.shutdown()


@pytest.mark.parametrize(
    ("source", "key"),
    [
        ({"db_password_file": "/nonexistent/pw"}, "tenants.t.db_password_file"),
        ({"db_password_env": "FLIGHT_GATEWAY_TEST_UNSET_PASSWORD"}, "tenants.t.db_password_env"),
    ],
)
def test_bad_password_source_fails_at_start_up(
    db: PgDatabase, tmp_path: Path, source: dict[str, str], key: str
) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        pg_gateway(tmp_path, [db.engine()], [tenant("t", "someone", **source)])


def test_password_file_and_env(db: PgDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file_pw, env_pw = db.role("file_user"), db.role("env_user")
    (tmp_path / "pw").write_text(file_pw + "\n")
    monkeypatch.setenv("FLIGHT_GATEWAY_TEST_PG_PASSWORD", env_pw)
    gw = pg_gateway(
        tmp_path / "gw",
        [db.engine()],
        [
            tenant("f", "file_user", db_password_file=str(tmp_path / "pw")),
            tenant("e", "env_user", db_password_env="FLIGHT_GATEWAY_TEST_PG_PASSWORD"),
        ],
    )
    try:
        assert _query(gw, "f", "select current_user") == [("file_user",)]
        assert _query(gw, "e", "select current_user") == [("env_user",)]
    finally:
        gw.gateway.shutdown()


def test_secret_layouts_and_regions() -> None:
    assert password_from_secret('{"username": "u", "password": "p"}') == "p"
    assert password_from_secret("plain") == "plain"
    with pytest.raises(ValueError, match="password"):
        password_from_secret('{"user": "u"}')
    assert region_of("arn:aws:secretsmanager:eu-west-1:1:secret:x") == "eu-west-1"
    assert region_of("db/name") is None


def test_secrets_are_cached(aws_env: MotoService) -> None:
    client = aws_env.client("secretsmanager")
    arn = client.create_secret(Name="cached-secret", SecretString="first")["ARN"]
    now = [0.0]
    store = SecretsManagerPasswords(endpoint_url=aws_env.endpoint_url, ttl_seconds=60, clock=lambda: now[0])
    assert store.password(arn) == "first"
    client.put_secret_value(SecretId=arn, SecretString="second")
    assert store.password(arn) == "first"  # cached
    now[0] = 61
    assert store.password(arn) == "second"  # expired
    client.put_secret_value(SecretId=arn, SecretString="third")
    store.invalidate(arn)
    assert store.password(arn) == "third"
