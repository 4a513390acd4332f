"""The statement corpora (`corpus/valid.sql`, `corpus/refused.sql`) and the TPC-H schema they run on.

An entry starts at `-- query: <id>`; a `-- not: <engines>` line in it leaves out engines that
do not have the construct (duckdb, postgres, redshift). The refused corpus also takes every
adversarial spelling of tests/statement_spellings.py, written against the corpus's tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from statement_spellings import REDSHIFT_REFUSED, SPELLINGS

HERE = Path(__file__).parent / "corpus"
ENGINES = ("duckdb", "postgres", "redshift")
# The spellings' hidden write and DDL, on the corpus's tables.
SPELLED_WRITE = "UPDATE nation SET n_comment = 'spelled'"
SPELLED_DDL = "CREATE TABLE spelled_t (a int)"


@dataclass(frozen=True)
class Entry:
    id: str
    sql: str
    engines: frozenset[str]


def _entries(name: str) -> list[Entry]:
    text = (HERE / name).read_text()
    out = []
    for block in re.split(r"^-- query: ", text, flags=re.MULTILINE)[1:]:
        head, _, body = block.partition("\n")
        lines = body.splitlines()
        marks = [line.removeprefix("-- not: ") for line in lines if line.startswith("-- not: ")]
        excluded = {engine.strip() for mark in marks for engine in mark.split(",")}
        assert excluded <= set(ENGINES), (head, excluded)
        sql = "\n".join(line for line in lines if not line.startswith("-- not: ")).strip()
        out.append(Entry(head.strip(), sql, frozenset(ENGINES) - excluded))
    return out


def valid(engine: str) -> list[Entry]:
    return [e for e in _entries("valid.sql") if engine in e.engines]


def refused(engine: str) -> list[Entry]:
    """Refused statements for `engine`: the file's, and the PostgreSQL spellings (on PostgreSQL and
    Redshift; DuckDB's parser reads another dialect, so it gets its own entries only)."""
    own = [e for e in _entries("refused.sql") if engine in e.engines]
    if engine == "duckdb":
        return own
    spelled = [Entry(f"spelling-{s.id}", s.render(SPELLED_WRITE, SPELLED_DDL), frozenset(ENGINES)) for s in SPELLINGS]
    redshift = [Entry(f"redshift-{name}", sql, frozenset(ENGINES)) for name, sql in REDSHIFT_REFUSED]
    return own + spelled + redshift


def schema_statements() -> list[str]:
    text = (HERE / "schema.sql").read_text()
    lines = [line for line in text.splitlines() if line and not line.startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";\n") if s.strip().rstrip(";")]
