//! The adversarial isolation suite: one server, and every endpoint attacked across
//! tenants, ACLs and owners (guessed and borrowed ids, forged filters, other tenants'
//! keys, revoked and rotated keys). Everything it must not see reads as 404. It runs on
//! both store backends.

use super::matrix;
use super::world::*;
use crate::common;
use crate::common::server::{Server, call};
use serde_json::json;

/// Ids the phases attack, as the operator sees them.
struct Ids {
    hr_doc: String,
    eng_doc: String,
    gx_doc: String,
    hr_job: String,
    pub_job: String,
}

#[test]
fn tenants_and_acls_cannot_be_crossed_through_any_endpoint() {
    attack_everything(world(""));
}

/// The same suite with the state in PostgreSQL (`store.backend = "postgres"`, a fresh
/// migrated database on the test server) and the rate limits in Redis.
#[test]
fn tenants_and_acls_cannot_be_crossed_on_the_postgres_backend() {
    attack_everything(world_on_postgres());
}

/// Again with the searches themselves in PostgreSQL: tenant, collection and ACL filters
/// inside pgvector's and full-text search's queries.
#[test]
fn tenants_and_acls_cannot_be_crossed_with_search_in_postgres() {
    attack_everything(world_searching_in_postgres());
}

fn attack_everything(w: World) {
    let h = w.home.path();
    let hr_doc = doc_id(h, "acme", "hr.md");
    let eng_doc = doc_id(h, "acme", "eng.md");
    let gx_doc = doc_id(h, "globex", "globex.md");
    let jobs = job_ids(h, "acme");
    let hr_job = jobs
        .iter()
        .find(|(_, p)| p.ends_with("hr.md"))
        .unwrap()
        .0
        .clone();
    let pub_job = jobs
        .iter()
        .find(|(_, p)| p.ends_with("public.md"))
        .unwrap()
        .0
        .clone();
    let ids = Ids {
        hr_doc,
        eng_doc,
        gx_doc,
        hr_job,
        pub_job,
    };
    // A master key, so the secrets routes can be attacked.
    ok(common::cairn(h, &["secrets", "init-key"]));
    let acme_owner = common::new_key(h, "acme", "owner", None);
    let gx_owner = common::new_key(h, "globex", "owner", None);
    let viewer = common::new_key(h, "acme", "viewer", Some("carol"));
    let s = Server::start(h);
    authentication(&w, &s, &ids);
    retrieval(&w, &s, &ids);
    documents(&w, &s, &ids);
    job_listings(&w, &s, &ids);
    let (conv, answer) = conversations_and_answers(&w, &s);
    openai_surface(&w, &s, &ids);
    let (scoped_key, scoped_id) = roles_and_scopes(&w, &s);
    tenant_administration(&w, &s, &scoped_key, &scoped_id);
    let agent_run = agent_run_of_alice(&w, &s, &acme_owner);
    // Last: every route of /openapi.json, attacked by kind.
    let targets = matrix::Targets {
        agent_run,
        hr_doc: ids.hr_doc,
        eng_doc: ids.eng_doc,
        hr_job: ids.hr_job,
        pub_job: ids.pub_job,
        conv,
        answer,
        acme_owner,
        gx_owner,
        viewer,
    };
    matrix::every_route(&w, &s, &targets);
}

