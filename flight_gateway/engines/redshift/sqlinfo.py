"""Where Redshift answers GetSqlInfo differently from the defaults (which describe DuckDB):
PostgreSQL's answers, with Redshift's identifier folding and without bulk ingest."""

from __future__ import annotations

from dataclasses import replace

from flight_gateway.engines.postgres.sqlinfo import SQL_INFO as POSTGRES_SQL_INFO
from flight_gateway.engines.typeinfo import CaseSensitivity

SQL_INFO = replace(
    POSTGRES_SQL_INFO,
    # With enable_case_sensitive_identifier off (the default) quoted names fold to lower case too.
    quoted_identifier_case=CaseSensitivity.SQL_CASE_SENSITIVITY_LOWERCASE,
    # The Redshift engine has no bulk ingest (load with COPY from S3).
    bulk_ingestion=False,
)
