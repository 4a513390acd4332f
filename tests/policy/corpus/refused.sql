-- Statements a read-only tenant must be refused (STATEMENT_NOT_ALLOWED or STATEMENT_NOT_UNDERSTOOD),
-- with the database untouched. Same format as valid.sql; tests/policy/corpus.py adds every spelling of
-- tests/statement_spellings.py. `-- class:` names what the gateway must see (checked on the parse path).
-- query: insert-values
insert into nation values (99, 'X', 0, 'x')
-- query: insert-select
insert into nation select * from nation
-- query: insert-returning
insert into nation values (98, 'X', 0, 'x') returning n_nationkey
-- query: insert-on-conflict
insert into nation values (97, 'X', 0, 'x') on conflict do nothing
-- not: redshift
-- query: update
update nation set n_comment = 'changed'
-- query: update-returning
update nation set n_comment = 'changed' returning n_nationkey
-- not: redshift
-- query: update-from
update nation set n_comment = r_name from region where n_regionkey = r_regionkey
-- query: delete
delete from nation
-- query: delete-returning
delete from nation returning *
-- not: redshift
-- query: delete-using
delete from nation using region where n_regionkey = r_regionkey
-- not: duckdb
-- query: merge
merge into nation n using region r on n.n_regionkey = r.r_regionkey when matched then update set n_comment = r.r_name
-- query: truncate
truncate nation
-- query: cte-insert
with w as (insert into nation values (96, 'X', 0, 'x') returning n_nationkey) select * from w
-- not: duckdb
-- query: cte-update
with w as (update nation set n_comment = 'c' returning n_nationkey) select count(*) from w
-- not: duckdb
-- query: cte-delete
with w as (delete from nation returning n_nationkey) select count(*) from w
-- not: duckdb
-- query: cte-then-insert
with w as (select 1 as x) insert into nation select 95, 'X', 0, 'x' from w
-- query: cte-then-update-nested
with a as (select 1), b as (update nation set n_comment = 'b' returning 1) select * from a
-- not: duckdb
-- query: select-for-update
select n_name from nation for update
-- not: duckdb
-- query: select-for-share
select n_name from nation for share
-- not: duckdb
-- query: select-for-no-key-update
select n_name from nation for no key update nowait
-- not: duckdb, redshift
-- query: select-for-update-skip-locked
select n_name from nation order by n_name limit 1 for update skip locked
-- not: duckdb, redshift
-- query: select-into
select * into nation_copy from nation
-- not: duckdb
-- query: select-into-temp
select n_name into temp nation_tmp from nation
-- not: duckdb
-- query: create-table
create table made_by_ro (a int)
-- query: create-table-as
create table made_by_ro as select * from nation
-- query: create-view
create view made_by_ro_v as select * from nation
-- query: create-index
create index made_by_ro_i on nation (n_name)
-- query: create-schema
create schema made_by_ro_s
-- query: create-function
create function made_by_ro_f() returns int as 'select 1' language sql
-- not: duckdb, redshift
-- query: create-macro
create macro made_by_ro_m(a) as a + 1
-- not: postgres, redshift
-- query: create-sequence
create sequence made_by_ro_seq
-- not: redshift
-- query: create-temp-table
create temp table made_by_ro_tmp (a int)
-- query: drop-table
drop table nation
-- query: drop-if-exists
drop table if exists lineitem
-- query: drop-view
drop view if exists made_by_ro_v
-- query: alter-table-add
alter table nation add column extra int
-- query: alter-table-rename
alter table nation rename to nation_gone
-- query: comment-on
comment on table nation is 'changed'
-- query: grant
grant select on nation to public
-- not: duckdb
-- query: revoke
revoke select on nation from public
-- not: duckdb
-- query: vacuum
vacuum nation
-- query: analyze
analyze nation
-- query: checkpoint
checkpoint
-- query: reindex
reindex table nation
-- not: duckdb, redshift
-- query: cluster
cluster nation
-- not: duckdb, redshift
-- query: lock
lock table nation
-- not: duckdb
-- query: refresh-matview
refresh materialized view made_by_ro_mv
-- not: duckdb
-- query: set
set search_path to public
-- query: set-role
set role none
-- not: duckdb
-- query: set-session-characteristics
set session characteristics as transaction read write
-- not: duckdb, redshift
-- query: reset
reset all
-- not: duckdb
-- query: reset-setting
reset threads
-- not: postgres, redshift
-- query: show
show search_path
-- not: duckdb
-- query: discard
discard all
-- not: duckdb
-- query: begin
begin
-- query: start-transaction
start transaction read write
-- query: commit
commit
-- query: rollback
rollback
-- query: savepoint
savepoint s1
-- not: duckdb
-- query: prepare
prepare p as select 1
-- query: prepare-write
prepare p (int) as update nation set n_comment = 'p' where n_nationkey = $1
-- not: duckdb
-- query: execute
execute p
-- query: deallocate
deallocate all
-- not: duckdb
-- query: do-block
do $$ begin update nation set n_comment = 'do'; end $$
-- not: duckdb, redshift
-- query: call
call made_by_ro_p()
-- query: declare-cursor
declare c cursor for select * from nation
-- not: duckdb
-- query: fetch
fetch 1 from c
-- not: duckdb
-- query: listen
listen made_by_ro_channel
-- not: duckdb, redshift
-- query: notify
notify made_by_ro_channel
-- not: duckdb, redshift
-- query: copy-from
copy nation from '/tmp/nation.csv'
-- query: copy-to
copy nation to '/tmp/nation.csv'
-- query: copy-query-to
copy (select * from nation) to '/tmp/nation.csv'
-- query: copy-from-s3
copy nation from 's3://bucket/key' iam_role 'arn:aws:iam::1:role/r'
-- not: duckdb, postgres
-- query: unload
unload ('select * from nation') to 's3://bucket/p' iam_role 'arn:aws:iam::1:role/r'
-- not: duckdb, postgres
-- query: load
load 'made_by_ro'
-- query: explain-analyze-insert
explain analyze insert into nation values (94, 'X', 0, 'x')
-- query: explain-analyze-delete
explain (analyze) delete from nation
-- query: explain-analyze-update
explain analyze verbose update nation set n_comment = 'e'
-- not: duckdb
-- query: explain-analyze-create-table-as
explain analyze create table made_by_ro_e as select 1 as a
-- not: duckdb
-- query: pg-read-file
select pg_read_file('/etc/passwd')
-- not: duckdb, redshift
-- query: pg-ls-dir
select * from pg_ls_dir('.')
-- not: duckdb, redshift
-- query: lo-import
select lo_import('/etc/passwd')
-- not: duckdb, redshift
-- query: dblink
select * from dblink('dbname=postgres', 'delete from nation') as t(x text)
-- not: duckdb, redshift
-- query: set-config
select set_config('default_transaction_read_only', 'off', false)
-- not: duckdb
-- query: pg-terminate-backend
select pg_terminate_backend(1)
-- not: duckdb
-- query: two-statements
select 1; delete from nation
-- query: two-statements-reads
select 1; select 2
-- query: attach
attach 'other.duckdb' as other
-- not: postgres, redshift
-- query: detach
detach other
-- not: postgres, redshift
-- query: install
install httpfs
-- not: postgres, redshift
-- query: export-database
export database '/tmp/exported'
-- not: postgres, redshift
-- query: import-database
import database '/tmp/exported'
-- not: postgres, redshift
-- query: pragma
pragma enable_profiling
-- not: postgres, redshift
-- query: pragma-table-info
pragma table_info('nation')
-- not: postgres, redshift
-- query: duckdb-call
call pragma_version()
-- not: postgres, redshift
-- query: duckdb-create-or-replace
create or replace table nation as select * from region
-- not: postgres, redshift
-- query: duckdb-insert-or-replace
insert or replace into nation values (1, 'X', 0, 'x')
-- not: postgres, redshift
-- query: duckdb-explain-analyze-options
explain (analyze false) insert into nation values (93, 'X', 0, 'x')
-- not: postgres, redshift
-- query: duckdb-set-variable
set variable x = 1
-- not: postgres, redshift
-- query: duckdb-use
use memory
-- not: postgres, redshift
-- query: duckdb-copy-database
copy from database memory to other
-- not: postgres, redshift
-- query: duckdb-checkpoint-function
select * from checkpoint()
-- not: postgres, redshift
-- query: nonsense
selec 1 from nation
-- not: duckdb
-- query: unknown-statement
frobnicate nation
-- not: duckdb
-- Every write and DDL on every table (the per-table statements a read-only tenant must never run).
-- query: insert-select-region
insert into region select * from region
-- query: delete-where-region
delete from region where 1 = 0
-- query: truncate-region
truncate table region
-- query: drop-region
drop table region
-- query: alter-add-region
alter table region add column added_by_ro integer
-- query: insert-select-nation
insert into nation select * from nation
-- query: delete-where-nation
delete from nation where 1 = 0
-- query: truncate-nation
truncate table nation
-- query: drop-nation
drop table nation
-- query: alter-add-nation
alter table nation add column added_by_ro integer
-- query: insert-select-part
insert into part select * from part
-- query: delete-where-part
delete from part where 1 = 0
-- query: truncate-part
truncate table part
-- query: drop-part
drop table part
-- query: alter-add-part
alter table part add column added_by_ro integer
-- query: insert-select-supplier
insert into supplier select * from supplier
-- query: delete-where-supplier
delete from supplier where 1 = 0
-- query: truncate-supplier
truncate table supplier
-- query: drop-supplier
drop table supplier
-- query: alter-add-supplier
alter table supplier add column added_by_ro integer
-- query: insert-select-partsupp
insert into partsupp select * from partsupp
-- query: delete-where-partsupp
delete from partsupp where 1 = 0
-- query: truncate-partsupp
truncate table partsupp
-- query: drop-partsupp
drop table partsupp
-- query: alter-add-partsupp
alter table partsupp add column added_by_ro integer
-- query: insert-select-customer
insert into customer select * from customer
-- query: delete-where-customer
delete from customer where 1 = 0
-- query: truncate-customer
truncate table customer
-- query: drop-customer
drop table customer
-- query: alter-add-customer
alter table customer add column added_by_ro integer
-- query: insert-select-orders
insert into orders select * from orders
-- query: delete-where-orders
delete from orders where 1 = 0
-- query: truncate-orders
truncate table orders
-- query: drop-orders
drop table orders
-- query: alter-add-orders
alter table orders add column added_by_ro integer
-- query: insert-select-lineitem
insert into lineitem select * from lineitem
-- query: delete-where-lineitem
delete from lineitem where 1 = 0
-- query: truncate-lineitem
truncate table lineitem
-- query: drop-lineitem
drop table lineitem
-- query: alter-add-lineitem
alter table lineitem add column added_by_ro integer
