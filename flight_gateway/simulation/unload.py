"""Redshift's `UNLOAD ('<select>') TO 's3://…' … FORMAT AS PARQUET MANIFEST` against an S3 API.

The inner SELECT runs on its own connection logged in as the client's user (grants and
row-level security apply), streams through a server-side cursor, and is written as Parquet
row groups, one file per simulated slice and more when MAXFILESIZE is reached, then a
Redshift-shaped manifest. Memory stays bounded by one fetch of rows.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from flight_gateway.simulation.unload_writer import PartFile, SliceWriters, columns_of, record_batch


class _S3(Protocol):
    def client(self) -> Any: ...


class UnloadHost(Protocol):
    """What an UNLOAD needs of the simulator (a Protocol, so this module does not import it back)."""

    @property
    def s3(self) -> _S3 | None: ...

    @property
    def slices(self) -> int: ...

    def backend_connect(self, dbname: str, user: str = ...) -> Any: ...


_FETCH_ROWS = 10_000
_NOT_EMPTY = (
    "Specified unload destination on S3 is not empty. Consider using a different bucket / prefix, manually "
    "removing the target files in S3, or using the ALLOWOVERWRITE option."
)
_MB = 1024 * 1024
_MAX_FILE = int(6.2 * 1024 * _MB)
_TOKENS = re.compile(r"'(?:[^']|'')*'|[A-Za-z_]+|\d+(?:\.\d+)?|\S")
_UNSUPPORTED = {"csv", "json", "delimiter", "fixedwidth", "header", "gzip", "bzip2", "zstd", "addquotes", "escape",
                "null", "partition", "encrypted", "kms_key_id", "extension", "cleanpath"}  # fmt: skip


class UnloadError(Exception):
    """UNLOAD refused or failed; str() is the client's message."""

    def __init__(self, sqlstate: str, message: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


@dataclass(frozen=True)
class UnloadSpec:
    query: str
    bucket: str
    prefix: str
    manifest: bool
    max_file_bytes: int
    allow_overwrite: bool
    parallel: bool


def _quoted(text: str, start: int) -> tuple[str, int]:
    """The single-quoted literal starting at text[start] ('' and \\' escape a quote), and the index after it."""
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        elif ch == "'" and text.startswith("''", i):
            out.append("'")
            i += 2
        elif ch == "'":
            return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    raise UnloadError("42601", "unterminated quoted string in UNLOAD")


def parse_unload(sql: str) -> UnloadSpec:
    match = re.match(r"\s*unload\s*\(\s*(?=')", sql, re.IGNORECASE)
    if not match:
        raise UnloadError("42601", "syntax error at or near \"UNLOAD\": expected UNLOAD ('select-statement')")
    query, i = _quoted(sql, match.end())
    target = re.compile(r"\s*\)\s*to\s*(?=')", re.IGNORECASE).match(sql, i)
    if not target:
        raise UnloadError("42601", "syntax error in UNLOAD: expected ) TO 's3://bucket/prefix'")
    location, i = _quoted(sql, target.end())
    if not location.startswith("s3://") or "/" not in location[5:] and not location[5:]:
        raise UnloadError("22023", f"UNLOAD destination must be an s3:// location, not '{location}'")
    bucket, _, prefix = location[5:].partition("/")
    tokens = _TOKENS.findall(sql[i:].strip().rstrip(";"))
    manifest = allow_overwrite = authorized = False
    parallel, max_file, fmt = True, _MAX_FILE, "text"
    pos = 0

    def take() -> str:
        nonlocal pos
        pos += 1
        return tokens[pos - 1] if pos <= len(tokens) else ""

    while pos < len(tokens):
        word = take().lower()
        if word in ("iam_role", "credentials", "access_key_id", "secret_access_key", "session_token", "region"):
            authorized = authorized or word != "region"
            if tokens[pos : pos + 1] and tokens[pos].lower() == "as":
                take()
            take()
        elif word == "with":
            continue
        elif word == "format":
            fmt = take().lower()
            if fmt == "as":
                fmt = take().lower()
        elif word == "parquet":
            fmt = "parquet"
        elif word == "manifest":
            manifest = True
            if tokens[pos : pos + 1] and tokens[pos].lower() == "verbose":
                take()
        elif word == "allowoverwrite":
            allow_overwrite = True
        elif word == "parallel":
            if tokens[pos : pos + 1] and tokens[pos].lower() in ("on", "off", "true", "false"):
                parallel = take().lower() in ("on", "true")
        elif word in ("maxfilesize", "rowgroupsize"):
            size = take()
            size = take() if size.lower() == "as" else size
            unit = tokens[pos].lower() if pos < len(tokens) else "mb"
            if unit in ("mb", "gb"):
                take()
            try:
                amount = float(size) * (_MB if unit != "gb" else 1024 * _MB)
            except ValueError as exc:
                raise UnloadError("42601", f'syntax error at or near "{size}" in UNLOAD {word.upper()}') from exc
            if word == "maxfilesize":
                if not 5 * _MB <= amount <= _MAX_FILE:
                    raise UnloadError("22023", "MAXFILESIZE must be between 5 MB and 6.2 GB")
                max_file = int(amount)
        elif word in _UNSUPPORTED:
            raise UnloadError("0A000", f"the Redshift simulator's UNLOAD writes only FORMAT AS PARQUET; {word.upper()} "
                                       "is not implemented")  # fmt: skip
        else:
            raise UnloadError("42601", f'syntax error at or near "{word}" in UNLOAD options')
    if not authorized:
        raise UnloadError("42601", "UNLOAD needs authorization: add IAM_ROLE 'arn:aws:iam::<account>:role/<name>'")
    if fmt != "parquet":
        raise UnloadError("0A000", "the Redshift simulator's UNLOAD writes only FORMAT AS PARQUET")
    _refuse_outer_limit(query)
    return UnloadSpec(query, bucket, prefix, manifest, max_file, allow_overwrite, parallel)


def _refuse_outer_limit(query: str) -> None:
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(query, read="redshift")
    except sqlglot.errors.ParseError:
        return  # PostgreSQL will word the syntax error
    if isinstance(tree, exp.Query) and tree.args.get("limit") is not None:
        raise UnloadError(
            "0A000",
            "Limit clause is not supported in the outer-most SELECT of UNLOAD; "
            "nest it instead: select * from (select ... limit n)",
        )


def run_unload(sim: UnloadHost, role: str, database: str, sql: str) -> tuple[int, list[PartFile]]:
    """Run one UNLOAD as `role` in `database`: the number of rows and the files written."""
    import botocore.exceptions
    import psycopg

    spec = parse_unload(sql)
    if sim.s3 is None:
        raise UnloadError("XX000", "this Redshift simulator was started without an S3 endpoint; UNLOAD is unavailable")
    s3 = sim.s3.client()
    try:
        if not spec.allow_overwrite:
            listing = s3.list_objects_v2(Bucket=spec.bucket, Prefix=spec.prefix, MaxKeys=1)
            if listing.get("KeyCount", 0):
                raise UnloadError("XX000", _NOT_EMPTY)
        with sim.backend_connect(database, user=role) as conn, tempfile.TemporaryDirectory() as tmp:
            try:
                writer = SliceWriters(spec, sim.slices if spec.parallel else 1, Path(tmp), s3)
                with conn.transaction(), conn.cursor(name="redshift_sim_unload") as cursor:
                    cursor.execute(spec.query)
                    columns = columns_of(conn, cursor.description)
                    schema = pa.schema([pa.field(name, arrow) for name, arrow, _ in columns])
                    while rows := cursor.fetchmany(_FETCH_ROWS):
                        writer.write(record_batch(rows, columns, schema))
                writer.finish(schema)
            except psycopg.Error as exc:
                diag = exc.diag
                raise UnloadError(diag.sqlstate or "XX000", diag.message_primary or str(exc)) from exc
            if spec.manifest:
                s3.put_object(Bucket=spec.bucket, Key=spec.prefix + "manifest",
                              Body=json.dumps(writer.manifest(columns)).encode())  # fmt: skip
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        raise UnloadError("XX000", f"S3ServiceException:{error.get('Message', 'S3 error')},Status "
                                   f"{exc.response.get('ResponseMetadata', {}).get('HTTPStatusCode')},"
                                   f"Error {error.get('Code')}") from exc  # fmt: skip
    return writer.rows, writer.files
