"""The engines' copies of the Flight SQL codes (engines/typeinfo.py, engines/sqlcodes.py) equal the spec's generated
enums, and every registered engine type carries its own type and SqlInfo tables."""

from __future__ import annotations

import enum

import pytest

from flight_gateway.engines import sqlcodes, typeinfo
from flight_gateway.engines.duckdb.engine import DuckDBEngine
from flight_gateway.protocol import flightsql_pb2 as pb

_MIRRORED = [
    (typeinfo.XdbcDataType, pb.XdbcDataType),
    (typeinfo.XdbcDatetimeSubcode, pb.XdbcDatetimeSubcode),
    (typeinfo.Nullable, pb.Nullable),
    (typeinfo.Searchable, pb.Searchable),
    (typeinfo.CaseSensitivity, pb.SqlSupportedCaseSensitivity),
    (typeinfo.NullOrdering, pb.SqlNullOrdering),
    (typeinfo.ElementAction, pb.SqlSupportedElementActions),
    *((getattr(sqlcodes, name), getattr(pb, name)) for name in sqlcodes.__all__),
]


@pytest.mark.parametrize(("ours", "spec"), _MIRRORED, ids=lambda e: getattr(e, "__name__", str(e)))
def test_codes_match_the_spec(ours: type[enum.IntEnum], spec: object) -> None:
    spec_values = dict(spec.items())  # type: ignore[attr-defined]
    for member in ours:
        assert spec_values[member.name] == member.value, member


def test_engines_carry_their_own_tables() -> None:
    from flight_gateway.engines.postgres.engine import PostgresEngine
    from flight_gateway.engines.redshift.engine import RedshiftEngine

    for engine in (DuckDBEngine, PostgresEngine, RedshiftEngine):
        assert engine.xdbc_types and all(isinstance(t, typeinfo.XdbcType) for t in engine.xdbc_types)
        assert isinstance(engine.sql_info, typeinfo.SqlDialectInfo)
