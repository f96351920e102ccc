//! The data lifecycle through the engine, over real indexes: the retention sweep takes
//! an expired document out of search (lexical and dense) and syncs the index itself,
//! per-tenant overrides and legal holds are honoured, and offboarding removes a
//! tenant's rows and index directories while another tenant keeps searching.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use cairn_engine::Engine;
use cairn_engine::search::{SearchMode, SearchRequest};
use cairn_types::{CollectionId, ErrorCode, TenantId};

const DAY: i64 = 86_400_000;
const TEXT: &str = "# Deadlock errors\n\nWhen two transactions wait on each other's locks, \
    PostgreSQL aborts one of them with SQLSTATE 40P01 deadlock_detected. Retry the aborted \
    transaction; deadlock_timeout controls how long the server waits before checking.";

fn engine(dir: &std::path::Path) -> Engine {
    common::engine(
        dir,
        "[ingest.quality]\nmin_chars = 10\n[retention]\ndocuments_days = 30\n",
    )
}

fn t(s: &str) -> TenantId {
    TenantId::new(s)
}

fn upload(e: &Engine, tenant: &str, coll: &str, name: &str) {
    common::upload(e, tenant, coll, name, TEXT);
}

/// Sources found for "deadlock" in `mode`.
fn found(e: &Engine, tenant: &str, coll: &str, mode: SearchMode) -> Vec<String> {
    let mut req = SearchRequest::new(CollectionId::new(coll), "deadlock transactions 40P01");
    req.mode = Some(mode);
    req.top_k = Some(5);
    e.search(&t(tenant), &req)
        .unwrap()
        .hits
        .into_iter()
        .map(|h| h.source)
        .collect()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn an_expired_document_leaves_search_after_the_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    for tenant in ["a", "keep", "held"] {
        upload(&e, tenant, "kb", "deadlocks.md");
        for mode in [SearchMode::Lexical, SearchMode::Dense] {
            assert_eq!(found(&e, tenant, "kb", mode), ["upload:deadlocks.md"]);
        }
    }
    // Tenant `keep` overrides the configured 30 days: keep documents forever.
    e.store()
        .set_tenant_settings(
            &t("keep"),
            &serde_json::json!({"retention": {"documents_days": 0}}),
            1,
        )
        .unwrap();
    e.set_legal_hold(&t("held"), None, "litigation", "test")
        .unwrap();

    // Nothing has expired yet.
    let r = e.sweep_retention(now()).unwrap();
    assert_eq!(r.deleted(), 0, "{r:?}");
    assert_eq!(found(&e, "a", "kb", SearchMode::Lexical).len(), 1);

    let r = e.sweep_retention(now() + 31 * DAY).unwrap();
    let of = |tenant: &str| r.tenants.iter().find(|x| x.tenant == t(tenant)).unwrap();
    assert_eq!(
        (of("a").deleted.documents, of("a").deleted.chunks > 0),
        (1, true)
    );
    assert!(of("a").index_errors.is_empty(), "{r:?}");
    assert_eq!(of("keep").deleted.total(), 0);
    assert_eq!(of("keep").periods.unwrap().documents_days, 0);
    assert!(
        of("held")
            .skipped
            .as_deref()
            .is_some_and(|s| s.contains("tenant held is under legal hold")),
        "{r:?}"
    );
    // The sweep synced the index itself: nothing is left for the next sync to remove.
    let sync = e.sync_index(&t("a"), &CollectionId::new("kb")).unwrap();
    assert_eq!(sync.documents_removed, 0, "{sync:?}");
    for mode in [SearchMode::Lexical, SearchMode::Dense, SearchMode::Hybrid] {
        assert!(found(&e, "a", "kb", mode).is_empty(), "{mode:?}");
        assert_eq!(found(&e, "keep", "kb", mode).len(), 1);
        assert_eq!(found(&e, "held", "kb", mode).len(), 1);
    }
    let audit = e.tenant_audit(&t("a"), 10).unwrap();
    assert!(audit.iter().any(|a| a.action == "retention.sweep"));

    // Lifting the hold lets the next sweep delete.
    e.clear_legal_hold(&t("held"), None, "test").unwrap();
    let r = e.sweep_retention(now() + 31 * DAY).unwrap();
    assert!(r.deleted() > 0, "{r:?}");
    assert!(found(&e, "held", "kb", SearchMode::Lexical).is_empty());
}

