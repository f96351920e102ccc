//! The world every security test starts from: tenants acme (collection `kb`: a public
//! page, an eng-group page, a page only bob may read) and globex (`gx`), their users and
//! keys, and small HTTP helpers over a running server.

use crate::common;
use crate::common::server::{Reply, Server, call};
use serde_json::{Value, json};
use std::path::Path;

pub(crate) const GENERATOR: &str = "smollm2-135m-instruct";

/// Unique words per document, so a hit (or its absence) is unambiguous.
pub(crate) const PUBLIC: &str = "# Office hours\n\nThe Aurora office opens at nine and the canteen serves \
    porridge on Mondays. Visitors sign in at the front desk.\n";
pub(crate) const ENG: &str = "# Deployment\n\nThe Zephyrine deployment codeword is BLUEFALCON. Engineers \
    rotate the staging credentials every Friday.\n";
pub(crate) const HR: &str = "# Salaries\n\nThe salary band for quokka-level staff is 97000 kroner. Reviews \
    happen in the second week of October.\n";
pub(crate) const GLOBEX: &str = "# Merger\n\nThe Globex merger codename is NIGHTJAR. The board meets in \
    Springfield on the first Tuesday.\n";

/// A scratch home: acme (kb: public, eng-only, bob-only) and globex (gx), users and keys.
pub(crate) struct World {
    pub(crate) home: tempfile::TempDir,
    pub(crate) alice: String,
    pub(crate) bob: String,
    pub(crate) carol: String,
    pub(crate) erin: String,
    pub(crate) admin: String,
    pub(crate) gina: String,
    /// The Redis a multi-server world shares, stopped with the world.
    pub(crate) redis: Option<cairn_auth::testing::RedisServer>,
    /// The PostgreSQL database of a world on the postgres backend.
    pub(crate) postgres: Option<String>,
    /// Whether its searches run in PostgreSQL (pgvector and full-text search).
    pub(crate) search_in_store: bool,
}

impl World {
    /// `SELECT COUNT(*) …` against the world's store, whichever backend holds it.
    pub(crate) fn count(&self, sql: &str) -> i64 {
        match &self.postgres {
            Some(url) => postgres::Client::connect(url, postgres::NoTls)
                .unwrap()
                .query_one(sql, &[])
                .unwrap()
                .get(0),
            None => rusqlite::Connection::open(self.home.path().join("data/cairn.db"))
                .unwrap()
                .query_row(sql, [], |r| r.get(0))
                .unwrap(),
        }
    }
}

pub(crate) fn write(dir: &Path, name: &str, text: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), text).unwrap();
}

pub(crate) fn ok(out: std::process::Output) {
    assert!(out.status.success());
}

/// The same world with its state on a fresh, migrated PostgreSQL database of the test
/// server (`CAIRN_TEST_PG_URL`; scripts/test.sh starts it) and its rate limits in a
/// Redis started for it, as a multi-server deployment runs.
pub(crate) fn world_on_postgres() -> World {
    world_on_postgres_with("")
}

/// [`world_on_postgres`] with every search running in PostgreSQL too: vectors in
/// pgvector, full-text search on `tsvector` (nothing searchable held by the server).
pub(crate) fn world_searching_in_postgres() -> World {
    let mut w = world_on_postgres_with(
        "[retrieval]\ndense_backend = \"pgvector\"\nlexical_backend = \"postgres\"\n",
    );
    w.search_in_store = true;
    w
}

fn world_on_postgres_with(extra: &str) -> World {
    let url = cairn_store::testing::fresh_postgres_database().unwrap_or_else(|e| panic!("{e}"));
    let redis = cairn_auth::testing::RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let mut w = world(&format!(
        "[store]\nbackend = \"postgres\"\nurl = \"{url}\"\n\n[redis]\nurl = \"{}\"\n\n{extra}",
        redis.url
    ));
    w.redis = Some(redis);
    w.postgres = Some(url);
    w
}

/// The agent every world has (array tables go last in the file).
const AGENTS: &str = "[[agents]]\nname = \"helper\"\ndescription = \"searches the knowledge base\"\n\
    tools = [\"search\"]\ncollections = [\"kb\"]\n";

