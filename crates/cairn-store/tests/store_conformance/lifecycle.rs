//! Data lifecycle: retention sweeps delete what expired and nothing else (newer rows,
//! other tenants, held users), legal holds block sweeps, erasure and offboarding, and
//! offboarding leaves no row of the tenant in any table but the audit log.

use super::support::{Backend, Fixture, c, doc, new_job, plain, t};
use cairn_store::{
    AuditDraft, Error, IdempotencyRecord, JobFilter, LegalHold, RetentionCutoffs, Usage,
};
use cairn_types::{
    AnswerId, Conversation, ConversationId, Feedback, FeedbackId, MessageRole, StoredAnswer, User,
};

const DAY: i64 = 86_400_000;
/// Rows written at `OLD` expire at `CUTOFF`; rows written at `NEW` do not.
const OLD: i64 = DAY; // 1970-01-02
const CUTOFF: i64 = 40 * DAY; // 1970-02-10
const NEW: i64 = 50 * DAY; // 1970-02-20

/// What `trace` left behind, to look each row up afterwards.
struct Trace {
    conversation: ConversationId,
    answer: AnswerId,
    document: cairn_types::DocumentId,
    idempotency_key: String,
}

/// One of everything, owned by `owner`, written at `at`: a conversation with two
/// messages, an answer with feedback, a document (two chunks) uploaded with an
/// idempotency key, a finished job, and usage counters of `at`'s day and month.
fn trace(s: &Fixture, tenant: &str, owner: &str, at: i64, tag: &str) -> Trace {
    let tn = t(tenant);
    let conversation = ConversationId::generate();
    s.create_conversation(&Conversation {
        tenant: tn.clone(),
        id: conversation.clone(),
        collection: None,
        title: tag.into(),
        summary: String::new(),
        summarized_through: 0,
        owner: Some(owner.into()),
        created_at: at,
        updated_at: at,
    })
    .unwrap();
    s.append_messages(
        &tn,
        &conversation,
        &[
            (MessageRole::User, format!("{tag} question"), None),
            (MessageRole::Assistant, format!("{tag} answer"), None),
        ],
        at,
    )
    .unwrap();
    let answer = AnswerId::generate();
    s.record_answer(&StoredAnswer {
        tenant: tn.clone(),
        id: answer.clone(),
        conversation: None,
        collection: None,
        question: tag.into(),
        answer: tag.into(),
        prompt_version: "v1".into(),
        record: serde_json::json!({}),
        owner: Some(owner.into()),
        created_at: at,
    })
    .unwrap();
    s.add_feedback(&Feedback {
        tenant: tn.clone(),
        id: FeedbackId::generate(),
        answer: answer.clone(),
        rating: 1,
        comment: tag.into(),
        owner: Some(owner.into()),
        created_at: at,
    })
    .unwrap();
    let mut d = doc(tenant, &format!("upload:{tag}.md"), tag);
    d.owner = Some(owner.into());
    let mut commit = plain(d, &[&format!("{tag} one"), &format!("{tag} two")]);
    let idempotency_key = format!("idem-{tag}");
    commit.idempotency = Some(IdempotencyRecord {
        key: idempotency_key.clone(),
        request_hash: "h".into(),
        document: commit.doc.id.clone(),
    });
    let document = s.commit_document(&tn, commit, at).unwrap().id;
    let job = s.enqueue(&tn, &[new_job(tag)], at).unwrap();
    s.complete_job(&tn, &job[0], at).unwrap();
    let (y, m, dd) = cairn_types::civil_from_ms(at);
    let (day, month) = (
        format!("d:{y:04}-{m:02}-{dd:02}"),
        format!("m:{y:04}-{m:02}"),
    );
    let usage = Usage {
        requests: 1,
        tokens: 10,
        cost_micros: 0,
    };
    s.add_usage(&tn, &[&day, &month], &usage).unwrap();
    // And one model's row for the day (no period counters).
    let call = cairn_store::ModelUsage {
        requests: 1,
        ..Default::default()
    };
    s.add_model_usage(&tn, &[], &day[2..], "some-model", &call)
        .unwrap();
    Trace {
        conversation,
        answer,
        document,
        idempotency_key,
    }
}

