//! Moving an embedded installation to PostgreSQL (`PostgresStore::import_sqlite`, what
//! `cairn migrate --from-sqlite` runs): an SQLite store holding every kind of row is
//! copied into a fresh PostgreSQL database and everything reads back equal through the
//! repository traits (embeddings bit for bit, the audit chain and its head, job states,
//! the index change log); the change log and job dedup go on working after the move; a
//! second import into the now non-empty database is refused; a failure midway leaves
//! the target empty; both schemas hold exactly the tables the import copies.
//!
//! Needs a PostgreSQL server (`CAIRN_TEST_PG_URL`; scripts/test.sh starts one): without
//! it the tests fail saying how to get one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "store_conformance/support.rs"]
#[macro_use]
#[allow(dead_code, unused_macros)]
mod support;

use cairn_auth::audit::{GENESIS_HASH, entry_hash, verify_chain};
use cairn_store::testing::fresh_postgres_database;
use cairn_store::{Assistant, SCHEMA_VERSION};
use cairn_store::{
    AuditDraft, Error, IMPORTED_TABLES, IdempotencyRecord, ImportProgress, ImportReport, JobFilter,
    LegalHold, ModelUsage, NewJob, PendingLogin, PostgresStore, RouteUsage, SqliteStore, StagedSet,
    Store, Usage, WebSession,
};
use cairn_types::{
    Acl, AnswerId, ApiKey, Block, BlockKind, ChunkingSpec, Conversation, ConversationId, ErrorCode,
    Feedback, FeedbackId, JobKind, JobState, MessageRole, ParsedDoc, StoredAnswer, User,
};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use support::{c, chunks, doc, new_job, plain, t};

/// Embedding values that a lossy copy would change: negative zero, a subnormal, the
/// extremes.
const AWKWARD: [f32; 6] = [-0.0, 1.0e-40, f32::MAX, f32::MIN_POSITIVE, -1.5, 0.1];

/// A job kind whose dedup key is far longer than the PostgreSQL jobs port keeps inline.
fn long_job() -> NewJob {
    let mut metadata = serde_json::Map::new();
    metadata.insert("note".into(), serde_json::Value::String("x".repeat(3_000)));
    NewJob {
        collection: c("c"),
        batch: "long".into(),
        kind: JobKind::IngestFile {
            path: "/long.md".into(),
            acl: Acl::default(),
            metadata,
            force: false,
        },
        max_attempts: 3,
    }
}

fn seal(seq: i64, prev: &str, d: &AuditDraft) -> String {
    entry_hash(
        prev, seq, d.at, &d.tenant, &d.actor, &d.action, &d.target, &d.outcome, &d.detail,
    )
}

fn parsed(text: &str) -> ParsedDoc {
    ParsedDoc {
        title: Some("T".into()),
        blocks: vec![Block::new(BlockKind::Paragraph, text, vec!["H".into()])],
        ..ParsedDoc::default()
    }
}

/// What the fill made that the traits only find by id.
struct Filled {
    answers: Vec<(String, AnswerId)>,
    session_hash: String,
    login_hash: String,
}

