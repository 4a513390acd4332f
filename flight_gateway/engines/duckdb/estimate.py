"""DuckDB's own guess of a query's result size: the estimated cardinality of the plan's root.

`EXPLAIN (FORMAT JSON)` gives the physical plan as a list of operator trees; each operator may
carry `extra_info["Estimated Cardinality"]`. The root's estimate is the result's row count as
the optimizer sees it. Some roots carry none (a cross product): then the size is unknown.
"""

from __future__ import annotations

import json
from typing import Any

import duckdb


def estimated_rows(con: duckdb.DuckDBPyConnection, sql: str, values: list[Any] | None) -> int | None:
    """The planner's row estimate for `sql`, or None when it has none (or cannot explain it)."""
    try:
        rows = con.execute(f"explain (format json) {sql}", values).fetchall()
    except duckdb.Error:
        return None
    return root_cardinality(rows[0][1]) if rows and len(rows[0]) > 1 else None


def root_cardinality(plan_json: str) -> int | None:
    try:
        plan = json.loads(plan_json)
    except (TypeError, ValueError):
        return None
    root = plan[0] if isinstance(plan, list) and plan else plan
    if not isinstance(root, dict):
        return None
    info = root.get("extra_info")
    value = info.get("Estimated Cardinality") if isinstance(info, dict) else None
    try:
        return int(str(value).replace(",", "")) if value is not None else None
    except ValueError:
        return None
