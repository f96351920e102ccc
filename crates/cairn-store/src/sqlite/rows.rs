//! Row mapping: the column lists and the functions that turn rows into types.

use crate::{Error, Result};
use cairn_types::{
    Acl, Chunk, ChunkId, ChunkRole, CollectionId, DocStatus, Document, DocumentId, ErrorCode,
    Job, JobId, JobState, TenantId,
};
use rusqlite::Row;

pub(crate) const DOC_COLS: &str = "tenant_id, id, collection_id, source, title, format, content_hash, mtime, \
     size_bytes, metadata, acl_users, acl_groups, status, quality, chunk_count, created_at, updated_at";

pub(crate) const CHUNK_COLS: &str =
    "tenant_id, id, document_id, collection_id, ordinal, text, heading_path, token_count, role, parent_id, page";

pub(crate) const JOB_COLS: &str = "tenant_id, id, collection_id, batch, kind, state, attempts, max_attempts, \
     run_after, last_error, error_code, document_id, chunks, created_at, updated_at";

fn corrupt(what: &str, e: impl std::fmt::Display) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, format!("{what}: {e}").into())
}

fn json<T: serde::de::DeserializeOwned>(row: &Row<'_>, idx: usize, what: &str) -> rusqlite::Result<T> {
    let s: String = row.get(idx)?;
    serde_json::from_str(&s).map_err(|e| corrupt(what, e))
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Corrupt(e.to_string()))
}

fn usize_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<usize> {
    let v: i64 = row.get(idx)?;
    usize::try_from(v).map_err(|e| corrupt("count", e))
}

pub(crate) fn document(row: &Row<'_>) -> rusqlite::Result<Document> {
    let status: String = row.get(12)?;
    Ok(Document {
        tenant: TenantId::new(row.get::<_, String>(0)?),
        id: DocumentId::new(row.get::<_, String>(1)?),
        collection: CollectionId::new(row.get::<_, String>(2)?),
        source: row.get(3)?,
        title: row.get(4)?,
        format: row.get(5)?,
        content_hash: row.get(6)?,
        mtime: row.get(7)?,
        size_bytes: u64::try_from(row.get::<_, i64>(8)?).map_err(|e| corrupt("size", e))?,
        metadata: json(row, 9, "metadata")?,
        acl: Acl { users: json(row, 10, "acl_users")?, groups: json(row, 11, "acl_groups")? },
        status: DocStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        quality: json(row, 13, "quality")?,
        chunk_count: usize_col(row, 14)?,
        created_at: row.get(15)?,
        updated_at: row.get(16)?,
    })
}

pub(crate) fn role_str(r: ChunkRole) -> &'static str {
    match r {
        ChunkRole::Leaf => "leaf",
        ChunkRole::Parent => "parent",
        ChunkRole::Child => "child",
    }
}

pub(crate) fn chunk(row: &Row<'_>) -> rusqlite::Result<Chunk> {
    let role: String = row.get(8)?;
    let role = match role.as_str() {
        "leaf" => ChunkRole::Leaf,
        "parent" => ChunkRole::Parent,
        "child" => ChunkRole::Child,
        other => return Err(corrupt("role", other)),
    };
    Ok(Chunk {
        tenant: TenantId::new(row.get::<_, String>(0)?),
        id: ChunkId::new(row.get::<_, String>(1)?),
        document: DocumentId::new(row.get::<_, String>(2)?),
        collection: CollectionId::new(row.get::<_, String>(3)?),
        ordinal: usize_col(row, 4)?,
        text: row.get(5)?,
        heading_path: json(row, 6, "heading_path")?,
        token_count: usize_col(row, 7)?,
        role,
        parent: row.get::<_, Option<String>>(9)?.map(ChunkId::new),
        page: row.get(10)?,
    })
}

pub(crate) fn error_code(s: &str) -> Option<ErrorCode> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
}

pub(crate) fn job(row: &Row<'_>) -> rusqlite::Result<Job> {
    let state: String = row.get(5)?;
    Ok(Job {
        tenant: TenantId::new(row.get::<_, String>(0)?),
        id: JobId::new(row.get::<_, String>(1)?),
        collection: CollectionId::new(row.get::<_, String>(2)?),
        batch: row.get(3)?,
        kind: json(row, 4, "kind")?,
        state: JobState::parse(&state).ok_or_else(|| corrupt("state", &state))?,
        attempts: row.get(6)?,
        max_attempts: row.get(7)?,
        run_after: row.get(8)?,
        last_error: row.get(9)?,
        error_code: row.get::<_, Option<String>>(10)?.as_deref().and_then(error_code),
        document: row.get::<_, Option<String>>(11)?.map(DocumentId::new),
        chunks: usize_col(row, 12)?,
        created_at: row.get(13)?,
        updated_at: row.get(14)?,
    })
}
