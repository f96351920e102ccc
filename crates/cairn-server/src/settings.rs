//! Per-tenant settings: the configured `[limits]` and `[guard]`, overlaid with what a
//! tenant's owner stored (`PUT /api/v1/tenant/settings`). Cached for a few seconds so
//! the per-request path does not read the store; a write clears the tenant's entry.

use crate::error::ApiError;
use cairn_config::{Config, LimitsSection};
use cairn_guard::Guard;
use cairn_store::Store;
use cairn_types::{ErrorCode, TenantId};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TTL: Duration = Duration::from_secs(5);

/// The effective settings of one tenant.
pub struct TenantSettings {
    pub limits: LimitsSection,
    pub guard: Arc<Guard>,
    /// The models the tenant's callers may use (`{"models": {"allow": [...]}}`): names,
    /// or prefixes ending in `*` (`cairn-rag:*`). `None`: every model.
    pub allowed_models: Option<Vec<String>>,
}

impl TenantSettings {
    /// Whether the tenant's callers may use `model`.
    pub fn allows(&self, model: &str) -> bool {
        self.allowed_models.as_ref().is_none_or(|list| {
            list.iter().any(|a| match a.strip_suffix('*') {
                Some(prefix) => model.starts_with(prefix),
                None => a == model,
            })
        })
    }
}

/// The tenant's `models` setting's allow-list: `{"allow": ["name", "prefix*", ...]}`
/// beside the tenant's own models and roles (`remote`, `routes`, `generator`, `judge`,
/// `rewriter`), which the engine checks, unknown keys included
/// (`cairn_engine::tenant_models`). `None`: no allow-list.
fn allowed_models(v: &Value) -> Result<Option<Vec<String>>, ApiError> {
    let bad = |m: &str| ApiError::invalid(format!("models: {m}")).with_param("models");
    let obj = v
        .as_object()
        .ok_or_else(|| bad("must be an object {\"allow\": [...]}"))?;
    let Some(allow) = obj.get("allow").filter(|a| !a.is_null()) else {
        return Ok(None);
    };
    let list = allow
        .as_array()
        .ok_or_else(|| bad("allow must be a list of model names"))?;
    list.iter()
        .map(|m| {
            m.as_str()
                .filter(|s| !s.trim().is_empty())
                .map(str::to_owned)
                .ok_or_else(|| bad("allow holds non-empty strings only"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Builds the effective settings from the config and a tenant's stored overrides
/// (`{"limits": {...}, "guard": {...}}`), with errors naming the key at fault.
pub fn effective(config: &Config, stored: Option<&Value>) -> Result<TenantSettings, ApiError> {
    let mut limits = serde_json::to_value(&config.limits).unwrap_or_default();
    let mut guard = config.guard.clone();
    if guard.is_null() {
        guard = Value::Object(serde_json::Map::new());
    }
    let mut allowed = None;
    if let Some(s) = stored {
        let obj = s.as_object().ok_or_else(|| {
            ApiError::invalid("tenant settings must be an object {\"limits\": …, \"guard\": …}")
        })?;
        for k in obj.keys() {
            // `retention` is the engine's (`cairn_engine::security::retention_for`).
            if !["limits", "guard", "retention", "models"].contains(&k.as_str()) {
                return Err(ApiError::invalid(format!(
                    "unknown tenant setting `{k}` (expected limits, guard, retention, models)"
                ))
                .with_param(k.clone()));
            }
        }
        if let Some(l) = obj.get("limits") {
            cairn_engine::overlay_json(&mut limits, l);
        }
        if let Some(g) = obj.get("guard") {
            cairn_engine::overlay_json(&mut guard, g);
        }
        if let Some(m) = obj.get("models").filter(|m| !m.is_null()) {
            allowed = allowed_models(m)?;
        }
    }
    let limits: LimitsSection = serde_json::from_value(limits)
        .map_err(|e| ApiError::invalid(format!("limits: {e}")).with_param("limits"))?;
    limits
        .check()
        .map_err(|(key, message)| ApiError::invalid(format!("{key} {message}")).with_param(key))?;
    let policy: cairn_guard::Policy = serde_json::from_value(guard)
        .map_err(|e| ApiError::invalid(format!("guard: {e}")).with_param("guard"))?;
    Ok(TenantSettings {
        limits,
        guard: Arc::new(Guard::new(policy)),
        allowed_models: allowed,
    })
}

/// The cache.
#[derive(Default)]
pub struct SettingsCache {
    entries: Mutex<HashMap<TenantId, (Instant, Arc<TenantSettings>)>>,
}

impl SettingsCache {
    /// The tenant's effective settings.
    pub fn get(
        &self,
        config: &Config,
        store: &dyn Store,
        tenant: &TenantId,
    ) -> Result<Arc<TenantSettings>, ApiError> {
        if let Ok(m) = self.entries.lock()
            && let Some((at, s)) = m.get(tenant)
            && at.elapsed() < TTL
        {
            return Ok(s.clone());
        }
        let stored = store.tenant_settings(tenant)?;
        let s = Arc::new(effective(config, stored.as_ref()).map_err(|e| {
            ApiError::new(
                ErrorCode::InvalidConfig,
                format!("tenant `{tenant}` has unusable settings: {}", e.message),
            )
        })?);
        if let Ok(mut m) = self.entries.lock() {
            m.insert(tenant.clone(), (Instant::now(), s.clone()));
        }
        Ok(s)
    }

    /// Forgets a tenant's entry (after its settings changed).
    pub fn invalidate(&self, tenant: &TenantId) {
        if let Ok(mut m) = self.entries.lock() {
            m.remove(tenant);
        }
    }
}
