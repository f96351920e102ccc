//! Shared fixtures for the engine tests: an engine over a real SQLite file in a temp dir,
//! with the real MiniLM tokenizer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)] // tests fail loudly and explain themselves
#![allow(dead_code)]

use cairn_engine::{Engine, UploadRequest};
use cairn_types::{Acl, CollectionId, TenantId};
use std::path::Path;

pub fn engine(dir: &Path, extra_toml: &str) -> Engine {
    let toml = format!(
        "data_dir = \"{}\"\n[ingest]\nworkers = 2\nbackoff_base_ms = 10\nbackoff_max_ms = 50\n{extra_toml}",
        dir.join("data").display()
    );
    let (config, _) = cairn_config::load_from_str(&toml, "test", &[]).unwrap();
    let engine = Engine::open(config).unwrap();
    if let Err(e) = engine.token_counter() {
        panic!("the MiniLM tokenizer is required (run scripts/fetch-models.sh): {e}");
    }
    engine
}

pub fn write(dir: &Path, name: &str, content: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, content).unwrap();
    p
}

/// A paragraph of distinct prose, so documents are not near-duplicates of each other.
pub fn prose(topic: &str, n: usize) -> String {
    let words = [
        "replication",
        "vacuum",
        "index",
        "planner",
        "checkpoint",
        "lock",
        "tuple",
        "buffer",
        "wal",
        "snapshot",
        "trigger",
        "schema",
        "cursor",
        "sequence",
        "partition",
        "role",
    ];
    let mut out = String::new();
    for i in 0..n {
        let a = words[(i * 7 + topic.len()) % words.len()];
        let b = words[(i * 3 + 5 + topic.len() * 2) % words.len()];
        out.push_str(&format!(
            "The {topic} section {i} explains how {a} interacts with {b} under load, with example number {}. ",
            i * 31 + topic.len()
        ));
    }
    out
}

/// Sleeps long enough that a rewritten file gets a different mtime.
pub fn tick() {
    std::thread::sleep(std::time::Duration::from_millis(20));
}

/// Uploads `text` as `name` into `tenant`/`coll` with `acl` and `metadata` (a JSON object
/// or null) and returns the document id.
pub fn upload_with(
    e: &Engine,
    tenant: &str,
    coll: &str,
    name: &str,
    text: &str,
    acl: Acl,
    metadata: serde_json::Value,
) -> String {
    let req = UploadRequest {
        name,
        bytes: text.as_bytes(),
        acl,
        metadata: metadata.as_object().cloned().unwrap_or_default(),
        ..Default::default()
    };
    e.ingest_bytes(&TenantId::new(tenant), &CollectionId::new(coll), &req)
        .unwrap()
        .id
        .as_str()
        .to_owned()
}

/// Uploads `text` as `name`, readable by everyone in `tenant`; returns the document id.
pub fn upload(e: &Engine, tenant: &str, coll: &str, name: &str, text: &str) -> String {
    upload_with(
        e,
        tenant,
        coll,
        name,
        text,
        Acl::default(),
        serde_json::Value::Null,
    )
}
