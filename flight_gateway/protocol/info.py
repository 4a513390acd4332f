"""GetSqlInfo and GetXdbcTypeInfo answers, built once per engine and tenant access mode."""

from __future__ import annotations

import threading
from collections.abc import Mapping

import pyarrow as pa

from flight_gateway import __version__
from flight_gateway.context import RequestContext
from flight_gateway.engines.base import Engine
from flight_gateway.engines.duckdb.sqlinfo import default_sql_info
from flight_gateway.engines.typeinfo import SqlInfoValue
from flight_gateway.errors import GatewayError, Status
from flight_gateway.protocol import schemas
from flight_gateway.protocol.sqlinfo import build_sql_info_table, dialect_sql_info
from flight_gateway.protocol.xdbc import build_xdbc_type_info_table

SERVER_NAME = "flight-gateway"


class ServerInfo:
    def __init__(self, engines: Mapping[str, Engine]) -> None:
        self._engines = dict(engines)
        self._cache: dict[tuple[str, bool], dict[int, SqlInfoValue]] = {}
        self._lock = threading.Lock()
        self.sql_info_schema = schemas.SQL_INFO_SCHEMA
        self.xdbc_schema = schemas.XDBC_TYPE_INFO_SCHEMA

    def _engine(self, ctx: RequestContext) -> Engine:
        engine = self._engines.get(ctx.tenant.engine)
        if engine is None:
            raise GatewayError(Status.UNAVAILABLE, "ENGINE_UNAVAILABLE", "the tenant's engine is not configured")
        return engine

    def _values(self, ctx: RequestContext) -> dict[int, SqlInfoValue]:
        key = (ctx.tenant.engine, ctx.tenant.read_only)
        with self._lock:
            values = self._cache.get(key)
        if values is None:
            info = self._engine(ctx).info()
            values = default_sql_info(
                server_name=SERVER_NAME,
                server_version=f"{__version__} ({info.version})",
                read_only=ctx.tenant.read_only,
                keywords=info.keywords,
                numeric_functions=info.numeric_functions,
                string_functions=info.string_functions,
                system_functions=info.system_functions,
                datetime_functions=info.datetime_functions,
                batch_updates=True,
                bulk_ingestion=True,
            )
            values.update(dialect_sql_info(self._engine(ctx).sql_info))
            with self._lock:
                self._cache[key] = values
        return values

    def sql_info(self, ctx: RequestContext, requested: list[int]) -> pa.Table:
        return build_sql_info_table(self._values(ctx), requested)

    def xdbc_types(self, ctx: RequestContext, data_type: int | None) -> pa.Table:
        return build_xdbc_type_info_table(self._engine(ctx).xdbc_types, data_type)
