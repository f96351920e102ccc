//! Plain data shared by every Cairn crate.
//!
//! This crate does no IO and knows nothing about SQL, HTTP or models. It holds the
//! vocabulary the rest of the system speaks: tenant-scoped ids, the structured text a
//! parser produces ([`Block`]), the chunks a chunker produces ([`ChunkDraft`]), stored
//! rows ([`Document`], [`Chunk`], [`Job`]) and the table of stable error codes
//! ([`ErrorCode`]).
//!
//! Invariant: every stored row type carries a [`TenantId`]. There is no constructor for
//! a document, chunk or job without one.

mod block;
mod chat;
mod code;
mod identity;
mod ids;
mod rows;
mod time;
mod tokens;

pub use block::{Block, BlockKind, ChunkDraft, ChunkRole, ParsedDoc};
pub use chat::{
    AnswerId, Conversation, ConversationId, Feedback, FeedbackId, Message, MessageRole,
    StoredAnswer,
};
pub use code::ErrorCode;
pub use identity::{ApiKey, Principal, User};
pub use ids::{ChunkId, CollectionId, DocumentId, JobId, TenantId, UploadId, validate_slug};
pub use rows::{
    Acl, Chunk, ChunkerKind, ChunkingSpec, Collection, DocStatus, Document, Job, JobKind, JobState,
    QualityFlags, Tenant,
};
pub use time::{civil_from_ms, now_ms, time_bound};
pub use tokens::TokenCounter;
