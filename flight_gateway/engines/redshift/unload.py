"""Huge Redshift results written by Redshift itself: `UNLOAD … FORMAT AS PARQUET MANIFEST`.

The compute nodes write Parquet straight to S3 in parallel (nothing passes through the leader
node or the gateway); the gateway then adopts the parts listed in the manifest and serves one
Flight endpoint per part. Redshift's rules, applied here:
* the query goes inside a single-quoted literal: quotes doubled, backslashes doubled (Redshift
  reads a backslash in a literal as an escape);
* LIMIT is not allowed in UNLOAD's outer SELECT, so the query is wrapped as
  `SELECT * FROM (<query>) AS unloaded` (a LIMIT inside a subquery is fine; Redshift wants the alias);
* no bind parameters inside the literal: a statement with parameters is not unloaded (the
  gateway writes its parts itself instead);
* the target prefix must be empty (each job has its own).
"""

from __future__ import annotations

import re

from flight_gateway.errors import GatewayError, Status

_S3_PREFIX = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,62}/[A-Za-z0-9_./=-]*/$")
_ONE_ROLE = r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+"
_ROLE = re.compile(rf"^{_ONE_ROLE}(,{_ONE_ROLE})*$")  # a chain of roles is comma-separated
_TRAILING = re.compile(r"(;|\s|--[^\n]*$)+$")


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def unload_statement(sql: str, s3_prefix: str, iam_role: str, max_file_size_mb: int) -> str:
    """The UNLOAD statement writing `sql`'s result as Parquet parts plus a manifest under `s3_prefix`."""
    if not _S3_PREFIX.match(s3_prefix):
        raise GatewayError(
            Status.INTERNAL, "UNLOAD_TARGET", "the offload location is not an s3:// prefix Redshift can UNLOAD to"
        )
    if not _ROLE.match(iam_role):
        raise GatewayError(
            Status.UNAVAILABLE,
            "UNLOAD_ROLE",
            "the engine's unload_iam_role is not an IAM role ARN (arn:aws:iam::<account>:role/<name>); fix the config",
        )
    # A trailing semicolon or line comment would swallow the closing parenthesis.
    query = _TRAILING.sub("", sql)
    inner = f"SELECT * FROM ({query}\n) AS unloaded"  # noqa: S608 - the tenant's own query, run as the tenant
    return (
        f"UNLOAD ({_literal(inner)}) TO {_literal(s3_prefix)} IAM_ROLE {_literal(iam_role)} "
        f"FORMAT AS PARQUET MANIFEST MAXFILESIZE {int(max_file_size_mb)} MB"
    )
