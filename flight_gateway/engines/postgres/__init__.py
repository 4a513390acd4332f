"""The PostgreSQL engine: per-tenant ADBC pools logged in as the tenant's database user."""