pub(crate) fn world(extra_config: &str) -> World {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    std::fs::write(
        h.join("cairn.toml"),
        format!(
            "[models]\ngenerator = \"{GENERATOR}\"\n\n[ingest.quality]\nmin_chars = 10\n\n{extra_config}\n\n{AGENTS}"
        ),
    )
    .unwrap();
    write(&h.join("pub"), "public.md", PUBLIC);
    write(&h.join("eng"), "eng.md", ENG);
    write(&h.join("hr"), "hr.md", HR);
    write(&h.join("gx"), "globex.md", GLOBEX);
    let t = |tenant: &str, args: &[&str]| {
        let mut all = vec!["--tenant", tenant];
        all.extend_from_slice(args);
        ok(common::cairn(h, &all));
    };
    t("acme", &["ingest", "pub", "-c", "kb"]);
    t("acme", &["ingest", "eng", "-c", "kb", "--acl-group", "eng"]);
    t("acme", &["ingest", "hr", "-c", "kb", "--acl-user", "bob"]);
    t("globex", &["ingest", "gx", "-c", "gx"]);
    t(
        "acme",
        &[
            "users", "add", "alice", "--role", "member", "--group", "eng",
        ],
    );
    t(
        "acme",
        &["users", "add", "bob", "--role", "editor", "--group", "hr"],
    );
    t("acme", &["users", "add", "carol", "--role", "viewer"]);
    t("acme", &["users", "add", "erin", "--role", "editor"]);
    t("globex", &["users", "add", "gina", "--role", "admin"]);
    World {
        alice: common::new_key(h, "acme", "member", Some("alice")),
        bob: common::new_key(h, "acme", "editor", Some("bob")),
        carol: common::new_key(h, "acme", "viewer", Some("carol")),
        erin: common::new_key(h, "acme", "editor", Some("erin")),
        admin: common::new_key(h, "acme", "admin", None),
        gina: common::new_key(h, "globex", "admin", Some("gina")),
        home,
        redis: None,
        postgres: None,
        search_in_store: false,
    }
}

pub(crate) fn get(s: &Server, path: &str, key: &str) -> Reply {
    call("GET", &format!("{}{path}", s.url), Some(key), None)
}

pub(crate) fn post(s: &Server, path: &str, key: &str, body: Value) -> Reply {
    call("POST", &format!("{}{path}", s.url), Some(key), Some(&body))
}

pub(crate) fn put(s: &Server, path: &str, key: &str, body: Value) -> Reply {
    call("PUT", &format!("{}{path}", s.url), Some(key), Some(&body))
}

pub(crate) fn del(s: &Server, path: &str, key: &str) -> Reply {
    call("DELETE", &format!("{}{path}", s.url), Some(key), None)
}

pub(crate) fn code(r: &Reply) -> &str {
    r.body["error"]["code"].as_str().unwrap_or("")
}

/// Every hit a search returns, as one string (texts, sources, ids; not the echoed query).
pub(crate) fn search_text(
    s: &Server,
    key: &str,
    collection: &str,
    query: &str,
    extra: Value,
) -> String {
    let mut body = json!({"collection": collection, "query": query, "top_k": 10});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let r = post(s, "/api/v1/search", key, body);
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["hits"].to_string()
}

/// A document id by its source file name, as the operator sees it.
pub(crate) fn doc_id(home: &Path, tenant: &str, name: &str) -> String {
    let v = common::json(&common::cairn(
        home,
        &["--json", "--tenant", tenant, "docs", "list"],
    ));
    v.as_array()
        .unwrap()
        .iter()
        .find(|d| d["source"].as_str().unwrap_or("").ends_with(name))
        .unwrap_or_else(|| panic!("no {name} in {v}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub(crate) fn job_ids(home: &Path, tenant: &str) -> Vec<(String, String)> {
    let v = common::json(&common::cairn(
        home,
        &["--json", "--tenant", tenant, "jobs", "list"],
    ));
    v.as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["id"].as_str().unwrap().to_owned(),
                j["kind"]["path"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// The id of the key acting as `user` (via the admin listing).
pub(crate) fn key_id(s: &Server, admin: &str, user: &str) -> String {
    let keys = get(s, "/api/v1/keys", admin);
    keys.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["user"] == user && k["revoked_at"].is_null())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}
