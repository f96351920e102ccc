"""Writes pg-dev2.jsonl and unanswerable2.jsonl from the tables below (kept here so edits stay
reviewable).  pg-dev2 is a second dev set written from pages that pg-dev.jsonl does not use,
so retrieval changes are not tuned to one set.  Run check.py afterwards:
`python3 check.py pg-dev2.jsonl` checks pages, keywords, that no page is shared with pg-dev.jsonl,
and that the identifier-like names in unanswerable2.jsonl do not occur in the manual."""
import json, pathlib

Q = [
# close: wording close to the page
("close", "How does REINDEX rebuild a bloated or corrupted index, and can it do so concurrently?", ["sql-reindex.html"], ["REINDEX", "CONCURRENTLY"]),
("close", "What does REFRESH MATERIALIZED VIEW CONCURRENTLY require on the materialized view?", ["sql-refreshmaterializedview.html"], ["CONCURRENTLY", "UNIQUE index"]),
("close", "What is the difference between a FOR EACH ROW trigger and a FOR EACH STATEMENT trigger?", ["sql-createtrigger.html"], ["FOR EACH ROW", "FOR EACH STATEMENT"]),
("close", "What does WITH GRANT OPTION let the recipient of a privilege do?", ["sql-grant.html"], ["WITH GRANT OPTION"]),
("close", "Which CREATE ROLE options allow a role to log in and to create databases?", ["sql-createrole.html"], ["LOGIN", "CREATEDB"]),
("close", "How does ALTER DEFAULT PRIVILEGES set the privileges of objects created later?", ["sql-alterdefaultprivileges.html"], ["ALTER DEFAULT PRIVILEGES", "FOR ROLE"]),
("close", "What does WITH HOLD mean when declaring a cursor?", ["sql-declare.html"], ["WITH HOLD", "commits"]),
("close", "What does the CHECK OPTION of CREATE VIEW verify for INSERT and UPDATE through the view, and what is the difference between LOCAL and CASCADED?", ["sql-createview.html"], ["CHECK OPTION", "LOCAL", "CASCADED"]),
("close", "What are the precision and the scale of a numeric column?", ["datatype-numeric.html"], ["precision", "scale"]),
("close", "How is a timestamp with time zone value stored internally?", ["datatype-datetime.html"], ["timestamp with time zone", "UTC"]),
("close", "How do I define a domain over a base type with a CHECK constraint?", ["sql-createdomain.html"], ["CREATE DOMAIN", "CHECK"]),
("close", "How does table inheritance work with INHERITS, and how do I query only the parent table?", ["ddl-inherit.html"], ["INHERITS", "ONLY"]),
("close", "What is a tablespace, and how do I make new tables go into one by default?", ["manage-ag-tablespaces.html"], ["CREATE TABLESPACE", "default_tablespace"]),
("close", "What does the CHECKPOINT command force, and who is allowed to run it?", ["sql-checkpoint.html"], ["CHECKPOINT", "pg_checkpoint"]),
("close", "Which index types does PostgreSQL provide?", ["indexes-types.html"], ["B-tree", "GiST", "SP-GiST", "BRIN"]),
("close", "What is asynchronous commit and what can be lost if the server crashes?", ["wal-async-commit.html"], ["synchronous_commit", "wal_writer_delay"]),
# paraphrase: everyday wording, few shared words
("paraphrase", "From a shell script, how can I tell whether the database is up and taking logins yet?", ["app-pg-isready.html"], ["pg_isready"]),
("paraphrase", "Can I switch on page-level corruption detection for an existing data folder that was set up without it?", ["app-pgchecksums.html"], ["pg_checksums", "--enable"]),
("paraphrase", "After a failover my old main machine has drifted away from the new one; how do I make it follow the new one without recopying everything?", ["app-pgrewind.html"], ["pg_rewind"]),
("paraphrase", "How can a second machine keep pulling a live copy of the transaction log files as they are produced?", ["app-pgreceivewal.html"], ["pg_receivewal"]),
("paraphrase", "How can I be sure a copy of the cluster I made last night has not been damaged or altered since?", ["app-pgverifybackup.html"], ["pg_verifybackup", "backup_manifest"]),
("paraphrase", "How do I read a table that lives on another Postgres box as though it were local?", ["postgres-fdw.html"], ["postgres_fdw"]),
("paraphrase", "Is there a way to keep a bag of name/value pairs in one column without resorting to JSON?", ["hstore.html"], ["hstore"]),
("paraphrase", "How do I work out how far apart two places on the globe are from their latitude and longitude?", ["earthdistance.html"], ["earth_distance", "<@>"]),
("paraphrase", "How do I make random ids for rows that do not come from a counter?", ["functions-uuid.html"], ["gen_random_uuid"]),
("paraphrase", "How can I find out whether the on-disk structure of an index has been damaged?", ["amcheck.html"], ["amcheck", "bt_index_check"]),
("paraphrase", "How do I stop a meeting room from being booked twice for times that collide?", ["rangetypes.html"], ["EXCLUDE USING", "tsrange"]),
("paraphrase", "How can I make lookups on e-mail addresses ignore capital letters?", ["citext.html"], ["citext"]),
("paraphrase", "How can I dump the raw bytes of a single block of a table to debug it?", ["pageinspect.html"], ["get_raw_page"]),
("paraphrase", "How do I see who is logged in right now and what each of them is running?", ["monitoring-stats.html"], ["pg_stat_activity"]),
("paraphrase", "Can one big query use several CPU cores at once, and what caps how many helpers it gets?", ["how-parallel-query-works.html"], ["max_parallel_workers_per_gather", "Gather"]),
("paraphrase", "Without starting the server, where can I see low-level facts about the data folder such as the catalog version and the last checkpoint?", ["app-pgcontroldata.html"], ["pg_controldata"]),
# identifier: exact names
("identifier", "What is SQLSTATE 40001 and should the application retry?", ["mvcc-serialization-failure-handling.html"], ["40001", "serialization_failure"]),
("identifier", "Which SQLSTATE does RAISE EXCEPTION use by default, P0001?", ["plpgsql-errors-and-messages.html"], ["P0001", "raise_exception"]),
("identifier", "date_trunc", ["functions-datetime.html"], ["date_trunc"]),
("identifier", "generate_series with a step", ["functions-srf.html"], ["generate_series", "step"]),
("identifier", "string_agg delimiter", ["functions-aggregate.html"], ["string_agg", "delimiter"]),
("identifier", "regexp_replace flags", ["functions-matching.html"], ["regexp_replace", "flags"]),
("identifier", "to_char format patterns", ["functions-formatting.html"], ["to_char"]),
("identifier", "pg_settings.pending_restart", ["view-pg-settings.html"], ["pending_restart"]),
("identifier", "What does wal_status mean in pg_replication_slots?", ["view-pg-replication-slots.html"], ["pg_replication_slots", "wal_status"]),
("identifier", "pg_index.indisvalid", ["catalog-pg-index.html"], ["indisvalid"]),
("identifier", "pg_attribute.attisdropped", ["catalog-pg-attribute.html"], ["attisdropped"]),
("identifier", "random_page_cost", ["runtime-config-query.html"], ["random_page_cost"]),
("identifier", "track_io_timing", ["runtime-config-statistics.html"], ["track_io_timing"]),
("identifier", "hba_file", ["runtime-config-file-locations.html"], ["hba_file"]),
("identifier", "pg_stats n_distinct", ["view-pg-stats.html"], ["n_distinct"]),
("identifier", "What does ECPG_NOT_FOUND (sqlcode 100) mean in an embedded SQL program?", ["ecpg-errors.html"], ["ECPG_NOT_FOUND", "100"]),
# two_page: both pages needed
("two_page", "How do I declare a cursor over a large query and then pull 100 rows at a time from it?", ["sql-declare.html", "sql-fetch.html"], ["DECLARE", "FETCH"]),
("two_page", "How do I write a PL/pgSQL trigger function that checks TG_OP, and attach it to a table?", ["plpgsql-trigger.html", "sql-createtrigger.html"], ["TG_OP", "CREATE TRIGGER"]),
("two_page", "How do I define a foreign server for postgres_fdw and then bring in all tables of a remote schema at once?", ["sql-createserver.html", "sql-importforeignschema.html"], ["CREATE SERVER", "IMPORT FOREIGN SCHEMA"]),
("two_page", "How do I stop the server with pg_ctl in fast mode, and then check from a script that it accepts connections again after a restart?", ["app-pg-ctl.html", "app-pg-isready.html"], ["Fast", "pg_isready"]),
("two_page", "How do I create a database from the shell with createdb, and back up every database plus the roles with pg_dumpall?", ["app-createdb.html", "app-pg-dumpall.html"], ["createdb", "pg_dumpall"]),
("two_page", "Which system catalogs hold table constraints and triggers, and which columns give a constraint's type and a trigger's name?", ["catalog-pg-constraint.html", "catalog-pg-trigger.html"], ["contype", "tgname"]),
("two_page", "How do I create a logical replication subscription, and where in the catalogs is recorded whether it is enabled?", ["sql-createsubscription.html", "catalog-pg-subscription.html"], ["CREATE SUBSCRIPTION", "subenabled"]),
("two_page", "How do I store a time span in a tsrange column and test whether two spans overlap?", ["rangetypes.html", "functions-range.html"], ["tsrange", "&&"]),
("two_page", "How do I create a tablespace on another disk and then create a database that uses it by default?", ["sql-createtablespace.html", "sql-createdatabase.html"], ["CREATE TABLESPACE", "tablespace_name"]),
("two_page", "How does asynchronous commit trade durability for speed, and which settings decide how often checkpoints happen?", ["wal-async-commit.html", "wal-configuration.html"], ["synchronous_commit", "checkpoint_timeout"]),
("two_page", "How do I upgrade a cluster with pg_upgrade and then rebuild planner statistics quickly with vacuumdb?", ["pgupgrade.html", "app-vacuumdb.html"], ["pg_upgrade", "--analyze-in-stages"]),
("two_page", "How do I attach a comment to a table and then read it back with a SQL function?", ["sql-comment.html", "functions-info.html"], ["COMMENT ON", "obj_description"]),
("two_page", "How do I create an enum type and later add a new value to it?", ["sql-createtype.html", "sql-altertype.html"], ["AS ENUM", "ADD VALUE"]),
("two_page", "How do I write an event trigger that logs DDL, and which function returns the commands that were run?", ["sql-createeventtrigger.html", "functions-event-triggers.html"], ["CREATE EVENT TRIGGER", "pg_event_trigger_ddl_commands"]),
("two_page", "Which WAL position does a replication slot still need, and how is such a position written as a pg_lsn value?", ["view-pg-replication-slots.html", "datatype-pg-lsn.html"], ["restart_lsn", "pg_lsn"]),
("two_page", "How do I set a savepoint inside a transaction and later undo only the work done after it?", ["sql-savepoint.html", "sql-rollback-to.html"], ["SAVEPOINT", "ROLLBACK TO"]),
]