fn every_kind(at: i64) -> RetentionCutoffs {
    RetentionCutoffs {
        conversations: Some(at),
        answers: Some(at),
        feedback: Some(at),
        logs: Some(at),
        documents: Some(at),
    }
}

/// Whether each of the trace's rows is still there.
fn present(s: &Fixture, tenant: &str, tr: &Trace) -> [bool; 5] {
    let tn = t(tenant);
    [
        s.get_conversation(&tn, &tr.conversation).is_ok(),
        s.get_answer(&tn, &tr.answer).is_ok(),
        s.list_feedback(&tn, &tr.answer)
            .is_ok_and(|f| !f.is_empty()),
        s.get_document(&tn, &tr.document).is_ok(),
        s.get_idempotency(&tn, &tr.idempotency_key)
            .unwrap()
            .is_some(),
    ]
}

fn hold(tenant: &str, user: Option<&str>) -> LegalHold {
    LegalHold {
        tenant: t(tenant),
        user: user.map(String::from),
        reason: "litigation 42".into(),
        set_by: "operator".into(),
        set_at: NEW,
    }
}

fn jobs(s: &Fixture, tenant: &str) -> usize {
    s.list_jobs(&t(tenant), &JobFilter::default())
        .unwrap()
        .len()
}

both!(retention_deletes_what_expired_and_nothing_else);
fn retention_deletes_what_expired_and_nothing_else(s: Fixture) {
    let old = trace(&s, "a", "alice", OLD, "old");
    let new = trace(&s, "a", "alice", NEW, "new");
    let other = trace(&s, "b", "alice", OLD, "other");
    let head = s.index_head(&t("a"), &c("c")).unwrap();

    let r = s.sweep_expired(&t("a"), &every_kind(CUTOFF)).unwrap();
    assert_eq!(
        (
            r.conversations,
            r.messages,
            r.answers,
            r.feedback,
            r.documents,
            r.chunks
        ),
        (1, 2, 1, 1, 1, 2),
        "{r:?}"
    );
    assert_eq!(
        (r.idempotency_keys, r.jobs, r.usage_rows),
        (1, 1, 3),
        "{r:?}"
    );
    assert_eq!(r.collections, [c("c")]);
    assert_eq!(present(&s, "a", &old), [false; 5]);
    assert_eq!(present(&s, "a", &new), [true; 5], "newer rows stay");
    assert_eq!(
        present(&s, "b", &other),
        [true; 5],
        "other tenants untouched"
    );
    assert_eq!(jobs(&s, "a"), 1);
    assert_eq!(jobs(&s, "b"), 1);
    // The usage of the month that has not ended stays; the old day and month go.
    assert_eq!(s.usage(&t("a"), "d:1970-01-02").unwrap(), Usage::default());
    assert_eq!(s.usage(&t("a"), "m:1970-01").unwrap(), Usage::default());
    assert_eq!(s.usage(&t("a"), "m:1970-02").unwrap().requests, 1);
    assert_eq!(s.usage(&t("b"), "m:1970-01").unwrap().requests, 1);
    // The deleted document went to the index change log, so indexes drop it.
    let changes = s.index_changes(&t("a"), &c("c"), head, 10).unwrap();
    assert_eq!(
        changes.iter().map(|ch| &ch.document).collect::<Vec<_>>(),
        [&old.document]
    );
    // A second sweep finds nothing; a kind without a period keeps everything.
    assert_eq!(
        s.sweep_expired(&t("a"), &every_kind(CUTOFF))
            .unwrap()
            .total(),
        0
    );
    let only_answers = RetentionCutoffs {
        answers: Some(NEW + 1),
        ..RetentionCutoffs::default()
    };
    let r = s.sweep_expired(&t("a"), &only_answers).unwrap();
    assert_eq!((r.answers, r.feedback, r.documents), (1, 1, 0));
    assert_eq!(present(&s, "a", &new), [true, false, false, true, true]);
}

