"""What the simulator installs in the backing PostgreSQL so it looks like Redshift from SQL.

Installed in `template1` (so every later CREATE DATABASE inherits it) and in every existing
database. Objects live in `pg_catalog`, so they resolve whatever the search_path, like Redshift's.
"""

from __future__ import annotations

REDSHIFT_VERSION = (
    "PostgreSQL 8.0.2 on i686-pc-linux-gnu, compiled by GCC gcc (GCC) 3.4.2 20041017 "
    "(Red Hat 3.4.2-6.fc3), Redshift 1.0.{build} (simulated on PostgreSQL {pg})"
)
REDSHIFT_BUILD = 77467

# Privilege-filtered: a regular user sees what they own or hold a privilege on; superusers see
# everything (Redshift: "superusers can see all rows; regular users can see only their own data").
_VIEWS = r"""
CREATE OR REPLACE VIEW pg_catalog.svv_all_schemas AS
SELECT current_database()::varchar(128) AS database_name,
       n.nspname::varchar(128) AS schema_name,
       n.nspowner::integer AS schema_owner,
       'local'::varchar(128) AS schema_type,
       array_to_string(n.nspacl, ',')::varchar(128) AS schema_acl,
       NULL::varchar(128) AS source_database,
       NULL::varchar(128) AS schema_option
FROM pg_catalog.pg_namespace n
WHERE n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp\_%' AND n.nspname <> 'redshift_sim'
  AND (pg_catalog.pg_has_role(n.nspowner, 'USAGE') OR pg_catalog.has_schema_privilege(n.oid, 'USAGE'));

CREATE OR REPLACE VIEW pg_catalog.svv_all_tables AS
SELECT current_database()::varchar(128) AS database_name,
       n.nspname::varchar(128) AS schema_name,
       c.relname::varchar(128) AS table_name,
       (CASE WHEN c.relkind IN ('v', 'm') THEN 'VIEW' ELSE 'TABLE' END)::varchar(128) AS table_type,
       array_to_string(c.relacl, ',')::varchar(128) AS table_acl,
       obj_description(c.oid, 'pg_class')::varchar(128) AS remarks
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('information_schema', 'redshift_sim') AND n.nspname NOT LIKE 'pg\_toast%'
  AND (n.nspname <> 'pg_catalog' OR c.relname LIKE 'svv\_%')
  AND (pg_catalog.pg_has_role(c.relowner, 'USAGE')
       OR pg_catalog.has_table_privilege(c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
       OR pg_catalog.has_any_column_privilege(c.oid, 'SELECT, INSERT, UPDATE, REFERENCES'));

CREATE OR REPLACE VIEW pg_catalog.svv_all_columns AS
SELECT current_database()::varchar(128) AS database_name,
       n.nspname::varchar(128) AS schema_name,
       c.relname::varchar(128) AS table_name,
       a.attname::varchar(128) AS column_name,
       a.attnum::integer AS ordinal_position,
       pg_catalog.pg_get_expr(d.adbin, d.adrelid)::varchar(4000) AS column_default,
       (CASE WHEN a.attnotnull THEN 'NO' ELSE 'YES' END)::varchar(3) AS is_nullable,
       (CASE WHEN t.typtype = 'd' THEN t.typname::text
             ELSE pg_catalog.format_type(a.atttypid, NULL) END)::varchar(128) AS data_type,
       information_schema._pg_char_max_length(bt.oid, bt.typtypmod_or_att)::integer AS character_maximum_length,
       information_schema._pg_numeric_precision(bt.oid, bt.typtypmod_or_att)::integer AS numeric_precision,
       information_schema._pg_numeric_scale(bt.oid, bt.typtypmod_or_att)::integer AS numeric_scale,
       col_description(c.oid, a.attnum)::varchar(256) AS remarks
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
CROSS JOIN LATERAL (SELECT CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END AS oid,
                           CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END AS typtypmod_or_att) bt
LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('information_schema', 'redshift_sim', 'pg_catalog') AND n.nspname NOT LIKE 'pg\_toast%'
  AND (pg_catalog.pg_has_role(c.relowner, 'USAGE')
       OR pg_catalog.has_column_privilege(c.oid, a.attnum, 'SELECT, INSERT, UPDATE, REFERENCES'));

CREATE OR REPLACE VIEW pg_catalog.svv_table_info AS
SELECT current_database()::text AS database,
       n.nspname::text AS schema,
       c.oid::integer AS table_id,
       c.relname::text AS "table",
       'N'::text AS encoded,
       'AUTO(EVEN)'::text AS diststyle,
       NULL::text AS sortkey1,
       NULL::integer AS max_varchar,
       NULL::text AS sortkey1_enc,
       0::integer AS sortkey_num,
       (pg_catalog.pg_total_relation_size(c.oid) / 1048576)::bigint AS size,
       NULL::numeric(10, 4) AS pct_used,
       NULL::numeric(10, 4) AS empty,
       NULL::numeric(5, 2) AS unsorted,
       NULL::numeric(5, 2) AS stats_off,
       GREATEST(c.reltuples, 0)::numeric(38, 0) AS tbl_rows,
       NULL::numeric(19, 2) AS skew_sortkey1,
       NULL::numeric(19, 2) AS skew_rows,
       GREATEST(c.reltuples, 0)::numeric(38, 0) AS estimated_visible_rows,
       NULL::text AS risk_event,
       NULL::numeric(12, 2) AS vacuum_sort_benefit,
       NULL::timestamp AS create_time
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('information_schema', 'redshift_sim', 'pg_catalog')
  AND n.nspname NOT LIKE 'pg\_toast%'
  AND (pg_catalog.pg_has_role(c.relowner, 'USAGE')
       OR pg_catalog.has_table_privilege(c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER'));

GRANT SELECT ON pg_catalog.svv_all_schemas, pg_catalog.svv_all_tables, pg_catalog.svv_all_columns,
    pg_catalog.svv_table_info TO PUBLIC;
"""