# Questions the PostgreSQL 15 manual cannot answer, phrased as real users would ask.
U = [
# features of later PostgreSQL versions (names checked absent from the 15 manual)
"Which columns of the pg_stat_io view show how many reads each backend type did?",
"How do I read the number of timed and requested checkpoints from pg_stat_checkpointer?",
"What does the pg_wait_events view list, and how do I use it to get a description of a wait event?",
"How do I turn a physical standby into a logical replica with pg_createsubscriber?",
"How do I combine an incremental backup with its full backup using pg_combinebackup?",
"What is a sensible value for transaction_timeout to end transactions that run too long in total?",
"Which setting, summarize_wal, must be on before I can take incremental backups?",
"How do I use the any_value() aggregate to pick an arbitrary value from each group?",
"How do I generate normally distributed random numbers with random_normal()?",
"How can I test whether a string would cast to a date without raising an error, using pg_input_is_valid()?",
"What does setting debug_parallel_query to regress do?",
"How large should vacuum_buffer_usage_limit be so VACUUM can use more of the buffer cache?",
"What does icu_validation_level do when I create a collation with an unknown ICU locale?",
"Which commands does membership in the pg_maintain predefined role allow?",
"How do I stop administrators from running ALTER SYSTEM by setting allow_alter_system to off?",
"How do I make failover logical slots follow the standby with sync_replication_slots?",
"How do I make libpq refuse password authentication with the require_auth connection option?",
"How do I raise scram_iterations so stored password verifiers are harder to brute-force?",
"What does createrole_self_grant do when a CREATEROLE user creates a new role?",
"How do I shuffle the elements of an array randomly with array_shuffle()?",
"How do I enlarge the NOTIFY queue with max_notify_queue_pages?",
"How do I generate time-ordered UUIDs with the uuidv7() function?",
# other products' settings and commands
"Should I set innodb_flush_log_at_trx_commit to 2 to make commits faster?",
"How do I switch binlog_format to ROW for replication?",
"How do I raise max_allowed_packet so that large inserts stop failing?",
"What does SHOW ENGINE INNODB STATUS tell me about the latest deadlock?",
"How big should pga_aggregate_target be on a server with 32 GB of RAM?",
"How do I gather optimizer statistics for one table with DBMS_STATS.GATHER_TABLE_STATS?",
"How do I avoid ORA-01555 errors by raising undo_retention?",
"How do I list blocking sessions with sp_who2?",
"How often should I run DBCC CHECKDB on a production database?",
"What MAXDOP value should I use on a 16-core server?",
"How do I move the tempdb files onto a faster disk?",
"How much memory should I give wiredTigerCacheSizeGB on a dedicated database host?",
"How do I set up a three-node replica set with rs.initiate()?",
"Which maxmemory-policy should I pick so the least recently used keys are evicted first?",
"Should appendfsync be set to everysec or always for durability?",
"Should I set number_of_replicas to 0 on an index while bulk loading documents?",
"How far should I raise refresh_interval to speed up bulk indexing?",
"What gc_grace_seconds value should I use for tables with many deletes?",
"How do I run nodetool repair on a single keyspace?",
"How do I switch journal_mode to WAL on an embedded database file?",
# made-up PostgreSQL features, settings, functions and codes (checked absent)
"What does the pg_stat_bloat view report for each table?",
"How do I set auto_reindex_threshold so indexes are rebuilt automatically when they bloat?",
"What does SQLSTATE 58P99 mean?",
"What causes SQLSTATE 23P09 errors on insert?",
"How do I call pg_table_heatmap() to find the hottest pages of a table?",
"How do I give a materialized view AUTO REFRESH so it updates whenever its base table changes?",
"Does pg_reset_sequence_all() reset every sequence in a schema to 1?",
"What values does wal_compression_level accept, and which is the default?",
"How does checkpoint_jitter spread checkpoint writes over time?",
"How do I use the psql \\tune command to get configuration suggestions?",
"How do I enable the pg_autotune extension for automatic memory tuning?",
"What is the default of max_query_memory for a single statement?",
"When does the planner choose an adaptive join if enable_adaptive_join is on?",
"How do I get index suggestions for a slow query from pg_index_advisor()?",
"How do I configure autovacuum_night_mode so vacuuming only runs at night?",
"What does the n_bloat_pages column count for a table?",
"What does pg_class.relisarchived indicate about a table?",
"How do I disconnect everyone who has been idle for over an hour with pg_terminate_idle_sessions()?",
"What happens to a query that goes over statement_memory_limit?",
"How do I kill whatever session is blocking mine with pg_kill_blockers()?",
# off topic
"What is the best temperature to proof bread dough overnight?",
"How do I change the oil filter on a diesel car?",
]

def main():
    here = pathlib.Path(__file__).parent
    counts = {}
    with open(here / "pg-dev2.jsonl", "w") as f:
        for i, (kind, q, pages, kw) in enumerate(Q, 1):
            counts[kind] = counts.get(kind, 0) + 1
            f.write(json.dumps({"id": f"r{i:03d}", "kind": kind, "question": q, "pages": pages, "keywords": kw}) + "\n")
    with open(here / "unanswerable2.jsonl", "w") as f:
        for i, q in enumerate(U, 1):
            f.write(json.dumps({"id": f"v{i:02d}", "kind": "unanswerable", "question": q, "pages": [], "keywords": []}) + "\n")
    print(counts, len(Q), "unanswerable", len(U))

if __name__ == "__main__":
    main()
