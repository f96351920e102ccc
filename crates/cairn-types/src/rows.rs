//! Stored rows. Each one carries its tenant.

use crate::{ChunkId, ChunkRole, CollectionId, DocumentId, ErrorCode, JobId, TenantId, UploadId};
use serde::{Deserialize, Serialize};

/// A tenant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// Which chunker a collection uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChunkerKind {
    /// Recursive split on paragraph, line, sentence and word boundaries, token-aware.
    Recursive,
    /// Fixed windows of tokens with overlap.
    Sliding,
    /// One chunk per heading section; tables and code kept whole when they fit.
    Structure,
    /// Parent sections with small child chunks for retrieval.
    ParentChild,
}

impl ChunkerKind {
    /// Parses the config/CLI spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "recursive" => Some(Self::Recursive),
            "sliding" => Some(Self::Sliding),
            "structure" => Some(Self::Structure),
            "parent_child" | "parent-child" => Some(Self::ParentChild),
            _ => None,
        }
    }

    /// The config/CLI spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Recursive => "recursive",
            Self::Sliding => "sliding",
            Self::Structure => "structure",
            Self::ParentChild => "parent_child",
        }
    }
}

/// How a collection cuts documents into chunks. Stored with the collection so every
/// document in it is chunked the same way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkingSpec {
    pub kind: ChunkerKind,
    /// Largest chunk, in tokens of the embedding model's tokenizer.
    pub max_tokens: usize,
    /// Tokens shared by consecutive chunks (recursive and sliding).
    pub overlap_tokens: usize,
    /// Size of child chunks (parent-child only).
    pub child_tokens: usize,
}

impl ChunkingSpec {
    /// Checks the sizes. On error returns the offending field (`max_tokens`,
    /// `overlap_tokens` or `child_tokens`) and what is wrong with it.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.max_tokens < 16 {
            return Err((
                "max_tokens",
                format!("must be at least 16 (got {})", self.max_tokens),
            ));
        }
        if self.overlap_tokens >= self.max_tokens {
            return Err((
                "overlap_tokens",
                format!(
                    "must be smaller than max_tokens ({} >= {})",
                    self.overlap_tokens, self.max_tokens
                ),
            ));
        }
        if self.child_tokens < 8 || self.child_tokens > self.max_tokens {
            return Err((
                "child_tokens",
                format!(
                    "must be between 8 and max_tokens (got {})",
                    self.child_tokens
                ),
            ));
        }
        Ok(())
    }
}

impl Default for ChunkingSpec {
    fn default() -> Self {
        Self {
            kind: ChunkerKind::Recursive,
            max_tokens: 512,
            overlap_tokens: 64,
            child_tokens: 128,
        }
    }
}

/// A named set of documents inside a tenant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Collection {
    pub tenant: TenantId,
    pub id: CollectionId,
    pub description: String,
    pub chunking: ChunkingSpec,
    pub created_at: i64,
    /// How many times `cairn collections reindex` swapped in new chunk sets (0 for a new
    /// collection); an index space built for another generation is rebuilt.
    #[serde(default)]
    pub generation: i64,
}

/// Who may read a document. Empty lists on both sides mean "everyone in the tenant".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    pub users: Vec<String>,
    pub groups: Vec<String>,
}

impl Acl {
    /// Whether a caller with this user id and these groups may read.
    pub fn allows(&self, user: Option<&str>, groups: &[String]) -> bool {
        if self.users.is_empty() && self.groups.is_empty() {
            return true;
        }
        user.is_some_and(|u| self.users.iter().any(|x| x == u))
            || groups.iter().any(|g| self.groups.contains(g))
    }
}

/// Findings of the quality checks for one document.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QualityFlags {
    /// Less body text than the configured minimum.
    pub near_empty: bool,
    /// Share of body text inside links is above the configured threshold.
    pub mostly_links: bool,
    /// Same content hash as this other document in the collection.
    pub duplicate_of: Option<DocumentId>,
    /// SimHash within the configured distance of this other document.
    pub near_duplicate_of: Option<DocumentId>,
    /// 64-bit SimHash of the body text.
    pub simhash: u64,
    /// Share of body characters inside links, 0..=1.
    pub link_ratio: f32,
    /// Body characters after boilerplate removal.
    pub text_chars: usize,
}

/// Lifecycle of a stored document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocStatus {
    /// Chunked and stored.
    Indexed,
    /// Stored but not chunked because a quality rule skipped it (see its flags).
    Skipped,
}

impl DocStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Indexed => "indexed",
            Self::Skipped => "skipped",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "indexed" => Some(Self::Indexed),
            "skipped" => Some(Self::Skipped),
            _ => None,
        }
    }
}