/// A store file under `dir` with every kind of row, written through the repositories.
fn fill(dir: &Path) -> (PathBuf, Filled) {
    let path = support::db_path(dir);
    let store = SqliteStore::open(&path).unwrap();
    let s: &dyn Store = &store;
    support::add_tenants(s);
    let (a, b) = (t("a"), t("b"));

    // Documents with chunks, embeddings (with awkward values), parsed texts, a job
    // completed by the commit and an idempotency key.
    let done = s.enqueue(&a, &[new_job("/one.md")], 2).unwrap().remove(0);
    s.claim("w1", 60_000, None, 3).unwrap().unwrap();
    let mut one = plain(
        doc("a", "one.md", "h1"),
        &["parent text", "child one", "child two"],
    );
    one.doc.owner = Some("alice".into());
    one.embeddings = vec![None, Some(AWKWARD.to_vec()), Some(vec![0.25; 6])];
    one.parsed = Some(parsed("parent text child one child two"));
    one.job = Some(done);
    one.idempotency = Some(IdempotencyRecord {
        key: "idem-1".into(),
        request_hash: "rh".into(),
        document: support::doc("a", "x", "x").id,
    });
    let one = s.commit_document(&a, one, 20).unwrap();
    let mut two = plain(doc("b", "two.md", "h2"), &["tenant b text"]);
    two.embeddings = vec![Some(vec![1.0, -1.0, 0.5, 0.0, 2.0, -0.0])];
    s.commit_document(&b, two, 21).unwrap();
    // A staged reindex set (not swapped) for `one`.
    let staged = chunks(&one, &["restaged a", "restaged b"]);
    s.stage_chunks(
        &a,
        &c("c"),
        StagedSet {
            document: &one.id,
            content_hash: &one.content_hash,
            chunks: &staged,
            embeddings: &[Some(vec![0.5; 6]), None],
            parsed: Some(&parsed("restaged")),
        },
    )
    .unwrap();
    // A collection whose change-log rows are gone with it: the SQLite counter remembers
    // seqs no row holds any more.
    s.create_collection(&a, &c("gone"), "", &ChunkingSpec::default(), 5)
        .unwrap();
    let mut gone = plain(doc("a", "gone.md", "h3"), &["soon gone"]);
    gone.doc.collection = c("gone");
    gone.chunks[0].collection = c("gone");
    s.commit_document(&a, gone, 30).unwrap();
    s.delete_collection(&a, &c("gone")).unwrap();

    // Jobs in every state: queued (with a long dedup key), running, succeeded, dead.
    assert_eq!(s.enqueue(&a, &[long_job()], 40).unwrap().len(), 1);
    s.enqueue(&b, &[new_job("/run.md"), new_job("/dead.md")], 41)
        .unwrap();
    let running = s.claim("w2", 60_000, Some("b1"), 42).unwrap().unwrap();
    let dying = s.claim("w3", 60_000, Some("b1"), 43).unwrap().unwrap();
    assert_ne!(running.id, dying.id);
    let state = s
        .fail_job(&b, &dying.id, ErrorCode::CorruptFile, "bad pdf", None, 44)
        .unwrap();
    assert_eq!(state, JobState::Dead);

    // Conversations, messages, answers (one in a conversation), feedback.
    let conv = Conversation {
        tenant: a.clone(),
        id: ConversationId::generate(),
        collection: Some(c("c")),
        title: "questions ✓".into(),
        summary: String::new(),
        summarized_through: 0,
        owner: Some("alice".into()),
        created_at: 50,
        updated_at: 50,
    };
    s.create_conversation(&conv).unwrap();
    s.append_messages(
        &a,
        &conv.id,
        &[(MessageRole::User, "hello".into(), None)],
        51,
    )
    .unwrap();
    s.set_summary(&a, &conv.id, "a greeting", 1, 52).unwrap();
    let mut answers = Vec::new();
    for (tenant, conversation) in [("a", Some(&conv.id)), ("b", None)] {
        let answer = StoredAnswer {
            tenant: t(tenant),
            id: AnswerId::generate(),
            conversation: conversation.cloned(),
            collection: Some(c("c")),
            question: "what?".into(),
            answer: "this [1]".into(),
            prompt_version: "rag-v1".into(),
            record: serde_json::json!({"citations": [{"n": 1}], "confidence": 0.5}),
            owner: Some("alice".into()),
            created_at: 53,
        };
        s.record_answer(&answer).unwrap();
        s.add_feedback(&Feedback {
            tenant: t(tenant),
            id: FeedbackId::generate(),
            answer: answer.id.clone(),
            rating: -1,
            comment: "wrong".into(),
            owner: None,
            created_at: 54,
        })
        .unwrap();
        answers.push((tenant.to_owned(), answer.id));
    }

    // Identity, audit, usage, settings, secrets, holds, sessions, logins, assistants.
    s.upsert_user(&User {
        tenant: a.clone(),
        id: "alice".into(),
        email: "alice@example.com".into(),
        name: "Alice".into(),
        role: "editor".into(),
        groups: vec!["eng".into()],
        disabled: false,
        created_at: 60,
        updated_at: 60,
    })
    .unwrap();
    s.insert_key(&ApiKey {
        tenant: a.clone(),
        id: "k1".into(),
        lookup: "LOOKUP1".into(),
        hash: "$argon2id$fake".into(),
        name: "ci".into(),
        user: Some("alice".into()),
        role: "member".into(),
        scopes: vec!["search".into()],
        rpm: Some(2.5),
        tpm: None,
        expires_at: Some(9_999),
        revoked_at: None,
        rotated_from: None,
        last_used_at: Some(61),
        created_at: 61,
    })
    .unwrap();
    for (tenant, action) in [("a", "keys.create"), ("b", "documents.read"), ("a", "x")] {
        let draft = AuditDraft {
            at: 70,
            tenant: tenant.into(),
            actor: "key:k1".into(),
            action: action.into(),
            target: "k1".into(),
            outcome: "ok".into(),
            detail: serde_json::json!({"b": [1, 2.5], "a": "é"}),
        };
        s.append_audit(&draft, GENESIS_HASH, &seal).unwrap();
    }
    let usage = Usage {
        requests: 2,
        tokens: 30,
        cost_micros: 7,
    };
    s.add_usage(&a, &["d:2026-12-02", "m:2026-12"], &usage)
        .unwrap();
    let call = ModelUsage {
        requests: 1,
        input_tokens: 30,
        output_tokens: 5,
        cost_micros: 110,
    };
    s.add_model_usage(&a, &["m:2026-12"], "2026-12-02", "gpt", &call)
        .unwrap();
    s.add_route_usage(
        &b,
        "2026-12-02",
        "/api/v1/ask",
        "gpt",
        &RouteUsage::one(503, 42.0),
    )
    .unwrap();
    s.set_tenant_settings(&a, &serde_json::json!({"limits": {"key_rpm": 5}}), 80)
        .unwrap();
    s.put_secret(&a, "openai", "v1:sealed", "abcd1234", 81)
        .unwrap();
    s.put_legal_hold(&LegalHold {
        tenant: b.clone(),
        user: Some("bob".into()),
        reason: "litigation".into(),
        set_by: "operator".into(),
        set_at: 82,
    })
    .unwrap();
    let session_hash = "f".repeat(64);
    s.insert_session(&WebSession {
        tenant: a.clone(),
        id: "ses_1".into(),
        token_hash: session_hash.clone(),
        user: "alice".into(),
        role: "editor".into(),
        groups: vec!["eng".into()],
        issuer: "https://idp.example".into(),
        csrf: "csrf".into(),
        created_at: 83,
        expires_at: i64::MAX / 2,
        revoked_at: None,
        user_agent: "test".into(),
    })
    .unwrap();
    let login_hash = "e".repeat(64);
    s.put_login(
        &PendingLogin {
            state_hash: login_hash.clone(),
            code_verifier: "verifier".into(),
            nonce: "nonce".into(),
            redirect_uri: "https://cairn.example/auth/callback".into(),
            return_to: "/".into(),
            created_at: 1_000,
        },
        600_000,
    )
    .unwrap();
    s.create_collection(&a, &c("more"), "", &ChunkingSpec::default(), 89)
        .unwrap();
    s.put_assistant(&Assistant {
        tenant: a.clone(),
        id: "helper".into(),
        name: "Helper".into(),
        description: "answers".into(),
        collection: c("c"),
        collections: vec![c("more")],
        instructions: "be brief".into(),
        model: None,
        updated_by: "alice".into(),
        created_at: 90,
        updated_at: 90,
    })
    .unwrap();
    // An agent saved through the API, and a run waiting for approval with its journal.
    s.put_agent(&cairn_store::AgentDefinition {
        tenant: a.clone(),
        name: "analyst".into(),
        spec: serde_json::json!({"name": "analyst", "tools": ["sql"]}),
        updated_by: "alice".into(),
        created_at: 91,
        updated_at: 91,
    })
    .unwrap();
    s.put_eval_run(&cairn_store::EvalRun {
        tenant: a.clone(),
        id: "run-1".into(),
        kind: "retrieval".into(),
        label: "baseline".into(),
        dataset: "eval/dev.jsonl".into(),
        dataset_hash: "ab12".into(),
        config: serde_json::json!({"retrieval": {"mode": "hybrid"}}),
        summary: serde_json::json!([{"config": "hybrid", "mrr_10": 0.8}]),
        results: serde_json::json!([{"id": "q1", "mrr_10": 1.0}]),
        created_at: 93,
    })
    .unwrap();
    s.put_tool_source(&cairn_store::ToolSource {
        tenant: a.clone(),
        name: "billing".into(),
        spec: serde_json::json!({"kind": "openapi", "auth_secret": "billing-token"}),
        updated_by: "alice".into(),
        created_at: 92,
        updated_at: 92,
    })
    .unwrap();
    s.create_agent_run(&cairn_store::AgentRun {
        tenant: a.clone(),
        id: "run_1".into(),
        agent: "analyst".into(),
        parent: None,
        owner: "alice".into(),
        task: "sum the servers".into(),
        state: cairn_store::RunState::WaitingApproval,
        context: serde_json::json!({"depth": 0}),
        output: None,
        reason: Some("waiting_approval: ünïcode".into()),
        usage: serde_json::json!({"steps": 1, "cost_usd": 0.25}),
        lease_owner: None,
        lease_until: 0,
        created_at: 92,
        updated_at: 93,
    })
    .unwrap();
    for (kind, status) in [("model", "done"), ("tool", "waiting_approval")] {
        s.append_agent_step(
            &a,
            "run_1",
            &cairn_store::AgentStep {
                seq: 0,
                kind: kind.into(),
                status: status.into(),
                payload: serde_json::json!({"phase": "react", "name": "sql"}),
                created_at: 94,
                updated_at: 94,
            },
        )
        .unwrap();
    }
    // An asynchronous upload waiting for its job: its bytes move with it.
    let upload = cairn_types::UploadId::generate();
    let upload_job = NewJob {
        collection: c("c"),
        batch: "b-up".into(),
        kind: cairn_types::JobKind::IngestUpload {
            upload: upload.clone(),
            name: "pending.md".into(),
            acl: Acl::default(),
            metadata: serde_json::Map::default(),
            owner: Some("alice".into()),
            idempotency_key: Some("up-1".into()),
            content_hash: "c0ffee".into(),
        },
        max_attempts: 2,
    };
    s.enqueue_upload(
        &a,
        &cairn_store::NewUpload {
            id: upload,
            name: "pending.md".into(),
            owner: Some("alice".into()),
            idempotency_key: Some("up-1".into()),
            request_hash: "rh".into(),
            sha256: "c0ffee".into(),
            bytes: b"# Pending\n\n\x00\xff bytes kept exactly",
        },
        &upload_job,
        1_100,
    )
    .unwrap();
    // A replica that has applied nothing yet: pruning records a floor and deletes nothing.
    s.report_replica(&a, &c("c"), "node-1", 0, 1_000).unwrap();
    assert_eq!(s.prune_index_changes(0).unwrap().changes, 0);
    let filled = Filled {
        answers,
        session_hash,
        login_hash,
    };
    (path, filled)
}

