//! Versioned schema migrations, applied in order, each in its own transaction and
//! recorded in `schema_migrations(version, applied_at)`. Opening a database applies only
//! the migrations it lacks; a database migrated by a newer binary is refused.
//!
//! Never edit a migration once a release has shipped it: add a new one.
//!
//! Schema rules: every table carries `tenant_id` and every primary and unique key starts
//! with it, so no key can collide across tenants and every lookup can be tenant-scoped.
//! Tables are `STRICT` (SQLite rejects a value of the wrong type instead of storing it).
//! JSON columns hold serde_json text; `simhash` is a `u64` bit-cast to SQLite's `i64`.

use super::db;
use crate::{Error, Result, now_ms};
use rusqlite::{Connection, TransactionBehavior};

/// One schema step.
pub(crate) struct Migration {
    pub version: i64,
    pub sql: &'static str,
}

/// The schema version this binary migrates a database to.
pub const SCHEMA_VERSION: i64 = 16;

/// Every migration this binary knows, by increasing version.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: V1_INITIAL,
    },
    Migration {
        version: 2,
        sql: V2_INDEX_FEED,
    },
    Migration {
        version: 3,
        sql: V3_CONVERSATIONS,
    },
    Migration {
        version: 4,
        sql: V4_SECURITY,
    },
    Migration {
        version: 5,
        sql: V5_LIFECYCLE,
    },
    Migration {
        version: 6,
        sql: V6_REINDEX,
    },
    Migration {
        version: 7,
        sql: V7_MODEL_USAGE,
    },
    Migration {
        version: 8,
        sql: V8_WEB_SESSIONS,
    },
    Migration {
        version: 9,
        sql: V9_ASSISTANTS,
    },
    Migration {
        version: 10,
        sql: V10_ROUTE_USAGE,
    },
    Migration {
        version: 11,
        sql: V11_INDEX_REPLICAS,
    },
    Migration {
        version: 12,
        sql: V12_UPLOADS,
    },
    Migration {
        version: 13,
        sql: V13_AGENTS,
    },
    Migration {
        version: 14,
        sql: V14_TOOL_SOURCES,
    },
    Migration {
        version: 15,
        sql: V15_ASSISTANT_COLLECTIONS,
    },
    Migration {
        version: 16,
        sql: V16_EVAL_RUNS,
    },
];

/// Evaluation runs (`crate::eval_run`): what ran, aggregates and per-question outcomes
/// (JSON). They go with their tenant.
const V16_EVAL_RUNS: &str = r"
CREATE TABLE eval_runs (
    tenant_id TEXT NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    label TEXT NOT NULL,
    dataset TEXT NOT NULL,
    dataset_hash TEXT NOT NULL,
    config TEXT NOT NULL,
    summary TEXT NOT NULL,
    results TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT;
CREATE INDEX eval_runs_by_time ON eval_runs(tenant_id, created_at);
";

/// The collections an assistant answers from beside its first (`assistants.collection_id`),
/// in order. A row goes with its assistant and with its collection.
const V15_ASSISTANT_COLLECTIONS: &str = r"
CREATE TABLE assistant_collections (
    tenant_id TEXT NOT NULL,
    assistant_id TEXT NOT NULL,
    collection_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, assistant_id, collection_id),
    FOREIGN KEY (tenant_id, assistant_id) REFERENCES assistants(tenant_id, id)
        ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, collection_id) REFERENCES collections(tenant_id, id)
        ON DELETE CASCADE
) STRICT;
";

/// Tool sources saved through the API (`crate::agent::ToolSource`): MCP servers and
/// OpenAPI documents whose tools a tenant's agents call. They go with their tenant.
const V14_TOOL_SOURCES: &str = r"
CREATE TABLE tool_sources (
    tenant_id TEXT NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    spec TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, name)
) STRICT;
";

/// Agents saved through the API, and agent runs with their step journals
/// (`crate::agent`): a run survives a restart by being rebuilt from its steps. Runs go
/// with their tenant; steps with their run.
const V13_AGENTS: &str = r"
CREATE TABLE agents (
    tenant_id TEXT NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    spec TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, name)
) STRICT;
CREATE TABLE agent_runs (
    tenant_id TEXT NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    agent TEXT NOT NULL,
    parent_id TEXT,
    owner TEXT NOT NULL,
    task TEXT NOT NULL,
    state TEXT NOT NULL,
    context TEXT NOT NULL,
    output TEXT,
    reason TEXT,
    usage TEXT NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT;
CREATE INDEX agent_runs_by_owner ON agent_runs(tenant_id, owner, created_at);
CREATE INDEX agent_runs_to_claim ON agent_runs(state, updated_at);
CREATE TABLE agent_steps (
    tenant_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, run_id, seq),
    FOREIGN KEY (tenant_id, run_id) REFERENCES agent_runs(tenant_id, id) ON DELETE CASCADE
) STRICT;
";