# Redshift type names the engine's type mapping must meet; each is a domain over the closest type.
_TYPES = """
DO $$
BEGIN
  IF to_regtype('pg_catalog.super') IS NULL THEN CREATE DOMAIN pg_catalog.super AS jsonb; END IF;
  IF to_regtype('pg_catalog.varbyte') IS NULL THEN CREATE DOMAIN pg_catalog.varbyte AS bytea; END IF;
  IF to_regtype('pg_catalog.geometry') IS NULL THEN CREATE DOMAIN pg_catalog.geometry AS bytea; END IF;
  IF to_regtype('pg_catalog.geography') IS NULL THEN CREATE DOMAIN pg_catalog.geography AS bytea; END IF;
  IF to_regtype('pg_catalog.hllsketch') IS NULL THEN CREATE DOMAIN pg_catalog.hllsketch AS text; END IF;
END $$;
"""

_FUNCTIONS = r"""
CREATE SCHEMA IF NOT EXISTS redshift_sim;
REVOKE ALL ON SCHEMA redshift_sim FROM PUBLIC;
CREATE UNLOGGED TABLE IF NOT EXISTS redshift_sim.unload_reports (
    pid integer PRIMARY KEY, sqlstate text NOT NULL, message text NOT NULL);
CREATE SEQUENCE IF NOT EXISTS redshift_sim.query_ids;
CREATE TABLE IF NOT EXISTS redshift_sim.unload_log (
    userid integer, query integer, slice integer, pid integer, path character(1280), start_time timestamp,
    end_time timestamp, line_count bigint, transfer_size bigint, file_format character(10));

-- Redshift's log of UNLOADed files: superusers see every row, others their own.
CREATE OR REPLACE VIEW pg_catalog.stl_unload_log AS
SELECT l.* FROM redshift_sim.unload_log l
WHERE l.userid = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)
   OR (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user);
GRANT SELECT ON pg_catalog.stl_unload_log TO PUBLIC;

CREATE OR REPLACE FUNCTION pg_catalog.version() RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT %(version)s::text $$;

-- A few Redshift functions PostgreSQL lacks, as SQL shims (the gateway advertises them to clients).
CREATE OR REPLACE FUNCTION pg_catalog.getdate() RETURNS timestamp LANGUAGE sql STABLE
AS $$ SELECT date_trunc('second', localtimestamp) $$;
CREATE OR REPLACE FUNCTION pg_catalog.len(text) RETURNS integer LANGUAGE sql IMMUTABLE STRICT
AS $$ SELECT length($1) $$;
CREATE OR REPLACE FUNCTION pg_catalog.charindex(text, text) RETURNS integer LANGUAGE sql IMMUTABLE STRICT
AS $$ SELECT strpos($2, $1) $$;
CREATE OR REPLACE FUNCTION pg_catalog.nvl(anycompatible, anycompatible) RETURNS anycompatible LANGUAGE sql
IMMUTABLE AS $$ SELECT coalesce($1, $2) $$;
CREATE OR REPLACE FUNCTION pg_catalog.nvl2(anyelement, anycompatible, anycompatible) RETURNS anycompatible
LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN $1 IS NULL THEN $3 ELSE $2 END $$;

-- Raises a chosen error: how the front refuses a statement the way Redshift does, or injects a fault.
CREATE OR REPLACE PROCEDURE pg_catalog.redshift_sim_fail(sqlstate text, message text) LANGUAGE plpgsql
AS $$ BEGIN RAISE EXCEPTION USING ERRCODE = sqlstate, MESSAGE = message; END $$;
GRANT EXECUTE ON PROCEDURE pg_catalog.redshift_sim_fail(text, text) TO PUBLIC;

-- UNLOAD runs in the front; this reports its outcome inside the client's own session.
CREATE OR REPLACE PROCEDURE pg_catalog.redshift_sim_unload_report() LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog AS $$
DECLARE
  found_state text;
  found_message text;
BEGIN
  DELETE FROM redshift_sim.unload_reports WHERE pid = pg_backend_pid() RETURNING sqlstate, message
    INTO found_state, found_message;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'UNLOAD outcome missing in the simulator' USING ERRCODE = 'XX000';
  ELSIF found_state = '00000' THEN
    RAISE INFO '%%', found_message;
  ELSE
    RAISE EXCEPTION '%%', found_message USING ERRCODE = found_state;
  END IF;
END $$;
GRANT EXECUTE ON PROCEDURE pg_catalog.redshift_sim_unload_report() TO PUBLIC;

-- The standalone control statement: only superusers may run it; the front acts on its argument.
CREATE OR REPLACE FUNCTION pg_catalog.redshift_sim_fault(spec text) RETURNS text LANGUAGE sql
AS $$ SELECT 'fault armed'::text $$;
REVOKE EXECUTE ON FUNCTION pg_catalog.redshift_sim_fault(text) FROM PUBLIC;
"""


def bootstrap_sql(pg_version: str) -> str:
    """The whole installation script for one database (idempotent)."""
    version = REDSHIFT_VERSION.format(build=REDSHIFT_BUILD, pg=pg_version).replace("'", "''")
    functions = _FUNCTIONS % {"version": f"'{version}'"}
    return "SET allow_system_table_mods = on;\n" + _TYPES + functions + _VIEWS
