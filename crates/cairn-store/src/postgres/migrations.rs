//! Versioned schema migrations of the PostgreSQL store, recorded in
//! `schema_migrations(version, applied_at)`. `cairn migrate` applies the missing ones,
//! each in its own transaction under a transaction-scoped advisory lock, so two
//! migrators never race; servers only check the version.
//!
//! Never edit a migration once a release has shipped it: add a new one. Version 1 is the
//! SQLite schema at its version 10, translated (each later one mirrors SQLite's next): the same tables, keys and indexes
//! (`bigint` for integers, `double precision` for reals, `bytea` for embeddings, JSON
//! kept as text, so both backends encode rows the same way). Two differences: the
//! active-job dedup index is UNIQUE (the enqueue relies on it across nodes), and
//! `index_changes.seq` is an identity column. Every text column is `COLLATE "C"`, so
//! `ORDER BY` sorts by bytes as SQLite does, whatever the database's locale. Version 2
//! is SQLite's 11 (the uploads waiting for their jobs), 5 its 13 (agents), 6 its 14 (tool
//! sources), 7 its 15 (an assistant's further collections), 8 its 16 (eval runs).

use super::db;
use crate::{Error, Result, now_ms};
use postgres::Client;

/// One schema step.
pub(crate) struct Migration {
    pub version: i64,
    pub sql: &'static str,
    /// The oldest schema version a binary may need and still run correctly against a
    /// database at this version (recorded as `schema_migrations.readable_by`): a
    /// migration that only adds tables lets the previous release keep serving during a
    /// rolling upgrade. Its own version when it changes what older binaries read or
    /// write.
    pub readable_by: i64,
}

/// The schema version this binary needs.
pub const SCHEMA_VERSION: i64 = 8;

pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: V1_INITIAL,
        readable_by: 1,
    },
    Migration {
        version: 2,
        sql: V2_INDEX_REPLICAS,
        readable_by: 2,
    },
    Migration {
        version: 3,
        sql: V3_UPLOADS,
        readable_by: 3,
    },
    Migration {
        version: 4,
        sql: V4_SHARED_SEARCH,
        readable_by: 3,
    },
    Migration {
        version: 5,
        sql: V5_AGENTS,
        readable_by: 4,
    },
    Migration {
        version: 6,
        sql: V6_TOOL_SOURCES,
        readable_by: 5,
    },
    Migration {
        version: 7,
        sql: V7_ASSISTANT_COLLECTIONS,
        readable_by: 5,
    },
    Migration {
        version: 8,
        sql: V8_EVAL_RUNS,
        readable_by: 5,
    },
];

/// SQLite's version 16: stored evaluation runs. Only adds a table.
const V8_EVAL_RUNS: &str = r#"
CREATE TABLE eval_runs (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
    id TEXT COLLATE "C" NOT NULL,
    kind TEXT COLLATE "C" NOT NULL,
    label TEXT COLLATE "C" NOT NULL,
    dataset TEXT COLLATE "C" NOT NULL,
    dataset_hash TEXT COLLATE "C" NOT NULL,
    config TEXT COLLATE "C" NOT NULL,
    summary TEXT COLLATE "C" NOT NULL,
    results TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX eval_runs_by_time ON eval_runs(tenant_id, created_at);
"#;

/// SQLite's version 15: the collections an assistant answers from beside its first.
/// Only adds a table, so the previous release keeps serving (its assistants answer from
/// their first collection).
const V7_ASSISTANT_COLLECTIONS: &str = r#"
CREATE TABLE assistant_collections (
    tenant_id TEXT COLLATE "C" NOT NULL,
    assistant_id TEXT COLLATE "C" NOT NULL,
    collection_id TEXT COLLATE "C" NOT NULL,
    position BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, assistant_id, collection_id),
    FOREIGN KEY (tenant_id, assistant_id) REFERENCES assistants(tenant_id, id)
        ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, collection_id) REFERENCES collections(tenant_id, id)
        ON DELETE CASCADE
);
"#;