/// A run of agent `helper` started (asynchronously) and cancelled by alice (or already
/// finished: the small test model may end it before the cancel arrives), and acme's own
/// saved agent `acme-agent`.
fn agent_run_of_alice(w: &World, s: &Server, acme_owner: &str) -> String {
    let saved = call(
        "PUT",
        &format!("{}/api/v1/agents/acme-agent", s.url),
        Some(acme_owner),
        Some(&json!({"description": "acme only", "tools": ["search"], "collections": ["kb"]})),
    );
    assert_eq!(saved.status, 200, "{}", saved.text);
    let r = call(
        "POST",
        &format!("{}/api/v1/agents/helper/runs", s.url),
        Some(&w.alice),
        Some(&json!({"task": "find the codeword", "wait": false})),
    );
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let c = call(
        "DELETE",
        &format!("{}/api/v1/agent-runs/{id}", s.url),
        Some(&w.alice),
        None,
    );
    if c.status != 200 {
        // Only a run that already ended may refuse the cancel.
        assert_eq!(c.status, 409, "{}", c.text);
        let run = call(
            "GET",
            &format!("{}/api/v1/agent-runs/{id}", s.url),
            Some(&w.alice),
            None,
        );
        let state = run.body["state"].as_str().unwrap_or_default().to_owned();
        assert!(
            ["succeeded", "failed", "limit_reached"].contains(&state.as_str()),
            "{}",
            run.text
        );
    }
    id
}

/// Authentication: every non-public route needs valid credentials.
fn authentication(w: &World, s: &Server, ids: &Ids) {
    let routes = [
        ("GET", "/v1/models"),
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/embeddings"),
        ("GET", "/api/v1/collections"),
        ("GET", "/api/v1/collections/kb/documents"),
        ("GET", &format!("/api/v1/documents/{}", ids.hr_doc)),
        ("GET", "/api/v1/jobs"),
        ("POST", "/api/v1/search"),
        ("POST", "/api/v1/ask"),
        ("GET", "/api/v1/conversations"),
        ("GET", "/api/v1/keys"),
        ("GET", "/api/v1/audit"),
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/no-such-route"),
    ];
    for bad in [
        None,
        Some("cairn_AAAAAAAAAAAA_wrongsecret"),
        Some("garbage"),
        Some("a.b.c"),
    ] {
        for (m, p) in routes {
            let r = call(m, &format!("{}{p}", s.url), bad, Some(&json!({})));
            assert_eq!(r.status, 401, "{m} {p} with {bad:?}: {}", r.text);
            assert_eq!(code(&r), "unauthorized");
        }
    }
    // A real lookup with the wrong secret is refused too.
    // (The last character is replaced by a different one: a key ending in `x` once made
    // this "forgery" the real key.)
    let last = if w.alice.ends_with('x') { 'y' } else { 'x' };
    let forged = format!("{}{last}", &w.alice[..w.alice.len() - 1]);
    assert_eq!(get(s, "/api/v1/me", &forged).status, 401);
    for public in ["/healthz", "/readyz", "/openapi.json", "/docs"] {
        assert_eq!(
            call("GET", &format!("{}{public}", s.url), None, None).status,
            200
        );
    }
    let me = get(s, "/api/v1/me", &w.alice);
    assert_eq!(me.status, 200);
    assert_eq!(me.body["tenant"], "acme");
    assert_eq!(me.body["user"], "alice");
}

/// Retrieval filters by tenant and ACL, whatever the request says.
fn retrieval(w: &World, s: &Server, ids: &Ids) {
    let t = search_text(
        s,
        &w.alice,
        "kb",
        "Zephyrine deployment codeword",
        json!({}),
    );
    assert!(t.contains("BLUEFALCON"), "alice is in eng: {t}");
    for (key, who) in [(&w.alice, "alice"), (&w.carol, "carol"), (&w.erin, "erin")] {
        for extra in [
            json!({}),
            json!({"filter": {"access": {"kind": "all"}}}),
            json!({"filter": {"access": {"kind": "principal", "user": "bob", "groups": ["hr"]}}}),
            json!({"mode": "lexical"}),
            json!({"mode": "dense"}),
        ] {
            let t = search_text(
                s,
                key,
                "kb",
                "salary band quokka staff 97000",
                extra.clone(),
            );
            assert!(
                !t.contains("quokka") && !t.contains(&ids.hr_doc),
                "{who} {extra}: {t}"
            );
        }
    }
    let t = search_text(
        s,
        &w.carol,
        "kb",
        "Zephyrine BLUEFALCON codeword",
        json!({}),
    );
    assert!(!t.contains("BLUEFALCON"), "carol is not in eng: {t}");
    let t = search_text(s, &w.bob, "kb", "salary band quokka", json!({}));
    assert!(t.contains("quokka"), "bob is on hr.md's ACL: {t}");
    // Globex cannot see acme's collection (it does not exist there), and vice versa.
    let r = post(
        s,
        "/api/v1/search",
        &w.gina,
        json!({"collection": "kb", "query": "BLUEFALCON"}),
    );
    assert!(
        r.status == 404 || !r.body["hits"].to_string().contains("BLUEFALCON"),
        "{}",
        r.text
    );
    let r = post(
        s,
        "/api/v1/search",
        &w.admin,
        json!({"collection": "gx", "query": "NIGHTJAR merger"}),
    );
    assert!(
        r.status == 404 || !r.body["hits"].to_string().contains("NIGHTJAR"),
        "{}",
        r.text
    );
    let t = search_text(s, &w.gina, "gx", "merger codename", json!({}));
    assert!(t.contains("NIGHTJAR"));
    // Admins see every document of their own tenant only.
    let t = search_text(s, &w.admin, "kb", "salary band quokka", json!({}));
    assert!(t.contains("quokka"));
}

