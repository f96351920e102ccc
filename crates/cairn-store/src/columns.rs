//! What both store backends share about rows: the column lists every query selects, the
//! stable string forms of enums stored as text, and JSON column encoding.

use crate::{Error, Result};
use cairn_types::{ChunkRole, ErrorCode};

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

pub(crate) const UPLOAD_COLS: &str = "tenant_id, id, job_id, name, owner, idempotency_key, \
     request_hash, sha256, size_bytes, created_at";

/// Serializes a value for a JSON column.
pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Database(format!("cannot serialize: {e}")))
}

pub(crate) fn role_str(r: ChunkRole) -> &'static str {
    match r {
        ChunkRole::Leaf => "leaf",
        ChunkRole::Parent => "parent",
        ChunkRole::Child => "child",
    }
}

pub(crate) fn parse_role(s: &str) -> Option<ChunkRole> {
    match s {
        "leaf" => Some(ChunkRole::Leaf),
        "parent" => Some(ChunkRole::Parent),
        "child" => Some(ChunkRole::Child),
        _ => None,
    }
}

/// Parses an [`ErrorCode`] from its stable string ([`ErrorCode::as_str`]).
pub(crate) fn parse_error_code(s: &str) -> Option<ErrorCode> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
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
