//! Where a run's model comes from: the engine's gateway (local models, remote models and
//! routes of the tenant's registry, with its guard's redaction), or, in tests, a
//! scripted generator that pins the loop's logic.

use crate::{Caller, Result};
use cairn_config::ModelRef;
use cairn_engine::security::Redaction;
use cairn_engine::{Engine, ModelRole};
use cairn_models::Generator;
use std::sync::Arc;

/// A model a run thinks with.
#[derive(Clone)]
pub struct ModelHandle {
    /// The registry name.
    pub name: String,
    pub generator: Arc<dyn Generator>,
    /// Remote (a provider's tool calling) or local (constrained JSON).
    pub remote: bool,
}

/// Gives runs their models and prices.
pub trait ModelSource: Send + Sync {
    /// The model `name` (empty: the tenant's generator) for `caller`.
    fn model(&self, caller: &Caller, name: &str) -> Result<ModelHandle>;
    /// Dollars for these tokens of `model` (a registry name; 0 for local models).
    fn cost(&self, caller: &Caller, model: &str, prompt: usize, completion: usize) -> f64;
}

/// The engine's models.
pub struct EngineModels {
    engine: Arc<Engine>,
}

impl EngineModels {
    pub fn new(engine: Arc<Engine>) -> Self {
        Self { engine }
    }
}

impl ModelSource for EngineModels {
    fn model(&self, caller: &Caller, name: &str) -> Result<ModelHandle> {
        let tenant = &caller.tenant;
        let name = if name.is_empty() {
            self.engine
                .tenant_role_model(tenant, ModelRole::Generator)?
        } else {
            self.engine.answer_model(tenant, name)?
        };
        let registry = self.engine.registry(tenant)?;
        let remote = !matches!(registry.model_ref(&name), ModelRef::Local);
        let redaction = Redaction::new(self.engine.tenant_guard(tenant)?);
        let generator = self.engine.chat_model(tenant, &name, &redaction)?;
        Ok(ModelHandle {
            name,
            generator,
            remote,
        })
    }

    fn cost(&self, caller: &Caller, model: &str, prompt: usize, completion: usize) -> f64 {
        let Ok(registry) = self.engine.registry(&caller.tenant) else {
            return 0.0;
        };
        match registry.model_ref(model) {
            ModelRef::Remote(m) => {
                (prompt as f64 * m.input_price_per_mtok
                    + completion as f64 * m.output_price_per_mtok)
                    / 1e6
            }
            _ => 0.0,
        }
    }
}
