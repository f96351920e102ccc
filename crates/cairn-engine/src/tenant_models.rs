//! A tenant's own remote models and routes, managed at run time through the admin API
//! and stored with the tenant's settings (`{"models": {"remote": [...], "routes":
//! [...], "generator": ..., "judge": ..., "rewriter": ...}}`): the configuration file's
//! registry plus these, and the tenant's roles, validated alike
//! ([`cairn_config::Config::with_tenant_models`]). The merged registry is cached a few
//! seconds per tenant and dropped at once when this process writes the tenant's models,
//! so a change takes effect without a restart.
//!
//! Gateway state (breaker, rotation, connections) of a tenant's own model is keyed by
//! tenant and name, so two tenants' models of the same name never share it.

use crate::{Engine, Error, Result};
use cairn_config::{Config, RemoteModelSection, RouteSection, TenantRoles};
use cairn_types::{ErrorCode, TenantId};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a tenant's merged registry is reused before the store is read again (other
/// processes' writes show within this).
const TTL: Duration = Duration::from_secs(5);

/// Merged registries by tenant.
#[derive(Default)]
pub(crate) struct Registries(Mutex<HashMap<TenantId, (Instant, Arc<Config>)>>);

fn invalid(key: &str, message: impl std::fmt::Display) -> Error {
    Error::new(ErrorCode::InvalidInput, format!("{key}: {message}"))
}

/// What a tenant's settings may hold under `models` (`allow` is the server's allow-list
/// of the names its callers may use).
const MODEL_KEYS: [&str; 6] = [
    "allow",
    "remote",
    "routes",
    "generator",
    "judge",
    "rewriter",
];

/// A tenant's own models, routes and roles.
pub type TenantModels = (Vec<RemoteModelSection>, Vec<RouteSection>, TenantRoles);

/// The tenant's own `remote` models, `routes` and roles in its stored settings (none
/// when the settings have no `models`).
pub fn tenant_models(settings: Option<&Value>) -> Result<TenantModels> {
    let Some(models) = settings
        .and_then(|s| s.get("models"))
        .filter(|m| !m.is_null())
    else {
        return Ok(Default::default());
    };
    let Some(keys) = models.as_object() else {
        return Err(invalid("models", "must be an object"));
    };
    if let Some(key) = keys.keys().find(|k| !MODEL_KEYS.contains(&k.as_str())) {
        let why = match key.as_str() {
            "embedder" | "reranker" => {
                "is set for the whole deployment (collections' vectors and rankings depend on it)"
            }
            _ => &format!("is not one of {}", MODEL_KEYS.join(", ")),
        };
        return Err(invalid(&format!("models.{key}"), why));
    }
    let role = |key: &str| -> Result<Option<String>> {
        match models.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(name)) if !name.trim().is_empty() => Ok(Some(name.clone())),
            Some(_) => Err(invalid(&format!("models.{key}"), "must be a model name")),
        }
    };
    let roles = TenantRoles {
        generator: role("generator")?,
        judge: role("judge")?,
        rewriter: role("rewriter")?,
    };
    let list = |key: &str| -> Result<Vec<Value>> {
        match models.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items.clone()),
            Some(_) => Err(invalid(&format!("models.{key}"), "must be a list")),
        }
    };
    let remote = list("remote")?
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            serde_json::from_value(v).map_err(|e| invalid(&format!("models.remote[{i}]"), e))
        })
        .collect::<Result<Vec<RemoteModelSection>>>()?;
    let routes = list("routes")?
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            serde_json::from_value(v).map_err(|e| invalid(&format!("models.routes[{i}]"), e))
        })
        .collect::<Result<Vec<RouteSection>>>()?;
    Ok((remote, routes, roles))
}

impl Engine {
    /// The registry `tenant` sees: the configuration file's models and routes plus the
    /// tenant's own.
    pub fn registry(&self, tenant: &TenantId) -> Result<Arc<Config>> {
        {
            let map = self
                .registries
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some((at, c)) = map.get(tenant)
                && at.elapsed() < TTL
            {
                return Ok(c.clone());
            }
        }
        let stored = self.store.tenant_settings(tenant)?;
        let merged = Arc::new(self.merged_registry(stored.as_ref()).map_err(|e| {
            Error::new(
                ErrorCode::InvalidConfig,
                format!("tenant `{tenant}` has unusable models: {}", e.message),
            )
        })?);
        self.registries
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(tenant.clone(), (Instant::now(), merged.clone()));
        Ok(merged)
    }

    /// The registry a tenant with `settings` would see; errors name the key at fault.
    pub fn merged_registry(&self, settings: Option<&Value>) -> Result<Config> {
        let (remote, routes, roles) = tenant_models(settings)?;
        self.config
            .with_tenant_models(&remote, &routes, &roles)
            .map_err(|e| match e {
                cairn_config::Error::Invalid { key, message } => invalid(&key, message),
                other => Error::new(ErrorCode::InvalidInput, other.to_string()),
            })
    }

    /// Drops `tenant`'s cached registry (after its models changed).
    pub fn forget_registry(&self, tenant: &TenantId) {
        self.registries
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(tenant);
    }

    /// The key of `name`'s gateway state (breaker, client, rotation, queue) for
    /// `tenant`: the name itself for the file's models and local ones, the tenant and the
    /// name for a tenant's own remote model or route.
    pub fn model_state_key(&self, tenant: &TenantId, name: &str) -> String {
        let own = !self.config.is_configured_model(name)
            && self
                .registry(tenant)
                .is_ok_and(|r| r.is_configured_model(name));
        if own {
            format!("{tenant}/{name}")
        } else {
            name.to_owned()
        }
    }
}
