"""PostgreSQL and Redshift statements whose class their first keyword decides.

PostgreSQL's grammar (gram.y) tells its utility statements apart by their first keyword, and none
of these holds a statement that runs with it, so the keyword is the whole answer for them. The
statements that can hold others (WITH, EXPLAIN, PREPARE, DECLARE, CREATE … AS, SELECT) are read
as trees (`pg_tree`); DO, CALL and EXECUTE run code the gateway cannot see (`OPAQUE`).
"""

from __future__ import annotations

from flight_gateway.kinds import StatementClass

C = StatementClass
TRANSACTION_CONTROL = frozenset({"BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "SAVEPOINT", "RELEASE"})
BY_KEYWORD: dict[str, StatementClass] = {
    **dict.fromkeys(("SELECT", "VALUES", "TABLE"), C.QUERY),
    **dict.fromkeys(("INSERT", "UPDATE", "DELETE", "MERGE"), C.DML),
    **dict.fromkeys(("CREATE", "DROP", "ALTER", "TRUNCATE", "COMMENT", "SECURITY", "IMPORT"), C.DDL),
    **dict.fromkeys(TRANSACTION_CONTROL, C.TRANSACTION),
    **dict.fromkeys(("SET", "RESET", "SHOW", "DISCARD", "LISTEN", "UNLISTEN", "NOTIFY"), C.SESSION),
    **dict.fromkeys(("GRANT", "REVOKE", "VACUUM", "ANALYZE", "ANALYSE", "CHECKPOINT", "REINDEX", "CLUSTER",
                     "LOCK", "REFRESH", "REASSIGN", "CANCEL"), C.ADMIN),
    **dict.fromkeys(("COPY", "UNLOAD", "LOAD"), C.DATA_MOVEMENT),
    **dict.fromkeys(("PREPARE", "DECLARE", "DEALLOCATE", "FETCH", "MOVE", "CLOSE"), C.PROCEDURAL),
}  # fmt: skip
# Statements read as trees: they may hold other statements, or read and write in one.
TREE_KEYWORDS = frozenset({"SELECT", "VALUES", "TABLE", "WITH", "INSERT", "UPDATE", "DELETE", "MERGE", "CREATE"})
OPAQUE = {
    "DO": "DO runs procedural code the gateway cannot see into",
    "CALL": "CALL runs a procedure the gateway cannot see into",
    "EXECUTE": "EXECUTE runs a prepared statement the gateway cannot see",
}
# Functions that reach outside the database's rows or the statement's session: server files, other
# connections (dblink's are not read-only), settings, other backends. A read-only tenant calling
# one is refused. Functions that write rows or sequences (nextval, lo_create, a tenant's own) are
# not listed: a read-only tenant's transactions are read-only in the database, which refuses them,
# and what other functions do is the database's GRANT EXECUTE to decide.
FUNCTIONS: dict[str, StatementClass] = {
    **dict.fromkeys(("pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_stat_file", "pg_ls_logdir",
                     "pg_ls_waldir", "pg_ls_tmpdir", "pg_ls_archive_statusdir", "lo_import", "lo_export",
                     "dblink", "dblink_exec", "dblink_connect", "dblink_connect_u", "dblink_send_query",
                     "pg_file_write", "pg_file_rename", "pg_file_unlink", "pg_logdir_ls"), C.DATA_MOVEMENT),
    **dict.fromkeys(("set_config",), C.SESSION),
    **dict.fromkeys(("pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf", "pg_rotate_logfile",
                     "pg_switch_wal", "pg_create_restore_point", "pg_promote", "pg_create_logical_replication_slot",
                     "pg_drop_replication_slot"), C.ADMIN),
}  # fmt: skip
