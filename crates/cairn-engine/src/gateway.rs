//! The model registry at run time: a model name (a role's, a route target's or a
//! request's `model`) becomes a generator. Routes and remote models go through the
//! gateway layer of `cairn_models::gateway` (retries, fallback, a circuit breaker and a
//! concurrency limit per target); their health is kept here, per target name, for the
//! life of the engine, so every request and tenant sees the same breaker. Every remote
//! call is redacted with the caller's guard (the configured `[guard]` when the caller
//! has none).

use crate::security::{RedactingGenerator, Redaction};
use crate::{Engine, Error, Result};
use cairn_config::{ModelRef, RemoteModelSection, RouteStrategy};
use cairn_models::gateway::{
    BreakerSettings, BreakerState, RetryPolicy, RoutedGenerator, Strategy, Target, TargetHealth,
};
use cairn_models::{Generator, RemoteConfig, RemoteGenerator};
use cairn_types::{ErrorCode, TenantId};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The gateway's state: health per target, rotation per route.
#[derive(Default)]
pub(crate) struct GatewayState {
    health: Mutex<HashMap<String, Arc<TargetHealth>>>,
    turns: Mutex<HashMap<String, Arc<AtomicUsize>>>,
    /// One HTTP client per remote model, so its connections are reused across requests.
    agents: Mutex<HashMap<String, cairn_models::remote::HttpClient>>,
}

/// A model role: which configured name answers a kind of call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelRole {
    /// Answers and chat (`models.generator`).
    Generator,
    /// Grounding checks, LLM reranking and grounding evals (`models.judge`).
    Judge,
    /// Query transforms, follow-up condensing and conversation summaries
    /// (`models.rewriter`).
    Rewriter,
}

/// One target's state, for `/readyz`.
#[derive(Clone, Debug, Serialize)]
pub struct TargetStatus {
    pub model: String,
    pub breaker: BreakerState,
    pub in_flight: usize,
}

/// The model name `role` resolves to in `config` (the file's, or a tenant's registry).
pub(crate) fn role_in(config: &cairn_config::Config, role: ModelRole) -> &str {
    match role {
        ModelRole::Generator => &config.generator,
        ModelRole::Judge => config.judge_model(),
        ModelRole::Rewriter => config.rewriter_model(),
    }
}

fn strategy(s: RouteStrategy) -> Strategy {
    match s {
        // Outside the answer pipeline a cascade has no confidence to escalate on.
        RouteStrategy::Fallback | RouteStrategy::Cascade => Strategy::Fallback,
        RouteStrategy::RoundRobin => Strategy::RoundRobin,
        RouteStrategy::LeastBusy => Strategy::LeastBusy,
    }
}

impl Engine {
    /// The model name a role resolves to in the configuration file.
    pub fn role_model_name(&self, role: ModelRole) -> &str {
        role_in(&self.config, role)
    }

    /// The model name a role resolves to for `tenant` (its own roles over the file's).
    pub fn tenant_role_model(&self, tenant: &TenantId, role: ModelRole) -> Result<String> {
        let registry = self.registry(tenant)?;
        Ok(role_in(&registry, role).to_owned())
    }

    /// `model` if a caller may pick it to answer with for `tenant` (a remote model or
    /// route of its registry, or a local model the configuration's roles name: never a
    /// file), else `model_not_found`.
    pub fn answer_model(&self, tenant: &TenantId, model: &str) -> Result<String> {
        answer_model_in(&*self.registry(tenant)?, model)
    }

    /// Loads `role`'s model now when it is local (remote ones need nothing loaded).
    pub fn preload(&self, role: ModelRole) -> Result<()> {
        let name = self.role_model_name(role);
        if self.config.is_local(name) {
            self.local_model(name)?;
        }
        Ok(())
    }

    /// The generator behind `role`, called on behalf of `tenant`.
    pub fn role_model(
        &self,
        tenant: &TenantId,
        role: ModelRole,
        redaction: &Redaction,
    ) -> Result<Arc<dyn Generator>> {
        self.chat_model(tenant, &self.tenant_role_model(tenant, role)?, redaction)
    }

