//! The attack matrix: every authenticated route of the router attacked from another
//! tenant, with a role or scope that lacks its permission, and (where it touches ACL'd
//! or owned data) by a same-tenant caller the ACL or the owner excludes. The routes come
//! from `/openapi.json`: [`Attacks::assert_every_route_attacked`] fails naming each
//! (method, path) without its cases.

use super::coverage::{Attacks, Kind};
use super::world::*;
use crate::common::server::{Reply, Server, upload};
use serde_json::json;

/// What the matrix attacks and with whom (besides the world's keys).
pub(crate) struct Targets {
    pub(crate) hr_doc: String,
    pub(crate) eng_doc: String,
    pub(crate) hr_job: String,
    pub(crate) pub_job: String,
    /// Alice's conversation and an answer in it.
    pub(crate) conv: String,
    pub(crate) answer: String,
    /// Fresh keys: acme and globex owners, an acme viewer (carol's was rotated).
    pub(crate) acme_owner: String,
    pub(crate) gx_owner: String,
    pub(crate) viewer: String,
}

fn status(want: &'static [u16]) -> impl FnOnce(&Reply) {
    move |r: &Reply| {
        assert!(
            want.contains(&r.status),
            "want {want:?}: {} {}",
            r.status,
            r.text
        )
    }
}

fn forbidden(r: &Reply) {
    assert_eq!((r.status, code(r)), (403, "forbidden"), "{}", r.text);
}

fn not_found(r: &Reply) {
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(
        r.body["error"]["code"]
            .as_str()
            .map(|c| c.ends_with("not_found")),
        Some(true)
    );
}

/// A search's hits (not the echoed query) hold none of `words`.
fn hits_lack(words: Vec<String>) -> impl FnOnce(&Reply) {
    move |r: &Reply| {
        assert!(r.status == 200 || r.status == 404, "{}", r.text);
        let hits = r.body["hits"].to_string();
        for w in &words {
            assert!(!hits.contains(w.as_str()), "leaked {w}: {hits}");
        }
    }
}

fn lacks(words: Vec<String>) -> impl FnOnce(&Reply) {
    move |r: &Reply| {
        assert!(r.status < 500, "{}", r.text);
        for w in &words {
            assert!(!r.text.contains(w.as_str()), "leaked {w}: {}", r.text);
        }
    }
}

pub(crate) fn every_route(w: &World, s: &Server, t: &Targets) {
    let mut a = Attacks::new(s);
    wrong_role(&mut a, w, t);
    cross_acl(&mut a, w, t);
    cross_tenant(&mut a, w, t);
    a.assert_every_route_attacked();
}