/// Everything the repositories read back, one labelled line per item, embeddings as
/// their bit patterns.
fn snapshot(s: &dyn Store, filled: &Filled) -> Vec<String> {
    let mut out = Vec::new();
    let mut line = |label: &str, value: &dyn std::fmt::Debug| {
        out.push(format!("{label}: {value:?}"));
    };
    line("tenants", &s.list_tenants().unwrap());
    for tenant in ["a", "b"] {
        let tn = t(tenant);
        let collections = s.list_collections(&tn).unwrap();
        line("collections", &collections);
        for u in s.list_uploads(&tn).unwrap() {
            line("upload", &s.get_upload(&tn, &u.id).unwrap());
        }
        for c in &collections {
            line("log floor", &s.index_log_floor(&tn, &c.id).unwrap());
        }
        let documents = s.list_documents(&tn, None, 1_000, 0).unwrap();
        line("documents", &documents);
        let ids: Vec<_> = documents.iter().map(|d| d.id.clone()).collect();
        for d in &documents {
            line("chunks", &s.list_chunks(&tn, &d.id).unwrap());
            line("text", &s.document_text(&tn, &d.id).unwrap());
        }
        let embedded = s.index_batch(&tn, &ids, true).unwrap();
        for ch in &embedded.chunks {
            let bits: Option<Vec<u32>> = ch
                .embedding
                .as_ref()
                .map(|e| e.iter().map(|x| x.to_bits()).collect());
            line("embedding", &(&ch.chunk.id, bits));
        }
        for coll in &collections {
            line("head", &s.index_head(&tn, &coll.id).unwrap());
            line(
                "changes",
                &s.index_changes(&tn, &coll.id, 0, 1_000).unwrap(),
            );
            let staged = s.staged_documents(&tn, &coll.id, None, 100).unwrap();
            line("staged", &staged);
            for ch in s.staged_batch(&tn, &staged).unwrap().chunks {
                let bits: Option<Vec<u32>> = ch
                    .embedding
                    .map(|e| e.iter().map(|x| x.to_bits()).collect());
                line("staged chunk", &(ch.chunk, bits));
            }
        }
        line("jobs", &s.list_jobs(&tn, &JobFilter::default()).unwrap());
        line("idempotency", &s.get_idempotency(&tn, "idem-1").unwrap());
        for cv in s.list_conversations(&tn, None, 100).unwrap() {
            line("messages", &s.list_messages(&tn, &cv.id).unwrap());
            line("conversation", &cv);
        }
        for (owner, id) in &filled.answers {
            if owner == tenant {
                line("answer", &s.get_answer(&tn, id).unwrap());
                line("feedback", &s.list_feedback(&tn, id).unwrap());
            }
        }
        line("users", &s.list_users(&tn).unwrap());
        line("keys", &s.list_keys(&tn).unwrap());
        line("tenant audit", &s.tenant_audit(&tn, 0).unwrap());
        for period in ["d:2026-12-02", "m:2026-12"] {
            line("usage", &s.usage(&tn, period).unwrap());
        }
        line("model usage", &s.model_usage(&tn, "2000-01-01").unwrap());
        line("route usage", &s.route_usage(&tn, "2000-01-01").unwrap());
        line("settings", &s.tenant_settings(&tn).unwrap());
        line("secrets", &s.list_secrets(&tn).unwrap());
        line("secret", &s.get_secret(&tn, "openai").unwrap());
        line("holds", &s.legal_holds(&tn).unwrap());
        line("sessions", &s.list_sessions(&tn, None).unwrap());
        line("assistants", &s.list_assistants(&tn).unwrap());
        line("agents", &s.list_agents(&tn).unwrap());
        line("tool sources", &s.list_tool_sources(&tn).unwrap());
        for run in s.list_eval_runs(&tn, 100).unwrap() {
            line("eval run", &s.get_eval_run(&tn, &run.id).unwrap());
        }
        for run in s.list_agent_runs(&tn, None, 100).unwrap() {
            line("agent steps", &s.agent_steps(&tn, &run.id).unwrap());
            line("agent run", &run);
        }
    }
    line("audit", &s.audit_rows(0, 0).unwrap());
    line("audit head", &s.audit_head().unwrap());
    line("session", &s.find_session(&filled.session_hash).unwrap());
    out
}

