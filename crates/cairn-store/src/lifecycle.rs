//! Repositories of the data lifecycle: retention sweeps (rows older than a tenant's
//! periods are deleted), legal holds (which suspend every deletion of a tenant's or a
//! user's data), and tenant offboarding (every row of a tenant but the audit chain).
//!
//! Documents leave through the same path as `delete_document`: their chunks go with
//! them and the index change log gets a delete each, in the same transaction, so search
//! indexes drop them on their next sync. The audit log is never touched.

use crate::Result;
use cairn_types::{CollectionId, TenantId};
use serde::Serialize;

/// A legal hold: deleting the tenant's data (`user = None`) or one user's is suspended
/// until it is cleared.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LegalHold {
    pub tenant: TenantId,
    /// `None`: the whole tenant.
    pub user: Option<String>,
    pub reason: String,
    pub set_by: String,
    pub set_at: i64,
}

impl LegalHold {
    /// The sentence refusals and reports use: `tenant acme is under legal hold`.
    pub fn describe(&self) -> String {
        match &self.user {
            None => format!("tenant {} is under legal hold", self.tenant),
            Some(u) => format!("user {u} of tenant {} is under legal hold", self.tenant),
        }
    }
}

/// Per kind, the Unix-millisecond time before which a tenant's rows expire; `None`
/// keeps that kind forever.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionCutoffs {
    /// Conversations (with their messages) last active before it.
    pub conversations: Option<i64>,
    /// Recorded answers (with the feedback on them) created before it.
    pub answers: Option<i64>,
    pub feedback: Option<i64>,
    /// Audit-exempt logs: usage counters of periods that ended before it, idempotency
    /// keys created before it, finished (succeeded or dead) jobs last updated before it
    /// with the bytes of their uploads (those of an uploader under legal hold are kept,
    /// job and bytes).
    pub logs: Option<i64>,
    /// Documents (uploads and ingested files) last written or confirmed unchanged before
    /// it, with their chunks.
    pub documents: Option<i64>,
}

impl RetentionCutoffs {
    /// Whether nothing would expire.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// What one tenant's retention sweep deleted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SweepCounts {
    pub conversations: usize,
    pub messages: usize,
    pub answers: usize,
    pub feedback: usize,
    pub usage_rows: usize,
    pub idempotency_keys: usize,
    pub jobs: usize,
    /// Bytes of uploads whose (dead or succeeded) jobs expired with the logs.
    pub uploads: usize,
    pub documents: usize,
    pub chunks: usize,
    /// Collections that lost documents (their indexes need a sync).
    pub collections: Vec<CollectionId>,
    /// Users under legal hold whose rows were kept.
    pub held_users: Vec<String>,
}

impl SweepCounts {
    /// Rows deleted in all.
    pub fn total(&self) -> usize {
        self.conversations
            + self.messages
            + self.answers
            + self.feedback
            + self.usage_rows
            + self.idempotency_keys
            + self.jobs
            + self.uploads
            + self.documents
            + self.chunks
    }
}

/// What offboarding a tenant deleted, per kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TenantPurge {
    pub collections: usize,
    pub documents: usize,
    pub chunks: usize,
    pub jobs: usize,
    /// Uploaded files still waiting for their jobs.
    pub uploads: usize,
    pub idempotency_keys: usize,
    pub index_changes: usize,
    pub conversations: usize,
    pub messages: usize,
    pub answers: usize,
    pub feedback: usize,
    pub users: usize,
    pub api_keys: usize,
    pub usage_rows: usize,
    pub settings: usize,
    pub secrets: usize,
    /// Agent runs (with their steps; saved agents go too, uncounted).
    pub agent_runs: usize,
    /// The tenant row itself (1).
    pub tenants: usize,
    /// Ids of the deleted collections (their index directories go next).
    pub collection_ids: Vec<CollectionId>,
}

/// Retention, legal holds and offboarding.
pub trait LifecycleRepo {
    /// Sets (or replaces) the hold on the tenant (`user = None`) or on one user.
    fn put_legal_hold(&self, hold: &LegalHold) -> Result<()>;
    /// Clears a hold; `NotFound` if there was none.
    fn clear_legal_hold(&self, tenant: &TenantId, user: Option<&str>) -> Result<()>;
    /// The tenant's holds, the tenant-wide one first, then users by id.
    fn legal_holds(&self, tenant: &TenantId) -> Result<Vec<LegalHold>>;
    /// Deletes the tenant's rows older than the cutoffs in one transaction, keeping
    /// rows owned by users under legal hold. `Conflict` if the whole tenant is held.
    fn sweep_expired(&self, tenant: &TenantId, cutoffs: &RetentionCutoffs) -> Result<SweepCounts>;
    /// Deletes every row of the tenant, the tenant row included, in one transaction;
    /// the audit log is kept. `Conflict` if the tenant or any of its users is under
    /// legal hold, `NotFound` if the tenant does not exist.
    fn purge_tenant(&self, tenant: &TenantId) -> Result<TenantPurge>;
}