/// Uploaded files waiting for their ingest jobs (`crate::upload`): the bytes live here
/// until the job succeeds, and go with the job (its collection's or tenant's deletion, a
/// retention sweep of finished jobs) through the foreign key. At most one stored upload
/// per idempotency key.
const V12_UPLOADS: &str = r"
CREATE TABLE uploads (
    tenant_id TEXT NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    job_id TEXT NOT NULL,
    name TEXT NOT NULL,
    owner TEXT,
    idempotency_key TEXT,
    request_hash TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, job_id),
    FOREIGN KEY (tenant_id, job_id) REFERENCES jobs(tenant_id, id) ON DELETE CASCADE
) STRICT;
CREATE UNIQUE INDEX uploads_by_key ON uploads(tenant_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX uploads_by_owner ON uploads(tenant_id, owner);
";

/// Index replicas (one per server's index directory and collection) with the change
/// sequence each has applied, and each collection's change log floor (the highest
/// sequence pruned).
const V11_INDEX_REPLICAS: &str = r"
CREATE TABLE index_replicas (
    tenant_id TEXT NOT NULL,
    collection_id TEXT NOT NULL,
    replica TEXT NOT NULL,
    applied_seq INTEGER NOT NULL,
    seen_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, collection_id, replica),
    FOREIGN KEY (tenant_id, collection_id) REFERENCES collections(tenant_id, id)
        ON DELETE CASCADE
) STRICT;
CREATE TABLE index_log_floor (
    tenant_id TEXT NOT NULL,
    collection_id TEXT NOT NULL,
    pruned_through INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, collection_id),
    FOREIGN KEY (tenant_id, collection_id) REFERENCES collections(tenant_id, id)
        ON DELETE CASCADE
) STRICT;
";

/// Requests per tenant, day, route and model: counts, errors, tokens, cost and a latency
/// histogram (JSON array over `LATENCY_BOUNDS_MS`), for `GET /api/v1/tenant/usage`.
const V10_ROUTE_USAGE: &str = r"
CREATE TABLE usage_by_route (
    tenant_id TEXT NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
    day TEXT NOT NULL,
    route TEXT NOT NULL,
    model TEXT NOT NULL,
    requests INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    server_errors INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cost_micros INTEGER NOT NULL,
    latency TEXT NOT NULL,
    PRIMARY KEY (tenant_id, day, route, model)
) STRICT;
";

/// Assistants: a saved collection, instructions and model per tenant; they go with their
/// collection.
const V9_ASSISTANTS: &str = r"
CREATE TABLE assistants (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    collection_id TEXT NOT NULL,
    instructions TEXT NOT NULL,
    model TEXT,
    updated_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, collection_id) REFERENCES collections(tenant_id, id)
        ON DELETE CASCADE
) STRICT;
";

/// Single sign-on for the web UI: sessions (found by their cookie token's SHA-256) and
/// the logins sent to the identity provider and not yet back. `oidc_logins` is the one
/// table without a tenant: before the provider answers, nobody knows whose login it is;
/// its rows hold no identity and live for minutes. Like `api_keys.lookup`,
/// `web_sessions.token_hash` is unique across tenants: a cookie finds its tenant through it.
const V8_WEB_SESSIONS: &str = r"
CREATE TABLE web_sessions (
    tenant_id TEXT NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    role TEXT NOT NULL,
    groups TEXT NOT NULL,
    issuer TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER,
    user_agent TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT;
CREATE INDEX web_sessions_by_user ON web_sessions(tenant_id, user_id);
CREATE TABLE oidc_logins (
    state_hash TEXT PRIMARY KEY,
    code_verifier TEXT NOT NULL,
    nonce TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    return_to TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
";

/// Usage and cost per model and UTC day (`day` is `YYYY-MM-DD`), beside the per-period
/// counters the quotas read: what `GET /api/v1/tenant/usage` breaks down.
const V7_MODEL_USAGE: &str = r"
CREATE TABLE usage_by_model (
    tenant_id TEXT NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
    day TEXT NOT NULL,
    model TEXT NOT NULL,
    requests INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cost_micros INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, day, model)
) STRICT;
";

/// Re-chunking without the original bytes: each document's parsed text (the parser's
/// blocks as JSON, after ingest redaction), and the staging area a reindex fills with the
/// new chunk sets before it swaps them in. `staged_documents.content_hash` is the version
/// a staged set was cut from: a document changed since is staged again before the swap.
const V6_REINDEX: &str = r"
ALTER TABLE collections ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;

CREATE TABLE document_texts (
    tenant_id TEXT NOT NULL,
    document_id TEXT NOT NULL,
    parsed TEXT NOT NULL,
    PRIMARY KEY (tenant_id, document_id),
    FOREIGN KEY (tenant_id, document_id)
        REFERENCES documents(tenant_id, id) ON DELETE CASCADE
) STRICT;

CREATE TABLE staged_documents (
    tenant_id TEXT NOT NULL,
    document_id TEXT NOT NULL,
    collection_id TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    chunk_count INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, document_id),
    FOREIGN KEY (tenant_id, document_id)
        REFERENCES documents(tenant_id, id) ON DELETE CASCADE
) STRICT;
CREATE INDEX staged_documents_by_collection
    ON staged_documents(tenant_id, collection_id, document_id);