#[test]
fn offboarding_removes_rows_and_index_dirs_of_one_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    for (tenant, coll) in [("gone", "kb"), ("gone", "wiki"), ("stays", "kb")] {
        upload(&e, tenant, coll, "deadlocks.md");
        assert_eq!(found(&e, tenant, coll, SearchMode::Hybrid).len(), 1);
    }
    e.put_user(
        &t("gone"),
        "alice",
        cairn_auth::Role::Member,
        vec![],
        "",
        "",
    )
    .unwrap();
    let index = dir.path().join("data/index");
    assert!(index.join("gone/kb").is_dir() && index.join("gone/wiki").is_dir());

    // A held user blocks the offboarding, and the refusal is audited.
    e.set_legal_hold(&t("gone"), Some("alice"), "", "test")
        .unwrap();
    let err = e.offboard_tenant(&t("gone"), "test").unwrap_err();
    assert_eq!(err.code, ErrorCode::Conflict);
    assert!(
        err.message
            .contains("user alice of tenant gone is under legal hold")
    );
    assert!(index.join("gone/kb").is_dir(), "nothing removed");
    e.clear_legal_hold(&t("gone"), Some("alice"), "test")
        .unwrap();

    let r = e.offboard_tenant(&t("gone"), "test").unwrap();
    assert_eq!(
        (
            r.rows.collections,
            r.rows.documents,
            r.rows.users,
            r.index_dirs
        ),
        (2, 2, 1, 2),
        "{r:?}"
    );
    assert!(r.rows.chunks > 0 && r.rows.tenants == 1);
    assert!(!index.join("gone").exists(), "index directories removed");
    assert!(
        e.store()
            .list_tenants()
            .unwrap()
            .iter()
            .all(|x| x.id != t("gone"))
    );
    assert_eq!(found(&e, "stays", "kb", SearchMode::Hybrid).len(), 1);
    assert!(index.join("stays/kb").is_dir());
    // The audit chain keeps the tenant's history and the offboarding itself.
    let actions: Vec<String> = e
        .tenant_audit(&t("gone"), 50)
        .unwrap()
        .into_iter()
        .map(|a| format!("{} {}", a.action, a.outcome))
        .collect();
    assert!(
        actions.contains(&"tenants.delete ok".to_owned()),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"tenants.delete denied".to_owned()),
        "{actions:?}"
    );
    assert!(
        e.verify_audit().unwrap().broken.is_none(),
        "the chain still verifies"
    );
    // Once gone, it is not found (and nothing else is touched).
    let err = e.offboard_tenant(&t("gone"), "test").unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound);
    assert_eq!(
        e.offboard_tenant(&t("../stays"), "test").unwrap_err().code,
        ErrorCode::InvalidInput
    );
    assert!(index.join("stays/kb").is_dir());
}

/// A conversation that expires takes the files attached to it: their collection goes
/// in the same sweep, while a live conversation keeps its own.
#[test]
fn files_attached_to_an_expired_conversation_go_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let e = common::engine(
        dir.path(),
        "[ingest.quality]\nmin_chars = 10\n[retention]\nconversations_days = 30\n",
    );
    let tenant = t("a");
    let ann = cairn_types::Principal {
        owner: Some("ann".into()),
        user: Some("ann".into()),
        groups: Vec::new(),
        all_documents: false,
    };
    upload(&e, "a", "kb", "deadlocks.md");
    let old = e
        .create_conversation(&tenant, Some("ann"), Some(&CollectionId::new("kb")), "old")
        .unwrap();
    let file = cairn_engine::UploadRequest {
        name: "notes.md",
        bytes: TEXT.as_bytes(),
        ..Default::default()
    };
    let doc = e.attach(&tenant, &ann, &old.id, &file).unwrap();
    assert_eq!(doc.acl.users, ["ann"]);
    assert_eq!(e.attachments(&tenant, &ann, &old.id).unwrap().len(), 1);
    // Another user of the tenant neither attaches to nor lists it.
    let bob = cairn_types::Principal {
        owner: Some("bob".into()),
        user: Some("bob".into()),
        ..ann.clone()
    };
    let err = e.attachments(&tenant, &bob, &old.id).unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound);
    let err = e.attach(&tenant, &bob, &old.id, &file).unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound);
    let files = cairn_engine::answer::attachments::attachments_collection(&old.id);
    assert!(e.store().get_collection(&tenant, &files).is_ok());

    let r = e.sweep_retention(now() + 31 * DAY).unwrap();
    assert!(r.deleted() > 0, "{r:?}");
    assert!(
        e.store().get_collection(&tenant, &files).is_err(),
        "the expired conversation's files are gone"
    );
    // The collection it was asked in stays.
    assert_eq!(found(&e, "a", "kb", SearchMode::Lexical).len(), 1);
}
