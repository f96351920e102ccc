//! Identity, audit, usage, settings, secrets, ACL-filtered listings and GDPR erasure.

use super::support::{Backend, Fixture, c, commit, doc, t};
use cairn_store::{
    AclViewer, AuditDraft, Error, JobFilter, ModelUsage, NewJob, ResealedSecret, SealedSecret,
    Usage,
};
use cairn_types::{Acl, ApiKey, Conversation, ConversationId, JobKind, User};

fn key(tenant: &str, id: &str, lookup: &str, user: Option<&str>) -> ApiKey {
    ApiKey {
        tenant: t(tenant),
        id: id.into(),
        lookup: lookup.into(),
        hash: "$argon2id$fake".into(),
        name: "k".into(),
        user: user.map(str::to_owned),
        role: "member".into(),
        scopes: vec!["search".into()],
        rpm: Some(5.0),
        tpm: None,
        expires_at: None,
        revoked_at: None,
        rotated_from: None,
        last_used_at: None,
        created_at: 1,
    }
}

fn user(tenant: &str, id: &str) -> User {
    User {
        tenant: t(tenant),
        id: id.into(),
        email: format!("{id}@example.com"),
        name: id.into(),
        role: "member".into(),
        groups: vec!["eng".into()],
        disabled: false,
        created_at: 1,
        updated_at: 1,
    }
}

both!(keys_are_found_by_lookup_and_stay_in_their_tenant);
fn keys_are_found_by_lookup_and_stay_in_their_tenant(s: Fixture) {
    s.insert_key(&key("a", "k1", "LOOKUP1", None)).unwrap();
    let found = s.find_key_by_lookup("LOOKUP1").unwrap().unwrap();
    assert_eq!(
        (found.tenant.as_str(), found.scopes.clone()),
        ("a", vec!["search".to_owned()])
    );
    assert_eq!(found.rpm, Some(5.0));
    assert!(s.find_key_by_lookup("nope").unwrap().is_none());
    // The same lookup cannot exist twice, in any tenant.
    assert!(matches!(
        s.insert_key(&key("b", "k9", "LOOKUP1", None)),
        Err(Error::Conflict(_))
    ));
    // Another tenant cannot see, revoke or rotate it.
    assert!(s.list_keys(&t("b")).unwrap().is_empty());
    assert!(matches!(
        s.revoke_key(&t("b"), "k1", 5),
        Err(Error::NotFound { .. })
    ));
    let new = key("b", "k2", "LOOKUP2", None);
    assert!(matches!(
        s.rotate_key(&t("b"), "k1", &new, 5),
        Err(Error::NotFound { .. })
    ));
    assert!(
        s.find_key_by_lookup("LOOKUP2").unwrap().is_none(),
        "nothing half-done"
    );
    // Rotation revokes the old key and inserts the new one together.
    s.rotate_key(&t("a"), "k1", &key("a", "k2", "LOOKUP2", None), 7)
        .unwrap();
    assert_eq!(s.get_key(&t("a"), "k1").unwrap().revoked_at, Some(7));
    assert!(s.get_key(&t("a"), "k2").unwrap().revoked_at.is_none());
    // Revoking twice keeps the first time.
    assert_eq!(s.revoke_key(&t("a"), "k2", 9).unwrap().revoked_at, Some(9));
    assert_eq!(s.revoke_key(&t("a"), "k2", 11).unwrap().revoked_at, Some(9));
    assert!(matches!(
        s.rotate_key(&t("a"), "k2", &key("a", "k3", "L3", None), 12),
        Err(Error::Conflict(_))
    ));
}

both!(users_upsert_and_are_per_tenant);
fn users_upsert_and_are_per_tenant(s: Fixture) {
    s.upsert_user(&user("a", "alice")).unwrap();
    let mut u = user("a", "alice");
    u.role = "admin".into();
    u.created_at = 99;
    let back = s.upsert_user(&u).unwrap();
    assert_eq!((back.role.as_str(), back.created_at), ("admin", 1));
    assert!(matches!(
        s.get_user(&t("b"), "alice"),
        Err(Error::NotFound { .. })
    ));
    let mut bad = user("a", "x");
    bad.role = "god".into();
    assert!(
        s.upsert_user(&bad).is_err(),
        "roles are checked by the schema"
    );
}

fn draft(tenant: &str, action: &str) -> AuditDraft {
    AuditDraft {
        at: 5,
        tenant: tenant.into(),
        actor: "key:k1".into(),
        action: action.into(),
        target: "t".into(),
        outcome: "ok".into(),
        detail: serde_json::json!({"n": 1}),
    }
}