CREATE TABLE staged_chunks (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    document_id TEXT NOT NULL,
    collection_id TEXT NOT NULL,
    ordinal INTEGER NOT NULL,
    text TEXT NOT NULL,
    heading_path TEXT NOT NULL,
    token_count INTEGER NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('leaf', 'parent', 'child')),
    parent_id TEXT,
    page INTEGER,
    embedding BLOB,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, document_id)
        REFERENCES staged_documents(tenant_id, document_id) ON DELETE CASCADE
) STRICT;
CREATE UNIQUE INDEX staged_chunks_by_document ON staged_chunks(tenant_id, document_id, ordinal);
";

/// Data lifecycle: legal holds (`subject` is a user id, or `''` for the whole tenant),
/// and time indexes so retention sweeps find expired rows without scanning a tenant.
const V5_LIFECYCLE: &str = r"
CREATE TABLE legal_holds (
    tenant_id TEXT NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
    subject TEXT NOT NULL,
    reason TEXT NOT NULL,
    set_by TEXT NOT NULL,
    set_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, subject)
) STRICT;

CREATE INDEX answers_by_time ON answers(tenant_id, created_at);
CREATE INDEX feedback_by_time ON feedback(tenant_id, created_at);
CREATE INDEX documents_by_update ON documents(tenant_id, updated_at);
CREATE INDEX idempotency_by_time ON idempotency_keys(tenant_id, created_at);
CREATE INDEX jobs_finished ON jobs(tenant_id, updated_at) WHERE state IN ('succeeded', 'dead');
";

/// Identity (users, API keys), the hash-chained audit log, usage counters for quotas,
/// per-tenant settings, encrypted secrets, and owners on what users create.
///
/// Two deliberate exceptions to the tenant-first key rule: `api_keys.lookup` is unique
/// across tenants (a presented key finds its tenant through it), and `audit_log` is one
/// chain for the whole database (`seq` is global; each row names its tenant). The audit
/// log has no foreign key to `tenants`, so it outlives what it records, and triggers
/// refuse UPDATE and DELETE on it; `audit_head` holds the last sequence and hash so a
/// truncated tail is detected too.
const V4_SECURITY: &str = r"
CREATE TABLE users (
    tenant_id TEXT NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'member', 'viewer')),
    groups TEXT NOT NULL,
    disabled INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT;

CREATE TABLE api_keys (
    tenant_id TEXT NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    lookup TEXT NOT NULL,
    hash TEXT NOT NULL,
    name TEXT NOT NULL,
    user_id TEXT,
    role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'member', 'viewer')),
    scopes TEXT NOT NULL,
    rpm REAL,
    tpm REAL,
    expires_at INTEGER,
    revoked_at INTEGER,
    rotated_from TEXT,
    last_used_at INTEGER,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT;
CREATE UNIQUE INDEX api_keys_by_lookup ON api_keys(lookup);
CREATE INDEX api_keys_by_user ON api_keys(tenant_id, user_id);

CREATE TABLE audit_log (
    seq INTEGER NOT NULL PRIMARY KEY,
    at INTEGER NOT NULL,
    tenant_id TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
) STRICT;
CREATE INDEX audit_by_tenant ON audit_log(tenant_id, seq);
CREATE TABLE audit_head (
    id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL
) STRICT;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

CREATE TABLE usage (
    tenant_id TEXT NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
    period TEXT NOT NULL,
    requests INTEGER NOT NULL,
    tokens INTEGER NOT NULL,
    cost_micros INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, period)
) STRICT;

