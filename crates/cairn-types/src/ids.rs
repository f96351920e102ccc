//! Identifier newtypes. Ids are opaque strings (UUIDv7 for generated ids, so they sort by
//! creation time); tenant and collection ids are user-chosen slugs.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// Wraps an existing id string.
            pub fn new(s: impl Into<String>) -> Self {
                Self(s.into())
            }
            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }
    };
}

id_type!(
    /// A tenant: the unit of isolation. Every row and every query carries one.
    TenantId
);
id_type!(
    /// A collection name, unique within its tenant.
    CollectionId
);
id_type!(
    /// A document id (UUIDv7).
    DocumentId
);
id_type!(
    /// A chunk id: derived from the document id and the chunk's ordinal.
    ChunkId
);
id_type!(
    /// A job id (UUIDv7).
    JobId
);
id_type!(
    /// An uploaded file waiting in the store for its job (UUIDv7).
    UploadId
);

impl TenantId {
    /// The tenant used when none is configured (single-tenant, embedded use).
    pub fn default_tenant() -> Self {
        Self("default".to_owned())
    }
}

impl DocumentId {
    /// A fresh, time-ordered id.
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }
}

impl JobId {
    /// A fresh, time-ordered id.
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }
}

impl UploadId {
    /// A fresh, time-ordered id.
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }
}

impl ChunkId {
    /// Chunk ids are a pure function of the document and the position, so a re-ingest of
    /// the same content produces the same ids.
    pub fn for_position(doc: &DocumentId, ordinal: usize) -> Self {
        Self(format!("{}:{ordinal}", doc.0))
    }
}

/// Returns `Ok(())` when `s` is a valid slug for a tenant or collection name:
/// 1–64 characters of `[a-z0-9_-]`, starting with a letter or digit.
pub fn validate_slug(s: &str) -> Result<(), String> {
    let ok_len = !s.is_empty() && s.len() <= 64;
    let ok_chars = s
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    let ok_start = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if ok_len && ok_chars && ok_start {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not a valid name: use 1-64 characters of a-z, 0-9, '-' or '_', starting with a letter or digit"
        ))
    }
}