/// SQLite's version 14: tool sources saved through the API. Only adds a table, so the
/// previous release keeps serving.
const V6_TOOL_SOURCES: &str = r#"
CREATE TABLE tool_sources (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
    name TEXT COLLATE "C" NOT NULL,
    spec TEXT COLLATE "C" NOT NULL,
    updated_by TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
"#;

/// SQLite's version 13: agents saved through the API, and agent runs with their step
/// journals (`crate::agent`). Only adds tables, so the previous release keeps serving.
const V5_AGENTS: &str = r#"
CREATE TABLE agents (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
    name TEXT COLLATE "C" NOT NULL,
    spec TEXT COLLATE "C" NOT NULL,
    updated_by TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
CREATE TABLE agent_runs (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
    id TEXT COLLATE "C" NOT NULL,
    agent TEXT COLLATE "C" NOT NULL,
    parent_id TEXT COLLATE "C",
    owner TEXT COLLATE "C" NOT NULL,
    task TEXT COLLATE "C" NOT NULL,
    state TEXT COLLATE "C" NOT NULL,
    context TEXT COLLATE "C" NOT NULL,
    output TEXT COLLATE "C",
    reason TEXT COLLATE "C",
    usage TEXT COLLATE "C" NOT NULL,
    lease_owner TEXT COLLATE "C",
    lease_until BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX agent_runs_by_owner ON agent_runs(tenant_id, owner, created_at);
CREATE INDEX agent_runs_to_claim ON agent_runs(state, updated_at);
CREATE TABLE agent_steps (
    tenant_id TEXT COLLATE "C" NOT NULL,
    run_id TEXT COLLATE "C" NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT COLLATE "C" NOT NULL,
    status TEXT COLLATE "C" NOT NULL,
    payload TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, run_id, seq),
    FOREIGN KEY (tenant_id, run_id) REFERENCES agent_runs(tenant_id, id) ON DELETE CASCADE
);
"#;

/// PostgreSQL only (no SQLite counterpart): the shared search state of
/// `retrieval.dense_backend = "pgvector"` and `retrieval.lexical_backend = "postgres"`
/// (`crate::shared_index`). Vectors are `real[]`, so this needs no extension; the pgvector
/// HNSW index of each dimension is created on first use. Rows cascade with their
/// document (deletes and erasure) and their collection.
const V4_SHARED_SEARCH: &str = r#"
CREATE TABLE search_spaces (
    tenant_id TEXT COLLATE "C" NOT NULL,
    collection_id TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    generation BIGINT NOT NULL,
    model TEXT COLLATE "C" NOT NULL,
    dim INTEGER NOT NULL,
    lexemes BOOLEAN NOT NULL,
    applied_seq BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, collection_id),
    FOREIGN KEY (tenant_id, collection_id) REFERENCES collections(tenant_id, id)
        ON DELETE CASCADE
);
CREATE TABLE search_chunks (
    tenant_id TEXT COLLATE "C" NOT NULL,
    collection_id TEXT COLLATE "C" NOT NULL,
    chunk_key BIGINT NOT NULL,
    document_id TEXT COLLATE "C" NOT NULL,
    principals TEXT[] NOT NULL,
    sources TEXT[] NOT NULL,
    kind TEXT NOT NULL,
    tags TEXT[] NOT NULL,
    doc_date BIGINT NOT NULL,
    dim INTEGER NOT NULL,
    embedding REAL[],
    lexemes TSVECTOR,
    PRIMARY KEY (tenant_id, collection_id, chunk_key),
    FOREIGN KEY (tenant_id, document_id) REFERENCES documents(tenant_id, id)
        ON DELETE CASCADE
);
CREATE INDEX search_chunks_by_document ON search_chunks(tenant_id, document_id);
CREATE INDEX search_chunks_lexemes ON search_chunks USING gin (lexemes);
CREATE INDEX search_chunks_principals ON search_chunks USING gin (principals);
"#;

/// SQLite's version 12: uploaded files waiting for their ingest jobs (`crate::upload`),
/// deleted with their job through the foreign key; at most one per idempotency key.
const V3_UPLOADS: &str = r#"
CREATE TABLE uploads (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
    id TEXT COLLATE "C" NOT NULL,
    job_id TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    owner TEXT COLLATE "C",
    idempotency_key TEXT COLLATE "C",
    request_hash TEXT COLLATE "C" NOT NULL,
    sha256 TEXT COLLATE "C" NOT NULL,
    size_bytes BIGINT NOT NULL,
    bytes BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, job_id),
    FOREIGN KEY (tenant_id, job_id) REFERENCES jobs(tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX uploads_by_key ON uploads(tenant_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX uploads_by_owner ON uploads(tenant_id, owner);
"#;

/// SQLite's migration 11: index replicas and each collection's change log floor.
const V2_INDEX_REPLICAS: &str = r#"
CREATE TABLE index_replicas (
    tenant_id TEXT COLLATE "C" NOT NULL,
    collection_id TEXT COLLATE "C" NOT NULL,
    replica TEXT COLLATE "C" NOT NULL,
    applied_seq BIGINT NOT NULL,
    seen_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, collection_id, replica),
    FOREIGN KEY (tenant_id, collection_id) REFERENCES collections(tenant_id, id)
        ON DELETE CASCADE
);
CREATE TABLE index_log_floor (
    tenant_id TEXT COLLATE "C" NOT NULL,
    collection_id TEXT COLLATE "C" NOT NULL,
    pruned_through BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, collection_id),
    FOREIGN KEY (tenant_id, collection_id) REFERENCES collections(tenant_id, id)
        ON DELETE CASCADE
);
"#;

/// The advisory lock key migrators take (any constant nobody else uses).
const MIGRATION_LOCK: i64 = 0x6361_6972_6e5f_6d69;

const V1_INITIAL: &str = r#"
CREATE TABLE tenants (
    tenant_id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE collections (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
    id TEXT COLLATE "C" NOT NULL,
    description TEXT COLLATE "C" NOT NULL,
    chunking TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    generation BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE documents (
    tenant_id TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    collection_id TEXT COLLATE "C" NOT NULL,
    source TEXT COLLATE "C" NOT NULL,
    title TEXT COLLATE "C" NOT NULL,
    format TEXT COLLATE "C" NOT NULL,
    content_hash TEXT COLLATE "C" NOT NULL,
    mtime BIGINT NOT NULL,
    size_bytes BIGINT NOT NULL,
    metadata TEXT COLLATE "C" NOT NULL,
    acl_users TEXT COLLATE "C" NOT NULL,
    acl_groups TEXT COLLATE "C" NOT NULL,
    status TEXT COLLATE "C" NOT NULL CHECK (status IN ('indexed', 'skipped')),
    quality TEXT COLLATE "C" NOT NULL,
    simhash BIGINT NOT NULL,
    chunk_count BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    owner TEXT COLLATE "C",
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, collection_id, source),
    FOREIGN KEY (tenant_id, collection_id)
        REFERENCES collections(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX documents_by_hash ON documents(tenant_id, collection_id, content_hash, source);
CREATE INDEX documents_by_update ON documents(tenant_id, updated_at);
CREATE INDEX documents_by_owner ON documents(tenant_id, owner);

CREATE TABLE chunks (
    tenant_id TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    document_id TEXT COLLATE "C" NOT NULL,
    collection_id TEXT COLLATE "C" NOT NULL,
    ordinal BIGINT NOT NULL,
    text TEXT COLLATE "C" NOT NULL,
    heading_path TEXT COLLATE "C" NOT NULL,
    token_count BIGINT NOT NULL,
    role TEXT COLLATE "C" NOT NULL CHECK (role IN ('leaf', 'parent', 'child')),
    parent_id TEXT COLLATE "C",
    page BIGINT,
    embedding BYTEA,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, document_id)
        REFERENCES documents(tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX chunks_by_document ON chunks(tenant_id, document_id, ordinal);
CREATE INDEX chunks_by_collection ON chunks(tenant_id, collection_id);

CREATE TABLE jobs (
    tenant_id TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    collection_id TEXT COLLATE "C" NOT NULL,
    batch TEXT COLLATE "C" NOT NULL,
    kind TEXT COLLATE "C" NOT NULL,
    dedup_key TEXT COLLATE "C" NOT NULL,
    state TEXT COLLATE "C" NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'dead')),
    attempts BIGINT NOT NULL,
    max_attempts BIGINT NOT NULL,
    run_after BIGINT NOT NULL,
    lease_owner TEXT COLLATE "C",
    lease_until BIGINT,
    last_error TEXT COLLATE "C",
    error_code TEXT COLLATE "C",
    document_id TEXT COLLATE "C",
    chunks BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, collection_id)
        REFERENCES collections(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX jobs_runnable ON jobs(state, run_after, created_at, id);
CREATE INDEX jobs_by_batch ON jobs(tenant_id, batch);
CREATE INDEX jobs_by_time ON jobs(tenant_id, created_at, id);
CREATE INDEX jobs_by_collection ON jobs(tenant_id, collection_id, state, created_at, id);
CREATE UNIQUE INDEX jobs_active_by_dedup ON jobs(tenant_id, dedup_key)
    WHERE state IN ('queued', 'running');
CREATE INDEX jobs_finished ON jobs(tenant_id, updated_at) WHERE state IN ('succeeded', 'dead');

CREATE TABLE idempotency_keys (
    tenant_id TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    request_hash TEXT COLLATE "C" NOT NULL,
    document_id TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, key),
    FOREIGN KEY (tenant_id, document_id)
        REFERENCES documents(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX idempotency_by_document ON idempotency_keys(tenant_id, document_id);
CREATE INDEX idempotency_by_time ON idempotency_keys(tenant_id, created_at);

CREATE TABLE index_changes (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id TEXT COLLATE "C" NOT NULL,
    collection_id TEXT COLLATE "C" NOT NULL,
    document_id TEXT COLLATE "C" NOT NULL
);
CREATE INDEX index_changes_by_collection ON index_changes(tenant_id, collection_id, seq);

CREATE TABLE conversations (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
    id TEXT COLLATE "C" NOT NULL,
    collection_id TEXT COLLATE "C",
    title TEXT COLLATE "C" NOT NULL,
    summary TEXT COLLATE "C" NOT NULL DEFAULT '',
    summarized_through BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    owner TEXT COLLATE "C",
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX conversations_by_update ON conversations(tenant_id, updated_at);
CREATE INDEX conversations_by_owner ON conversations(tenant_id, owner, updated_at);

CREATE TABLE messages (
    tenant_id TEXT COLLATE "C" NOT NULL,
    conversation_id TEXT COLLATE "C" NOT NULL,
    seq BIGINT NOT NULL,
    role TEXT COLLATE "C" NOT NULL,
    content TEXT COLLATE "C" NOT NULL,
    answer_id TEXT COLLATE "C",
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, conversation_id, seq),
    FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations(tenant_id, id)
        ON DELETE CASCADE
);

CREATE TABLE answers (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
    id TEXT COLLATE "C" NOT NULL,
    conversation_id TEXT COLLATE "C",
    collection_id TEXT COLLATE "C",
    question TEXT COLLATE "C" NOT NULL,
    answer TEXT COLLATE "C" NOT NULL,
    prompt_version TEXT COLLATE "C" NOT NULL,
    record TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    owner TEXT COLLATE "C",
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX answers_by_time ON answers(tenant_id, created_at);
CREATE INDEX answers_by_owner ON answers(tenant_id, owner);

CREATE TABLE feedback (
    tenant_id TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    answer_id TEXT COLLATE "C" NOT NULL,
    rating BIGINT NOT NULL CHECK (rating IN (-1, 1)),
    comment TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    owner TEXT COLLATE "C",
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, answer_id) REFERENCES answers(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX feedback_by_answer ON feedback(tenant_id, answer_id);
CREATE INDEX feedback_by_time ON feedback(tenant_id, created_at);
CREATE INDEX feedback_by_owner ON feedback(tenant_id, owner);

CREATE TABLE users (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
    id TEXT COLLATE "C" NOT NULL,
    email TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    role TEXT COLLATE "C" NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'member', 'viewer')),
    groups TEXT COLLATE "C" NOT NULL,
    disabled BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE api_keys (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
    id TEXT COLLATE "C" NOT NULL,
    lookup TEXT COLLATE "C" NOT NULL,
    hash TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    user_id TEXT COLLATE "C",
    role TEXT COLLATE "C" NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'member', 'viewer')),
    scopes TEXT COLLATE "C" NOT NULL,
    rpm DOUBLE PRECISION,
    tpm DOUBLE PRECISION,
    expires_at BIGINT,
    revoked_at BIGINT,
    rotated_from TEXT COLLATE "C",
    last_used_at BIGINT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX api_keys_by_lookup ON api_keys(lookup);
CREATE INDEX api_keys_by_user ON api_keys(tenant_id, user_id);

CREATE TABLE audit_log (
    seq BIGINT NOT NULL PRIMARY KEY,
    at BIGINT NOT NULL,
    tenant_id TEXT COLLATE "C" NOT NULL,
    actor TEXT COLLATE "C" NOT NULL,
    action TEXT COLLATE "C" NOT NULL,
    target TEXT COLLATE "C" NOT NULL,
    outcome TEXT COLLATE "C" NOT NULL,
    detail TEXT COLLATE "C" NOT NULL,
    prev_hash TEXT COLLATE "C" NOT NULL,
    hash TEXT COLLATE "C" NOT NULL
);
CREATE INDEX audit_by_tenant ON audit_log(tenant_id, seq);
CREATE TABLE audit_head (
    id BIGINT NOT NULL PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT COLLATE "C" NOT NULL
);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

CREATE TABLE usage (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
    period TEXT COLLATE "C" NOT NULL,
    requests BIGINT NOT NULL,
    tokens BIGINT NOT NULL,
    cost_micros BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, period)
);

CREATE TABLE tenant_settings (
    tenant_id TEXT COLLATE "C" NOT NULL PRIMARY KEY REFERENCES tenants(tenant_id) ON DELETE CASCADE,
    settings TEXT COLLATE "C" NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE secrets (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
    name TEXT COLLATE "C" NOT NULL,
    sealed TEXT COLLATE "C" NOT NULL,
    key_id TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE legal_holds (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
    subject TEXT COLLATE "C" NOT NULL,
    reason TEXT COLLATE "C" NOT NULL,
    set_by TEXT COLLATE "C" NOT NULL,
    set_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, subject)
);

CREATE TABLE document_texts (
    tenant_id TEXT COLLATE "C" NOT NULL,
    document_id TEXT COLLATE "C" NOT NULL,
    parsed TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant_id, document_id),
    FOREIGN KEY (tenant_id, document_id)
        REFERENCES documents(tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE staged_documents (
    tenant_id TEXT COLLATE "C" NOT NULL,
    document_id TEXT COLLATE "C" NOT NULL,
    collection_id TEXT COLLATE "C" NOT NULL,
    content_hash TEXT COLLATE "C" NOT NULL,
    chunk_count BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, document_id),
    FOREIGN KEY (tenant_id, document_id)
        REFERENCES documents(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX staged_documents_by_collection
    ON staged_documents(tenant_id, collection_id, document_id);

CREATE TABLE staged_chunks (
    tenant_id TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    document_id TEXT COLLATE "C" NOT NULL,
    collection_id TEXT COLLATE "C" NOT NULL,
    ordinal BIGINT NOT NULL,
    text TEXT COLLATE "C" NOT NULL,
    heading_path TEXT COLLATE "C" NOT NULL,
    token_count BIGINT NOT NULL,
    role TEXT COLLATE "C" NOT NULL CHECK (role IN ('leaf', 'parent', 'child')),
    parent_id TEXT COLLATE "C",
    page BIGINT,
    embedding BYTEA,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, document_id)
        REFERENCES staged_documents(tenant_id, document_id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX staged_chunks_by_document ON staged_chunks(tenant_id, document_id, ordinal);

CREATE TABLE usage_by_model (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
    day TEXT COLLATE "C" NOT NULL,
    model TEXT COLLATE "C" NOT NULL,
    requests BIGINT NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cost_micros BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, day, model)
);

CREATE TABLE web_sessions (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
    id TEXT COLLATE "C" NOT NULL,
    token_hash TEXT COLLATE "C" NOT NULL UNIQUE,
    user_id TEXT COLLATE "C" NOT NULL,
    role TEXT COLLATE "C" NOT NULL,
    groups TEXT COLLATE "C" NOT NULL,
    issuer TEXT COLLATE "C" NOT NULL,
    csrf TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    user_agent TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX web_sessions_by_user ON web_sessions(tenant_id, user_id);
CREATE TABLE oidc_logins (
    state_hash TEXT COLLATE "C" PRIMARY KEY,
    code_verifier TEXT COLLATE "C" NOT NULL,
    nonce TEXT COLLATE "C" NOT NULL,
    redirect_uri TEXT COLLATE "C" NOT NULL,
    return_to TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE assistants (
    tenant_id TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    description TEXT COLLATE "C" NOT NULL,
    collection_id TEXT COLLATE "C" NOT NULL,
    instructions TEXT COLLATE "C" NOT NULL,
    model TEXT COLLATE "C",
    updated_by TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, collection_id) REFERENCES collections(tenant_id, id)
        ON DELETE CASCADE
);

CREATE TABLE usage_by_route (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
    day TEXT COLLATE "C" NOT NULL,
    route TEXT COLLATE "C" NOT NULL,
    model TEXT COLLATE "C" NOT NULL,
    requests BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    server_errors BIGINT NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cost_micros BIGINT NOT NULL,
    latency TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant_id, day, route, model)
);
"#;

/// The newest migration recorded (0 for a database Cairn never migrated).
pub(crate) fn current_version(client: &mut Client) -> Result<i64> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
        .map_err(db)?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let row = client
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .map_err(db)?;
    Ok(row.get(0))
}

/// Whether a binary needing schema `binary` may run against this database although it
/// is newer: every migration past `binary` declared it readable by `binary` or older.
pub(crate) fn readable_by(client: &mut Client, binary: i64) -> Result<bool> {
    let row = client
        .query_one(
            "SELECT COALESCE(bool_and(readable_by IS NOT NULL AND readable_by <= $1), true)
             FROM schema_migrations WHERE version > $1",
            &[&binary],
        )
        .map_err(db)?;
    Ok(row.get(0))
}

/// Applies the shipped migrations the database lacks; returns the versions applied.
pub(crate) fn apply(client: &mut Client) -> Result<Vec<i64>> {
    apply_steps(client, MIGRATIONS)
}

fn apply_steps(client: &mut Client, known: &[Migration]) -> Result<Vec<i64>> {
    let newest = known.iter().map(|m| m.version).max().unwrap_or(0);
    let mut applied = Vec::new();
    for m in known {
        let mut tx = client.transaction().map_err(db)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .map_err(db)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version BIGINT NOT NULL PRIMARY KEY,
                applied_at BIGINT NOT NULL
            );
            ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS readable_by BIGINT",
        )
        .map_err(db)?;
        let have: i64 = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                &[],
            )
            .map_err(db)?
            .get(0);
        if have > newest {
            return Err(Error::Database(format!(
                "the database is at schema version {have}, newer than the {newest} this \
                 binary supports: upgrade Cairn to use it"
            )));
        }
        let done = tx
            .query_opt(
                "SELECT 1 FROM schema_migrations WHERE version = $1",
                &[&m.version],
            )
            .map_err(db)?
            .is_some();
        if done {
            continue;
        }
        tx.batch_execute(m.sql).map_err(|e| {
            Error::Database(format!("schema migration {} failed: {}", m.version, db(e)))
        })?;
        tx.execute(
            "INSERT INTO schema_migrations(version, applied_at, readable_by) VALUES ($1, $2, $3)",
            &[&m.version, &now_ms(), &m.readable_by],
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;
        tracing::info!(version = m.version, "applied PostgreSQL schema migration");
        applied.push(m.version);
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_migrations_are_strictly_increasing() {
        assert!(MIGRATIONS.windows(2).all(|w| w[0].version < w[1].version));
        assert!(MIGRATIONS.first().is_some_and(|m| m.version == 1));
        assert!(
            MIGRATIONS
                .last()
                .is_some_and(|m| m.version == SCHEMA_VERSION)
        );
    }
}