CREATE TABLE tenant_settings (
    tenant_id TEXT NOT NULL PRIMARY KEY REFERENCES tenants(tenant_id) ON DELETE CASCADE,
    settings TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE secrets (
    tenant_id TEXT NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    sealed TEXT NOT NULL,
    key_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, name)
) STRICT;

ALTER TABLE conversations ADD COLUMN owner TEXT;
ALTER TABLE answers ADD COLUMN owner TEXT;
ALTER TABLE feedback ADD COLUMN owner TEXT;
ALTER TABLE documents ADD COLUMN owner TEXT;
CREATE INDEX conversations_by_owner ON conversations(tenant_id, owner, updated_at);
CREATE INDEX answers_by_owner ON answers(tenant_id, owner);
CREATE INDEX feedback_by_owner ON feedback(tenant_id, owner);
CREATE INDEX documents_by_owner ON documents(tenant_id, owner);
";

/// Conversations and their messages, recorded answers, and feedback on answers.
/// Deleting a conversation keeps its answers (and their feedback) but unlinks them.
const V3_CONVERSATIONS: &str = r"
CREATE TABLE conversations (
    tenant_id TEXT NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    collection_id TEXT,
    title TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT '',
    summarized_through INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT;
CREATE INDEX conversations_by_update ON conversations(tenant_id, updated_at);

CREATE TABLE messages (
    tenant_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    answer_id TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, conversation_id, seq),
    FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations(tenant_id, id)
        ON DELETE CASCADE
) STRICT;

CREATE TABLE answers (
    tenant_id TEXT NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    conversation_id TEXT,
    collection_id TEXT,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    record TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT;

CREATE TABLE feedback (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    answer_id TEXT NOT NULL,
    rating INTEGER NOT NULL CHECK (rating IN (-1, 1)),
    comment TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, answer_id) REFERENCES answers(tenant_id, id) ON DELETE CASCADE
) STRICT;
CREATE INDEX feedback_by_answer ON feedback(tenant_id, answer_id);
";

/// Chunk embeddings (little-endian f32) and the index change log. `seq` is global and
/// monotonic (AUTOINCREMENT never reuses a value); lookups go through the
/// tenant-first index.
const V2_INDEX_FEED: &str = r"
ALTER TABLE chunks ADD COLUMN embedding BLOB;

CREATE TABLE index_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT NOT NULL,
    collection_id TEXT NOT NULL,
    document_id TEXT NOT NULL
) STRICT;
CREATE INDEX index_changes_by_collection ON index_changes(tenant_id, collection_id, seq);
";

const V1_INITIAL: &str = r"
CREATE TABLE tenants (
    tenant_id TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE collections (
    tenant_id TEXT NOT NULL REFERENCES tenants(tenant_id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    description TEXT NOT NULL,
    chunking TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT;

CREATE TABLE documents (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    collection_id TEXT NOT NULL,
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    format TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    mtime INTEGER NOT NULL,
    size_bytes INTEGER NOT NULL,
    metadata TEXT NOT NULL,
    acl_users TEXT NOT NULL,
    acl_groups TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('indexed', 'skipped')),
    quality TEXT NOT NULL,
    simhash INTEGER NOT NULL,
    chunk_count INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, collection_id, source),
    FOREIGN KEY (tenant_id, collection_id)
        REFERENCES collections(tenant_id, id) ON DELETE CASCADE
) STRICT;
CREATE INDEX documents_by_hash ON documents(tenant_id, collection_id, content_hash, source);

CREATE TABLE chunks (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    document_id TEXT NOT NULL,
    collection_id TEXT NOT NULL,
    ordinal INTEGER NOT NULL,
    text TEXT NOT NULL,
    heading_path TEXT NOT NULL,
    token_count INTEGER NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('leaf', 'parent', 'child')),
    parent_id TEXT,
    page INTEGER,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, document_id)
        REFERENCES documents(tenant_id, id) ON DELETE CASCADE
) STRICT;
CREATE UNIQUE INDEX chunks_by_document ON chunks(tenant_id, document_id, ordinal);
CREATE INDEX chunks_by_collection ON chunks(tenant_id, collection_id);