/// Documents: listings filter, guessed or borrowed ids are not found.
fn documents(w: &World, s: &Server, ids: &Ids) {
    let list = get(s, "/api/v1/collections/kb/documents", &w.alice);
    assert_eq!(list.status, 200);
    assert!(
        list.text.contains(&ids.eng_doc) && !list.text.contains(&ids.hr_doc),
        "{}",
        list.text
    );
    let list = get(s, "/api/v1/collections/kb/documents", &w.carol);
    assert!(!list.text.contains(&ids.eng_doc) && !list.text.contains(&ids.hr_doc));
    for (key, id) in [
        (&w.alice, &ids.hr_doc),
        (&w.carol, &ids.eng_doc),
        (&w.gina, &ids.hr_doc),
        (&w.admin, &ids.gx_doc),
    ] {
        let r = get(s, &format!("/api/v1/documents/{id}"), key);
        assert_eq!(r.status, 404, "{}", r.text);
        assert!(!r.text.contains("quokka") && !r.text.contains("NIGHTJAR"));
    }
    for guess in [
        "1",
        "../hr.md",
        "00000000-0000-0000-0000-000000000000",
        "%2e%2e",
    ] {
        assert_eq!(
            get(s, &format!("/api/v1/documents/{guess}"), &w.alice).status,
            404
        );
    }
    // Editors cannot delete what they cannot see; nothing is lost.
    assert_eq!(
        del(s, &format!("/api/v1/documents/{}", ids.hr_doc), &w.erin).status,
        404
    );
    assert_eq!(
        get(s, &format!("/api/v1/documents/{}", ids.hr_doc), &w.bob).status,
        200
    );
    // Collection counts are hidden from restricted callers.
    let c = get(s, "/api/v1/collections/kb", &w.alice);
    assert!(c.body.get("chunk_count").is_none(), "{}", c.text);
    // An upload cannot overwrite a document its uploader cannot see.
    let upload = |key: &str, name: &str, text: &str, acl: &str| {
        let r = common::server::upload(&s.url, key, "kb", name, text, Some(acl));
        (r.status, r.text)
    };
    let (st, body) = upload(
        &w.bob,
        "plan.md",
        "# Plan\n\nBob's private reorganisation plan names WOMBAT.",
        r#"{"users":["bob"],"groups":[]}"#,
    );
    assert_eq!(st, 201, "{body}");
    let (st, body) = upload(
        &w.erin,
        "plan.md",
        "# Plan\n\nErin overwrites it.",
        r#"{"users":[],"groups":[]}"#,
    );
    assert_eq!(st, 409, "{body}");
    let t = search_text(s, &w.bob, "kb", "reorganisation plan WOMBAT", json!({}));
    assert!(t.contains("WOMBAT"), "bob's upload is intact: {t}");
}

