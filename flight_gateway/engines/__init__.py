"""Database engines behind the gateway: `base` (the seam and its optional capabilities), `registry`
(engine type -> factory, drivers imported only when configured), and one package per backend with
mirrored module names (`duckdb/`, `postgres/`, `redshift/`; `pgwire/` holds what the two
PostgreSQL-protocol backends share)."""
