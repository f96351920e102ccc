//! The engine's models, loaded on first use and shared: the embedder (ingest and dense
//! search), local generators by name (answers, query transforms, judges, when the roles
//! name local models), a user-supplied cross-encoder, the configured guard (redaction of
//! remote calls made without a tenant's own) and the gateway's per-target state.

use crate::{Engine, Error, Result};
use cairn_guard::{Guard, Policy};
use cairn_models::{
    BertEmbedder, CrossEncoder, Embedder, EmbedderOptions, LocalGenerator, LocalOptions,
    RemoteEmbedder,
};
use cairn_types::{ErrorCode, TenantId};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

/// Lazily loaded models. A failed load is not cached, so installing the model and
/// retrying works without a restart.
#[derive(Default)]
pub(crate) struct Models {
    /// `models.embedder`: the local BERT model or a remote embeddings model.
    embedder: Mutex<Option<Arc<dyn Embedder>>>,
    /// The local BERT model, for what needs its token vectors (MaxSim).
    bert: Mutex<Option<Arc<BertEmbedder>>>,
    /// Local generators by resolved path.
    locals: Mutex<HashMap<PathBuf, Arc<LocalGenerator>>>,
    /// Cross-encoders by resolved path.
    cross_encoders: Mutex<HashMap<PathBuf, Arc<CrossEncoder>>>,
    guard: Mutex<Option<Arc<Guard>>>,
    pub(crate) gateway: crate::gateway::GatewayState,
}

/// Lays `over` onto `base`: objects key by key, recursively; anything else replaces.
/// How a tenant's stored settings override the configuration.
pub fn overlay_json(base: &mut serde_json::Value, over: &serde_json::Value) {
    match (base, over) {
        (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
            for (k, v) in o {
                overlay_json(b.entry(k.clone()).or_insert(serde_json::Value::Null), v);
            }
        }
        (b, o) => *b = o.clone(),
    }
}

fn get_or_load<T>(
    slot: &Mutex<Option<Arc<T>>>,
    load: impl FnOnce() -> Result<T>,
) -> Result<Arc<T>> {
    let mut guard = slot.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(m) = guard.as_ref() {
        return Ok(m.clone());
    }
    let m = Arc::new(load()?);
    *guard = Some(m.clone());
    Ok(m)
}

impl Engine {
    /// The configured embedding model (`models.embedder`): local, or a remote
    /// `api = "embeddings"` model reached with the default tenant's key (a collection's
    /// vectors come from one model for every tenant, so the key is the deployment's).
    pub fn embedder(&self) -> Result<Arc<dyn Embedder>> {
        let mut slot = self
            .models
            .embedder
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(m) = slot.as_ref() {
            return Ok(m.clone());
        }
        let m: Arc<dyn Embedder> = match self.config.remote_embedder() {
            Some(m) => {
                let tenant = TenantId::new(self.config.tenant.as_str());
                let remote = self.remote_config(&tenant, m)?;
                let (health, policy) = self.remote_health(&tenant, m);
                Arc::new(cairn_models::gateway::GuardedEmbedder::new(
                    &m.name,
                    Arc::new(RemoteEmbedder::new(remote, m.dimension, m.context_length)),
                    health,
                    policy,
                ))
            }
            None => self.bert()?,
        };
        *slot = Some(m.clone());
        Ok(m)
    }

    /// The local BERT embedder: `models.embedder` itself when it is local. Token-level
    /// scoring (MaxSim reranking) needs it.
    pub fn bert(&self) -> Result<Arc<BertEmbedder>> {
        if let Some(m) = self.config.remote_embedder() {
            return Err(Error::new(
                ErrorCode::InvalidInput,
                format!(
                    "this needs the local embedder's token vectors, but models.embedder is \
                     the remote model `{}`",
                    m.name
                ),
            ));
        }
        get_or_load(&self.models.bert, || {
            Ok(BertEmbedder::load(
                &self.config.embedder_dir(),
                &EmbedderOptions::default(),
            )?)
        })
    }

    /// [`Engine::generator`], with every call a GenAI span.
    pub fn traced_generator(&self) -> Result<Arc<dyn cairn_models::Generator>> {
        let provider = if self.config.backend == "candle" {
            "candle"
        } else {
            "llama.cpp"
        };
        Ok(Arc::new(cairn_models::traced::TracedGenerator::new(
            self.generator()?,
            provider,
        )))
    }

    /// The configured chat model (`models.generator`) when it is a local model.
    pub fn generator(&self) -> Result<Arc<LocalGenerator>> {
        let name = &self.config.generator;
        if !self.config.is_local(name) {
            return Err(Error::new(
                ErrorCode::InvalidConfig,
                format!(
                    "models.generator `{name}` is a remote model or a route, not a local model"
                ),
            ));
        }
        self.local_model(name)
    }

    /// The local chat model `name` (a directory under `models.dir` or a path), loaded
    /// once per engine.
    pub fn local_model(&self, name: &str) -> Result<Arc<LocalGenerator>> {
        let path = self.config.model_path(name);
        let mut map = self
            .models
            .locals
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(m) = map.get(&path) {
            return Ok(m.clone());
        }
        let c = &self.config;
        let options = LocalOptions::configured(c.max_context, &c.requant, &c.backend)
            .map_err(|e| Error::new(ErrorCode::InvalidConfig, e))?;
        let m = Arc::new(LocalGenerator::load(&path, &options)?);
        map.insert(path, m.clone());
        Ok(m)
    }

    /// The guard of the configured `[guard]` policy.
    pub fn default_guard(&self) -> Result<Arc<Guard>> {
        get_or_load(&self.models.guard, || {
            let policy: Policy = serde_json::from_value(self.config.guard.clone())
                .map_err(|e| Error::new(ErrorCode::InvalidConfig, format!("[guard]: {e}")))?;
            Ok(Guard::new(policy))
        })
    }

    /// A tenant's guard: the configured `[guard]` policy with the tenant's stored `guard`
    /// setting laid over it, as the server applies it to that tenant's requests. For
    /// work done outside a request (upload jobs apply its `pii_ingest`).
    pub fn tenant_guard(&self, tenant: &TenantId) -> Result<Arc<Guard>> {
        let stored = self.store.tenant_settings(tenant)?;
        let Some(over) = stored
            .as_ref()
            .and_then(|s| s.get("guard"))
            .filter(|g| !g.is_null())
        else {
            return self.default_guard();
        };
        let mut policy = match &self.config.guard {
            serde_json::Value::Null => serde_json::Value::Object(serde_json::Map::new()),
            configured => configured.clone(),
        };
        overlay_json(&mut policy, over);
        let policy: Policy = serde_json::from_value(policy).map_err(|e| {
            Error::new(
                ErrorCode::InvalidConfig,
                format!("the guard setting of tenant `{tenant}`: {e}"),
            )
        })?;
        Ok(Arc::new(Guard::new(policy)))
    }

    /// The BERT cross-encoder `name` (a directory under `models.dir` or a path), loaded
    /// once per engine.
    pub fn cross_encoder(&self, name: &str) -> Result<Arc<CrossEncoder>> {
        let path = self.config.model_path(name);
        let mut map = self
            .models
            .cross_encoders
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(m) = map.get(&path) {
            return Ok(m.clone());
        }
        let m = Arc::new(CrossEncoder::load(&path)?);
        map.insert(path, m.clone());
        Ok(m)
    }
}
