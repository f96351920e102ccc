//! Row mapping for PostgreSQL: the functions that turn rows into types (the column lists
//! and enum strings are shared with SQLite in `crate::columns`). A value that does not
//! decode is `Error::Corrupt`, naming the column.

use crate::columns::{parse_error_code, parse_role};
use crate::{Error, Result};
use cairn_types::{
    Acl, Chunk, ChunkId, Collection, CollectionId, DocStatus, Document, DocumentId, Job, JobId,
    JobState, Tenant, TenantId,
};
use postgres::Row;
use postgres::types::FromSql;

/// Column `idx` (called `what` in errors) as `T`.
pub(crate) fn get<'a, T: FromSql<'a>>(row: &'a Row, idx: usize, what: &str) -> Result<T> {
    row.try_get(idx)
        .map_err(|e| Error::Corrupt(format!("column {idx} ({what}): {e}")))
}

/// A JSON text column, decoded.
pub(crate) fn json<T: serde::de::DeserializeOwned>(row: &Row, idx: usize, what: &str) -> Result<T> {
    let s: &str = get(row, idx, what)?;
    serde_json::from_str(s).map_err(|e| Error::Corrupt(format!("column {idx} ({what}): {e}")))
}

/// A non-negative `bigint` as a count or size.
pub(crate) fn count(row: &Row, idx: usize, what: &str) -> Result<usize> {
    let v: i64 = get(row, idx, what)?;
    usize::try_from(v).map_err(|e| Error::Corrupt(format!("column {idx} ({what}): {e}")))
}

/// A text column holding one of an enum's stable strings.
pub(crate) fn text_enum<T>(
    row: &Row,
    idx: usize,
    what: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<T> {
    let s: &str = get(row, idx, what)?;
    parse(s).ok_or_else(|| Error::Corrupt(format!("column {idx} ({what}): unknown value `{s}`")))
}

pub(crate) fn tenant(row: &Row) -> Result<Tenant> {
    Ok(Tenant {
        id: TenantId::new(get::<String>(row, 0, "tenant_id")?),
        name: get(row, 1, "name")?,
        created_at: get(row, 2, "created_at")?,
    })
}

pub(crate) fn collection(row: &Row) -> Result<Collection> {
    Ok(Collection {
        tenant: TenantId::new(get::<String>(row, 0, "tenant_id")?),
        id: CollectionId::new(get::<String>(row, 1, "id")?),
        description: get(row, 2, "description")?,
        chunking: json(row, 3, "chunking")?,
        created_at: get(row, 4, "created_at")?,
        generation: get(row, 5, "generation")?,
    })
}

pub(crate) fn document(row: &Row) -> Result<Document> {
    Ok(Document {
        tenant: TenantId::new(get::<String>(row, 0, "tenant_id")?),
        id: DocumentId::new(get::<String>(row, 1, "id")?),
        collection: CollectionId::new(get::<String>(row, 2, "collection_id")?),
        source: get(row, 3, "source")?,
        title: get(row, 4, "title")?,
        format: get(row, 5, "format")?,
        content_hash: get(row, 6, "content_hash")?,
        mtime: get(row, 7, "mtime")?,
        size_bytes: u64::try_from(get::<i64>(row, 8, "size_bytes")?)
            .map_err(|e| Error::Corrupt(format!("column 8 (size_bytes): {e}")))?,
        metadata: json(row, 9, "metadata")?,
        acl: Acl {
            users: json(row, 10, "acl_users")?,
            groups: json(row, 11, "acl_groups")?,
        },
        status: text_enum(row, 12, "status", DocStatus::parse)?,
        quality: json(row, 13, "quality")?,
        chunk_count: count(row, 14, "chunk_count")?,
        created_at: get(row, 15, "created_at")?,
        updated_at: get(row, 16, "updated_at")?,
        owner: get(row, 17, "owner")?,
    })
}

pub(crate) fn chunk(row: &Row) -> Result<Chunk> {
    let page: Option<i64> = get(row, 10, "page")?;
    Ok(Chunk {
        tenant: TenantId::new(get::<String>(row, 0, "tenant_id")?),
        id: ChunkId::new(get::<String>(row, 1, "id")?),
        document: DocumentId::new(get::<String>(row, 2, "document_id")?),
        collection: CollectionId::new(get::<String>(row, 3, "collection_id")?),
        ordinal: count(row, 4, "ordinal")?,
        text: get(row, 5, "text")?,
        heading_path: json(row, 6, "heading_path")?,
        token_count: count(row, 7, "token_count")?,
        role: text_enum(row, 8, "role", parse_role)?,
        parent: get::<Option<String>>(row, 9, "parent_id")?.map(ChunkId::new),
        page: page
            .map(u32::try_from)
            .transpose()
            .map_err(|e| Error::Corrupt(format!("column 10 (page): {e}")))?,
    })
}

pub(crate) fn job(row: &Row) -> Result<Job> {
    let error_code = match get::<Option<&str>>(row, 10, "error_code")? {
        Some(s) => Some(
            parse_error_code(s)
                .ok_or_else(|| Error::Corrupt(format!("column 10 (error_code): `{s}`")))?,
        ),
        None => None,
    };
    Ok(Job {
        tenant: TenantId::new(get::<String>(row, 0, "tenant_id")?),
        id: JobId::new(get::<String>(row, 1, "id")?),
        collection: CollectionId::new(get::<String>(row, 2, "collection_id")?),
        batch: get(row, 3, "batch")?,
        kind: json(row, 4, "kind")?,
        state: text_enum(row, 5, "state", JobState::parse)?,
        attempts: u32::try_from(get::<i64>(row, 6, "attempts")?)
            .map_err(|e| Error::Corrupt(format!("column 6 (attempts): {e}")))?,
        max_attempts: u32::try_from(get::<i64>(row, 7, "max_attempts")?)
            .map_err(|e| Error::Corrupt(format!("column 7 (max_attempts): {e}")))?,
        run_after: get(row, 8, "run_after")?,
        last_error: get(row, 9, "last_error")?,
        error_code,
        document: get::<Option<String>>(row, 11, "document_id")?.map(DocumentId::new),
        chunks: count(row, 12, "chunks")?,
        created_at: get(row, 13, "created_at")?,
        updated_at: get(row, 14, "updated_at")?,
    })
}
