"""The Redshift engine: per-tenant psycopg pools, IAM / Secrets Manager credentials, UNLOAD to S3."""