fn assert_same(left: &[String], right: &[String]) {
    for (l, r) in left.iter().zip(right) {
        assert_eq!(l, r, "SQLite (left) and PostgreSQL (right) differ");
    }
    assert_eq!(left.len(), right.len());
}

fn import(url: &str, path: &Path) -> Result<ImportReport, Error> {
    PostgresStore::open(url)
        .unwrap()
        .import_sqlite(path, &mut |_| {})
}

fn raw_postgres(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).unwrap()
}

/// Rows in every imported table of the PostgreSQL database.
fn postgres_rows(url: &str) -> u64 {
    let mut client = raw_postgres(url);
    IMPORTED_TABLES
        .iter()
        .map(|table| {
            let n: i64 = client
                .query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])
                .unwrap()
                .get(0);
            u64::try_from(n).unwrap()
        })
        .sum()
}

fn pg_url() -> String {
    fresh_postgres_database().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn an_installation_moves_with_every_row_equal_and_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let (path, filled) = fill(dir.path());
    let lite = SqliteStore::open(&path).unwrap();
    let before = snapshot(&lite, &filled);
    drop(lite);

    let url = pg_url();
    let mut events = Vec::new();
    let report = PostgresStore::open(&url)
        .unwrap()
        .import_sqlite(&path, &mut |e| {
            if let ImportProgress::Table { table, rows } = e {
                events.push((table.to_owned(), rows));
            }
        })
        .unwrap();
    // Every table was copied, in order, and the fill put rows in each of them.
    let copied: Vec<_> = report.tables.iter().map(|t| t.table.as_str()).collect();
    assert_eq!(copied, IMPORTED_TABLES);
    for table in &report.tables {
        assert!(table.rows > 0, "the fill left `{}` empty", table.table);
    }
    let announced: Vec<_> = report
        .tables
        .iter()
        .map(|t| (t.table.clone(), t.rows))
        .collect();
    assert_eq!(events, announced);
    assert_eq!(report.hashed_dedup_keys, 1);
    assert_eq!(report.total_rows(), postgres_rows(&url));

    let pg_store = PostgresStore::open(&url).unwrap();
    let pg: &dyn Store = &pg_store;
    let after = snapshot(pg, &filled);
    assert_same(&before, &after);
    // The embeddings with awkward values came through bit for bit.
    let docs = pg.list_documents(&t("a"), Some(&c("c")), 10, 0).unwrap();
    let batch = pg
        .index_batch(&t("a"), &[docs[0].id.clone()], true)
        .unwrap();
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert!(
        batch
            .chunks
            .iter()
            .any(|ch| ch.embedding.as_deref().map(bits) == Some(bits(&AWKWARD)))
    );
    // The audit chain verifies against its copied head.
    let head = pg.audit_head().unwrap().unwrap();
    assert_eq!(report.audit_head, Some(head.clone()));
    let chain = verify_chain(pg.audit_rows(0, 0).unwrap(), Some((head.0, &head.1)));
    assert!(chain.broken.is_none() && chain.checked == 3, "{chain:?}");
    // The pending login came along (a login is taken once).
    assert!(
        pg.take_login(&filled.login_hash, 1_500, 600_000)
            .unwrap()
            .is_some()
    );

    // The change log continues after every seq SQLite handed out, including those of
    // the deleted collection.
    let head_c = pg.index_head(&t("a"), &c("c")).unwrap();
    assert!(
        report.index_seq > head_c,
        "the deleted collection's seqs count"
    );
    let next = pg
        .commit_document(&t("a"), plain(doc("a", "new.md", "h9"), &["new"]), 100)
        .unwrap();
    let changes = pg.index_changes(&t("a"), &c("c"), head_c, 10).unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].document, next.id);
    assert_eq!(changes[0].seq, report.index_seq + 1);
    // Dedup keeps working: the queued long-key job's twin is not enqueued again, and its
    // key was stored exactly as PostgreSQL's own digest of it.
    assert!(pg.enqueue(&t("a"), &[long_job()], 101).unwrap().is_empty());
    let mut client = raw_postgres(&url);
    let digests = client
        .query_one(
            "SELECT COUNT(*) FROM jobs WHERE dedup_key LIKE 'sha256:%' AND octet_length(dedup_key) = 71",
            &[],
        )
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(digests, 1);
    let lite = rusqlite::Connection::open(&path).unwrap();
    let raw_key: String = lite
        .query_row(
            "SELECT dedup_key FROM jobs WHERE length(dedup_key) > 1024",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let same: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM jobs
                WHERE dedup_key = 'sha256:' || encode(sha256(convert_to($1, 'UTF8')), 'hex'))",
            &[&raw_key],
        )
        .unwrap()
        .get(0);
    assert!(same, "the import digests a long key as PostgreSQL would");
    // New audit entries chain on from the copied head.
    let draft = AuditDraft {
        at: 110,
        tenant: "a".into(),
        actor: "system".into(),
        action: "migrate".into(),
        target: String::new(),
        outcome: "ok".into(),
        detail: serde_json::json!({}),
    };
    let appended = pg.append_audit(&draft, GENESIS_HASH, &seal).unwrap();
    assert_eq!((appended.seq, appended.prev_hash), (head.0 + 1, head.1));

    // A second import into the now non-empty database is refused, changing nothing.
    let rows = postgres_rows(&url);
    let err = import(&url, &path).unwrap_err();
    assert!(
        matches!(&err, Error::Conflict(m) if m.contains("already holds Cairn data")),
        "{err}"
    );
    assert_eq!(err.code(), ErrorCode::Conflict);
    assert_eq!(postgres_rows(&url), rows);
}

