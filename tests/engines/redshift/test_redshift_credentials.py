"""Redshift logins: IAM GetClusterCredentials against moto's server, Serverless GetCredentials
against a loopback endpoint speaking its JSON protocol (moto has no redshift-serverless),
Secrets Manager against moto, caching and refresh with an injected clock."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from auth import Tenant
from flight_gateway.config import RedshiftEngineConfig, TenantConfig
from flight_gateway.engines.redshift.credentials import RedshiftCredentials
from flight_gateway.errors import GatewayError, Status
from tests.services import MotoService


@pytest.fixture
def aws_env(moto: MotoService, monkeypatch: pytest.MonkeyPatch) -> MotoService:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto.secret_key)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto


@pytest.fixture
def cluster(aws_env: MotoService) -> str:
    name = f"c{uuid.uuid4().hex[:12]}"
    aws_env.client("redshift").create_cluster(
        ClusterIdentifier=name, NodeType="ra3.xlplus", MasterUsername="admin", MasterUserPassword="Passw0rd1"
    )
    return name


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _engine(moto: MotoService, **kw: Any) -> RedshiftEngineConfig:
    return RedshiftEngineConfig(name="rs", region=moto.region, aws_endpoint_url=moto.endpoint_url, **kw)


def _tenant(user: str = "acme_reader", groups: tuple[str, ...] = ()) -> tuple[Tenant, TenantConfig]:
    cfg = TenantConfig(id="acme", engine="rs", db_user=user, db_groups=list(groups))
    return Tenant(id="acme", engine="rs", db_user=user, db_groups=groups), cfg


def test_iam_credentials_come_from_get_cluster_credentials(aws_env: MotoService, cluster: str) -> None:
    tenant, cfg = _tenant()
    creds = RedshiftCredentials(
        _engine(aws_env, credentials="iam", cluster_identifier=cluster, auto_create_user=False), {"acme": cfg}
    )
    login = creds.login(tenant)
    assert login.user == "IAM:acme_reader"  # what Redshift expects as the login name
    assert len(login.password) >= 16
    assert login.expires_at is not None
    assert login.password not in repr(login)


def test_auto_create_is_passed_through(aws_env: MotoService, cluster: str) -> None:
    tenant, cfg = _tenant()
    creds = RedshiftCredentials(
        _engine(aws_env, credentials="iam", cluster_identifier=cluster, auto_create_user=True), {"acme": cfg}
    )
    assert creds.login(tenant).user == "IAMA:acme_reader"  # moto marks AutoCreate logins this way


def test_iam_credentials_are_cached_and_refreshed_before_expiry(aws_env: MotoService, cluster: str) -> None:
    import time

    tenant, cfg = _tenant(groups=("analysts",))
    clock = Clock(time.time())
    calls: list[str] = []
    real = aws_env.client("redshift")

    class Counting:
        def get_cluster_credentials(self, **kw: Any) -> Any:
            calls.append(kw["DbUser"])
            assert kw["DbGroups"] == ["analysts"] and kw["DurationSeconds"] == 900
            return real.get_cluster_credentials(**kw)

    config = _engine(aws_env, credentials="iam", cluster_identifier=cluster, credentials_refresh_seconds=120)
    creds = RedshiftCredentials(config, {"acme": cfg}, clients=lambda _service: Counting(), clock=clock)
    first = creds.login(tenant)
    assert creds.login(tenant) is first and len(calls) == 1
    assert first.expires_at is not None
    clock.now = first.expires_at - 121  # still outside the refresh window
    assert creds.login(tenant) is first
    clock.now = first.expires_at - 119  # inside it: renewed before the old one expires
    second = creds.login(tenant)
    assert second is not first and len(calls) == 2
    creds.invalidate(tenant)
    assert creds.login(tenant) is not second and len(calls) == 3


def test_concurrent_sessions_share_one_aws_call(aws_env: MotoService, cluster: str) -> None:
    tenant, cfg = _tenant()
    calls = 0
    gate = threading.Event()
    real = aws_env.client("redshift")

    class Slow:
        def get_cluster_credentials(self, **kw: Any) -> Any:
            nonlocal calls
            calls += 1
            gate.wait(5)
            return real.get_cluster_credentials(**kw)

    creds = RedshiftCredentials(
        _engine(aws_env, credentials="iam", cluster_identifier=cluster), {"acme": cfg}, clients=lambda _s: Slow()
    )
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(creds.login, tenant) for _ in range(8)]
        gate.set()
        logins = {f.result().password for f in futures}
    assert calls == 1 and len(logins) == 1


def test_unknown_cluster_is_unavailable_and_names_it(aws_env: MotoService) -> None:
    tenant, cfg = _tenant()
    creds = RedshiftCredentials(_engine(aws_env, credentials="iam", cluster_identifier="nope"), {"acme": cfg})
    with pytest.raises(GatewayError) as info:
        creds.login(tenant)
    assert info.value.status is Status.UNAVAILABLE
    assert info.value.code == "REDSHIFT_CREDENTIALS_UNAVAILABLE"
    assert "'nope'" in info.value.message and "ClusterNotFound" in info.value.message


def test_unreachable_aws_endpoint_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    with socket.socket() as sock:  # a port nobody listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = RedshiftEngineConfig(
            name="rs", credentials="iam", cluster_identifier="prod", region="us-east-1",
            aws_endpoint_url=f"http://127.0.0.1:{port}",
        )  # fmt: skip
        tenant, cfg = _tenant()
        with pytest.raises(GatewayError) as info:
            RedshiftCredentials(config, {"acme": cfg}).login(tenant)
    assert info.value.status is Status.UNAVAILABLE and info.value.retryable
    assert "cluster 'prod'" in info.value.message


class _Serverless(BaseHTTPRequestHandler):
    """The redshift-serverless JSON API, GetCredentials only; AccessDenied for workgroup 'locked'."""

    requests: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        target = self.headers.get("X-Amz-Target", "")
        _Serverless.requests.append({"target": target, **body})
        if body.get("workgroupName") == "locked":
            status, reply = 400, {"__type": "AccessDeniedException", "message": "not allowed"}
        else:
            status, reply = (
                200,
                {
                    "dbUser": "IAMR:gateway",
                    "dbPassword": "temporary-secret",
                    "expiration": 4102444800,
                    "nextRefreshTime": 4102444000,
                },
            )
        data = json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def serverless(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Serverless)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_serverless_get_credentials(serverless: str) -> None:
    tenant, cfg = _tenant()
    config = RedshiftEngineConfig(
        name="rs", credentials="serverless", workgroup_name="analytics", database="dev", region="us-east-1",
        aws_endpoint_url=serverless, credentials_duration_seconds=1800,
    )  # fmt: skip
    login = RedshiftCredentials(config, {"acme": cfg}).login(tenant)
    assert (login.user, login.password, login.expires_at) == ("IAMR:gateway", "temporary-secret", 4102444800.0)
    request = _Serverless.requests[-1]
    assert request["target"] == "RedshiftServerless.GetCredentials"
    assert (request["workgroupName"], request["dbName"], request["durationSeconds"]) == ("analytics", "dev", 1800)


def test_serverless_access_denied_is_permission_denied(serverless: str) -> None:
    tenant, cfg = _tenant()
    config = RedshiftEngineConfig(
        name="rs", credentials="serverless", workgroup_name="locked", region="us-east-1", aws_endpoint_url=serverless
    )
    with pytest.raises(GatewayError) as info:
        RedshiftCredentials(config, {"acme": cfg}).login(tenant)
    assert info.value.status is Status.PERMISSION_DENIED
    assert "workgroup 'locked'" in info.value.message and "GetCredentials" in info.value.message


@pytest.mark.parametrize(
    ("stored", "expected"),
    [(json.dumps({"username": "acme_reader", "password": "s3cret!"}), "s3cret!"), ("plain-secret", "plain-secret")],
)
def test_secrets_manager_password(aws_env: MotoService, stored: str, expected: str) -> None:
    arn = aws_env.client("secretsmanager").create_secret(Name=f"rs/{uuid.uuid4().hex}", SecretString=stored)["ARN"]
    tenant = Tenant(id="acme", engine="rs", db_user="acme_reader")
    cfg = TenantConfig(id="acme", engine="rs", db_user="acme_reader", db_secret_arn=arn)
    creds = RedshiftCredentials(_engine(aws_env, credentials="secrets_manager"), {"acme": cfg})
    login = creds.login(tenant)
    assert (login.user, login.password, login.expires_at) == ("acme_reader", expected, None)


def test_missing_secret_is_unavailable_without_the_value(aws_env: MotoService) -> None:
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf"
    tenant = Tenant(id="acme", engine="rs", db_user="acme_reader")
    cfg = TenantConfig(id="acme", engine="rs", db_user="acme_reader", db_secret_arn=arn)
    with pytest.raises(GatewayError) as info:
        RedshiftCredentials(_engine(aws_env, credentials="secrets_manager"), {"acme": cfg}).login(tenant)
    assert info.value.status is Status.UNAVAILABLE and arn in info.value.message


def test_tenant_password(aws_env: MotoService) -> None:
    tenant = Tenant(id="acme", engine="rs", db_user="acme_reader")
    cfg = TenantConfig(id="acme", engine="rs", db_user="acme_reader", db_password="pw")  # type: ignore[arg-type]
    login = RedshiftCredentials(_engine(aws_env), {"acme": cfg}).login(tenant)
    assert (login.user, login.password, login.expires_at) == ("acme_reader", "pw", None)
