//! The attack matrix: every authenticated route of the router attacked from another
//! tenant, with a role or scope that lacks its permission, and (where it touches ACL'd
//! or owned data) by a same-tenant caller the ACL or the owner excludes. The routes come
//! from `/openapi.json`: [`Attacks::assert_every_route_attacked`] fails naming each
//! (method, path) without its cases.

use super::coverage::{Attacks, Kind};
use super::world::*;
use crate::common::server::{Reply, Server, upload, upload_async};
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
    /// Alice's agent run (cancelled), and acme's own saved agent.
    pub(crate) agent_run: String,
}

pub(crate) fn status(want: &'static [u16]) -> impl FnOnce(&Reply) {
    move |r: &Reply| {
        assert!(
            want.contains(&r.status),
            "want {want:?}: {} {}",
            r.status,
            r.text
        )
    }
}

pub(crate) fn forbidden(r: &Reply) {
    assert_eq!((r.status, code(r)), (403, "forbidden"), "{}", r.text);
}

pub(crate) fn not_found(r: &Reply) {
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(
        r.body["error"]["code"]
            .as_str()
            .map(|c| c.ends_with("not_found")),
        Some(true)
    );
}

/// A search's hits (not the echoed query) hold none of `words`.
pub(crate) fn hits_lack(words: Vec<String>) -> impl FnOnce(&Reply) {
    move |r: &Reply| {
        assert!(r.status == 200 || r.status == 404, "{}", r.text);
        let hits = r.body["hits"].to_string();
        for w in &words {
            assert!(!hits.contains(w.as_str()), "leaked {w}: {hits}");
        }
    }
}

pub(crate) fn lacks(words: Vec<String>) -> impl FnOnce(&Reply) {
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
    super::attachments::attachments(&mut a, w, t);
    super::eval_runs::eval_runs(&mut a, w, t);
    super::cross_tenant::cross_tenant(&mut a, w, t);
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
    // Asynchronously too (`Prefer: respond-async`), a member and a viewer: refused
    // before anything is stored.
    for key in [&w.alice, &t.viewer] {
        forbidden(&upload_async(
            &s.url,
            key,
            "kb",
            "member.md",
            "# Member\n\nNot allowed later either.",
        ));
    }
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
    // Agents: a viewer may not run one or read runs (running is generation); a member
    // may not save or delete one.
    let run = &t.agent_run;
    for (m, p, b) in [
        ("GET", "/api/v1/agents".to_owned(), None),
        (
            "POST",
            "/api/v1/agents/helper/runs".to_owned(),
            Some(json!({"task": "find the codeword", "wait": false})),
        ),
        ("GET", "/api/v1/agent-runs".to_owned(), None),
        ("GET", format!("/api/v1/agent-runs/{run}"), None),
        ("DELETE", format!("/api/v1/agent-runs/{run}"), None),
        (
            "POST",
            format!("/api/v1/agent-runs/{run}/approve"),
            body.clone(),
        ),
        (
            "POST",
            format!("/api/v1/agent-runs/{run}/deny"),
            body.clone(),
        ),
    ] {
        a.run(WrongRole, m, &p, &t.viewer, b, forbidden);
    }
    for (m, p, b) in [
        (
            "PUT",
            "/api/v1/agents/members-agent".to_owned(),
            Some(json!({"tools": ["search"]})),
        ),
        ("DELETE", "/api/v1/agents/acme-agent".to_owned(), None),
    ] {
        a.run(WrongRole, m, &p, &w.alice, b, forbidden);
    }
    // Saving an agent that fetches web pages takes an administrator.
    a.run(
        WrongRole,
        "PUT",
        "/api/v1/agents/fetcher",
        &w.erin,
        Some(json!({"tools": ["http_get"], "http_allow_hosts": ["example.com"]})),
        forbidden,
    );
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
        ("GET", "/api/v1/traces".to_owned(), None),
        (
            "GET",
            "/api/v1/traces/4bf92f3577b34da6a3ce929d0e0e4736".to_owned(),
            None,
        ),
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
        // A tool source sends a tenant secret where it points: the secrets' owner only.
        (
            "PUT",
            "/api/v1/tool-sources/sneaky",
            Some(json!({"kind": "mcp", "url": "https://mcp.example/mcp"})),
        ),
        ("DELETE", "/api/v1/tool-sources/acme-tools", None),
    ] {
        a.run(WrongRole, m, p, &w.admin, b, forbidden);
    }
    // Seeing tool sources and their tools goes with running agents: not a viewer's.
    for p in [
        "/api/v1/tool-sources",
        "/api/v1/tool-sources/acme-tools",
        "/api/v1/tool-sources/acme-tools/tools",
    ] {
        a.run(WrongRole, "GET", p, &t.viewer, None, forbidden);
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
    // Alice's agent run: another user of the tenant neither lists, reads, cancels,
    // approves nor denies it.
    let run = &t.agent_run;
    a.run(
        CrossAcl,
        "GET",
        "/api/v1/agent-runs",
        &w.bob,
        None,
        lacks(vec![run.clone()]),
    );
    for (m, p) in [
        ("GET", format!("/api/v1/agent-runs/{run}")),
        ("DELETE", format!("/api/v1/agent-runs/{run}")),
        ("POST", format!("/api/v1/agent-runs/{run}/approve")),
        ("POST", format!("/api/v1/agent-runs/{run}/deny")),
    ] {
        let b = (m == "POST").then(|| json!({}));
        a.run(CrossAcl, m, &p, &w.bob, b, not_found);
    }
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
    // Nor through a job: refused before the bytes and the job are stored.
    let r = upload_async(&s.url, &w.erin, "kb", "plan.md", "# Plan\n\nErin, later.");
    assert_eq!(
        r.status, 409,
        "erin cannot queue over bob's upload: {}",
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