both!(a_tenant_hold_blocks_sweeps_erasure_and_offboarding);
fn a_tenant_hold_blocks_sweeps_erasure_and_offboarding(s: Fixture) {
    let old = trace(&s, "a", "alice", OLD, "old");
    s.put_legal_hold(&hold("a", None)).unwrap();
    assert_eq!(s.legal_holds(&t("a")).unwrap(), [hold("a", None)]);
    assert!(s.legal_holds(&t("b")).unwrap().is_empty());

    let conflict = |e: Error| match e {
        Error::Conflict(m) => m,
        other => panic!("expected a conflict, got {other:?}"),
    };
    let m = conflict(s.sweep_expired(&t("a"), &every_kind(NEW)).unwrap_err());
    assert!(m.contains("tenant a is under legal hold"), "{m}");
    let m = conflict(s.erase_owner(&t("a"), "alice").unwrap_err());
    assert!(m.contains("tenant a is under legal hold"), "{m}");
    let m = conflict(s.purge_tenant(&t("a")).unwrap_err());
    assert!(m.contains("tenant a is under legal hold"), "{m}");
    assert_eq!(present(&s, "a", &old), [true; 5], "nothing deleted");
    // Tenant b is not held.
    trace(&s, "b", "alice", OLD, "b");
    assert_eq!(
        s.sweep_expired(&t("b"), &every_kind(NEW))
            .unwrap()
            .documents,
        1
    );

    s.clear_legal_hold(&t("a"), None).unwrap();
    assert!(matches!(
        s.clear_legal_hold(&t("a"), None),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(
        s.sweep_expired(&t("a"), &every_kind(NEW))
            .unwrap()
            .documents,
        1
    );
}

both!(a_user_hold_keeps_that_users_rows_only);
fn a_user_hold_keeps_that_users_rows_only(s: Fixture) {
    let alice = trace(&s, "a", "alice", OLD, "alice");
    let bob = trace(&s, "a", "bob", OLD, "bob");
    // Alice gave feedback on bob's answer: the answer stays while she is held.
    s.add_feedback(&Feedback {
        tenant: t("a"),
        id: FeedbackId::generate(),
        answer: bob.answer.clone(),
        rating: -1,
        comment: "alice on bob".into(),
        owner: Some("alice".into()),
        created_at: NEW,
    })
    .unwrap();
    // Alice in tenant b is someone else: not held.
    let alice_b = trace(&s, "b", "alice", OLD, "alice-b");
    s.put_legal_hold(&hold("a", Some("alice"))).unwrap();

    let r = s.sweep_expired(&t("a"), &every_kind(CUTOFF)).unwrap();
    assert_eq!(r.held_users, ["alice"]);
    assert_eq!(present(&s, "a", &alice), [true; 5], "held rows stay");
    assert_eq!(
        present(&s, "a", &bob),
        [false, true, true, false, false],
        "bob's rows go, but his answer keeps alice's feedback"
    );
    s.sweep_expired(&t("b"), &every_kind(CUTOFF)).unwrap();
    assert_eq!(present(&s, "b", &alice_b), [false; 5]);

    let m = s.erase_owner(&t("a"), "alice").unwrap_err().to_string();
    assert!(
        m.contains("user alice of tenant a is under legal hold"),
        "{m}"
    );
    // Erasing bob would take alice's feedback on his answer along.
    let m = s.erase_owner(&t("a"), "bob").unwrap_err().to_string();
    assert!(
        m.contains("user alice of tenant a is under legal hold"),
        "{m}"
    );
    let m = s.purge_tenant(&t("a")).unwrap_err().to_string();
    assert!(
        m.contains("user alice of tenant a is under legal hold"),
        "{m}"
    );
    s.clear_legal_hold(&t("a"), Some("alice")).unwrap();
    assert_eq!(s.erase_owner(&t("a"), "alice").unwrap().documents, 1);
    s.erase_owner(&t("a"), "bob").unwrap();
}

/// Rows per table for `tenant`, for every table with a `tenant_id` column, read from
/// the database directly.
fn rows_by_table(s: &Fixture, tenant: &str) -> Vec<(String, i64)> {
    let tables = s.query_strings(match s.backend() {
        Backend::Sqlite => {
            "SELECT m.name FROM sqlite_master m WHERE m.type = 'table' AND EXISTS
                (SELECT 1 FROM pragma_table_info(m.name) p WHERE p.name = 'tenant_id')
             ORDER BY m.name"
        }
        Backend::Postgres => {
            "SELECT c.table_name::text FROM information_schema.columns c
             JOIN information_schema.tables t
               ON t.table_schema = c.table_schema AND t.table_name = c.table_name
             WHERE c.table_schema = current_schema() AND c.column_name = 'tenant_id'
               AND t.table_type = 'BASE TABLE'
             ORDER BY c.table_name::text COLLATE \"C\""
        }
    });
    assert!(tables.len() > 10, "found the tables: {tables:?}");
    tables
        .into_iter()
        .map(|table| {
            let n = s.query_i64(
                &format!("SELECT COUNT(*) FROM {table} WHERE tenant_id = $1"),
                &[tenant],
            );
            (table, n)
        })
        .collect()
}

fn user(tenant: &str, id: &str) -> User {
    User {
        tenant: t(tenant),
        id: id.into(),
        email: String::new(),
        name: id.into(),
        role: "member".into(),
        groups: vec![],
        disabled: false,
        created_at: 1,
        updated_at: 1,
    }
}

both!(offboarding_removes_every_row_of_the_tenant_but_its_audit);
fn offboarding_removes_every_row_of_the_tenant_but_its_audit(s: Fixture) {
    for tenant in ["a", "b"] {
        trace(&s, tenant, "alice", OLD, &format!("{tenant}1"));
        trace(&s, tenant, "bob", NEW, &format!("{tenant}2"));
        s.upsert_user(&user(tenant, "alice")).unwrap();
        s.set_tenant_settings(&t(tenant), &serde_json::json!({"limits": {}}), 1)
            .unwrap();
        s.put_secret(&t(tenant), "provider", "sealed", "k1", 1)
            .unwrap();
        let draft = AuditDraft {
            at: 1,
            tenant: tenant.into(),
            actor: "operator".into(),
            action: "users.put".into(),
            target: "alice".into(),
            outcome: "ok".into(),
            detail: serde_json::json!({}),
        };
        s.append_audit(&draft, "genesis", &|seq, prev, _| format!("{prev}{seq}"))
            .unwrap();
    }
    s.put_legal_hold(&hold("b", Some("carol"))).unwrap();
    let before_b = rows_by_table(&s, "b");

    let r = s.purge_tenant(&t("a")).unwrap();
    assert_eq!(
        (
            r.collections,
            r.documents,
            r.chunks,
            r.conversations,
            r.messages
        ),
        (1, 2, 4, 2, 4),
        "{r:?}"
    );
    assert_eq!(
        (r.answers, r.feedback, r.jobs, r.idempotency_keys, r.users),
        (2, 2, 2, 2, 1),
        "{r:?}"
    );
    assert_eq!(
        (
            r.usage_rows,
            r.settings,
            r.secrets,
            r.tenants,
            r.index_changes
        ),
        (6, 1, 1, 1, 2),
        "{r:?}"
    );
    assert_eq!(r.collection_ids, [c("c")]);
    for (table, n) in rows_by_table(&s, "a") {
        if table == "audit_log" {
            assert_eq!(n, 1, "the audit chain is kept");
        } else {
            assert_eq!(n, 0, "{table} still holds rows of tenant a");
        }
    }
    assert_eq!(rows_by_table(&s, "b"), before_b, "tenant b untouched");
    assert!(matches!(
        s.purge_tenant(&t("a")),
        Err(Error::NotFound { .. })
    ));
    // Tenant b has a held user: refused, nothing removed.
    let m = s.purge_tenant(&t("b")).unwrap_err().to_string();
    assert!(
        m.contains("user carol of tenant b is under legal hold"),
        "{m}"
    );
    assert_eq!(rows_by_table(&s, "b"), before_b);
}