both!(the_audit_log_chains_and_refuses_edits);
fn the_audit_log_chains_and_refuses_edits(s: Fixture) {
    let seal = |seq: i64, prev: &str, d: &AuditDraft| format!("{prev}>{seq}:{}", d.action);
    let a = s
        .append_audit(&draft("a", "keys.create"), "G", &seal)
        .unwrap();
    let b = s
        .append_audit(&draft("b", "documents.read"), "G", &seal)
        .unwrap();
    assert_eq!((a.seq, a.prev_hash.as_str()), (1, "G"));
    assert_eq!((b.seq, b.prev_hash.as_str()), (2, a.hash.as_str()));
    assert_eq!(s.audit_head().unwrap(), Some((2, b.hash.clone())));
    assert_eq!(s.audit_rows(0, 0).unwrap().len(), 2);
    assert_eq!(s.audit_rows(1, 0).unwrap(), vec![b.clone()]);
    let only_a = s.tenant_audit(&t("a"), 10).unwrap();
    assert_eq!(only_a.len(), 1);
    assert_eq!(only_a[0].action, "keys.create");
    assert!(
        s.execute_raw("UPDATE audit_log SET outcome = 'x'", &[])
            .is_err()
    );
    assert!(s.execute_raw("DELETE FROM audit_log", &[]).is_err());
    if s.backend() == Backend::Postgres {
        assert!(s.execute_raw("TRUNCATE audit_log", &[]).is_err());
    }
    assert_eq!(s.audit_rows(0, 0).unwrap().len(), 2);
}

