"""What the DuckDB engine needs to know about a statement's text beyond its statement type.

DuckDB's own tokenizer reads the names a statement uses (quoted or not, comments and string
literals skipped), so spelling cannot hide them:

* catalog functions and views that show server paths (the database file, the data directory,
  DuckDB's home, temp and extension directories) are refused, and so are `query()` and
  `query_table()`, which call any table function by a name computed at run time;
* CHECKPOINT, VACUUM and ANALYZE write to the database file, so they are classified as admin and a
  read-only tenant cannot run them.
"""

from __future__ import annotations

import duckdb

from flight_gateway.errors import denied

# Names whose results carry server paths: database_list is the PRAGMA, the rest table functions
# or views (duckdb_settings() shows the directories).
PATH_REVEALING = frozenset({
    "duckdb_databases", "database_list", "pragma_database_list", "duckdb_settings", "duckdb_extensions",
    "duckdb_temporary_files", "duckdb_secrets", "which_secret", "duckdb_logs",
})  # fmt: skip
# Table functions that run SQL text computed at run time (which could name any of the above).
DYNAMIC_SQL = frozenset({"query", "query_table"})
# current_setting() is fine for a literal setting that names no file or directory.
_PATH_SETTING_WORDS = ("director", "path", "file", "repository")
_SAFE_SETTINGS = frozenset({"search_path"})
_CHECKPOINT = frozenset({"checkpoint", "force_checkpoint"})
MAINTENANCE_TYPES = frozenset({"VACUUM"})  # DuckDB parses ANALYZE as a VACUUM statement
_NAME_KINDS = (duckdb.token_type.identifier, duckdb.token_type.keyword)


def _tokens(sql: str) -> list[tuple[str, duckdb.token_type]]:
    """The statement's tokens as text (names lower case and unquoted), comments left out."""
    tokens = duckdb.tokenize(sql)
    ends = [offset for offset, _ in tokens[1:]] + [len(sql)]
    out: list[tuple[str, duckdb.token_type]] = []
    for (offset, kind), end in zip(tokens, ends, strict=True):
        text = sql[offset:end].strip()
        if kind == duckdb.token_type.comment:
            continue
        if kind in _NAME_KINDS:
            if len(text) >= 2 and text[0] == text[-1] == '"':
                text = text[1:-1].replace('""', '"')
            text = text.lower()
        out.append((text, kind))
    return out


def _literal_setting(tokens: list[tuple[str, duckdb.token_type]], at: int) -> str | None:
    """The setting named by `current_setting('<literal>')` at `at`, or None if it is computed."""
    window = tokens[at + 1 : at + 4]
    if len(window) == 3 and window[0][0] == "(" and window[2][0].startswith(")"):
        text, kind = window[1]
        if kind == duckdb.token_type.string_const and text.startswith("'") and text.endswith("'"):
            return text[1:-1].lower()
    return None


def _shows_paths(tokens: list[tuple[str, duckdb.token_type]], at: int) -> bool:
    name, kind = tokens[at]
    if kind not in _NAME_KINDS:
        return False
    called = at + 1 < len(tokens) and tokens[at + 1][0].startswith("(")
    if name in PATH_REVEALING or (called and name in DYNAMIC_SQL):
        return True
    if name == "current_setting" and called:
        setting = _literal_setting(tokens, at)
        return setting is None or (
            setting not in _SAFE_SETTINGS and any(word in setting for word in _PATH_SETTING_WORDS)
        )
    return False


def check_statement_text(sql: str) -> bool:
    """Refuses statements that would show server paths; True if the statement writes the database
    file through maintenance (CHECKPOINT), which the statement type does not reveal."""
    tokens = _tokens(sql)
    for at, (name, _) in enumerate(tokens):
        if _shows_paths(tokens, at):
            raise denied(
                "STATEMENT_NOT_ALLOWED",
                f"{name} is not available through the gateway here (it would show server paths or run computed SQL)",
            )
    return any(kind in _NAME_KINDS and name in _CHECKPOINT for name, kind in tokens)
