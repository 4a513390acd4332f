"""Every SQLSTATE class of PostgreSQL's Appendix A maps to a client-side status: a tenant can raise
any of them (PL/pgSQL `RAISE ... USING ERRCODE`, dblink, postgres_fdw), so none is a gateway bug."""

from __future__ import annotations

import pytest

from flight_gateway.engines.pgwire.errors import map_postgres_error
from flight_gateway.errors import ErrorCode, Status

# PostgreSQL 18, Appendix A "PostgreSQL Error Codes": every class, and the codes the gateway
# treats specially.
CLASSES = (
    "00", "01", "02", "03", "08", "09", "0A", "0B", "0F", "0L", "0P", "0Z", "20", "21", "22", "23",
    "24", "25", "26", "27", "28", "2B", "2D", "2F", "34", "38", "39", "3B", "3D", "3F", "40", "42",
    "44", "53", "54", "55", "57", "58", "72", "F0", "HV", "P0", "XX",
)  # fmt: skip
CODES = (
    "08001", "08006", "08P01", "28000", "28P01", "2F003", "38001", "38002", "38003", "38004", "39004",
    "39P01", "42501", "42883", "53100", "53200", "53300", "54001", "57014", "57P01", "57P04", "58030",
    "58P01", "HV000", "HV00N", "P0001", "P0004", "XX000", "XX001", "XX002",
    "ZZ999", "12345", "U0001",  # outside the appendix: a function may RAISE any code
)  # fmt: skip


class _DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"ERROR:  failing on purpose with {sqlstate}")
        self.sqlstate = sqlstate


@pytest.mark.parametrize("sqlstate", [c + "000" for c in CLASSES] + list(CODES))
def test_no_sqlstate_maps_to_internal(sqlstate: str) -> None:
    error = map_postgres_error(_DriverError(sqlstate))
    assert error.status is not Status.INTERNAL, (sqlstate, error.code)
    # One code, one status: the mapping agrees with the catalog.
    code = ErrorCode[error.code]
    assert code.status is error.status, (sqlstate, error.code)
    assert error.sqlstate == sqlstate
    assert error.message


def test_dblink_password_refusal_is_permission_denied() -> None:
    error = map_postgres_error(_DriverError("2F003"))
    assert (error.status, error.code) == (Status.PERMISSION_DENIED, "NOT_ALLOWED")


def test_an_error_without_any_classification_is_still_internal() -> None:
    """Only what the gateway cannot place at all (no SQLSTATE, no known text) is INTERNAL."""
    error = map_postgres_error(RuntimeError("something odd"))
    assert (error.status, error.code) == (Status.INTERNAL, "ENGINE_ERROR")