both!(usage_settings_and_secrets);
fn usage_settings_and_secrets(s: Fixture) {
    let d = Usage {
        requests: 1,
        tokens: 40,
        cost_micros: 3,
    };
    s.add_usage(&t("a"), &["d:2026-12-02", "m:2026-12"], &d)
        .unwrap();
    s.add_usage(&t("a"), &["d:2026-12-02", "m:2026-12"], &d)
        .unwrap();
    assert_eq!(s.usage(&t("a"), "m:2026-12").unwrap().tokens, 80);
    assert_eq!(s.usage(&t("b"), "m:2026-12").unwrap(), Usage::default());

    // A model call counts in the periods and in its model's row for the day, together.
    let call = ModelUsage {
        requests: 1,
        input_tokens: 30,
        output_tokens: 5,
        cost_micros: 110,
    };
    for (day, model) in [
        ("2026-12-01", "gpt"),
        ("2026-12-02", "gpt"),
        ("2026-12-02", "gpt"),
        ("2026-12-02", "qwen"),
    ] {
        s.add_model_usage(&t("a"), &["m:2026-12"], day, model, &call)
            .unwrap();
    }
    assert_eq!(s.usage(&t("a"), "m:2026-12").unwrap().tokens, 80 + 4 * 35);
    assert_eq!(
        s.usage(&t("a"), "m:2026-12").unwrap().cost_micros,
        6 + 4 * 110
    );
    let rows = s.model_usage(&t("a"), "2026-12-02").unwrap();
    let seen: Vec<(&str, &str, i64, i64)> = rows
        .iter()
        .map(|r| {
            (
                r.day.as_str(),
                r.model.as_str(),
                r.usage.requests,
                r.usage.input_tokens,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [("2026-12-02", "gpt", 2, 60), ("2026-12-02", "qwen", 1, 30)]
    );
    assert_eq!(s.model_usage(&t("a"), "2026-01-01").unwrap().len(), 3);
    assert!(s.model_usage(&t("b"), "2026-01-01").unwrap().is_empty());
    assert!(s.tenant_settings(&t("a")).unwrap().is_none());
    let v = serde_json::json!({"limits": {"key_rpm": 5}});
    s.set_tenant_settings(&t("a"), &v, 3).unwrap();
    assert_eq!(s.tenant_settings(&t("a")).unwrap(), Some(v));
    assert!(s.tenant_settings(&t("b")).unwrap().is_none());
    s.put_secret(&t("a"), "openai", "v1:sealed", "abcd1234", 4)
        .unwrap();
    assert_eq!(
        s.get_secret(&t("a"), "openai").unwrap(),
        Some(("v1:sealed".into(), "abcd1234".into()))
    );
    assert!(s.get_secret(&t("b"), "openai").unwrap().is_none());
    assert_eq!(s.list_secrets(&t("a")).unwrap().len(), 1);
    assert!(matches!(
        s.delete_secret(&t("b"), "openai"),
        Err(Error::NotFound { .. })
    ));
    s.delete_secret(&t("a"), "openai").unwrap();
    assert!(s.get_secret(&t("a"), "openai").unwrap().is_none());
}

/// Every stored secret re-sealed as `new:<tenant>/<name>` under key `to`.
fn resealed(all: &[SealedSecret], to: &str) -> Vec<ResealedSecret> {
    all.iter()
        .map(|r| ResealedSecret {
            tenant: r.tenant.clone(),
            name: r.name.clone(),
            was: r.sealed.clone(),
            sealed: format!("new:{}/{}", r.tenant, r.name),
            key_id: to.into(),
        })
        .collect()
}

fn key_ids(s: &Fixture) -> Vec<(String, String, String)> {
    s.all_secrets()
        .unwrap()
        .into_iter()
        .map(|r| (r.tenant.to_string(), r.name, r.key_id))
        .collect()
}

both!(a_reseal_replaces_every_tenants_secrets_at_once_or_not_at_all);
fn a_reseal_replaces_every_tenants_secrets_at_once_or_not_at_all(s: Fixture) {
    s.put_secret(&t("b"), "openai", "v1:b-openai", "k0", 1)
        .unwrap();
    s.put_secret(&t("a"), "smtp", "v1:a-smtp", "k0", 1).unwrap();
    s.put_secret(&t("a"), "openai", "v1:a-openai", "k0", 1)
        .unwrap();
    let all = s.all_secrets().unwrap();
    let listed: Vec<_> = all
        .iter()
        .map(|r| (r.tenant.as_str(), r.name.as_str(), r.sealed.as_str()))
        .collect();
    assert_eq!(
        listed,
        [
            ("a", "openai", "v1:a-openai"),
            ("a", "smtp", "v1:a-smtp"),
            ("b", "openai", "v1:b-openai")
        ]
    );
    let before = key_ids(&s);
    let is_conflict = |r: cairn_store::Result<usize>| matches!(r, Err(Error::Conflict(_)));

    // A re-seal that leaves a secret out writes nothing.
    let plan = resealed(&all, "k1");
    assert!(is_conflict(s.reseal_secrets(&plan[..2], 2)));
    // So does one that names a secret twice, or one that no longer exists.
    let mut twice = plan.clone();
    twice[2] = twice[0].clone();
    assert!(is_conflict(s.reseal_secrets(&twice, 2)));
    let mut ghost = plan.clone();
    ghost[2].name = "ghost".into();
    assert!(is_conflict(s.reseal_secrets(&ghost, 2)));
    assert_eq!(key_ids(&s), before);

    // A secret replaced after the read: the rows before it are not left re-sealed.
    s.put_secret(&t("b"), "openai", "v1:b-openai-2", "k0", 3)
        .unwrap();
    assert!(is_conflict(s.reseal_secrets(&plan, 4)));
    assert_eq!(key_ids(&s), before);
    assert_eq!(
        s.get_secret(&t("a"), "openai").unwrap(),
        Some(("v1:a-openai".into(), "k0".into()))
    );
    // A secret added after the read.
    let all = s.all_secrets().unwrap();
    s.put_secret(&t("b"), "late", "v1:b-late", "k0", 5).unwrap();
    assert!(is_conflict(s.reseal_secrets(&resealed(&all, "k1"), 6)));
    assert!(key_ids(&s).iter().all(|(_, _, k)| k == "k0"));

    // Read again: every row of every tenant is replaced.
    let all = s.all_secrets().unwrap();
    assert_eq!(s.reseal_secrets(&resealed(&all, "k1"), 7).unwrap(), 4);
    assert!(key_ids(&s).iter().all(|(_, _, k)| k == "k1"));
    assert_eq!(
        s.get_secret(&t("b"), "late").unwrap(),
        Some(("new:b/late".into(), "k1".into()))
    );
    let listed = s.list_secrets(&t("a")).unwrap();
    assert_eq!(
        listed,
        [
            ("openai".into(), "k1".into(), 7),
            ("smtp".into(), "k1".into(), 7)
        ]
    );
    // Nothing stored: an empty re-seal is a no-op, not an error.
    for r in s.all_secrets().unwrap() {
        s.delete_secret(&r.tenant, &r.name).unwrap();
    }
    assert_eq!(s.reseal_secrets(&[], 8).unwrap(), 0);
}

fn acl(users: &[&str], groups: &[&str]) -> Acl {
    Acl {
        users: users.iter().map(|s| (*s).to_owned()).collect(),
        groups: groups.iter().map(|s| (*s).to_owned()).collect(),
    }
}

both!(acl_filtered_listings_page_exactly);
fn acl_filtered_listings_page_exactly(s: Fixture) {
    for (name, a) in [
        ("open", acl(&[], &[])),
        ("alice", acl(&["alice"], &[])),
        ("eng", acl(&[], &["eng"])),
        ("hr", acl(&["bob"], &["hr"])),
    ] {
        let mut d = doc("a", name, name);
        d.acl = a;
        commit(&s, d, &["text"]);
    }
    let v = |user: Option<&str>, groups: &[&str]| AclViewer {
        user: user.map(str::to_owned),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
    };
    let names = |viewer: &AclViewer, limit: usize, offset: usize| -> Vec<String> {
        s.list_documents_for(&t("a"), Some(&c("c")), viewer, limit, offset)
            .unwrap()
            .into_iter()
            .map(|d| d.source)
            .collect()
    };
    assert_eq!(
        names(&v(Some("alice"), &["eng"]), 10, 0),
        ["alice", "eng", "open"]
    );
    assert_eq!(names(&v(Some("alice"), &["eng"]), 1, 1), ["eng"]);
    assert_eq!(names(&v(None, &[]), 10, 0), ["open"]);
    assert_eq!(names(&v(Some("carol"), &["hr"]), 10, 0), ["hr", "open"]);
    assert!(
        s.list_documents_for(&t("b"), None, &v(Some("alice"), &["eng"]), 10, 0)
            .unwrap()
            .is_empty()
    );
    // Jobs follow the ACL their ingest carried.
    let job = |path: &str, a: Acl| NewJob {
        collection: c("c"),
        batch: "b".into(),
        kind: JobKind::IngestFile {
            path: path.into(),
            acl: a,
            metadata: serde_json::Map::new(),
            force: false,
        },
        max_attempts: 1,
    };
    s.enqueue(
        &t("a"),
        &[job("/open", acl(&[], &[])), job("/hr", acl(&["bob"], &[]))],
        1,
    )
    .unwrap();
    let seen = s
        .list_jobs_for(&t("a"), &JobFilter::default(), &v(Some("alice"), &["eng"]))
        .unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        s.list_jobs(&t("a"), &JobFilter::default()).unwrap().len(),
        2
    );
}

both!(erasing_an_owner_removes_their_rows_and_tells_the_index);
fn erasing_an_owner_removes_their_rows_and_tells_the_index(s: Fixture) {
    s.upsert_user(&user("a", "alice")).unwrap();
    s.insert_key(&key("a", "k1", "L1", Some("alice"))).unwrap();
    let conv = |owner: &str| Conversation {
        tenant: t("a"),
        id: ConversationId::generate(),
        collection: None,
        title: owner.into(),
        summary: String::new(),
        summarized_through: 0,
        owner: Some(owner.into()),
        created_at: 1,
        updated_at: 1,
    };
    let (ca, cb) = (conv("alice"), conv("bob"));
    s.create_conversation(&ca).unwrap();
    s.create_conversation(&cb).unwrap();
    let mut d = doc("a", "upload:diary.md", "h1");
    d.owner = Some("alice".into());
    let d = commit(&s, d, &["dear diary", "more"]);
    let kept = commit(&s, doc("a", "upload:other.md", "h2"), &["other"]);
    let head = s.index_head(&t("a"), &c("c")).unwrap();
    let export = s.export_owner(&t("a"), "alice").unwrap();
    assert_eq!(export.conversations.len(), 1);
    assert_eq!(export.documents.len(), 1);
    assert_eq!(export.documents[0].1, ["dear diary", "more"]);
    assert_eq!(export.api_keys.len(), 1);
    let r = s.erase_owner(&t("a"), "alice").unwrap();
    assert_eq!(
        (r.users, r.api_keys, r.conversations, r.documents, r.chunks),
        (1, 1, 1, 1, 2)
    );
    assert!(matches!(
        s.get_document(&t("a"), &d.id),
        Err(Error::NotFound { .. })
    ));
    assert!(s.get_document(&t("a"), &kept.id).is_ok());
    assert!(s.get_conversation(&t("a"), &cb.id).is_ok());
    assert!(
        s.index_head(&t("a"), &c("c")).unwrap() > head,
        "a delete for the index"
    );
    let after = s.export_owner(&t("a"), "alice").unwrap();
    assert!(after.user.is_none() && after.documents.is_empty() && after.api_keys.is_empty());
}
