"""CloseSession: ADBC sends it on every disconnect. The gateway keeps no session state, so it
answers CLOSED (the Flight RPC CloseSessionResult) and logs nothing above DEBUG."""

from __future__ import annotations

import logging

import pyarrow.flight as fl
import pytest
from conftest import RunningGateway

from flight_gateway.protocol import flight_actions_pb2 as wire

# Background upkeep that may log at INFO while the test runs; the call itself must not.
_BACKGROUND = ("flight_gateway.jobs", "flight_gateway.offload")


def test_close_session_answers_closed(gateway: RunningGateway) -> None:
    client, options = gateway.flight_client("acme")
    with client:
        results = list(client.do_action(fl.Action("CloseSession", b""), options))
    assert len(results) == 1
    answer = wire.CloseSessionResult.FromString(results[0].body.to_pybytes())
    assert answer.status == wire.CloseSessionResult.CLOSED


def test_an_adbc_disconnect_logs_nothing_above_debug(gateway: RunningGateway, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    conn = gateway.connect("acme")
    with conn.cursor() as cursor:
        cursor.execute("select 1 as one")
        assert cursor.fetchall() == [(1,)]
    caplog.clear()
    conn.close()  # the driver sends CloseSession and waits for the answer
    mine = [r for r in caplog.records if not r.name.startswith(_BACKGROUND)]
    assert any("CloseSession" in r.getMessage() and r.levelno == logging.DEBUG for r in mine), [
        r.getMessage() for r in mine
    ]
    loud = [f"{r.levelname} {r.name}: {r.getMessage()}" for r in mine if r.levelno >= logging.INFO]
    assert loud == []
