//! Assistants: saved collections, instructions and model that people pick to ask with.

use crate::Result;
use cairn_types::{CollectionId, TenantId};
use serde::Serialize;

/// One tenant's saved assistant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Assistant {
    pub tenant: TenantId,
    /// A slug, unique in the tenant.
    pub id: String,
    pub name: String,
    pub description: String,
    /// The collection it answers from.
    pub collection: CollectionId,
    /// More collections it answers from, in order (without `collection`). Deleting one
    /// of them takes it off the assistant; deleting `collection` deletes the assistant.
    #[serde(default)]
    pub collections: Vec<CollectionId>,
    /// Added to the system prompt after the grounding rules.
    pub instructions: String,
    /// The generator it answers with (`None`: the tenant's generator).
    pub model: Option<String>,
    /// Who saved it last (a user id, or `key:<id>`).
    pub updated_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Saved assistants.
pub trait AssistantRepo {
    /// Inserts or replaces (keeping `created_at`); `NotFound` if one of its collections
    /// is not the tenant's.
    fn put_assistant(&self, assistant: &Assistant) -> Result<Assistant>;
    fn get_assistant(&self, tenant: &TenantId, id: &str) -> Result<Assistant>;
    /// By name.
    fn list_assistants(&self, tenant: &TenantId) -> Result<Vec<Assistant>>;
    /// `NotFound` outside its tenant.
    fn delete_assistant(&self, tenant: &TenantId, id: &str) -> Result<()>;
}