/// A stored document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Document {
    pub tenant: TenantId,
    pub id: DocumentId,
    pub collection: CollectionId,
    /// Where it came from: a canonical file path or an upload name. Unique per collection.
    pub source: String,
    pub title: String,
    /// Format label: `text`, `markdown`, `html`, `pdf`, `docx`, `csv`, `json`.
    pub format: String,
    /// SHA-256 (hex) of the raw bytes.
    pub content_hash: String,
    /// Source modification time, Unix milliseconds (0 for uploads).
    pub mtime: i64,
    pub size_bytes: u64,
    /// Free-form metadata (tags, type, dates...).
    pub metadata: serde_json::Value,
    pub acl: Acl,
    pub status: DocStatus,
    pub quality: QualityFlags,
    pub chunk_count: usize,
    /// Who uploaded it over the API (a user id or `key:<id>`); `None` for files
    /// ingested by the operator. GDPR export and erasure find uploads by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A stored chunk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Chunk {
    pub tenant: TenantId,
    pub id: ChunkId,
    pub document: DocumentId,
    pub collection: CollectionId,
    pub ordinal: usize,
    pub text: String,
    pub heading_path: Vec<String>,
    pub token_count: usize,
    pub role: ChunkRole,
    pub parent: Option<ChunkId>,
    pub page: Option<u32>,
}

/// What a job does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JobKind {
    /// Parse, chunk and store one file, with the access list and metadata the ingest
    /// asked for (kept in the job so a retry stores the same).
    IngestFile {
        path: String,
        #[serde(default, skip_serializing_if = "is_default_acl")]
        acl: Acl,
        #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
        metadata: serde_json::Map<String, serde_json::Value>,
        /// Re-process even if the content hash is unchanged.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        force: bool,
    },
    /// Parse, chunk and store one file uploaded over the API, whose bytes wait in the
    /// store (`upload`) until the job succeeds. The document's source is
    /// `upload:<name>`; everything else the upload asked for is kept here, so a retry
    /// stores the same. Each upload is a job of its own (the id makes every kind unique,
    /// so uploads never de-duplicate one another); uploads of one name apply in the
    /// order they were received (see `DocumentCommit::upload` in the store).
    IngestUpload {
        upload: UploadId,
        /// The file name as uploaded (format detection, fallback title, source key).
        name: String,
        #[serde(default, skip_serializing_if = "is_default_acl")]
        acl: Acl,
        #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
        metadata: serde_json::Map<String, serde_json::Value>,
        /// The uploading user (`Principal::owner`), stamped on the document.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<String>,
        /// The request's `Idempotency-Key`, recorded with the document.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        idempotency_key: Option<String>,
        /// SHA-256 (hex) of the uploaded bytes.
        content_hash: String,
    },
}

impl JobKind {
    /// What the job ingests, as the document's source names it: the file's path, or
    /// `upload:<name>`.
    pub fn target(&self) -> String {
        match self {
            Self::IngestFile { path, .. } => path.clone(),
            Self::IngestUpload { name, .. } => format!("upload:{name}"),
        }
    }

    /// The access list the job's document gets.
    pub fn acl(&self) -> &Acl {
        match self {
            Self::IngestFile { acl, .. } | Self::IngestUpload { acl, .. } => acl,
        }
    }
}

fn is_default_acl(acl: &Acl) -> bool {
    acl.users.is_empty() && acl.groups.is_empty()
}

/// Where a job is in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for a worker (possibly until `run_after`, after a failure).
    Queued,
    /// Leased by a worker.
    Running,
    Succeeded,
    /// Gave up: the reason is in `last_error`. `cairn jobs retry` re-queues it.
    Dead,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Dead => "dead",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "queued" => Some(Self::Queued),
            "running" => Some(Self::Running),
            "succeeded" => Some(Self::Succeeded),
            "dead" => Some(Self::Dead),
            _ => None,
        }
    }
}

/// A durable unit of work.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub tenant: TenantId,
    pub id: JobId,
    pub collection: CollectionId,
    /// Jobs enqueued by one `cairn ingest` share a batch id.
    pub batch: String,
    pub kind: JobKind,
    pub state: JobState,
    pub attempts: u32,
    pub max_attempts: u32,
    /// Not to be run before this time (Unix ms): the backoff after a failure.
    pub run_after: i64,
    pub last_error: Option<String>,
    pub error_code: Option<ErrorCode>,
    /// The document the job produced, once it succeeded.
    pub document: Option<DocumentId>,
    /// Chunks written by the job.
    pub chunks: usize,
    pub created_at: i64,
    pub updated_at: i64,
}