#[test]
fn a_failure_midway_leaves_the_target_empty() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = fill(dir.path());
    // The last table copied gets a value that does not decode (text that is not UTF-8):
    // every other table is copied before the import fails.
    assert_eq!(IMPORTED_TABLES.last(), Some(&"assistant_collections"));
    let lite = rusqlite::Connection::open(&path).unwrap();
    // The broken id cannot reference a collection.
    lite.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
    lite.execute(
        "UPDATE assistant_collections SET collection_id = CAST(x'ff00fe' AS TEXT)",
        [],
    )
    .unwrap();
    let url = pg_url();
    let err = import(&url, &path).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Corrupt(_)), "{msg}");
    assert!(
        msg.contains("`assistant_collections`")
            && msg.contains("`collection_id`")
            && msg.contains("UTF-8"),
        "{msg}"
    );
    assert_eq!(postgres_rows(&url), 0, "everything was rolled back");
    // Once the row is fixed the same database takes the import.
    lite.execute(
        "UPDATE assistant_collections SET collection_id = 'more'",
        [],
    )
    .unwrap();
    let report = import(&url, &path).unwrap();
    assert_eq!(report.total_rows(), postgres_rows(&url));
}

#[test]
fn both_schemas_hold_exactly_the_imported_tables() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cairn.db");
    drop(SqliteStore::open(&path).unwrap());
    let lite = rusqlite::Connection::open(&path).unwrap();
    let mut st = lite
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table'
               AND name NOT IN ('schema_migrations', 'sqlite_sequence')",
        )
        .unwrap();
    let sqlite: BTreeSet<String> = st
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let url = pg_url();
    let postgres: BTreeSet<String> = raw_postgres(&url)
        .query(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
               AND table_name <> 'schema_migrations' AND table_name <> ALL($1)",
            &[&cairn_store::POSTGRES_ONLY_TABLES],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let imported: BTreeSet<String> = IMPORTED_TABLES.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(
        sqlite, imported,
        "a table of the SQLite schema is not imported"
    );
    assert_eq!(
        postgres, imported,
        "a table of the PostgreSQL schema is not imported"
    );
    // An empty store imports too (nothing to copy, every table checked).
    let report = import(&url, &path).unwrap();
    assert_eq!(report.total_rows(), 0);
    assert_eq!((report.audit_head, report.index_seq), (None, 0));
}

