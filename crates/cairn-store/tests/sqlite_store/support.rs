//! Fixtures: a store with tenants `a` and `b`, each with a collection `c`.

use cairn_store::{CollectionRepo, DocumentCommit, DocumentRepo, NewJob, SqliteStore, TenantRepo};
use cairn_types::{
    Acl, Chunk, ChunkId, ChunkRole, ChunkingSpec, CollectionId, DocStatus, Document, DocumentId,
    JobKind, QualityFlags, TenantId,
};
use std::path::{Path, PathBuf};

pub fn t(s: &str) -> TenantId {
    TenantId::new(s)
}

pub fn c(s: &str) -> CollectionId {
    CollectionId::new(s)
}

pub fn db_path(dir: &Path) -> PathBuf {
    dir.join("nested/data/cairn.db")
}

/// A store on a file under `dir` with tenants `a` and `b`, each with collection `c`.
pub fn setup(dir: &Path) -> SqliteStore {
    let s = SqliteStore::open(&db_path(dir)).unwrap();
    for tenant in ["a", "b"] {
        s.ensure_tenant(&t(tenant), tenant, 1).unwrap();
        s.create_collection(&t(tenant), &c("c"), "", &ChunkingSpec::default(), 1)
            .unwrap();
    }
    s
}

/// A fresh draft document (new id) for `source` in collection `c`.
pub fn doc(tenant: &str, source: &str, hash: &str) -> Document {
    Document {
        tenant: t(tenant),
        id: DocumentId::generate(),
        collection: c("c"),
        source: source.into(),
        title: format!("title of {source}"),
        format: "text".into(),
        content_hash: hash.into(),
        mtime: 5,
        size_bytes: 10,
        metadata: serde_json::json!({"tag": "x", "n": 1}),
        acl: Acl {
            users: vec!["u".into()],
            groups: vec!["g".into()],
        },
        status: DocStatus::Indexed,
        owner: None,
        quality: QualityFlags {
            simhash: u64::MAX - 7,
            ..QualityFlags::default()
        },
        chunk_count: 0,
        created_at: 10,
        updated_at: 10,
    }
}

/// Chunks as the engine builds them: chunk 0 a parent, the others its children, ids and
/// parent links built from the draft document id.
pub fn chunks(d: &Document, texts: &[&str]) -> Vec<Chunk> {
    texts
        .iter()
        .enumerate()
        .map(|(i, text)| Chunk {
            tenant: d.tenant.clone(),
            id: ChunkId::for_position(&d.id, i),
            document: d.id.clone(),
            collection: d.collection.clone(),
            ordinal: i,
            text: (*text).into(),
            heading_path: vec!["H".into(), format!("h{i}")],
            token_count: 3 + i,
            role: if i == 0 {
                ChunkRole::Parent
            } else {
                ChunkRole::Child
            },
            parent: (i > 0).then(|| ChunkId::for_position(&d.id, 0)),
            page: (i % 2 == 1).then_some(u32::try_from(i).unwrap()),
        })
        .collect()
}

pub fn plain(d: Document, texts: &[&str]) -> DocumentCommit {
    let chunks = chunks(&d, texts);
    DocumentCommit {
        embeddings: vec![],
        doc: d,
        chunks,
        job: None,
        idempotency: None,
        parsed: None,
    }
}

/// Commits `d` with chunks `texts` at time 20.
pub fn commit(s: &SqliteStore, d: Document, texts: &[&str]) -> Document {
    let tenant = d.tenant.clone();
    s.commit_document(&tenant, plain(d, texts), 20).unwrap()
}

pub fn new_job(path: &str) -> NewJob {
    new_job_in("b1", path)
}

pub fn new_job_in(batch: &str, path: &str) -> NewJob {
    NewJob {
        collection: c("c"),
        batch: batch.into(),
        kind: JobKind::IngestFile {
            path: path.into(),
            acl: Acl::default(),
            metadata: serde_json::Map::default(),
            force: false,
        },
        max_attempts: 2,
    }
}