CREATE TABLE jobs (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    collection_id TEXT NOT NULL,
    batch TEXT NOT NULL,
    kind TEXT NOT NULL,
    dedup_key TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'dead')),
    attempts INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    run_after INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER,
    last_error TEXT,
    error_code TEXT,
    document_id TEXT,
    chunks INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, collection_id)
        REFERENCES collections(tenant_id, id) ON DELETE CASCADE
) STRICT;
CREATE INDEX jobs_runnable ON jobs(state, run_after, created_at, id);
CREATE INDEX jobs_by_batch ON jobs(tenant_id, batch);
CREATE INDEX jobs_by_time ON jobs(tenant_id, created_at, id);
CREATE INDEX jobs_by_collection ON jobs(tenant_id, collection_id, state, created_at, id);
CREATE INDEX jobs_active_by_dedup ON jobs(tenant_id, dedup_key)
    WHERE state IN ('queued', 'running');

CREATE TABLE idempotency_keys (
    tenant_id TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    document_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, key),
    FOREIGN KEY (tenant_id, document_id)
        REFERENCES documents(tenant_id, id) ON DELETE CASCADE
) STRICT;
CREATE INDEX idempotency_by_document ON idempotency_keys(tenant_id, document_id);
";

/// The newest migration recorded in the database (0 for a fresh one).
pub(crate) fn current_version(conn: &Connection) -> Result<i64> {
    conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )
    .map_err(db)
}

fn is_applied(conn: &Connection, version: i64) -> Result<bool> {
    conn.query_row(
        "SELECT 1 FROM schema_migrations WHERE version = ?1",
        [version],
        |_| Ok(()),
    )
    .map(|()| true)
    .or_else(|e| match e {
        rusqlite::Error::QueryReturnedNoRows => Ok(false),
        other => Err(db(other)),
    })
}

/// Applies the migrations of `known` that the database does not have yet, in order.
/// Safe against another process opening the same database at the same time: each step
/// re-checks inside its write transaction.
pub(crate) fn apply(conn: &mut Connection, known: &[Migration]) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER NOT NULL PRIMARY KEY,
            applied_at INTEGER NOT NULL
        ) STRICT",
    )
    .map_err(db)?;
    let newest = known.iter().map(|m| m.version).max().unwrap_or(0);
    let have = current_version(conn)?;
    if have > newest {
        return Err(Error::Database(format!(
            "the database is at schema version {have}, newer than the {newest} this binary \
             supports; it was written by a newer Cairn: upgrade cairn to use it"
        )));
    }
    for m in known {
        if is_applied(conn, m.version)? {
            continue;
        }
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        // Another process may have applied it while we waited for the write lock.
        if is_applied(&tx, m.version)? {
            continue;
        }
        tx.execute_batch(m.sql)
            .map_err(|e| Error::Database(format!("schema migration {} failed: {e}", m.version)))?;
        tx.execute(
            "INSERT INTO schema_migrations(version, applied_at) VALUES (?1, ?2)",
            (m.version, now_ms()),
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;
        tracing::debug!(version = m.version, "applied schema migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEPS: &[Migration] = &[
        Migration {
            version: 1,
            sql: "CREATE TABLE a (x INTEGER) STRICT;",
        },
        Migration {
            version: 2,
            sql: "CREATE TABLE b (y INTEGER) STRICT;",
        },
    ];

    fn versions(conn: &Connection) -> Vec<i64> {
        let mut st = conn
            .prepare("SELECT version FROM schema_migrations ORDER BY version")
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

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

    #[test]
    fn applies_only_missing_steps_and_refuses_newer_databases() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn, &STEPS[..1]).unwrap();
        assert_eq!(versions(&conn), [1]);
        // A newer binary adds step 2; step 1 is not re-run (it would fail: table exists).
        apply(&mut conn, STEPS).unwrap();
        apply(&mut conn, STEPS).unwrap();
        assert_eq!(versions(&conn), [1, 2]);
        conn.execute("INSERT INTO b(y) VALUES (1)", []).unwrap();
        // The older binary refuses the newer database.
        let err = apply(&mut conn, &STEPS[..1]).unwrap_err();
        assert!(err.to_string().contains("newer"), "{err}");
    }

    #[test]
    fn a_failing_step_leaves_nothing_behind() {
        let mut conn = Connection::open_in_memory().unwrap();
        let bad = [
            Migration {
                version: 1,
                sql: "CREATE TABLE a (x INTEGER) STRICT;",
            },
            Migration {
                version: 2,
                sql: "CREATE TABLE c (z INTEGER); SELECT nonsense FROM;",
            },
        ];
        assert!(apply(&mut conn, &bad).is_err());
        assert_eq!(versions(&conn), [1]);
        let c: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'c'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(c, 0, "the failed step's table was rolled back");
    }
}