/// A role or a key scope without the route's permission: 403 `forbidden` on every
/// route, before any id is looked up.
fn wrong_role(a: &mut Attacks, w: &World, t: &Targets) {
    use Kind::WrongRole;
    let s = a.s;
    let scoped = post(
        s,
        "/api/v1/keys",
        &w.admin,
        json!({"name": "conversations-only", "role": "member", "user": "alice", "scopes": ["conversations"]}),
    );
    assert_eq!(scoped.status, 201, "{}", scoped.text);
    let conv_only = scoped.body["token"].as_str().unwrap().to_owned();
    let alice_key = key_id(s, &w.admin, "alice");
    let (conv, answer) = (&t.conv, &t.answer);
    let body = Some(json!({}));
    // Search and document reads: every role has them, a scoped key may not.
    for (m, p, b) in [
        ("GET", "/v1/models".to_owned(), None),
        ("GET", "/v1/models/cairn-rag:kb".to_owned(), None),
        (
            "POST",
            "/api/v1/search".to_owned(),
            Some(json!({"collection": "kb", "query": "office"})),
        ),
        ("GET", "/api/v1/collections".to_owned(), None),
        ("GET", "/api/v1/collections/kb".to_owned(), None),
        ("GET", "/api/v1/collections/kb/documents".to_owned(), None),
        ("GET", format!("/api/v1/documents/{}", t.eng_doc), None),
    ] {
        a.run(WrongRole, m, &p, &conv_only, b, forbidden);
    }
    // Generation and conversations: a viewer may not.
    let question = json!({"collection": "kb", "question": "office hours?", "max_tokens": 4});
    let chat = json!({"model": "cairn-rag:kb", "max_tokens": 4,
                      "messages": [{"role": "user", "content": "office hours?"}]});
    for (m, p, b) in [
        ("POST", "/v1/chat/completions".to_owned(), Some(chat)),
        (
            "POST",
            "/v1/responses".to_owned(),
            Some(
                json!({"model": "cairn-rag:kb", "input": "office hours?", "max_output_tokens": 4}),
            ),
        ),
        (
            "POST",
            "/v1/embeddings".to_owned(),
            Some(json!({"model": "x", "input": "hi"})),
        ),
        (
            "POST",
            "/v1/rerank".to_owned(),
            Some(json!({"query": "hi", "documents": ["a"]})),
        ),
        ("POST", "/api/v1/ask".to_owned(), Some(question)),
        (
            "POST",
            "/api/v1/conversations".to_owned(),
            Some(json!({"collection": "kb"})),
        ),
        ("GET", "/api/v1/conversations".to_owned(), None),
        ("GET", format!("/api/v1/conversations/{conv}"), None),
        ("DELETE", format!("/api/v1/conversations/{conv}"), None),
        (
            "PATCH",
            format!("/api/v1/conversations/{conv}"),
            Some(json!({"title": "renamed"})),
        ),
        ("GET", format!("/api/v1/answers/{answer}"), None),
        (
            "POST",
            format!("/api/v1/answers/{answer}/feedback"),
            Some(json!({"rating": 1})),
        ),
    ] {
        a.run(WrongRole, m, &p, &t.viewer, b, forbidden);
    }
    // Writing: a member may not.
    let r = upload(
        &s.url,
        &w.alice,
        "kb",
        "member.md",
        "# Member\n\nNot allowed here.",
        None,
    );
    forbidden(&r);
    a.record(WrongRole, "POST", "/api/v1/collections/kb/documents");
    for (m, p, b) in [
        ("DELETE", format!("/api/v1/documents/{}", t.eng_doc), None),
        (
            "POST",
            "/api/v1/collections".to_owned(),
            Some(json!({"id": "members"})),
        ),
        ("DELETE", "/api/v1/collections/kb".to_owned(), None),
        ("GET", "/api/v1/jobs".to_owned(), None),
        ("GET", format!("/api/v1/jobs/{}", t.pub_job), None),
        (
            "PUT",
            "/api/v1/assistants/members-bot".to_owned(),
            Some(json!({"name": "x", "collection": "kb"})),
        ),
        ("DELETE", "/api/v1/assistants/members-bot".to_owned(), None),
    ] {
        a.run(WrongRole, m, &p, &w.alice, b, forbidden);
    }
    // A viewer may not ask, so has no assistants to pick.
    for p in ["/api/v1/assistants", "/api/v1/assistants/members-bot"] {
        a.run(WrongRole, "GET", p, &t.viewer, None, forbidden);
    }
    // Keys, users, audit, usage: an editor may not.
    for (m, p, b) in [
        (
            "POST",
            "/api/v1/keys".to_owned(),
            Some(json!({"name": "x"})),
        ),
        ("GET", "/api/v1/keys".to_owned(), None),
        ("DELETE", format!("/api/v1/keys/{alice_key}"), None),
        (
            "POST",
            format!("/api/v1/keys/{alice_key}/rotate"),
            body.clone(),
        ),
        (
            "POST",
            "/api/v1/users".to_owned(),
            Some(json!({"id": "mallory", "role": "admin"})),
        ),
        ("GET", "/api/v1/users".to_owned(), None),
        ("GET", "/api/v1/users/alice".to_owned(), None),
        ("DELETE", "/api/v1/users/alice".to_owned(), None),
        ("GET", "/api/v1/users/alice/export".to_owned(), None),
        ("GET", "/api/v1/audit".to_owned(), None),
        ("POST", "/api/v1/audit/verify".to_owned(), None),
        ("GET", "/api/v1/tenant/usage".to_owned(), None),
        ("GET", "/api/v1/auth/sessions".to_owned(), None),
        ("DELETE", "/api/v1/auth/sessions/ses_x".to_owned(), None),
    ] {
        a.run(WrongRole, m, &p, &w.erin, b, forbidden);
    }
    // Tenant settings and secrets: only the owner; an admin may not.
    for (m, p, b) in [
        ("GET", "/api/v1/tenant/settings", None),
        (
            "PUT",
            "/api/v1/tenant/settings",
            Some(json!({"limits": {"daily_tokens": 1}})),
        ),
        ("GET", "/api/v1/secrets", None),
        (
            "PUT",
            "/api/v1/secrets/smtp",
            Some(json!({"value": "hunter2"})),
        ),
        ("DELETE", "/api/v1/secrets/smtp", None),
        ("GET", "/api/v1/models", None),
        (
            "PUT",
            "/api/v1/models/sneaky",
            Some(json!({"base_url": "http://127.0.0.1:9/v1"})),
        ),
        ("DELETE", "/api/v1/models/sneaky", None),
    ] {
        a.run(WrongRole, m, p, &w.admin, b, forbidden);
    }
    // Nothing above changed anything: alice's key and conversation are intact.
    assert_eq!(get(s, "/api/v1/me", &w.alice).status, 200);
    assert_eq!(
        get(s, &format!("/api/v1/conversations/{conv}"), &w.alice).status,
        200
    );
}

