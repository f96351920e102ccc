//! The repository contract, exercised on real SQLite files in a temporary directory:
//! schema and migrations, documents and chunks, tenant isolation, and the job queue
//! (including concurrent claimers on several threads and connections), and the security
//! repositories (keys, audit chain, usage, settings, secrets, ACL listings, erasure), and
//! the data lifecycle (retention sweeps, legal holds, offboarding), and the reindex
//! staging area and swap.

// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "sqlite_store/conversations.rs"]
mod conversations;
#[path = "sqlite_store/documents.rs"]
mod documents;
#[path = "sqlite_store/isolation.rs"]
mod isolation;
#[path = "sqlite_store/jobs.rs"]
mod jobs;
#[path = "sqlite_store/lifecycle.rs"]
mod lifecycle;
#[path = "sqlite_store/reindex.rs"]
mod reindex;
#[path = "sqlite_store/schema.rs"]
mod schema;
#[path = "sqlite_store/security.rs"]
mod security;
#[path = "sqlite_store/support.rs"]
mod support;
