//! Repositories of the security layer: identity (users, API keys), the append-only
//! audit log, usage counters for quotas, per-tenant settings, encrypted secrets, and
//! GDPR export/erasure of one user's data.
//!
//! The store knows no cryptography: API keys arrive hashed, secrets arrive sealed, and
//! the audit chain's hash function is passed in by the caller (`cairn-auth` owns it).

use crate::Result;
use cairn_types::{
    ApiKey, Conversation, Document, Feedback, Message, StoredAnswer, TenantId, User,
};
use serde::Serialize;

/// Users and API keys.
pub trait IdentityRepo {
    /// Inserts or replaces a user (keeps `created_at` of an existing row).
    fn upsert_user(&self, user: &User) -> Result<User>;
    fn get_user(&self, tenant: &TenantId, id: &str) -> Result<User>;
    fn list_users(&self, tenant: &TenantId) -> Result<Vec<User>>;
    fn insert_key(&self, key: &ApiKey) -> Result<()>;
    /// The key whose public lookup part this is, in whichever tenant holds it.
    fn find_key_by_lookup(&self, lookup: &str) -> Result<Option<ApiKey>>;
    fn get_key(&self, tenant: &TenantId, id: &str) -> Result<ApiKey>;
    fn list_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKey>>;
    /// Marks a key revoked at `now` (idempotent); `NotFound` outside its tenant.
    fn revoke_key(&self, tenant: &TenantId, id: &str, now: i64) -> Result<ApiKey>;
    /// Inserts `new` and revokes `old_id` (at `now`) in one transaction.
    fn rotate_key(&self, tenant: &TenantId, old_id: &str, new: &ApiKey, now: i64) -> Result<()>;
    /// Best-effort bookkeeping; never fails a request.
    fn touch_key(&self, tenant: &TenantId, id: &str, now: i64) -> Result<()>;
}

/// One audit event before it is chained.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditDraft {
    pub at: i64,
    pub tenant: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub detail: serde_json::Value,
}

/// A stored audit row: the chain's own entry type.
pub use cairn_auth::audit::AuditEntry as AuditRecord;

/// Computes a row's hash from its sequence number, the previous row's hash and the
/// draft. `Sync`: a store may run its transaction on another thread.
pub type AuditSealer<'a> = &'a (dyn Fn(i64, &str, &AuditDraft) -> String + Sync);

/// The append-only, hash-chained audit log.
pub trait AuditRepo {
    /// Appends one event after the current head, in one transaction with the head
    /// update; returns the stored row. `genesis` is the previous hash of the first row.
    fn append_audit(
        &self,
        draft: &AuditDraft,
        genesis: &str,
        seal: AuditSealer<'_>,
    ) -> Result<AuditRecord>;
    /// Rows with `seq > after`, in order, at most `limit` (0 = all).
    fn audit_rows(&self, after: i64, limit: usize) -> Result<Vec<AuditRecord>>;
    /// One tenant's rows, newest first.
    fn tenant_audit(&self, tenant: &TenantId, limit: usize) -> Result<Vec<AuditRecord>>;
    /// The last appended (seq, hash), kept apart from the rows.
    fn audit_head(&self) -> Result<Option<(i64, String)>>;
}

/// Request, token and cost counters of one period (`d:YYYY-MM-DD` or `m:YYYY-MM`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub requests: i64,
    pub tokens: i64,
    pub cost_micros: i64,
}

/// One model's calls on one day.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ModelUsage {
    pub requests: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_micros: i64,
}

/// A row of the per-model breakdown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ModelUsageRow {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub model: String,
    #[serde(flatten)]
    pub usage: ModelUsage,
}

/// The upper bounds (ms) of the request-latency buckets kept per route and day; a last
/// bucket counts everything slower.
pub const LATENCY_BOUNDS_MS: [f64; 14] = [
    5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1_000.0, 2_500.0, 5_000.0, 10_000.0, 30_000.0,
    60_000.0, 300_000.0,
];

/// Requests of one route (and model) on one day: counts, tokens, cost and a latency
/// histogram over [`LATENCY_BOUNDS_MS`] (one more bucket than bounds).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RouteUsage {
    pub requests: i64,
    /// Answered 4xx or 5xx.
    pub errors: i64,
    /// Answered 5xx.
    pub server_errors: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_micros: i64,
    pub latency_buckets: Vec<i64>,
}

