"""Bulk ingestion (ADBC adbc_ingest from Flight SQL) into PostgreSQL: the Flight SQL table options
checked against the catalog, then one driver mode. The driver streams the rows with
`COPY … FROM STDIN (FORMAT binary)` as the tenant's user."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from flight_gateway.engines.base import IngestTarget
from flight_gateway.errors import GatewayError, Status, not_found

# (create if missing, if exists) → adbc_ingest mode; missing-table cases are settled before.
_MODES = {
    (True, "fail"): "create", (True, "append"): "create_append", (True, "replace"): "replace",
    (False, "append"): "append", (False, "replace"): "replace", (False, "fail"): "append",
}  # fmt: skip


def ingest_mode(target: IngestTarget, rows: Callable[[str, Sequence[str | None]], list[tuple[Any, ...]]]) -> str:
    """The driver mode for `target`, or the Flight SQL error its options call for."""
    exists = bool(
        rows(
            "select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where c.relname = $1 and n.nspname = coalesce($2, current_schema())",
            [target.table, target.schema],
        )
    )
    name = ".".join(p for p in (target.schema, target.table) if p)
    if exists and target.if_exists == "fail":
        raise GatewayError(
            Status.ALREADY_EXISTS, "TABLE_EXISTS", f"table {name} already exists; ingest in append or replace mode"
        )
    if not exists and not target.create_if_missing:
        raise not_found("OBJECT_NOT_FOUND", f"table {name} does not exist; ingest in create mode")
    return _MODES[(target.create_if_missing, target.if_exists)]
