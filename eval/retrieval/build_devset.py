"""Writes pg-dev.jsonl from the table below (kept here so edits stay reviewable).
Run check.py afterwards: every page must exist and every keyword must appear in a listed page."""
import json, pathlib

Q = [
# close: wording close to the page
("close", "What does VACUUM FULL do to the table, and what lock does it need?", ["sql-vacuum.html"], ["VACUUM FULL", "ACCESS EXCLUSIVE"]),
("close", "How does pg_dump output a database in the custom archive format?", ["app-pgdump.html"], ["custom", "pg_restore"]),
("close", "Which function cancels the current query of a backend process?", ["functions-admin.html"], ["pg_cancel_backend"]),
("close", "What does the CLUSTER command do to a table based on an index?", ["sql-cluster.html"], ["CLUSTER"]),
("close", "How do I create an index without locking out writes on the table?", ["sql-createindex.html"], ["CONCURRENTLY"]),
("close", "What is a partial index and when is it useful?", ["indexes-partial.html"], ["partial index"]),
("close", "How does COPY FROM load data from a file into a table?", ["sql-copy.html"], ["COPY FROM"]),
("close", "What does ALTER SYSTEM write and which file does it change?", ["sql-altersystem.html"], ["postgresql.auto.conf"]),
("close", "What are generated columns and how are stored generated columns computed?", ["ddl-generated-columns.html"], ["STORED"]),
("close", "What does the MERGE statement do?", ["sql-merge.html"], ["MERGE"]),
("close", "What does TRUNCATE do and how does it differ from DELETE?", ["sql-truncate.html"], ["TRUNCATE", "DELETE"]),
("close", "What do BRIN indexes store for each block range?", ["brin-intro.html"], ["block range"]),
("close", "How does the Serializable isolation level behave in PostgreSQL?", ["transaction-iso.html"], ["Serializable"]),
("close", "How are row security policies created for a table?", ["sql-createpolicy.html", "ddl-rowsecurity.html"], ["CREATE POLICY"]),
("close", "What does EXPLAIN ANALYZE show in addition to the plan?", ["sql-explain.html", "using-explain.html"], ["ANALYZE"]),
("close", "How does TOAST store large field values?", ["storage-toast.html"], ["TOAST"]),
# paraphrase: everyday wording, few shared words
("paraphrase", "How can I stop one runaway query without killing the whole server?", ["functions-admin.html"], ["pg_cancel_backend"]),
("paraphrase", "My table file keeps growing after lots of deletes; how do I give the space back to the operating system?", ["sql-vacuum.html", "routine-vacuuming.html"], ["VACUUM FULL"]),
("paraphrase", "How do I make a copy of a running server's files to start a replica?", ["app-pgbasebackup.html"], ["pg_basebackup"]),
("paraphrase", "Two sessions are blocking each other forever; what does the server do about it?", ["explicit-locking.html"], ["deadlock"]),
("paraphrase", "Which setting decides how many clients can be attached at the same time?", ["runtime-config-connection.html"], ["max_connections"]),
("paraphrase", "How do I let only some users see some rows of a shared table?", ["ddl-rowsecurity.html", "sql-createpolicy.html"], ["row security"]),
("paraphrase", "How do I find which statements eat the most time across the whole server?", ["pgstatstatements.html"], ["pg_stat_statements"]),
("paraphrase", "How can I search text for words regardless of their endings, like run and running?", ["textsearch-intro.html", "textsearch-controls.html"], ["tsvector"]),
("paraphrase", "How do I split a huge table into pieces by date so old data can be dropped quickly?", ["ddl-partitioning.html"], ["partition"]),
("paraphrase", "How do I send a message from one database session to other listening sessions?", ["sql-notify.html", "sql-listen.html"], ["NOTIFY"]),
("paraphrase", "How do I get a running total over rows ordered by date without collapsing them into groups?", ["tutorial-window.html", "functions-window.html"], ["window"]),
("paraphrase", "How do I restore a server to how it was five minutes before someone dropped a table?", ["continuous-archiving.html"], ["recovery_target_time"]),
("paraphrase", "How do I copy changes of only some tables to another server continuously?", ["logical-replication.html"], ["publication", "subscription"]),
("paraphrase", "How can I find similar strings even with typos in them?", ["pgtrgm.html"], ["similarity"]),
("paraphrase", "Where do I say which computers may log in and how they must prove who they are?", ["auth-pg-hba-conf.html"], ["pg_hba.conf"]),
("paraphrase", "Why does the planner pick a bad plan after I loaded a lot of new data, and how do I refresh what it knows?", ["sql-analyze.html", "planner-stats.html"], ["ANALYZE"]),
# identifier: exact names
("identifier", "pg_stat_statements", ["pgstatstatements.html"], ["pg_stat_statements"]),
("identifier", "max_connections", ["runtime-config-connection.html"], ["max_connections"]),
("identifier", "What does SQLSTATE 40P01 mean?", ["errcodes-appendix.html"], ["40P01", "deadlock_detected"]),
("identifier", "What does \\gexec do in psql?", ["app-psql.html"], ["\\gexec"]),
("identifier", "pg_catalog.pg_class relkind", ["catalog-pg-class.html"], ["relkind"]),
("identifier", "shared_buffers", ["runtime-config-resource.html"], ["shared_buffers"]),
("identifier", "autovacuum_vacuum_scale_factor", ["runtime-config-autovacuum.html"], ["autovacuum_vacuum_scale_factor"]),
("identifier", "What is SQLSTATE 23505?", ["errcodes-appendix.html"], ["23505", "unique_violation"]),
("identifier", "pg_terminate_backend", ["functions-admin.html"], ["pg_terminate_backend"]),
("identifier", "wal_level logical", ["runtime-config-wal.html"], ["wal_level"]),
("identifier", "log_min_duration_statement", ["runtime-config-logging.html"], ["log_min_duration_statement"]),
("identifier", "jsonb_path_query", ["functions-json.html"], ["jsonb_path_query"]),
("identifier", "pg_locks view columns", ["view-pg-locks.html"], ["pg_locks"]),
("identifier", "nextval setval currval", ["functions-sequence.html"], ["nextval", "setval"]),
("identifier", "idle_in_transaction_session_timeout", ["runtime-config-client.html"], ["idle_in_transaction_session_timeout"]),
("identifier", "What does the psql \\watch command do?", ["app-psql.html"], ["\\watch"]),
# two_page: both pages needed
("two_page", "Which SQLSTATE does a deadlock raise, and which setting controls how long the server waits before checking for one?", ["errcodes-appendix.html", "runtime-config-locks.html"], ["40P01", "deadlock_timeout"]),
("two_page", "How do I take a base backup with pg_basebackup and then configure archive recovery to a point in time?", ["app-pgbasebackup.html", "continuous-archiving.html"], ["pg_basebackup", "recovery_target_time"]),
("two_page", "What does the pg_stat_statements view record, and which setting must load its library?", ["pgstatstatements.html", "runtime-config-client.html"], ["pg_stat_statements", "shared_preload_libraries"]),
("two_page", "How do I dump a database in custom format with pg_dump and restore only one table with pg_restore?", ["app-pgdump.html", "app-pgrestore.html"], ["pg_dump", "pg_restore"]),
("two_page", "What does the LOCK TABLE command take, and how can I see held locks in pg_locks?", ["sql-lock.html", "view-pg-locks.html"], ["LOCK", "pg_locks"]),
("two_page", "How do I create a sequence and then get its next value in a query?", ["sql-createsequence.html", "functions-sequence.html"], ["CREATE SEQUENCE", "nextval"]),
("two_page", "How do I set up a publication on the primary and what wal_level does logical replication need?", ["sql-createpublication.html", "runtime-config-wal.html"], ["CREATE PUBLICATION", "wal_level"]),
("two_page", "What does hot standby allow on a replica, and which setting turns it on?", ["hot-standby.html", "runtime-config-replication.html"], ["hot_standby"]),
("two_page", "How do I store JSON as jsonb and query it with a JSON path function?", ["datatype-json.html", "functions-json.html"], ["jsonb", "jsonb_path_query"]),
("two_page", "How do autovacuum's thresholds decide when a table is vacuumed, and which settings change them?", ["routine-vacuuming.html", "runtime-config-autovacuum.html"], ["autovacuum_vacuum_threshold"]),
("two_page", "How do I create a table with an identity column and later add a column with ALTER TABLE?", ["sql-createtable.html", "sql-altertable.html"], ["GENERATED", "ADD COLUMN"]),
("two_page", "How do I install the pgcrypto extension and hash a password with crypt()?", ["sql-createextension.html", "pgcrypto.html"], ["CREATE EXTENSION", "crypt"]),
("two_page", "How do I write a PL/pgSQL loop and run it once with an anonymous DO block?", ["plpgsql-control-structures.html", "sql-do.html"], ["LOOP", "DO"]),
("two_page", "How do I PREPARE a statement and then look at its plan with EXPLAIN?", ["sql-prepare.html", "sql-explain.html"], ["PREPARE", "EXPLAIN"]),
("two_page", "What is the difference between a GIN index and a BRIN index, and when should each be used?", ["gin-intro.html", "brin-intro.html"], ["GIN", "BRIN"]),
("two_page", "How do I write a recursive query with WITH RECURSIVE and use it in an INSERT?", ["queries-with.html", "sql-insert.html"], ["RECURSIVE", "INSERT"]),
]

def main():
    here = pathlib.Path(__file__).parent
    with open(here / "pg-dev.jsonl", "w") as f:
        counts = {}
        for i, (kind, q, pages, kw) in enumerate(Q, 1):
            counts[kind] = counts.get(kind, 0) + 1
            f.write(json.dumps({"id": f"q{i:03d}", "kind": kind, "question": q, "pages": pages, "keywords": kw}) + "\n")
    print(counts, len(Q))

if __name__ == "__main__":
    main()