#[test]
fn files_that_are_not_a_current_cairn_store_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = pg_url();
    let missing = import(&url, &dir.path().join("nope.db")).unwrap_err();
    assert!(matches!(missing, Error::NotFound { .. }), "{missing}");
    // Another program's SQLite file.
    let other = dir.path().join("other.db");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE schema_migrations (version INTEGER); CREATE TABLE t (x);")
        .unwrap();
    let err = import(&url, &other).unwrap_err().to_string();
    assert!(err.contains("not a Cairn state store"), "{err}");
    // A store at an older schema version.
    let old = dir.path().join("old.db");
    drop(SqliteStore::open(&old).unwrap());
    rusqlite::Connection::open(&old)
        .unwrap()
        .execute(
            "DELETE FROM schema_migrations WHERE version = ?1",
            [SCHEMA_VERSION],
        )
        .unwrap();
    assert_eq!(
        SqliteStore::schema_version_at(&old).unwrap(),
        SCHEMA_VERSION - 1
    );
    let err = import(&url, &old).unwrap_err().to_string();
    assert!(
        err.contains(&format!("schema version {}", SCHEMA_VERSION - 1)),
        "{err}"
    );
    assert_eq!(postgres_rows(&url), 0);
    // Nothing above wrote to the files it refused.
    assert_eq!(
        SqliteStore::schema_version_at(&old).unwrap(),
        SCHEMA_VERSION - 1
    );
}
