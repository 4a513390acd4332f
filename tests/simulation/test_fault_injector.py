"""FaultInjector on its own: order, narrowing, counting, the control statement's JSON."""

from __future__ import annotations

import json

import pytest

from flight_gateway.simulation.faults import FaultInjector


def test_faults_are_taken_in_order_and_narrowed() -> None:
    faults = FaultInjector()
    faults.fail_next(2, sqlstate="53300", user="acme")
    faults.delay_next(0.5, match="FROM sales")
    assert faults.take("globex", "select 1") is None
    assert faults.take("globex", "select * from sales").kind == "delay"  # type: ignore[union-attr]
    first = faults.take("acme", "select 1")
    assert first is not None and first.kind == "fail" and first.sqlstate == "53300"
    assert faults.pending() == 1
    assert faults.take("acme", "select 2") is first
    assert faults.take("acme", "select 3") is None
    assert faults.fired == 3 and faults.pending() == 0


def test_control_json() -> None:
    faults = FaultInjector()
    armed = faults.arm_from_json('{"kind": "drop", "count": 2, "after_bytes": 100, "user": "acme"}')
    assert armed is not None and armed.after_bytes == 100 and armed.remaining == 2
    assert json.loads(faults.status()) == {"pending": 2, "fired": 0}
    assert faults.arm_from_json('{"kind": "clear"}') is None
    assert faults.pending() == 0
    with pytest.raises(ValueError, match="unknown fault kind"):
        faults.arm_from_json('{"kind": "explode"}')
    with pytest.raises(ValueError, match="SQLSTATE"):
        faults.fail_next(sqlstate="123")
    with pytest.raises(ValueError, match="at least one"):
        faults.drop_next(0)
