"""The embedded DuckDB engine: one database per tenant, locked down for tenant sessions."""