/// Same tenant, data the caller's ACL or ownership excludes: not found, not listed, not
/// retrieved, not overwritten.
fn cross_acl(a: &mut Attacks, w: &World, t: &Targets) {
    use Kind::CrossAcl;
    let s = a.s;
    let (conv, answer) = (&t.conv, &t.answer);
    let hr = vec![t.hr_doc.clone(), "quokka".into(), "97000".into()];
    a.run(
        CrossAcl,
        "GET",
        "/api/v1/collections/kb/documents",
        &w.alice,
        None,
        lacks(hr.clone()),
    );
    a.run(
        CrossAcl,
        "GET",
        &format!("/api/v1/documents/{}", t.hr_doc),
        &w.alice,
        None,
        not_found,
    );
    a.run(
        CrossAcl,
        "DELETE",
        &format!("/api/v1/documents/{}", t.hr_doc),
        &w.erin,
        None,
        not_found,
    );
    assert_eq!(
        get(s, &format!("/api/v1/documents/{}", t.hr_doc), &w.bob).status,
        200
    );
    let r = upload(
        &s.url,
        &w.erin,
        "kb",
        "plan.md",
        "# Plan\n\nErin again.",
        Some(r#"{"users":[],"groups":[]}"#),
    );
    assert_eq!(
        r.status, 409,
        "erin cannot overwrite bob's upload: {}",
        r.text
    );
    a.record(CrossAcl, "POST", "/api/v1/collections/kb/documents");
    a.run(
        CrossAcl,
        "GET",
        "/api/v1/jobs",
        &w.erin,
        None,
        lacks(vec![t.hr_job.clone()]),
    );
    a.run(
        CrossAcl,
        "GET",
        &format!("/api/v1/jobs/{}", t.hr_job),
        &w.erin,
        None,
        not_found,
    );
    a.run(
        CrossAcl,
        "POST",
        "/api/v1/search",
        &w.alice,
        Some(json!({"collection": "kb", "query": "salary band quokka staff", "top_k": 10})),
        hits_lack(hr.clone()),
    );
    a.run(
        CrossAcl,
        "POST",
        "/api/v1/ask",
        &w.alice,
        Some(json!({"collection": "kb", "question": "What is the salary band?", "max_tokens": 8})),
        |r| {
            assert_eq!(r.status, 200, "{}", r.text);
            assert!(
                !r.text.contains(&t.hr_doc) && !r.text.contains("97000"),
                "{}",
                r.text
            );
        },
    );
    a.run(
        CrossAcl,
        "POST",
        "/v1/chat/completions",
        &w.alice,
        Some(json!({"model": "cairn-rag:kb", "max_tokens": 8,
                    "messages": [{"role": "user", "content": "What is the salary band?"}]})),
        |r| {
            assert_eq!(r.status, 200, "{}", r.text);
            let sources = r.body["cairn"]["sources"].to_string();
            assert!(
                !sources.contains(&t.hr_doc) && !sources.contains("hr.md"),
                "{sources}"
            );
        },
    );
    a.run(
        CrossAcl,
        "POST",
        "/v1/responses",
        &w.alice,
        Some(json!({"model": "cairn-rag:kb", "max_output_tokens": 8,
                    "input": "What is the salary band?"})),
        |r| {
            assert_eq!(r.status, 200, "{}", r.text);
            assert_eq!(r.body["object"], "response", "{}", r.text);
            let sources = r.body["cairn"]["sources"].to_string();
            assert!(
                !sources.contains(&t.hr_doc) && !sources.contains("hr.md"),
                "{sources}"
            );
        },
    );
    // Conversations and answers belong to their owner.
    let bobs = a.run(
        CrossAcl,
        "POST",
        "/api/v1/conversations",
        &w.bob,
        Some(json!({"collection": "kb", "title": "bob's"})),
        status(&[201]),
    );
    let bobs = bobs.body["id"].as_str().unwrap().to_owned();
    a.run(
        CrossAcl,
        "GET",
        &format!("/api/v1/conversations/{bobs}"),
        &w.alice,
        None,
        not_found,
    );
    a.run(
        CrossAcl,
        "GET",
        "/api/v1/conversations",
        &w.bob,
        None,
        lacks(vec![conv.clone()]),
    );
    a.run(
        CrossAcl,
        "GET",
        &format!("/api/v1/conversations/{conv}"),
        &w.bob,
        None,
        not_found,
    );
    a.run(
        CrossAcl,
        "DELETE",
        &format!("/api/v1/conversations/{conv}"),
        &w.bob,
        None,
        not_found,
    );
    a.run(
        CrossAcl,
        "PATCH",
        &format!("/api/v1/conversations/{conv}"),
        &w.bob,
        Some(json!({"title": "bob was here"})),
        not_found,
    );
    // Searching conversations finds only the caller's own, whatever the words.
    let alices = get(s, &format!("/api/v1/conversations/{conv}"), &w.alice);
    let words = alices.body["messages"][0]["content"]
        .as_str()
        .unwrap_or("codeword")
        .split_whitespace()
        .next()
        .unwrap_or("codeword")
        .to_owned();
    let found = get(
        s,
        &format!(
            "/api/v1/conversations?q={}",
            words.trim_matches(|c: char| !c.is_alphanumeric())
        ),
        &w.bob,
    );
    assert!(
        found.status == 200 && !found.text.contains(conv.as_str()),
        "{}",
        found.text
    );
    a.run(
        CrossAcl,
        "GET",
        &format!("/api/v1/answers/{answer}"),
        &w.bob,
        None,
        not_found,
    );
    a.run(
        CrossAcl,
        "POST",
        &format!("/api/v1/answers/{answer}/feedback"),
        &w.bob,
        Some(json!({"rating": -1})),
        not_found,
    );
    let mine = get(s, &format!("/api/v1/conversations/{conv}"), &w.alice);
    assert_eq!(mine.status, 200);
    assert!(
        !mine.body["title"].to_string().contains("was here"),
        "{}",
        mine.text
    );
}

/// Globex's admin and owner against acme: nothing of acme is found, listed, changed
/// or removed; what they create lands in globex.
fn cross_tenant(a: &mut Attacks, w: &World, t: &Targets) {
    use Kind::CrossTenant;
    let s = a.s;
    let (conv, answer, g) = (&t.conv, &t.answer, &w.gina);
    let acme = vec![
        t.hr_doc.clone(),
        t.eng_doc.clone(),
        t.pub_job.clone(),
        conv.clone(),
        answer.clone(),
        "BLUEFALCON".into(),
        "quokka".into(),
    ];
    let alice_key = key_id(s, &w.admin, "alice");
    // Reads and listings.
    a.run(
        CrossTenant,
        "GET",
        "/v1/models",
        g,
        None,
        lacks(vec!["cairn-rag:kb".into()]),
    );
    a.run(
        CrossTenant,
        "GET",
        "/v1/models/cairn-rag:kb",
        g,
        None,
        status(&[404]),
    );
    a.run(
        CrossTenant,
        "POST",
        "/v1/responses",
        g,
        Some(json!({"model": "cairn-rag:kb", "max_output_tokens": 4, "input": "codeword?"})),
        status(&[404]),
    );
    a.run(
        CrossTenant,
        "POST",
        "/v1/chat/completions",
        g,
        Some(json!({"model": "cairn-rag:kb", "max_tokens": 4,
                    "messages": [{"role": "user", "content": "codeword?"}]})),
        status(&[404]),
    );
    let models = get(s, "/v1/models", g);
    let embedder = models.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["owned_by"] == "cairn" && m["id"] != GENERATOR)
        .unwrap_or_else(|| panic!("no embedder in {}", models.text))["id"]
        .clone();
    // Embeddings read no tenant data: the call is metered to the caller's tenant.
    a.run(
        CrossTenant,
        "POST",
        "/v1/embeddings",
        g,
        Some(json!({"model": embedder, "input": "BLUEFALCON"})),
        |r| {
            assert_eq!(r.status, 200, "{}", r.text);
            assert!(!acme[..5].iter().any(|id| r.text.contains(id.as_str())));
        },
    );
    // Rerank reads only the texts it is given: another tenant's documents cannot leak
    // through it, and the call is metered to the caller.
    a.run(
        CrossTenant,
        "POST",
        "/v1/rerank",
        g,
        Some(json!({"model": "maxsim", "query": "BLUEFALCON", "documents": ["a", "b"]})),
        |r| {
            assert_eq!(r.status, 200, "{}", r.text);
            assert!(!acme[..5].iter().any(|id| r.text.contains(id.as_str())));
            assert!(
                !r.text.contains("BLUEFALCON"),
                "no document text unless asked"
            );
        },
    );
    a.run(
        CrossTenant,
        "GET",
        "/api/v1/collections",
        g,
        None,
        lacks(vec!["\"kb\"".into()]),
    );
    a.run(
        CrossTenant,
        "GET",
        "/api/v1/collections/kb",
        g,
        None,
        not_found,
    );
    a.run(
        CrossTenant,
        "GET",
        "/api/v1/collections/kb/documents",
        g,
        None,
        lacks(acme.clone()),
    );
    a.run(
        CrossTenant,
        "GET",
        &format!("/api/v1/documents/{}", t.eng_doc),
        g,
        None,
        not_found,
    );
    a.run(
        CrossTenant,
        "GET",
        "/api/v1/jobs",
        g,
        None,
        lacks(acme.clone()),
    );
    a.run(
        CrossTenant,
        "GET",
        &format!("/api/v1/jobs/{}", t.pub_job),
        g,
        None,
        not_found,
    );
    a.run(
        CrossTenant,
        "POST",
        "/api/v1/search",
        g,
        Some(json!({"collection": "kb", "query": "Zephyrine BLUEFALCON codeword"})),
        hits_lack(acme.clone()),
    );
    a.run(
        CrossTenant,
        "POST",
        "/api/v1/ask",
        g,
        Some(json!({"collection": "kb", "question": "codeword?", "max_tokens": 4})),
        not_found,
    );
    a.run(
        CrossTenant,
        "GET",
        "/api/v1/conversations",
        g,
        None,
        lacks(acme.clone()),
    );
    a.run(
        CrossTenant,
        "GET",
        &format!("/api/v1/conversations/{conv}"),
        g,
        None,
        not_found,
    );
    a.run(
        CrossTenant,
        "DELETE",
        &format!("/api/v1/conversations/{conv}"),
        g,
        None,
        not_found,
    );
    a.run(
        CrossTenant,
        "PATCH",
        &format!("/api/v1/conversations/{conv}"),
        g,
        Some(json!({"title": "globex was here"})),
        not_found,
    );
    // Acme's assistant: globex neither lists, reads, overwrites, deletes nor asks with it.
    let bot = json!({"name": "Acme bot", "collection": "kb", "instructions": "Be brief."});
    let made = put(s, "/api/v1/assistants/acme-bot", &t.acme_owner, bot);
    assert_eq!(made.status, 200, "{}", made.text);
    a.run(
        CrossTenant,
        "GET",
        "/api/v1/assistants",
        g,
        None,
        lacks(vec!["acme-bot".into()]),
    );
    a.run(
        CrossTenant,
        "GET",
        "/api/v1/assistants/acme-bot",
        g,
        None,
        not_found,
    );
    a.run(
        CrossTenant,
        "PUT",
        "/api/v1/assistants/acme-bot",
        g,
        Some(json!({"name": "globex was here", "collection": "kb"})),
        not_found,
    );
    a.run(
        CrossTenant,
        "DELETE",
        "/api/v1/assistants/acme-bot",
        g,
        None,
        not_found,
    );
    let r = post(
        s,
        "/api/v1/ask",
        g,
        json!({"collection": "gx", "assistant": "acme-bot", "question": "codeword?", "max_tokens": 4}),
    );
    assert_eq!(r.status, 404, "{}", r.text);
    let kept = get(s, "/api/v1/assistants/acme-bot", &t.acme_owner);
    assert_eq!(kept.body["name"], "Acme bot", "{}", kept.text);
    a.run(
        CrossTenant,
        "GET",
        &format!("/api/v1/answers/{answer}"),
        g,
        None,
        not_found,
    );
    a.run(
        CrossTenant,
        "POST",
        &format!("/api/v1/answers/{answer}/feedback"),
        g,
        Some(json!({"rating": 1})),
        not_found,
    );
    a.run(CrossTenant, "GET", "/api/v1/me", g, None, |r| {
        assert_eq!(r.body["tenant"], "globex", "{}", r.text);
    });
    // Web sessions: a key has no session of its own, and another tenant's session ids
    // are not found (the real cross-tenant session attacks are in web_sessions.rs).
    a.run(
        CrossTenant,
        "GET",
        "/api/v1/auth/session",
        g,
        None,
        not_found,
    );
    a.run(
        CrossTenant,
        "DELETE",
        "/api/v1/auth/session",
        g,
        None,
        not_found,
    );
    a.run(CrossTenant, "GET", "/api/v1/auth/sessions", g, None, |r| {
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(!r.text.contains("acme"), "{}", r.text);
    });
    a.run(
        CrossTenant,
        "DELETE",
        "/api/v1/auth/sessions/ses_acme_guess",
        g,
        None,
        not_found,
    );
    a.run(
        CrossTenant,
        "GET",
        "/api/v1/keys",
        g,
        None,
        lacks(vec![alice_key.clone()]),
    );
    a.run(
        CrossTenant,
        "DELETE",
        &format!("/api/v1/keys/{alice_key}"),
        g,
        None,
        not_found,
    );
    a.run(
        CrossTenant,
        "POST",
        &format!("/api/v1/keys/{alice_key}/rotate"),
        g,
        Some(json!({})),
        not_found,
    );
    a.run(
        CrossTenant,
        "GET",
        "/api/v1/users",
        g,
        None,
        lacks(vec!["\"bob\"".into()]),
    );
    a.run(CrossTenant, "GET", "/api/v1/users/bob", g, None, not_found);
    a.run(
        CrossTenant,
        "GET",
        "/api/v1/users/alice/export",
        g,
        None,
        lacks(acme.clone()),
    );
    a.run(
        CrossTenant,
        "GET",
        "/api/v1/audit?limit=1000",
        g,
        None,
        |r| {
            assert_eq!(r.status, 200, "{}", r.text);
            for row in r.body["data"].as_array().unwrap() {
                assert_eq!(row["tenant"], "globex", "{row}");
            }
        },
    );
    a.run(
        CrossTenant,
        "GET",
        "/api/v1/tenant/usage",
        g,
        None,
        status(&[200]),
    );
    a.run(CrossTenant, "POST", "/api/v1/audit/verify", g, None, |r| {
        assert_eq!(r.status, 200, "{}", r.text);
        let keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["intact", "reason", "verified_at"],
            "nothing of acme's: {}",
            r.text
        );
    });
    // Settings and secrets: acme's owner stores some, globex's owner cannot see or
    // change them.
    let mark = json!({"limits": {"daily_tokens": 987_654_321}});
    assert_eq!(
        put(s, "/api/v1/tenant/settings", &t.acme_owner, mark.clone()).status,
        200
    );
    let sealed = put(
        s,
        "/api/v1/secrets/acme-smtp",
        &t.acme_owner,
        json!({"value": "ACMEVALUE"}),
    );
    assert_eq!(sealed.status, 204, "{}", sealed.text);
    let acme_secrets = get(s, "/api/v1/secrets", &t.acme_owner).text;
    let gx = &t.gx_owner;
    a.run(
        CrossTenant,
        "GET",
        "/api/v1/tenant/settings",
        gx,
        None,
        lacks(vec!["987654321".into()]),
    );
    a.run(
        CrossTenant,
        "GET",
        "/api/v1/secrets",
        gx,
        None,
        lacks(vec!["acme-smtp".into()]),
    );
    a.run(
        CrossTenant,
        "DELETE",
        "/api/v1/secrets/acme-smtp",
        gx,
        None,
        not_found,
    );
    a.run(
        CrossTenant,
        "PUT",
        "/api/v1/secrets/acme-smtp",
        gx,
        Some(json!({"value": "GLOBEXVALUE"})),
        status(&[204]),
    );
    a.run(
        CrossTenant,
        "PUT",
        "/api/v1/tenant/settings",
        gx,
        Some(json!({"limits": {"daily_tokens": 123_456_789}})),
        status(&[200]),
    );
    assert_eq!(get(s, "/api/v1/secrets", &t.acme_owner).text, acme_secrets);
    let settings = get(s, "/api/v1/tenant/settings", &t.acme_owner);
    assert_eq!(settings.body["stored"], mark, "{}", settings.text);
    // Models added at run time: acme's are acme's alone.
    let added = put(
        s,
        "/api/v1/models/acme-llm",
        &t.acme_owner,
        json!({"base_url": "http://127.0.0.1:9/acme/v1"}),
    );
    assert_eq!(added.status, 201, "{}", added.text);
    a.run(
        CrossTenant,
        "GET",
        "/api/v1/models",
        gx,
        None,
        lacks(vec!["acme-llm".into(), "/acme/v1".into()]),
    );
    a.run(
        CrossTenant,
        "DELETE",
        "/api/v1/models/acme-llm",
        gx,
        None,
        not_found,
    );
    a.run(
        CrossTenant,
        "PUT",
        "/api/v1/models/acme-llm",
        gx,
        Some(json!({"base_url": "http://127.0.0.1:9/globex/v1"})),
        status(&[201]),
    );
    let acme_models = get(s, "/api/v1/models", &t.acme_owner).text;
    assert!(
        acme_models.contains("/acme/v1") && !acme_models.contains("/globex/v1"),
        "{acme_models}"
    );
    // Writes land in globex and leave acme as it was.
    a.run(
        CrossTenant,
        "DELETE",
        &format!("/api/v1/documents/{}", t.eng_doc),
        g,
        None,
        not_found,
    );
    a.run(
        CrossTenant,
        "DELETE",
        "/api/v1/collections/kb",
        g,
        None,
        not_found,
    );
    a.run(
        CrossTenant,
        "DELETE",
        "/api/v1/users/alice",
        g,
        None,
        status(&[200, 404]),
    );
    assert_eq!(
        get(s, &format!("/api/v1/conversations/{conv}"), &w.alice).status,
        200
    );
    a.run(
        CrossTenant,
        "POST",
        "/api/v1/users",
        g,
        Some(json!({"id": "alice", "role": "viewer"})),
        status(&[200, 201]),
    );
    assert_eq!(
        get(s, "/api/v1/users/alice", &w.admin).body["role"],
        "member"
    );
    let minted = a.run(
        CrossTenant,
        "POST",
        "/api/v1/keys",
        g,
        Some(json!({"name": "as-alice", "user": "alice", "role": "admin"})),
        status(&[201]),
    );
    let minted = minted.body["token"].as_str().unwrap().to_owned();
    assert_eq!(get(s, "/api/v1/me", &minted).body["tenant"], "globex");
    let t2 = post(
        s,
        "/api/v1/search",
        &minted,
        json!({"collection": "kb", "query": "BLUEFALCON"}),
    );
    assert!(!t2.text.contains("BLUEFALCON"), "{}", t2.text);
    a.run(
        CrossTenant,
        "POST",
        "/api/v1/conversations",
        g,
        Some(json!({"collection": "kb"})),
        not_found,
    );
    a.run(
        CrossTenant,
        "POST",
        "/api/v1/collections",
        g,
        Some(json!({"id": "kb"})),
        status(&[201, 409]),
    );
    let r = upload(
        &s.url,
        g,
        "kb",
        "gina.md",
        "# Gina\n\nGINAUPLOAD lands in globex.",
        None,
    );
    assert!(r.status < 500, "{}", r.text);
    a.record(CrossTenant, "POST", "/api/v1/collections/kb/documents");
    let acme_docs = get(s, "/api/v1/collections/kb/documents", &w.admin);
    assert!(acme_docs.text.contains(&t.eng_doc) && !acme_docs.text.contains("gina.md"));
    let hits = post(
        s,
        "/api/v1/search",
        &w.admin,
        json!({"collection": "kb", "query": "GINAUPLOAD"}),
    );
    assert!(
        !hits.body["hits"].to_string().contains("GINAUPLOAD"),
        "{}",
        hits.text
    );
}
