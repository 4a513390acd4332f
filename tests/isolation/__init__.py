"""The tenant-isolation proof: the database, not the gateway, decides what a tenant sees."""
