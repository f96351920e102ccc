//! Test support shared by the crates whose tests run on the PostgreSQL backend: a fresh,
//! migrated database per call on the server `CAIRN_TEST_PG_URL` names (scripts/test.sh
//! starts one with scripts/postgres.sh), and synthetic documents (also what `cairn bench
//! pgvector` stores its vectors under). Not for production use.

use crate::PostgresStore;
use std::sync::atomic::{AtomicU64, Ordering};

/// The variable naming the PostgreSQL server the tests use.
pub const PG_URL_VAR: &str = "CAIRN_TEST_PG_URL";

/// Creates an empty database on the test server, migrates it, and returns its URL; an
/// error says how to get a server when none is configured or it cannot be reached.
pub fn fresh_postgres_database() -> Result<String, String> {
    let admin = std::env::var(PG_URL_VAR).map_err(|_| {
        format!(
            "{PG_URL_VAR} is not set: the PostgreSQL tests need a server. Run the suite with \
             scripts/test.sh, or start one with `export {PG_URL_VAR}=$(scripts/postgres.sh \
             start | tail -n 1)`"
        )
    })?;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "cairn_test_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    );
    let url = crate::postgres::create_database(&admin, &name)
        .map_err(|e| format!("cannot create a test database on {admin} ({PG_URL_VAR}): {e}"))?;
    PostgresStore::migrate(&url).map_err(|e| format!("cannot migrate {url}: {e}"))?;
    Ok(url)
}

/// A commit of synthetic document `n` of `collection`: one leaf chunk, an empty ACL.
pub fn synthetic_document(
    tenant: &cairn_types::TenantId,
    collection: &cairn_types::CollectionId,
    n: usize,
) -> crate::DocumentCommit {
    use cairn_types::{
        Acl, Chunk, ChunkId, ChunkRole, DocStatus, Document, DocumentId, QualityFlags,
    };
    let id = DocumentId::generate();
    let chunk = Chunk {
        tenant: tenant.clone(),
        id: ChunkId::new(format!("{}:0", id.as_str())),
        document: id.clone(),
        collection: collection.clone(),
        ordinal: 0,
        text: format!("synthetic document {n}"),
        heading_path: vec![],
        token_count: 3,
        role: ChunkRole::Leaf,
        parent: None,
        page: None,
    };
    crate::DocumentCommit {
        embeddings: vec![],
        doc: Document {
            tenant: tenant.clone(),
            id,
            collection: collection.clone(),
            source: format!("synthetic/{n}"),
            title: format!("synthetic {n}"),
            format: "text".into(),
            content_hash: format!("synthetic-{n}"),
            mtime: 0,
            size_bytes: 0,
            metadata: serde_json::json!({}),
            acl: Acl::default(),
            status: DocStatus::Indexed,
            owner: None,
            quality: QualityFlags::default(),
            chunk_count: 0,
            created_at: 0,
            updated_at: 0,
        },
        chunks: vec![chunk],
        job: None,
        idempotency: None,
        parsed: None,
        upload: None,
    }
}