    /// The generator `name` stands for (a route, a remote model or a local model),
    /// called on behalf of `tenant`: remote API keys are `tenant`'s secrets, and remote
    /// prompts are redacted with `redaction`. Every call is a GenAI span
    /// ([`cairn_models::traced`]).
    pub fn chat_model(
        &self,
        tenant: &TenantId,
        name: &str,
        redaction: &Redaction,
    ) -> Result<Arc<dyn Generator>> {
        let provider = match self.registry(tenant)?.model_ref(name) {
            ModelRef::Local if self.config.backend == "candle" => "candle",
            ModelRef::Local => "llama.cpp",
            ModelRef::Remote(_) => "openai",
            ModelRef::Route(_) => "cairn.route",
        };
        let inner = self.untraced_chat_model(tenant, name, redaction)?;
        Ok(Arc::new(cairn_models::traced::TracedGenerator::new(
            inner, provider,
        )))
    }

    fn untraced_chat_model(
        &self,
        tenant: &TenantId,
        name: &str,
        redaction: &Redaction,
    ) -> Result<Arc<dyn Generator>> {
        let registry = self.registry(tenant)?;
        match registry.model_ref(name) {
            ModelRef::Local => Ok(self.local_model(name)?),
            ModelRef::Remote(m) => {
                let target = self.remote_target(tenant, m, redaction)?;
                self.routed(tenant, name, Strategy::Fallback, vec![target])
            }
            ModelRef::Route(route) => {
                let mut targets = Vec::with_capacity(route.targets.len());
                for t in &route.targets {
                    targets.push(match registry.model_ref(t) {
                        ModelRef::Remote(m) => self.remote_target(tenant, m, redaction)?,
                        ModelRef::Local => Target {
                            name: t.clone(),
                            generator: self.local_model(t)?,
                            health: self.health(t, 0),
                            retry: RetryPolicy {
                                max_retries: 0,
                                ..RetryPolicy::default()
                            },
                        },
                        ModelRef::Route(_) => {
                            return Err(Error::new(
                                ErrorCode::InvalidConfig,
                                format!("route `{name}` names route `{t}`; routes do not nest"),
                            ));
                        }
                    });
                }
                self.routed(tenant, name, strategy(route.strategy), targets)
            }
        }
    }

    /// `targets` behind `name` for `tenant`, with the name's shared rotation. A call
    /// that finds every target at its limit waits for a slot as long as a request may
    /// wait in the server's admission queue.
    fn routed(
        &self,
        tenant: &TenantId,
        name: &str,
        strategy: Strategy,
        targets: Vec<Target>,
    ) -> Result<Arc<dyn Generator>> {
        let turn = self.turn(&self.model_state_key(tenant, name));
        let wait = Duration::from_secs(self.config.server.request_timeout_secs);
        Ok(Arc::new(
            RoutedGenerator::new(name, strategy, targets, turn)?.with_slot_wait(wait),
        ))
    }

    /// Every remote target's breaker and load (local models have neither).
    pub fn gateway_status(&self) -> Vec<TargetStatus> {
        self.config
            .remote_models
            .iter()
            .map(|m| {
                let h = self.health(&m.name, m.max_concurrent);
                TargetStatus {
                    model: m.name.clone(),
                    breaker: h.breaker.state(),
                    in_flight: h.in_flight(),
                }
            })
            .collect()
    }

    /// Remote model `m`'s breaker and load as `tenant` reaches it: the shared state for
    /// the file's models, the tenant's own for a model the tenant added.
    pub fn remote_status(&self, tenant: &TenantId, m: &RemoteModelSection) -> TargetStatus {
        let (h, _) = self.remote_health(tenant, m);
        TargetStatus {
            model: m.name.clone(),
            breaker: h.breaker.state(),
            in_flight: h.in_flight(),
        }
    }

    fn health(&self, name: &str, max_concurrent: usize) -> Arc<TargetHealth> {
        let b = &self.config.circuit_breaker;
        let settings = BreakerSettings {
            consecutive_failures: b.consecutive_failures,
            error_rate: b.error_rate,
            window: b.window,
            cooldown: Duration::from_millis(b.cooldown_ms),
        };
        let mut map = self
            .models
            .gateway
            .health
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.entry(name.to_owned())
            .or_insert_with(|| Arc::new(TargetHealth::new(settings, max_concurrent)))
            .clone()
    }