impl RouteUsage {
    /// One request.
    pub fn one(status: u16, ms: f64) -> Self {
        let mut buckets = vec![0; LATENCY_BOUNDS_MS.len() + 1];
        let i = LATENCY_BOUNDS_MS
            .iter()
            .position(|b| ms <= *b)
            .unwrap_or(LATENCY_BOUNDS_MS.len());
        buckets[i] = 1;
        Self {
            requests: 1,
            errors: i64::from(status >= 400),
            server_errors: i64::from(status >= 500),
            latency_buckets: buckets,
            ..Self::default()
        }
    }

    /// Adds `o` into `self`.
    pub fn merge(&mut self, o: &RouteUsage) {
        self.requests += o.requests;
        self.errors += o.errors;
        self.server_errors += o.server_errors;
        self.input_tokens += o.input_tokens;
        self.output_tokens += o.output_tokens;
        self.cost_micros += o.cost_micros;
        if self.latency_buckets.len() < o.latency_buckets.len() {
            self.latency_buckets.resize(o.latency_buckets.len(), 0);
        }
        for (a, b) in self.latency_buckets.iter_mut().zip(&o.latency_buckets) {
            *a += b;
        }
    }

    /// The latency (ms) below which a share `q` of the requests fell, interpolated
    /// within its bucket; `None` without requests.
    pub fn latency_quantile(&self, q: f64) -> Option<f64> {
        let total: i64 = self.latency_buckets.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = q * total as f64;
        let mut seen = 0.0;
        for (i, n) in self.latency_buckets.iter().enumerate() {
            let n = *n as f64;
            if n > 0.0 && seen + n >= rank {
                let lo = if i == 0 {
                    0.0
                } else {
                    LATENCY_BOUNDS_MS[i - 1]
                };
                let hi = LATENCY_BOUNDS_MS.get(i).copied().unwrap_or(lo * 2.0);
                return Some(lo + (hi - lo) * ((rank - seen) / n).clamp(0.0, 1.0));
            }
            seen += n;
        }
        LATENCY_BOUNDS_MS.last().copied()
    }
}

/// A row of the per-route breakdown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RouteUsageRow {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub route: String,
    /// The model that answered (empty for requests without one).
    pub model: String,
    #[serde(flatten)]
    pub usage: RouteUsage,
}

/// One stored secret as a master key rotation reads it: whose, which, the sealed value
/// and the id of the key that sealed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedSecret {
    pub tenant: TenantId,
    pub name: String,
    pub sealed: String,
    pub key_id: String,
}

/// A secret sealed again under another key: `sealed` and `key_id` replace the row whose
/// sealed value is still `was` (the value the rotation read and opened).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResealedSecret {
    pub tenant: TenantId,
    pub name: String,
    pub was: String,
    pub sealed: String,
    pub key_id: String,
}

/// The check both backends make, inside the re-seal's transaction, before writing:
/// `resealed` names `stored` secrets (the table's row count), none twice.
pub(crate) fn reseal_covers(stored: i64, resealed: &[ResealedSecret]) -> Result<()> {
    let mut names = std::collections::HashSet::new();
    if let Some(twice) = resealed
        .iter()
        .find(|r| !names.insert((r.tenant.as_str(), r.name.as_str())))
    {
        return Err(crate::Error::Conflict(format!(
            "secret `{}` of tenant `{}` is listed twice in one re-seal",
            twice.name, twice.tenant
        )));
    }
    if usize::try_from(stored).ok() != Some(resealed.len()) {
        return Err(reseal_raced(format!(
            "{stored} secrets are stored, the re-seal covers {}",
            resealed.len()
        )));
    }
    Ok(())
}

/// The `Conflict` of a re-seal that another writer overtook.
pub(crate) fn reseal_raced(why: String) -> crate::Error {
    crate::Error::Conflict(format!(
        "the secrets changed while they were being re-sealed ({why}); nothing was written: \
         read them again"
    ))
}

