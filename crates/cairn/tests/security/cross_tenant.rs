//! The attack matrix's cross-tenant part: globex's admin and owner against every route
//! that touches acme's data (split from matrix.rs, which holds the helpers).

use super::coverage::{Attacks, Kind};
use super::matrix::{Targets, hits_lack, lacks, not_found, status};
use super::world::*;
use crate::common::server::{upload, upload_async};
use serde_json::json;

/// Globex's admin and owner against acme: nothing of acme is found, listed, changed
/// or removed; what they create lands in globex.
pub(crate) fn cross_tenant(a: &mut Attacks, w: &World, t: &Targets) {
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
    // Acme's agent and alice's run of `helper`: globex neither lists, runs, deletes,
    // overwrites, reads, cancels, approves nor denies them.
    let run = &t.agent_run;
    a.run(
        CrossTenant,
        "GET",
        "/api/v1/agents",
        g,
        None,
        lacks(vec!["acme-agent".into()]),
    );
    a.run(
        CrossTenant,
        "POST",
        "/api/v1/agents/acme-agent/runs",
        g,
        Some(json!({"task": "leak", "wait": false})),
        not_found,
    );
    a.run(
        CrossTenant,
        "DELETE",
        "/api/v1/agents/acme-agent",
        g,
        None,
        not_found,
    );
    // A PUT makes globex's own agent of that name; acme's stays as it was.
    a.run(
        CrossTenant,
        "PUT",
        "/api/v1/agents/acme-agent",
        g,
        Some(json!({"description": "globex was here", "tools": ["calculator"]})),
        status(&[200]),
    );
    let acme_agents = get(s, "/api/v1/agents", &t.acme_owner);
    assert!(
        acme_agents.text.contains("acme only") && !acme_agents.text.contains("globex was here"),
        "{}",
        acme_agents.text
    );
    a.run(
        CrossTenant,
        "GET",
        "/api/v1/agent-runs",
        g,
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
        a.run(CrossTenant, m, &p, g, b, not_found);
    }
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
    // Traces: globex lists only its own, and acme's is a 404 by id.
    let acme_traces = get(s, "/api/v1/traces?limit=5", &t.acme_owner);
    assert_eq!(acme_traces.status, 200, "{}", acme_traces.text);
    let acme_trace = acme_traces.body["data"][0]["trace_id"]
        .as_str()
        .unwrap_or_else(|| panic!("acme has traces: {}", acme_traces.text))
        .to_owned();
    let theirs = acme_trace.clone();
    a.run(
        CrossTenant,
        "GET",
        "/api/v1/traces?limit=1000",
        g,
        None,
        move |r| {
            assert_eq!(r.status, 200, "{}", r.text);
            for row in r.body["data"].as_array().unwrap() {
                assert_eq!(row["tenant"], "globex", "{row}");
                assert_ne!(row["trace_id"], theirs.as_str());
            }
        },
    );
    a.run(
        CrossTenant,
        "GET",
        &format!("/api/v1/traces/{acme_trace}"),
        g,
        None,
        not_found,
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
    // Tool sources: acme's own OpenAPI document is acme's alone.
    let source = json!({"kind": "openapi", "base_url": "https://acme-erp.example/api",
        "document": {"openapi": "3.1.0", "info": {"title": "acme erp"},
            "paths": {"/stock": {"get": {"operationId": "acme_stock"}}}}});
    let saved = put(s, "/api/v1/tool-sources/acme-tools", &t.acme_owner, source);
    assert_eq!(saved.status, 200, "{}", saved.text);
    a.run(
        CrossTenant,
        "GET",
        "/api/v1/tool-sources",
        gx,
        None,
        lacks(vec!["acme-tools".into(), "acme-erp".into()]),
    );
    for p in [
        "/api/v1/tool-sources/acme-tools",
        "/api/v1/tool-sources/acme-tools/tools",
    ] {
        a.run(CrossTenant, "GET", p, gx, None, not_found);
    }
    a.run(
        CrossTenant,
        "DELETE",
        "/api/v1/tool-sources/acme-tools",
        gx,
        None,
        not_found,
    );
    a.run(
        CrossTenant,
        "PUT",
        "/api/v1/tool-sources/acme-tools",
        gx,
        Some(
            json!({"kind": "openapi", "base_url": "https://globex.example",
            "document": {"openapi": "3.1.0", "paths": {"/x": {"get": {"operationId": "gx"}}}}}),
        ),
        status(&[200]),
    );
    let acme_tools = get(s, "/api/v1/tool-sources/acme-tools/tools", &t.acme_owner);
    assert!(
        acme_tools.text.contains("acme_stock") && !acme_tools.text.contains("globex"),
        "{}",
        acme_tools.text
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
    // Asynchronously into a collection only acme has: not found, and no job or bytes
    // land anywhere.
    let only = post(
        s,
        "/api/v1/collections",
        &w.admin,
        json!({"id": "acme-only"}),
    );
    assert_eq!(only.status, 201, "{}", only.text);
    not_found(&upload_async(
        &s.url,
        g,
        "acme-only",
        "gina.md",
        "# Gina\n\nGINAUPLOAD queued.",
    ));
    for key in [&w.admin, g] {
        let jobs = get(s, "/api/v1/jobs", key);
        assert!(!jobs.text.contains("gina.md"), "{}", jobs.text);
    }
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
