"""Fetching a Redshift result in chunks of rows, as strings, at libpq speed.

libpq's chunked-rows mode hands over a PGresult every `chunk_rows` rows (memory stays bounded,
unlike a plain PQexec that holds the whole result), and psycopg's C Transformer turns a whole
chunk into tuples of strings in one call: no per-row Python on the way (psycopg's own
`Cursor.stream()` yields row by row, which cost as much as the network here). The text format is
what Redshift supports; the strings become Arrow in `redshift.types.BatchDecoder`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
from psycopg import generators, pq
from psycopg.adapt import PyFormat, Transformer

Row = tuple[str | None, ...]


def fetch_chunks(
    conn: psycopg.Connection[Any], sql: str, values: Sequence[Any], chunk_rows: int
) -> Iterator[list[Row]]:
    """Run `sql` with `values` ($1, $2, ... placeholders) and yield its rows a chunk at a time.

    The caller must drop the connection if it stops early: the rest of the result is still on
    the wire (closing the connection is how Redshift learns to stop).
    """
    pgconn = conn.pgconn
    transformer = Transformer(conn)
    params: Sequence[bytes | None] | None = None
    types: Sequence[int] | None = None
    formats: Sequence[pq.Format] | None = None
    if values:
        params = [
            None if p is None else bytes(p) for p in transformer.dump_sequence(values, [PyFormat.TEXT] * len(values))
        ]
        types, formats = transformer.types, transformer.formats
    pgconn.send_query_params(
        sql.encode(), params, param_types=types, param_formats=formats, result_format=pq.Format.TEXT
    )
    pgconn.set_chunked_rows_mode(chunk_rows)
    conn.wait(generators.send(pgconn))
    error: pq.abc.PGresult | None = None
    while True:
        result = conn.wait(generators.fetch(pgconn))
        if result is None:
            break
        if result.status == pq.ExecStatus.FATAL_ERROR:
            error = result  # libpq still ends the query with a None; read up to it
        elif result.status in (pq.ExecStatus.TUPLES_CHUNK, pq.ExecStatus.TUPLES_OK) and result.ntuples:
            transformer.set_pgresult(result)
            yield transformer.load_rows(0, result.ntuples, tuple)
    if error is not None:
        raise psycopg.errors.error_from_result(error, encoding=conn.info.encoding)