/// Jobs: role-gated, filtered by the ingest's ACL, ids not found across.
fn job_listings(w: &World, s: &Server, ids: &Ids) {
    assert_eq!(get(s, "/api/v1/jobs", &w.alice).status, 403);
    let jobs = get(s, "/api/v1/jobs", &w.erin);
    assert_eq!(jobs.status, 200);
    assert!(
        jobs.text.contains(&ids.pub_job) && !jobs.text.contains(&ids.hr_job),
        "{}",
        jobs.text
    );
    assert_eq!(
        get(s, &format!("/api/v1/jobs/{}", ids.hr_job), &w.erin).status,
        404
    );
    assert_eq!(
        get(s, &format!("/api/v1/jobs/{}", ids.pub_job), &w.erin).status,
        200
    );
    assert_eq!(
        get(s, &format!("/api/v1/jobs/{}", ids.pub_job), &w.gina).status,
        404
    );
}

/// Conversations and answers belong to their owner. Returns alice's conversation and
/// answer.
fn conversations_and_answers(w: &World, s: &Server) -> (String, String) {
    let conv = post(
        s,
        "/api/v1/conversations",
        &w.alice,
        json!({"collection": "kb", "title": "alice's"}),
    );
    assert_eq!(conv.status, 201, "{}", conv.text);
    let conv_id = conv.body["id"].as_str().unwrap().to_owned();
    let ask = post(
        s,
        "/api/v1/ask",
        &w.alice,
        json!({"collection": "kb", "question": "What is the Zephyrine deployment codeword?",
               "conversation": conv_id, "max_tokens": 24}),
    );
    assert_eq!(ask.status, 200, "{}", ask.text);
    assert!(!ask.text.contains("quokka"), "{}", ask.text);
    let answer_id = ask.body["id"].as_str().unwrap().to_owned();
    for key in [&w.bob, &w.erin, &w.gina, &w.admin] {
        let path = format!("/api/v1/conversations/{conv_id}");
        assert_eq!(get(s, &path, key).status, 404);
        assert_eq!(del(s, &path, key).status, 404);
        assert_eq!(
            get(s, &format!("/api/v1/answers/{answer_id}"), key).status,
            404
        );
        let fb = post(
            s,
            &format!("/api/v1/answers/{answer_id}/feedback"),
            key,
            json!({"rating": -1}),
        );
        assert_eq!(fb.status, 404);
        let list = get(s, "/api/v1/conversations", key);
        assert!(!list.text.contains(&conv_id));
        // Borrowing the conversation id in an ask does not read its history.
        let r = post(
            s,
            "/api/v1/ask",
            key,
            json!({"collection": "kb", "question": "hi", "conversation": conv_id}),
        );
        assert!(r.status == 404 || r.status == 403, "{}", r.text);
    }
    assert_eq!(
        get(s, &format!("/api/v1/conversations/{conv_id}"), &w.alice).status,
        200
    );
    let a = get(s, &format!("/api/v1/answers/{answer_id}"), &w.alice);
    assert_eq!(a.status, 200);
    (conv_id, answer_id)
}

/// The OpenAI surface: models per tenant, cairn-rag answers filtered by ACL.
fn openai_surface(w: &World, s: &Server, ids: &Ids) {
    let models = get(s, "/v1/models", &w.gina);
    assert!(models.text.contains("cairn-rag:gx") && !models.text.contains("cairn-rag:kb"));
    let rag = post(
        s,
        "/v1/chat/completions",
        &w.alice,
        json!({"model": "cairn-rag:kb", "max_tokens": 16,
               "messages": [{"role": "user", "content": "What is the salary band for quokka-level staff?"}]}),
    );
    assert_eq!(rag.status, 200, "{}", rag.text);
    let sources = rag.body["cairn"]["sources"].to_string();
    assert!(
        !sources.contains(&ids.hr_doc) && !sources.contains("hr.md"),
        "{sources}"
    );
}

