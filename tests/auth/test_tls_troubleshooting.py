"""What clients and the server's log really show when TLS does not match, as docs/troubleshooting.md
lists it (these tests keep that page true).

A failed TLS handshake never reaches the gateway's code: pyarrow's gRPC server drops the
connection before any call exists. gRPC core itself logs the failure to the server's stderr (one
`Handshake failed with error SSL_ERROR_SSL: ...` line, without the peer's address); that line is
the server-side symptom, checked here against a real `flight-gateway serve` process.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow.flight as fl
import pytest
from conftest import PASSWORD
from job_actions_support import wait_for
from serve_process import ServeProcess, _first_line
from tls_helpers import MTLS_CERT_CHAIN, MTLS_PRIVATE_KEY, TLS_ROOT_CERTS, make_pki, write_files

PKI = make_pki()
PYARROW_SYMPTOM = "Could not finish writing before closing"  # pyarrow.flight says this for every handshake failure
HANDSHAKE_FAILED = "Handshake failed with error SSL_ERROR_SSL"


def _serve(tmp_path: Path, mutual: bool) -> ServeProcess:
    files = write_files(tmp_path, PKI.server.cert_pem, PKI.server.key_pem, PKI.ca.cert_pem if mutual else None)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLIGHT_GATEWAY_", "GRPC_VERBOSITY", "GRPC_TRACE"))}
    env |= {
        "FLIGHT_GATEWAY_DEMO": "true",  # the demo tenants, although TLS settings are given
        "FLIGHT_GATEWAY_DEMO_PASSWORD": PASSWORD,
        "FLIGHT_GATEWAY_TLS_CERT_FILE": str(files.cert_file),
        "FLIGHT_GATEWAY_TLS_KEY_FILE": str(files.key_file),
    }
    if files.client_ca_file is not None:
        env["FLIGHT_GATEWAY_TLS_CLIENT_CA_FILE"] = str(files.client_ca_file)
    data_dir, stderr_path = tmp_path / "data", tmp_path / "serve.stderr"
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(  # noqa: S603 - our own CLI, fixed argv
            [sys.executable, "-m", "flight_gateway.cli", "serve", "--port", "0", "--data-dir", str(data_dir),
             "--demo-rows", "100"],
            stdout=subprocess.PIPE, stderr=stderr, text=True, env=env,
        )  # fmt: skip
    assert process.stdout is not None
    match = re.search(r"listening on grpc\+tls://127\.0\.0\.1:(\d+)", _first_line(process.stdout, 60))
    serve = ServeProcess(process, f"127.0.0.1:{match.group(1)}" if match else "", data_dir, stderr_path)
    if match is None:
        serve.stop()
        raise AssertionError(f"serve did not start; stderr:\n{serve.stderr()}")
    return serve


@pytest.fixture(scope="module")
def tls_serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    serve = _serve(tmp_path_factory.mktemp("tls"), mutual=False)
    yield serve
    serve.stop()


@pytest.fixture(scope="module")
def mtls_serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    serve = _serve(tmp_path_factory.mktemp("mtls"), mutual=True)
    yield serve
    serve.stop()


def _flight_error(uri: str, **client_kwargs: object) -> str:
    client = fl.FlightClient(uri, **client_kwargs)
    try:
        with pytest.raises(fl.FlightError) as err:
            client.authenticate_basic_token("acme", PASSWORD, fl.FlightCallOptions(timeout=30))
    finally:
        client.close()
    return f"{type(err.value).__name__}: {err.value}"


def _adbc_error(uri: str, **options: str) -> str:
    with pytest.raises(flight_sql.Error) as err:
        with flight_sql.connect(uri, db_kwargs={"username": "acme", "password": PASSWORD, **options}, autocommit=True):
            pass
    return str(err.value)


def _server_logged(serve: ServeProcess, pattern: str, after: int) -> str:
    """The gRPC core line matching `pattern` logged after offset `after` of the server's stderr (it
    is written by the server's own thread, so it may trail the client's error: waited for)."""
    found = wait_for(lambda: re.search(f".*{pattern}.*", serve.stderr()[after:]), f"a server line like {pattern!r}")
    return str(found.group(0))


def _mark(serve: ServeProcess) -> int:
    return len(serve.stderr())


def test_the_gateway_says_where_handshake_failures_are_logged(tls_serve: ServeProcess) -> None:
    [line] = [line for line in tls_serve.stderr().splitlines() if "TLS on:" in line]
    assert " INFO flight_gateway " in line and HANDSHAKE_FAILED in line and "docs/troubleshooting.md" in line


def test_a_plaintext_client_against_the_tls_port(tls_serve: ServeProcess) -> None:
    mark = _mark(tls_serve)
    assert _flight_error(f"grpc://{tls_serve.uri}") == f"FlightInternalError: {PYARROW_SYMPTOM}"
    line = _server_logged(tls_serve, f"{HANDSHAKE_FAILED}: .*wrong version number", mark)
    assert "ssl_transport_security" in line
    mark = _mark(tls_serve)
    assert 'error reading server preface: EOF" (Unavailable; AuthenticateBasicToken)' in _adbc_error(
        f"grpc://{tls_serve.uri}"
    )
    _server_logged(tls_serve, f"{HANDSHAKE_FAILED}: .*wrong version number", mark)


def test_a_client_that_does_not_trust_the_servers_ca(tls_serve: ServeProcess) -> None:
    uri = f"grpc+tls://{tls_serve.uri}"
    assert _flight_error(uri) == f"FlightInternalError: {PYARROW_SYMPTOM}"
    mark = _mark(tls_serve)
    assert "x509: certificate signed by unknown authority" in _adbc_error(uri)
    _server_logged(tls_serve, f"{HANDSHAKE_FAILED}: .*alert bad certificate", mark)


def test_a_tls_client_against_a_plaintext_port(tmp_path: Path) -> None:
    from serve_process import start_serve

    serve = start_serve(tmp_path, demo_rows=100)
    try:
        uri = serve.uri.replace("grpc://", "grpc+tls://")
        roots = PKI.ca.cert_pem
        assert _flight_error(uri, tls_root_certs=roots) == f"FlightInternalError: {PYARROW_SYMPTOM}"
        assert "tls: first record does not look like a TLS handshake" in _adbc_error(
            uri, **{TLS_ROOT_CERTS: roots.decode()}
        )
    finally:
        serve.stop()


# An mTLS refusal comes after the client's side of the TLS 1.3 handshake is done, so which error the
# Go-based ADBC driver reports depends on whether it was writing or reading when the alert came.
MTLS_ADBC_SYMPTOMS = (
    "write: broken pipe",
    "error reading server preface: EOF",
    "connection reset by peer",
    "tls: certificate required",
    "tls: unknown certificate authority",
    "tls: bad certificate",
)


def test_an_mtls_client_without_a_certificate(mtls_serve: ServeProcess) -> None:
    uri = f"grpc+tls://{mtls_serve.uri}"
    mark = _mark(mtls_serve)
    assert _flight_error(uri, tls_root_certs=PKI.ca.cert_pem) == f"FlightInternalError: {PYARROW_SYMPTOM}"
    _server_logged(mtls_serve, f"{HANDSHAKE_FAILED}: .*peer did not return a certificate", mark)
    mark = _mark(mtls_serve)
    error = _adbc_error(uri, **{TLS_ROOT_CERTS: PKI.ca.cert_pem.decode()})
    print("ADBC without a certificate:", error)
    assert any(symptom in error for symptom in MTLS_ADBC_SYMPTOMS), error
    _server_logged(mtls_serve, f"{HANDSHAKE_FAILED}: .*peer did not return a certificate", mark)


def test_an_mtls_client_with_a_certificate_from_another_ca(mtls_serve: ServeProcess) -> None:
    uri = f"grpc+tls://{mtls_serve.uri}"
    rogue = PKI.untrusted_client
    mark = _mark(mtls_serve)
    error = _flight_error(uri, tls_root_certs=PKI.ca.cert_pem, cert_chain=rogue.cert_pem, private_key=rogue.key_pem)
    assert error == f"FlightInternalError: {PYARROW_SYMPTOM}"
    _server_logged(mtls_serve, f"{HANDSHAKE_FAILED}: .*certificate verify failed", mark)
    mark = _mark(mtls_serve)
    options = {TLS_ROOT_CERTS: PKI.ca.cert_pem.decode(), MTLS_CERT_CHAIN: rogue.cert_pem.decode(),
               MTLS_PRIVATE_KEY: rogue.key_pem.decode()}  # fmt: skip
    error = _adbc_error(uri, **options)
    print("ADBC with a rogue certificate:", error)
    assert any(symptom in error for symptom in MTLS_ADBC_SYMPTOMS), error
    _server_logged(mtls_serve, f"{HANDSHAKE_FAILED}: .*certificate verify failed", mark)