/// Usage counters, tenant settings and sealed secrets.
pub trait TenantDataRepo {
    /// Adds to the counters of every listed period in one transaction.
    fn add_usage(&self, tenant: &TenantId, periods: &[&str], delta: &Usage) -> Result<()>;
    /// Adds one model call: to the counters of every listed period and to `model`'s row
    /// for `day`, in one transaction.
    fn add_model_usage(
        &self,
        tenant: &TenantId,
        periods: &[&str],
        day: &str,
        model: &str,
        delta: &ModelUsage,
    ) -> Result<()>;
    /// The per-model rows from `since_day` (`YYYY-MM-DD`) on, by day then model.
    fn model_usage(&self, tenant: &TenantId, since_day: &str) -> Result<Vec<ModelUsageRow>>;
    /// Adds requests to `route`'s row (with `model`) for `day`.
    fn add_route_usage(
        &self,
        tenant: &TenantId,
        day: &str,
        route: &str,
        model: &str,
        delta: &RouteUsage,
    ) -> Result<()>;
    /// The per-route rows from `since_day` on, by day, route, then model.
    fn route_usage(&self, tenant: &TenantId, since_day: &str) -> Result<Vec<RouteUsageRow>>;
    fn usage(&self, tenant: &TenantId, period: &str) -> Result<Usage>;
    fn tenant_settings(&self, tenant: &TenantId) -> Result<Option<serde_json::Value>>;
    fn set_tenant_settings(
        &self,
        tenant: &TenantId,
        settings: &serde_json::Value,
        now: i64,
    ) -> Result<()>;
    fn put_secret(
        &self,
        tenant: &TenantId,
        name: &str,
        sealed: &str,
        key_id: &str,
        now: i64,
    ) -> Result<()>;
    /// (sealed value, key id).
    fn get_secret(&self, tenant: &TenantId, name: &str) -> Result<Option<(String, String)>>;
    /// (name, key id, updated_at) without the values.
    fn list_secrets(&self, tenant: &TenantId) -> Result<Vec<(String, String, i64)>>;
    fn delete_secret(&self, tenant: &TenantId, name: &str) -> Result<()>;
    /// Every tenant's secrets, by tenant then name: what a master key rotation re-seals
    /// (the one read across tenants; it serves only the operator's `rotate-key`).
    fn all_secrets(&self) -> Result<Vec<SealedSecret>>;
    /// Replaces the sealed value and key id of every stored secret in one transaction
    /// (a master key rotation), so a crash leaves all of them as they were or all
    /// re-sealed. `resealed` must name every secret stored, each with the sealed value it
    /// was read with: if a secret was added, removed or changed since (another writer),
    /// nothing is written and the result is `Conflict` (read again and retry). No other
    /// write to the secrets interleaves with it. Returns how many rows were replaced.
    fn reseal_secrets(&self, resealed: &[ResealedSecret], now: i64) -> Result<usize>;
}

/// Everything stored of one user (GDPR access request).
#[derive(Clone, Debug, Serialize)]
pub struct UserExport {
    pub tenant: TenantId,
    pub user: Option<User>,
    pub api_keys: Vec<ApiKey>,
    pub conversations: Vec<(Conversation, Vec<Message>)>,
    pub answers: Vec<StoredAnswer>,
    pub feedback: Vec<Feedback>,
    /// Documents they uploaded, with their chunk texts.
    pub documents: Vec<(Document, Vec<String>)>,
    /// Their uploads still waiting for (or dead in) their ingest jobs, without the bytes.
    pub uploads: Vec<crate::upload::UploadInfo>,
}

/// What an erasure removed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ErasureReport {
    pub users: usize,
    pub api_keys: usize,
    /// Web sessions (signed-in browsers), ended at once.
    pub sessions: usize,
    pub conversations: usize,
    pub messages: usize,
    pub answers: usize,
    pub feedback: usize,
    pub documents: usize,
    pub chunks: usize,
    /// Ingest jobs of their uploads (queued, running, dead or finished).
    pub jobs: usize,
    /// Their uploaded files still waiting for a job (the bytes).
    pub uploads: usize,
    /// Agent runs they started (with their steps).
    pub agent_runs: usize,
    /// Collections that lost documents (their indexes need a sync).
    pub collections: Vec<cairn_types::CollectionId>,
}

/// GDPR access and erasure by owner key.
pub trait PrivacyRepo {
    /// Everything owned by `owner` (a user id) in `tenant`, plus their user row and keys.
    fn export_owner(&self, tenant: &TenantId, owner: &str) -> Result<UserExport>;
    /// Deletes all of it in one transaction (documents leave the index change log a
    /// delete each, so indexes drop their chunks); the audit log is kept. `Conflict` if
    /// the tenant or the owner is under legal hold.
    fn erase_owner(&self, tenant: &TenantId, owner: &str) -> Result<ErasureReport>;
}
