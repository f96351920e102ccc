//! GDPR: export holds everything of one user; erasure removes it, proven against the
//! database itself (the SQLite file, or the PostgreSQL tables), and leaves everyone
//! else's data alone.

use super::world::*;
use crate::common;
use crate::common::server::Server;
use serde_json::json;

#[test]
fn gdpr_erase_removes_everything_of_one_user() {
    erase_alice(&world(""));
}

/// The same with the state in PostgreSQL: the rows are gone from its tables.
#[test]
fn gdpr_erase_removes_everything_of_one_user_on_the_postgres_backend() {
    erase_alice(&world_on_postgres());
}

/// With searches in PostgreSQL: her vectors and lexemes leave pgvector's table too.
#[test]
fn gdpr_erase_removes_the_users_vectors_from_pgvector() {
    erase_alice(&world_searching_in_postgres());
}

fn erase_alice(w: &World) {
    let h = w.home.path();
    let s = Server::start(h);
    // Alice leaves traces everywhere: a conversation, answers, feedback, an upload.
    let conv = post(
        &s,
        "/api/v1/conversations",
        &w.alice,
        json!({"collection": "kb"}),
    );
    let conv_id = conv.body["id"].as_str().unwrap().to_owned();
    let ask = post(
        &s,
        "/api/v1/ask",
        &w.alice,
        json!({"collection": "kb", "question": "When does the Aurora office open?",
               "conversation": conv_id, "max_tokens": 16}),
    );
    assert_eq!(ask.status, 200, "{}", ask.text);
    let answer_id = ask.body["id"].as_str().unwrap().to_owned();
    let fb = post(
        &s,
        &format!("/api/v1/answers/{answer_id}/feedback"),
        &w.alice,
        json!({"rating": 1, "comment": "alice liked it"}),
    );
    assert_eq!(fb.status, 201, "{}", fb.text);
    // Alice is a member; uploads need an editor key acting as her.
    ok(common::cairn(
        h,
        &[
            "--tenant", "acme", "users", "add", "alice", "--role", "editor", "--group", "eng",
        ],
    ));
    let alice_editor = common::new_key(h, "acme", "editor", Some("alice"));
    let up = common::server::upload(
        &s.url,
        &alice_editor,
        "kb",
        "diary.md",
        "# Diary\n\nAlice's diary mentions the PLATYPUS project twice.",
        None,
    );
    assert_eq!(up.status, 201, "{}", up.text);
    // An asynchronous upload whose job died keeps her bytes, and its job names her.
    let queued = common::server::upload_async(
        &s.url,
        &alice_editor,
        "kb",
        "scan.pdf",
        "%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage without xref",
    );
    assert_eq!(queued.status, 202, "{}", queued.text);
    let job = format!(
        "/api/v1/jobs/{}",
        queued.body["job"]["id"].as_str().unwrap()
    );
    let started = std::time::Instant::now();
    while get(&s, &job, &alice_editor).body["state"] != "dead" {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "the job never died"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // Bob's data must survive the erasure.
    let bconv = post(
        &s,
        "/api/v1/conversations",
        &w.bob,
        json!({"collection": "kb"}),
    );
    let bconv_id = bconv.body["id"].as_str().unwrap().to_owned();
    assert!(search_text(&s, &w.bob, "kb", "PLATYPUS diary", json!({})).contains("PLATYPUS"));

    // The export holds all of it.
    let export = common::json(&common::cairn(
        h,
        &["--json", "--tenant", "acme", "users", "export", "alice"],
    ));
    let e = export.to_string();
    assert!(e.contains(&conv_id) && e.contains(&answer_id) && e.contains("alice liked it"));
    assert!(e.contains("PLATYPUS") && e.contains("diary.md"));
    assert_eq!(export["api_keys"].as_array().unwrap().len(), 2);
    assert!(!e.contains("argon2"), "no key hashes in an export");

    // With search in PostgreSQL, the diary's chunks are rows there, vectors included.
    let shared_rows = |filter: &str| {
        w.count(&format!(
            "SELECT COUNT(*) FROM search_chunks WHERE embedding IS NOT NULL {filter}"
        ))
    };
    let (rows_before, diary_rows) = if w.search_in_store {
        let diary = shared_rows(
            "AND document_id IN (SELECT id FROM documents WHERE source LIKE '%diary.md')",
        );
        assert!(diary > 0, "the diary's vectors are in pgvector");
        (shared_rows(""), diary)
    } else {
        (0, 0)
    };

    // Before: alice reads her answer; the admin, who does not own it, cannot.
    let answer = format!("/api/v1/answers/{answer_id}");
    assert_eq!(get(&s, &answer, &w.alice).status, 200);
    assert_eq!(get(&s, &answer, &w.admin).status, 404);

    // Erase (through the API, as an admin), then prove nothing is left.
    let r = del(&s, "/api/v1/users/alice", &w.admin);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["conversations"], 1);
    assert_eq!(r.body["documents"], 1);
    assert_eq!(
        (&r.body["uploads"], &r.body["jobs"]),
        (&json!(1), &json!(1)),
        "{}",
        r.text
    );
    assert_eq!(get(&s, "/api/v1/me", &w.alice).status, 401);
    assert_eq!(get(&s, "/api/v1/me", &alice_editor).status, 401);
    // The answer row itself is checked gone in the database below.
    assert_eq!(get(&s, &answer, &w.admin).status, 404);
    let t = search_text(&s, &w.admin, "kb", "PLATYPUS diary", json!({}));
    assert!(!t.contains("PLATYPUS"), "the index forgot the upload: {t}");
    for (table, col) in [
        ("conversations", "owner"),
        ("answers", "owner"),
        ("feedback", "owner"),
        ("documents", "owner"),
        ("uploads", "owner"),
        ("users", "id"),
        ("api_keys", "user_id"),
    ] {
        let n = w.count(&format!(
            "SELECT COUNT(*) FROM {table} WHERE {col} = 'alice'"
        ));
        assert_eq!(n, 0, "{table} still holds alice's rows");
    }
    let n = w.count("SELECT COUNT(*) FROM chunks WHERE text LIKE '%PLATYPUS%'");
    assert_eq!(n, 0);
    if w.search_in_store {
        assert_eq!(
            shared_rows(""),
            rows_before - diary_rows,
            "exactly the diary's vectors left pgvector"
        );
    }
    let n = w.count("SELECT COUNT(*) FROM jobs WHERE kind LIKE '%\"owner\":\"alice\"%'");
    assert_eq!(n, 0, "no job names her");
    let n = w.count("SELECT COUNT(*) FROM messages WHERE content LIKE '%Aurora office%'");
    assert_eq!(n, 0, "the conversation's messages are gone");
    let after = common::json(&common::cairn(
        h,
        &["--json", "--tenant", "acme", "users", "export", "alice"],
    ));
    assert!(after["user"].is_null() && after["conversations"].as_array().unwrap().is_empty());
    // Bob is untouched, and the erasure itself is on the audit trail.
    assert_eq!(
        get(&s, &format!("/api/v1/conversations/{bconv_id}"), &w.bob).status,
        200
    );
    assert!(search_text(&s, &w.bob, "kb", "salary band quokka", json!({})).contains("quokka"));
    let log = get(&s, "/api/v1/audit", &w.admin);
    assert!(log.text.contains("users.erase"));
}
