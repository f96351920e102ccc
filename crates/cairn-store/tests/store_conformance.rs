//! The repository contract, one suite for both backends: every test of what the
//! repositories promise is written once against `dyn Store` (the `both!` macro in
//! `support.rs`) and runs on a SQLite file in a temporary directory and on a fresh
//! PostgreSQL database. Covered: tenants and collections, documents and chunks, tenant
//! isolation, the job queue (including concurrent claimers on several threads and
//! handles), the security repositories (keys, audit chain, usage, settings, secrets and
//! their all-or-nothing re-seal, ACL listings, erasure), the data lifecycle (retention
//! sweeps, legal holds, offboarding), agents and their runs (`agents.rs`), the reindex staging area and swap, index replicas
//! and change log pruning, uploads waiting for their jobs (`uploads.rs`), and what
//! several nodes sharing one database do at once (`concurrency.rs`: claims, audit
//! appends, usage counters, messages, idempotency keys from four handles). What is about
//! SQLite itself (WAL, migrations on a file, the in-memory store, the busy timeout) is in
//! `sqlite_only.rs`; what is particular to PostgreSQL (migrations, the schema check,
//! Tokio callers) is in `postgres_store.rs`.
//!
//! Each test is a module with `sqlite` and `postgres` tests. The PostgreSQL half needs a
//! server, named by `CAIRN_TEST_PG_URL` (scripts/test.sh starts one); without it those
//! tests fail, they are never skipped:
//!
//! ```text
//! export CAIRN_TEST_PG_URL=$(scripts/postgres.sh start | tail -n 1)
//! cargo test -p cairn-store --test store_conformance postgres   # the PostgreSQL half
//! cargo test -p cairn-store --test store_conformance sqlite     # the SQLite half
//! ```

// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "store_conformance/support.rs"]
#[macro_use]
mod support;

#[path = "store_conformance/agents.rs"]
mod agents;
#[path = "store_conformance/assistants.rs"]
mod assistants;
#[path = "store_conformance/concurrency.rs"]
mod concurrency;
#[path = "store_conformance/conversations.rs"]
mod conversations;
#[path = "store_conformance/documents.rs"]
mod documents;
#[path = "store_conformance/eval_runs.rs"]
mod eval_runs;
#[path = "store_conformance/isolation.rs"]
mod isolation;
#[path = "store_conformance/jobs.rs"]
mod jobs;
#[path = "store_conformance/lifecycle.rs"]
mod lifecycle;
#[path = "store_conformance/reindex.rs"]
mod reindex;
#[path = "store_conformance/replicas.rs"]
mod replicas;
#[path = "store_conformance/schema.rs"]
mod schema;
#[path = "store_conformance/security.rs"]
mod security;
#[path = "store_conformance/sqlite_only.rs"]
mod sqlite_only;
#[path = "store_conformance/uploads.rs"]
mod uploads;
