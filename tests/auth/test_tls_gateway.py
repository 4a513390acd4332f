"""The gateway over TLS and mTLS with real clients, and identity from a proxy-forwarded certificate."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow.flight as fl
import pytest
from conftest import PASSWORD, RunningGateway, start_gateway
from tls_helpers import MTLS_CERT_CHAIN, MTLS_PRIVATE_KEY, TLS_ROOT_CERTS, Issued, issue, make_pki, write_files

from flight_gateway.config import ConfigError
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack

PKI = make_pki()


def _tls_gateway(tmp_path: Path, mutual: bool = False) -> RunningGateway:
    files = write_files(tmp_path, PKI.server.cert_pem, PKI.server.key_pem, PKI.ca.cert_pem if mutual else None)
    running = start_gateway(
        tmp_path / "data",
        demo_rows=200,
        tls_cert_file=files.cert_file,
        tls_key_file=files.key_file,
        tls_client_ca_file=files.client_ca_file,
    )
    running.uri = running.uri.replace("grpc://", "grpc+tls://")
    return running


def _query(uri: str, options: dict[str, str]) -> list[tuple[object, ...]]:
    kwargs = {"username": "acme", "password": PASSWORD, **options}
    with flight_sql.connect(uri, db_kwargs=kwargs, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from customers")
        return cur.fetchall()


def _client_options(client: Issued) -> dict[str, str]:
    return {MTLS_CERT_CHAIN: client.cert_pem.decode(), MTLS_PRIVATE_KEY: client.key_pem.decode()}


def test_tls_with_trusted_ca(tmp_path: Path) -> None:
    running = _tls_gateway(tmp_path)
    try:
        assert running.gateway.location.startswith("grpc+tls://")
        assert _query(running.uri, {TLS_ROOT_CERTS: PKI.ca.cert_pem.decode()}) == [(10,)]
        with pytest.raises(flight_sql.Error):
            _query(running.uri, {})  # the system trust store does not know our CA
    finally:
        running.gateway.shutdown()


def test_mtls_requires_a_client_certificate_from_the_ca(tmp_path: Path) -> None:
    running = _tls_gateway(tmp_path, mutual=True)
    roots = {TLS_ROOT_CERTS: PKI.ca.cert_pem.decode()}
    try:
        assert _query(running.uri, roots | _client_options(PKI.client)) == [(10,)]
        with pytest.raises(flight_sql.Error):
            _query(running.uri, roots)
        with pytest.raises(flight_sql.Error):
            _query(running.uri, roots | _client_options(PKI.untrusted_client))
    finally:
        running.gateway.shutdown()


def test_self_signed_for_local_trials(tmp_path: Path) -> None:
    running = start_gateway(tmp_path, demo_rows=200, tls_self_signed=True)
    try:
        cert = (tmp_path / "tls-self-signed.pem").read_text()
        uri = running.uri.replace("grpc://", "grpc+tls://")
        assert _query(uri, {TLS_ROOT_CERTS: cert}) == [(10,)]
    finally:
        running.gateway.shutdown()


@pytest.mark.parametrize(
    ("files", "named"),
    [
        ({"tls_cert_file": "missing.pem", "tls_key_file": "key.pem"}, "missing.pem"),
        ({"tls_cert_file": "cert.pem", "tls_key_file": "other-key.pem"}, "other-key.pem"),
    ],
)
def test_bad_tls_files_fail_at_start_naming_the_file(tmp_path: Path, files: dict[str, str], named: str) -> None:
    (tmp_path / "cert.pem").write_bytes(PKI.server.cert_pem)
    (tmp_path / "key.pem").write_bytes(PKI.server.key_pem)
    (tmp_path / "other-key.pem").write_bytes(PKI.client.key_pem)
    with pytest.raises(ConfigError, match=named):
        start_gateway(tmp_path / "data", **{k: tmp_path / v for k, v in files.items()})


def test_tls_settings_must_be_consistent(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tls_cert_file and tls_key_file"):
        start_gateway(tmp_path, tls_cert_file=tmp_path / "cert.pem")


def test_forwarded_client_certificate_maps_to_a_tenant(tmp_path: Path) -> None:
    running = start_gateway(
        tmp_path,
        demo_rows=200,
        client_cert_header="x-client-cert",
        client_cert_rules=[{"field": "uri", "pattern": "spiffe://acme.example/*", "tenant": "acme"}],
    )
    try:
        client = fl.FlightClient(running.uri)
        descriptor = fl.FlightDescriptor.for_command(
            pack(pb.CommandStatementQuery(query="select min(name) from customers"))
        )

        def as_cert(issued: Issued) -> fl.FlightCallOptions:
            header = urllib.parse.quote(issued.cert_pem.decode())
            return fl.FlightCallOptions(headers=[(b"x-client-cert", header.encode())])

        options = as_cert(PKI.client)
        info = client.get_flight_info(descriptor, options)
        assert client.do_get(info.endpoints[0].ticket, options).read_all().column(0).to_pylist() == ["acme customer 1"]
        unmapped = as_cert(PKI.server)  # a valid certificate no rule maps
        with pytest.raises(fl.FlightUnauthenticatedError):
            client.get_flight_info(descriptor, unmapped)
        client.close()
    finally:
        running.gateway.shutdown()


def test_mtls_client_certificate_identifies_the_tenant(tmp_path: Path) -> None:
    files = write_files(tmp_path, PKI.server.cert_pem, PKI.server.key_pem, PKI.ca.cert_pem)
    running = start_gateway(
        tmp_path / "data",
        demo_rows=200,
        tls_cert_file=files.cert_file,
        tls_key_file=files.key_file,
        tls_client_ca_file=files.client_ca_file,
        tls_client_identity=True,
        client_cert_rules=[{"field": "uri", "pattern": "spiffe://acme.example/*", "tenant": "globex"}],
    )
    uri = running.uri.replace("grpc://", "grpc+tls://")
    roots = {TLS_ROOT_CERTS: PKI.ca.cert_pem.decode()}
    try:
        # No username, password or token: the verified certificate (SAN spiffe://acme.example/etl) decides.
        options = roots | _client_options(PKI.client)
        with flight_sql.connect(uri, db_kwargs=options, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute("select min(name) from customers")
            assert cur.fetchall() == [("globex customer 1",)]
        # A certificate from the trusted CA that no rule maps is refused.
        stranger = issue(PKI.ca, "stranger", ["uri:spiffe://other.example/job"], client=True)
        client = fl.FlightClient(
            uri, tls_root_certs=PKI.ca.cert_pem, cert_chain=stranger.cert_pem, private_key=stranger.key_pem
        )
        with pytest.raises(fl.FlightUnauthenticatedError, match="maps to no tenant"):
            list(client.list_actions())
        client.close()
    finally:
        running.gateway.shutdown()
