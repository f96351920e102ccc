//! Evaluation runs kept as data: what was run (kind, dataset and its hash, the
//! configuration and models), the aggregates, and every question's outcome, so runs can
//! be listed, shown and compared long after they ran.

use crate::Result;
use cairn_types::TenantId;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One stored evaluation run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalRun {
    pub tenant: TenantId,
    /// Time-ordered id.
    pub id: String,
    /// `retrieval`, `answers` or `grounding`.
    pub kind: String,
    /// A name given when it ran (empty when none).
    pub label: String,
    /// The dataset's path as given.
    pub dataset: String,
    /// SHA-256 of the dataset file, hex.
    pub dataset_hash: String,
    /// The configuration snapshot: settings, model ids, prompt version, binary version.
    pub config: Value,
    /// Aggregates (per configuration and kind).
    pub summary: Value,
    /// Every question's outcome.
    pub results: Value,
    pub created_at: i64,
}

/// A run without its per-question results (listings).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalRunHead {
    pub id: String,
    pub kind: String,
    pub label: String,
    pub dataset: String,
    pub dataset_hash: String,
    pub summary: Value,
    pub created_at: i64,
}

/// Stored evaluation runs.
pub trait EvalRunRepo {
    fn put_eval_run(&self, run: &EvalRun) -> Result<()>;
    /// `NotFound` outside its tenant.
    fn get_eval_run(&self, tenant: &TenantId, id: &str) -> Result<EvalRun>;
    /// Newest first, at most `limit`.
    fn list_eval_runs(&self, tenant: &TenantId, limit: usize) -> Result<Vec<EvalRunHead>>;
    /// `NotFound` outside its tenant.
    fn delete_eval_run(&self, tenant: &TenantId, id: &str) -> Result<()>;
}
