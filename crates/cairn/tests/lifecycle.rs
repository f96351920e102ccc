//! `cairn tenants`: a legal hold refuses offboarding with a clear error; offboarding
//! reports what it removed (text and `--json`) and leaves another tenant searchable;
//! `cairn tenants sweep` takes an expired document out of search.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use common::{cairn, json};
use std::path::Path;

fn ingest(home: &Path, tenant: &str, name: &str, text: &str) {
    let dir = home.join(format!("src-{tenant}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), text).unwrap();
    let out = cairn(
        home,
        &[
            "--tenant",
            tenant,
            "ingest",
            dir.to_str().unwrap(),
            "-c",
            "kb",
        ],
    );
    assert!(out.status.success());
}

fn hits(home: &Path, tenant: &str, q: &str) -> usize {
    let v = json(&cairn(
        home,
        &["--json", "--tenant", tenant, "search", q, "-c", "kb"],
    ));
    v["hits"].as_array().unwrap().len()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The test documents are short: keep them searchable.
const SHORT_OK: &str = "[ingest.quality]\nmin_chars = 10\n";

const TEXT: &str = "# Vacuum\n\nAutovacuum reclaims dead tuples so tables do not bloat; \
    tune autovacuum_vacuum_scale_factor for large tables and watch pg_stat_user_tables.";

#[test]
fn offboarding_respects_holds_and_reports_what_it_removed() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    std::fs::write(h.join("cairn.toml"), SHORT_OK).unwrap();
    ingest(h, "acme", "vacuum.md", TEXT);
    ingest(h, "other", "vacuum.md", TEXT);
    assert!(
        cairn(h, &["--tenant", "acme", "users", "add", "alice"])
            .status
            .success()
    );
    common::new_key(h, "acme", "member", Some("alice"));
    assert_eq!(hits(h, "acme", "autovacuum dead tuples"), 1);

    // Held: refused with a conflict naming the hold; nothing removed.
    let out = cairn(h, &["tenants", "hold", "acme", "--reason", "case 7"]);
    assert!(out.status.success());
    let list = json(&cairn(h, &["--json", "tenants", "list"]));
    let acme = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tenant"] == "acme")
        .unwrap();
    assert_eq!(acme["legal_holds"][0]["reason"], "case 7");
    let out = cairn(h, &["tenants", "delete", "acme", "--yes"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("[conflict]")
            && stderr(&out).contains("tenant acme is under legal hold"),
        "{}",
        stderr(&out)
    );
    // So is a user's GDPR erasure.
    let out = cairn(h, &["--tenant", "acme", "users", "erase", "alice", "--yes"]);
    assert!(stderr(&out).contains("tenant acme is under legal hold"));
    assert_eq!(hits(h, "acme", "autovacuum dead tuples"), 1);
    // Without --yes, nothing happens either.
    assert!(
        cairn(h, &["tenants", "hold", "acme", "--off"])
            .status
            .success()
    );
    assert!(!cairn(h, &["tenants", "delete", "acme"]).status.success());

    let r = json(&cairn(h, &["--json", "tenants", "delete", "acme", "--yes"]));
    let rows = &r["rows"];
    assert_eq!(rows["collections"], 1, "{r}");
    assert_eq!(rows["documents"], 1);
    assert_eq!(rows["users"], 1);
    assert_eq!(rows["api_keys"], 1);
    assert_eq!(rows["tenants"], 1);
    assert!(rows["chunks"].as_u64().unwrap() > 0);
    assert!(rows["jobs"].as_u64().unwrap() > 0);
    assert_eq!(r["index_dirs"], 1);
    assert!(!h.join("data/index/acme").exists());

    // The other tenant is intact; the audit chain verifies and records the offboarding.
    assert_eq!(hits(h, "other", "autovacuum dead tuples"), 1);
    assert!(cairn(h, &["audit", "verify"]).status.success());
    let out = cairn(h, &["tenants", "delete", "acme", "--yes"]);
    assert!(stderr(&out).contains("[not_found]"), "{}", stderr(&out));
    let db = rusqlite::Connection::open(h.join("data/cairn.db")).unwrap();
    let n: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM audit_log WHERE tenant_id = 'acme' AND action = 'tenants.delete'
               AND outcome = 'ok'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1);
    let n: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM documents WHERE tenant_id = 'acme'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 0);

    // The text report names each kind.
    ingest(h, "acme2", "vacuum.md", TEXT);
    let out = cairn(h, &["tenants", "delete", "acme2", "--yes"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("deleted tenant acme2"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("documents") && l.ends_with(" 1"))
    );
}

#[test]
fn the_sweep_takes_expired_documents_out_of_search() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let config = format!("{SHORT_OK}[retention]\ndocuments_days = 7\n");
    std::fs::write(h.join("cairn.toml"), config).unwrap();
    ingest(h, "acme", "vacuum.md", TEXT);
    ingest(h, "other", "vacuum.md", TEXT);
    assert_eq!(hits(h, "acme", "autovacuum dead tuples"), 1);
    // Nothing is a week old yet.
    let r = json(&cairn(h, &["--json", "tenants", "sweep"]));
    assert!(
        r["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["deleted"]["documents"] == 0)
    );
    // Age acme's document by eight days.
    let db = rusqlite::Connection::open(h.join("data/cairn.db")).unwrap();
    db.execute(
        "UPDATE documents SET updated_at = updated_at - 8 * 86400000 WHERE tenant_id = 'acme'",
        [],
    )
    .unwrap();
    let out = cairn(h, &["tenants", "sweep"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("acme: deleted 0 conversations"), "{text}");
    assert!(text.contains("1 documents"), "{text}");
    assert_eq!(hits(h, "acme", "autovacuum dead tuples"), 0);
    assert_eq!(hits(h, "other", "autovacuum dead tuples"), 1);
}

fn documents(h: &Path, tenant: &str) -> i64 {
    let db = rusqlite::Connection::open(h.join("data/cairn.db")).unwrap();
    db.query_row(
        "SELECT COUNT(*) FROM documents WHERE tenant_id = ?1",
        [tenant],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn the_server_sweeps_in_the_background_with_tenant_overrides() {
    use common::server::{Server, call};
    use serde_json::json;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let config = format!(
        "{SHORT_OK}[models]\ngenerator = \"smollm2-135m-instruct\"\n\
         [retention]\ndocuments_days = 7\nsweep_interval_secs = 1\n"
    );
    std::fs::write(h.join("cairn.toml"), config).unwrap();
    ingest(h, "acme", "vacuum.md", TEXT);
    ingest(h, "other", "vacuum.md", TEXT);
    let owner = common::new_key(h, "other", "owner", None);
    let s = Server::start(h);
    // Started without RAYON_NUM_THREADS, the server runs with it set (candle would
    // otherwise read /proc/cpuinfo on every matrix product).
    let threads = s
        .environ()
        .into_iter()
        .find(|(k, _)| k == "RAYON_NUM_THREADS");
    let threads: usize = threads
        .expect("RAYON_NUM_THREADS is set")
        .1
        .parse()
        .unwrap();
    assert!(threads >= 1);
    let settings = format!("{}/api/v1/tenant/settings", s.url);

    // Tenant `other` keeps its documents forever; bad overrides are refused.
    for bad in [
        json!({"retention": {"sweep_interval_secs": 5}}),
        json!({"retention": {"documents_days": 40000}}),
        json!({"retention": 7}),
    ] {
        let r = call("PUT", &settings, Some(&owner), Some(&bad));
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
    }
    let r = call(
        "PUT",
        &settings,
        Some(&owner),
        Some(&json!({"retention": {"documents_days": 0}})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["effective"]["retention"]["documents_days"], 0);
    assert!(
        cairn(h, &["tenants", "hold", "other", "--user", "carol"])
            .status
            .success()
    );
    let r = call("GET", &settings, Some(&owner), None);
    assert_eq!(
        r.body["effective"]["retention"]["documents_days"], 0,
        "{}",
        r.text
    );
    assert_eq!(r.body["legal_holds"][0]["user"], "carol", "{}", r.text);
    // Requests still pass the settings cache with a retention override stored.
    let me = call("GET", &format!("{}/api/v1/me", s.url), Some(&owner), None);
    assert_eq!(me.status, 200, "{}", me.text);

    // Both documents become eight days old; the background sweep takes acme's only.
    let db = rusqlite::Connection::open(h.join("data/cairn.db")).unwrap();
    db.execute(
        "UPDATE documents SET updated_at = updated_at - 8 * 86400000",
        [],
    )
    .unwrap();
    let start = std::time::Instant::now();
    while documents(h, "acme") > 0 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "the background sweep did not run"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(documents(h, "other"), 1);
}
