//! Row mapping: column lists, the functions that turn rows into types, and the stable
//! string forms of enums stored as text. A value that does not decode is reported as a
//! conversion failure, which [`super::db`] maps to `Error::Corrupt`.

use crate::{Error, Result};
use cairn_types::{
    Acl, Chunk, ChunkId, ChunkRole, Collection, CollectionId, DocStatus, Document, DocumentId,
    ErrorCode, Job, JobId, JobState, Tenant, TenantId,
};
use rusqlite::Row;
use rusqlite::types::Type;

pub(crate) const TENANT_COLS: &str = "tenant_id, name, created_at";

pub(crate) const COLLECTION_COLS: &str =
    "tenant_id, id, description, chunking, created_at, generation";

pub(crate) const DOC_COLS: &str = "tenant_id, id, collection_id, source, title, format, \
     content_hash, mtime, size_bytes, metadata, acl_users, acl_groups, status, quality, \
     chunk_count, created_at, updated_at, owner";

pub(crate) const SUMMARY_COLS: &str = "id, source, content_hash, mtime, size_bytes, simhash";

pub(crate) const CHUNK_COLS: &str = "tenant_id, id, document_id, collection_id, ordinal, text, \
     heading_path, token_count, role, parent_id, page";

pub(crate) const JOB_COLS: &str = "tenant_id, id, collection_id, batch, kind, state, attempts, \
     max_attempts, run_after, last_error, error_code, document_id, chunks, created_at, updated_at";

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

/// Serializes a value for a JSON column.
pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Database(format!("cannot serialize: {e}")))
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

pub(crate) fn role_str(r: ChunkRole) -> &'static str {
    match r {
        ChunkRole::Leaf => "leaf",
        ChunkRole::Parent => "parent",
        ChunkRole::Child => "child",
    }
}

fn parse_role(s: &str) -> Option<ChunkRole> {
    match s {
        "leaf" => Some(ChunkRole::Leaf),
        "parent" => Some(ChunkRole::Parent),
        "child" => Some(ChunkRole::Child),
        _ => None,
    }
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

/// Parses an [`ErrorCode`] from its stable string ([`ErrorCode::as_str`]).
pub(crate) fn parse_error_code(s: &str) -> Option<ErrorCode> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_round_trip_through_their_stable_strings() {
        for code in [
            ErrorCode::Transient,
            ErrorCode::CorruptFile,
            ErrorCode::StoreError,
        ] {
            assert_eq!(parse_error_code(code.as_str()), Some(code));
        }
        assert_eq!(parse_error_code("no_such_code"), None);
    }

    #[test]
    fn roles_round_trip() {
        for r in [ChunkRole::Leaf, ChunkRole::Parent, ChunkRole::Child] {
            assert_eq!(parse_role(role_str(r)), Some(r));
        }
    }
}
