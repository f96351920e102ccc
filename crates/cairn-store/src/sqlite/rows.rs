//! Row mapping: column lists, the functions that turn rows into types, and the stable
//! string forms of enums stored as text. A value that does not decode is reported as a
//! conversion failure, which [`super::db`] maps to `Error::Corrupt`.

use cairn_types::{
    Acl, Chunk, ChunkId, Collection, CollectionId, DocStatus, Document, DocumentId, Job, JobId,
    JobState, Tenant, TenantId,
};
use rusqlite::Row;
use rusqlite::types::Type;

pub(crate) use crate::columns::{
    CHUNK_COLS, COLLECTION_COLS, DOC_COLS, JOB_COLS, SUMMARY_COLS, TENANT_COLS, parse_error_code,
    parse_role, role_str, to_json,
};

pub(crate) fn corrupt(idx: usize, what: &str, e: impl std::fmt::Display) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, format!("{what}: {e}").into())
}

pub(crate) fn json<T: serde::de::DeserializeOwned>(
    row: &Row<'_>,
    idx: usize,
    what: &str,
) -> rusqlite::Result<T> {
    let s: String = row.get(idx)?;
    serde_json::from_str(&s).map_err(|e| corrupt(idx, what, e))
}

fn count(row: &Row<'_>, idx: usize) -> rusqlite::Result<usize> {
    let v: i64 = row.get(idx)?;
    usize::try_from(v).map_err(|e| corrupt(idx, "count", e))
}

fn text_enum<T>(
    row: &Row<'_>,
    idx: usize,
    what: &str,
    parse: fn(&str) -> Option<T>,
) -> rusqlite::Result<T> {
    let s: String = row.get(idx)?;
    parse(&s).ok_or_else(|| corrupt(idx, what, format!("unknown value `{s}`")))
}

pub(crate) fn tenant(row: &Row<'_>) -> rusqlite::Result<Tenant> {
    Ok(Tenant {
        id: TenantId::new(row.get::<_, String>(0)?),
        name: row.get(1)?,
        created_at: row.get(2)?,
    })
}

pub(crate) fn collection(row: &Row<'_>) -> rusqlite::Result<Collection> {
    Ok(Collection {
        tenant: TenantId::new(row.get::<_, String>(0)?),
        id: CollectionId::new(row.get::<_, String>(1)?),
        description: row.get(2)?,
        chunking: json(row, 3, "chunking")?,
        created_at: row.get(4)?,
        generation: row.get(5)?,
    })
}

pub(crate) fn document(row: &Row<'_>) -> rusqlite::Result<Document> {
    Ok(Document {
        tenant: TenantId::new(row.get::<_, String>(0)?),
        id: DocumentId::new(row.get::<_, String>(1)?),
        collection: CollectionId::new(row.get::<_, String>(2)?),
        source: row.get(3)?,
        title: row.get(4)?,
        format: row.get(5)?,
        content_hash: row.get(6)?,
        mtime: row.get(7)?,
        size_bytes: u64::try_from(row.get::<_, i64>(8)?)
            .map_err(|e| corrupt(8, "size_bytes", e))?,
        metadata: json(row, 9, "metadata")?,
        acl: Acl {
            users: json(row, 10, "acl_users")?,
            groups: json(row, 11, "acl_groups")?,
        },
        status: text_enum(row, 12, "status", DocStatus::parse)?,
        quality: json(row, 13, "quality")?,
        chunk_count: count(row, 14)?,
        created_at: row.get(15)?,
        updated_at: row.get(16)?,
        owner: row.get(17)?,
    })
}

pub(crate) fn chunk(row: &Row<'_>) -> rusqlite::Result<Chunk> {
    Ok(Chunk {
        tenant: TenantId::new(row.get::<_, String>(0)?),
        id: ChunkId::new(row.get::<_, String>(1)?),
        document: DocumentId::new(row.get::<_, String>(2)?),
        collection: CollectionId::new(row.get::<_, String>(3)?),
        ordinal: count(row, 4)?,
        text: row.get(5)?,
        heading_path: json(row, 6, "heading_path")?,
        token_count: count(row, 7)?,
        role: text_enum(row, 8, "role", parse_role)?,
        parent: row.get::<_, Option<String>>(9)?.map(ChunkId::new),
        page: row.get(10)?,
    })
}

pub(crate) fn job(row: &Row<'_>) -> rusqlite::Result<Job> {
    let error_code = match row.get::<_, Option<String>>(10)? {
        Some(s) => Some(parse_error_code(&s).ok_or_else(|| corrupt(10, "error_code", &s))?),
        None => None,
    };
    Ok(Job {
        tenant: TenantId::new(row.get::<_, String>(0)?),
        id: JobId::new(row.get::<_, String>(1)?),
        collection: CollectionId::new(row.get::<_, String>(2)?),
        batch: row.get(3)?,
        kind: json(row, 4, "kind")?,
        state: text_enum(row, 5, "state", JobState::parse)?,
        attempts: row.get(6)?,
        max_attempts: row.get(7)?,
        run_after: row.get(8)?,
        last_error: row.get(9)?,
        error_code,
        document: row.get::<_, Option<String>>(11)?.map(DocumentId::new),
        chunks: count(row, 12)?,
        created_at: row.get(13)?,
        updated_at: row.get(14)?,
    })
}