/// Roles and scopes: 403, distinct from 401.
fn roles_and_scopes(w: &World, s: &Server) -> (String, String) {
    let r = post(
        s,
        "/api/v1/ask",
        &w.carol,
        json!({"collection": "kb", "question": "office hours?"}),
    );
    assert_eq!((r.status, code(&r)), (403, "forbidden"), "{}", r.text);
    assert_eq!(
        post(s, "/api/v1/keys", &w.alice, json!({"name": "x"})).status,
        403
    );
    let r = post(
        s,
        "/api/v1/keys",
        &w.admin,
        json!({"name": "x", "role": "owner"}),
    );
    assert_eq!(
        r.status, 403,
        "an admin cannot mint an owner key: {}",
        r.text
    );
    assert_eq!(get(s, "/api/v1/audit", &w.alice).status, 403);
    assert_eq!(del(s, "/api/v1/collections/kb", &w.erin).status, 403);
    let scoped = post(
        s,
        "/api/v1/keys",
        &w.admin,
        json!({"name": "search-only", "role": "member", "scopes": ["search"]}),
    );
    assert_eq!(scoped.status, 201, "{}", scoped.text);
    let scoped_key = scoped.body["token"].as_str().unwrap().to_owned();
    let scoped_id = scoped.body["key"]["id"].as_str().unwrap().to_owned();
    assert!(
        scoped.body["key"].get("hash").is_none(),
        "hashes never leave the server"
    );
    assert_eq!(
        post(
            s,
            "/api/v1/search",
            &scoped_key,
            json!({"collection": "kb", "query": "office"})
        )
        .status,
        200
    );
    let r = post(
        s,
        "/api/v1/ask",
        &scoped_key,
        json!({"collection": "kb", "question": "office?"}),
    );
    assert_eq!(r.status, 403);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("scope")
    );
    // A service key without a user sees only documents without an ACL.
    let t = search_text(
        s,
        &scoped_key,
        "kb",
        "Zephyrine BLUEFALCON codeword",
        json!({}),
    );
    assert!(!t.contains("BLUEFALCON"));
    (scoped_key, scoped_id)
}

/// Keys, users, audit and settings of one tenant are invisible to another.
fn tenant_administration(w: &World, s: &Server, scoped_key: &str, scoped_id: &str) {
    assert_eq!(
        del(s, &format!("/api/v1/keys/{scoped_id}"), &w.gina).status,
        404
    );
    assert_eq!(
        post(
            s,
            &format!("/api/v1/keys/{scoped_id}/rotate"),
            &w.gina,
            json!({})
        )
        .status,
        404
    );
    assert_eq!(get(s, "/api/v1/users/alice", &w.gina).status, 404);
    let keys = get(s, "/api/v1/keys", &w.gina);
    assert!(!keys.text.contains(scoped_id));
    let audit = get(s, "/api/v1/audit?limit=1000", &w.gina);
    assert_eq!(audit.status, 200);
    for row in audit.body["data"].as_array().unwrap() {
        assert_eq!(row["tenant"], "globex", "{row}");
    }
    // Revocation takes effect at once.
    assert_eq!(
        del(s, &format!("/api/v1/keys/{scoped_id}"), &w.admin).status,
        200
    );
    let r = post(
        s,
        "/api/v1/search",
        scoped_key,
        json!({"collection": "kb", "query": "office"}),
    );
    assert_eq!((r.status, code(&r)), (401, "unauthorized"));
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );
    // Rotation: the old token stops, the new one works.
    let rot = post(
        s,
        &format!("/api/v1/keys/{}/rotate", key_id(s, &w.admin, "carol")),
        &w.admin,
        json!({}),
    );
    assert_eq!(rot.status, 201, "{}", rot.text);
    assert_eq!(get(s, "/api/v1/me", &w.carol).status, 401);
    assert_eq!(
        get(s, "/api/v1/me", rot.body["token"].as_str().unwrap()).status,
        200
    );
}