    fn turn(&self, name: &str) -> Arc<AtomicUsize> {
        let mut map = self
            .models
            .gateway
            .turns
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.entry(name.to_owned()).or_default().clone()
    }

    /// The API key of `m` for `tenant`: its sealed secret, else its environment
    /// variable, else none.
    fn remote_key(&self, tenant: &TenantId, m: &RemoteModelSection) -> Result<Option<String>> {
        if !m.api_key_secret.is_empty() {
            return self
                .secret(tenant, &m.api_key_secret)
                .map(Some)
                .map_err(|e| {
                    Error::new(
                        e.code,
                        format!("the API key of remote model `{}`: {}", m.name, e.message),
                    )
                });
        }
        if !m.api_key_env.is_empty() {
            return match std::env::var(&m.api_key_env) {
                Ok(k) if !k.is_empty() => Ok(Some(k)),
                _ => Err(Error::new(
                    ErrorCode::InvalidConfig,
                    format!(
                        "remote model `{}` takes its API key from ${}, which is not set",
                        m.name, m.api_key_env
                    ),
                )),
            };
        }
        Ok(None)
    }

    /// How to reach remote model `m` on behalf of `tenant`.
    pub(crate) fn remote_config(
        &self,
        tenant: &TenantId,
        m: &RemoteModelSection,
    ) -> Result<RemoteConfig> {
        let mut config = RemoteConfig::new(&m.base_url, &m.model, self.remote_key(tenant, m)?)?;
        config.context_length = m.context_length;
        config.connect_timeout = Duration::from_millis(m.connect_timeout_ms);
        config.first_token_timeout = Some(Duration::from_millis(m.first_token_timeout_ms));
        config.timeout = Duration::from_millis(m.timeout_ms);
        config.headers = m
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(config)
    }

    /// The shared health (breaker, slots) and the retry policy of remote model `m` as
    /// `tenant` reaches it.
    pub(crate) fn remote_health(
        &self,
        tenant: &TenantId,
        m: &RemoteModelSection,
    ) -> (Arc<TargetHealth>, RetryPolicy) {
        let key = self.model_state_key(tenant, &m.name);
        let policy = RetryPolicy {
            max_retries: m.max_retries,
            ..RetryPolicy::default()
        };
        (self.health(&key, m.max_concurrent), policy)
    }

    /// The HTTP client of remote model `m` as `tenant` reaches it, made from `config`
    /// on first use and shared after, so its connections are reused.
    pub(crate) fn remote_agent(
        &self,
        tenant: &TenantId,
        m: &RemoteModelSection,
        config: &RemoteConfig,
    ) -> cairn_models::remote::HttpClient {
        self.models
            .gateway
            .agents
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(self.model_state_key(tenant, &m.name))
            .or_insert_with(|| config.agent())
            .clone()
    }

    fn remote_target(
        &self,
        tenant: &TenantId,
        m: &RemoteModelSection,
        redaction: &Redaction,
    ) -> Result<Target> {
        if m.api != "chat" {
            return Err(Error::new(
                ErrorCode::InvalidInput,
                format!("`{}` serves `{}`, not chat", m.name, m.api),
            ));
        }
        let config = self.remote_config(tenant, m)?;
        let agent = self.remote_agent(tenant, m, &config);
        let (health, retry) = self.remote_health(tenant, m);
        Ok(Target {
            name: m.name.clone(),
            generator: Arc::new(RedactingGenerator::new(
                RemoteGenerator::with_agent(config, agent),
                redaction.clone(),
            )),
            health,
            retry,
        })
    }
}

/// [`Engine::answer_model`] against a registry already in hand.
pub(crate) fn answer_model_in(registry: &cairn_config::Config, model: &str) -> Result<String> {
    let model = model.trim();
    if registry.answers_with(model) && !model.is_empty() {
        return Ok(model.to_owned());
    }
    Err(crate::Error::new(
        cairn_types::ErrorCode::ModelNotFound,
        format!(
            "`{model}` is not a model this tenant can answer with (a remote model or route of \
             its registry, or a local model the configuration's roles name; GET /v1/models \
             lists them)"
        ),
    ))
}
