//! Shared server state and the bridge from async handlers to the blocking engine.

use crate::admission::{Admission, Permit};
use crate::auth::{Authenticator, Identity};
use crate::error::{ApiError, ApiResult};
use crate::settings::{SettingsCache, TenantSettings};
use cairn_auth::{MemoryLimiter, RateLimiter};
use cairn_engine::Engine;
use cairn_types::{ErrorCode, TenantId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    /// Turns a request's credentials into its caller.
    pub auth: Arc<Authenticator>,
    /// Token buckets (requests and tokens per minute).
    pub limiter: Arc<dyn RateLimiter>,
    /// Per-tenant limits and guardrail policies.
    pub settings: Arc<SettingsCache>,
    pub request_timeout: Duration,
    /// Set when shutdown begins: `/readyz` turns 503 so load balancers drain.
    pub draining: Arc<AtomicBool>,
    /// The queues in front of the local models.
    pub admission: Arc<Admission>,
    /// Open SSE streams per key or user (`server.max_streams_per_key`).
    pub streams: Arc<StreamSlots>,
    /// Flips to `true` when shutdown begins: open streams end with a final event.
    pub stopping: Arc<tokio::sync::watch::Sender<bool>>,
    /// Whole chat completions of deterministic requests (`[cache] exact`).
    pub chat_cache: Arc<crate::openai::ChatCache>,
    /// Usage written behind the responses (`usage_ledger`).
    pub usage: Arc<crate::usage_ledger::UsageLedger>,
    /// Request traces: kept, stored and exported (`[telemetry]`); `None` when neither
    /// stored nor exported.
    pub telemetry: Option<Arc<cairn_telemetry::Telemetry>>,
    /// Agent runs: started by requests, resumed by the executor (`server.agent_workers`).
    pub agents: Arc<cairn_agent::Runtime>,
}

/// The rate limiter: Redis buckets when `[redis] url` is set, else in-process ones. A
/// PostgreSQL store means several servers; per-process buckets would multiply every limit
/// by their number, so that combination is refused while any limit is on.
fn shared_limiter(config: &cairn_config::Config) -> ApiResult<Arc<dyn RateLimiter>> {
    if !config.redis_url.is_empty() {
        let redis = cairn_auth::RedisLimiter::connect(&config.redis_url)
            .map_err(|e| ApiError::new(ErrorCode::InvalidConfig, e.to_string()))?;
        return Ok(Arc::new(redis));
    }
    let l = &config.limits;
    let limits_on = [l.key_rpm, l.key_tpm, l.tenant_rpm, l.tenant_tpm]
        .iter()
        .any(|r| *r > 0.0);
    if config.store_backend == cairn_config::StoreBackend::Postgres && limits_on {
        return Err(ApiError::new(
            ErrorCode::InvalidConfig,
            "store.backend = \"postgres\" runs several servers, whose in-process rate limits \
             would each admit the full rate: set [redis] url so they share one set of \
             buckets, or turn the limits off (limits.key_rpm, key_tpm, tenant_rpm, tenant_tpm \
             = 0)",
        ));
    }
    Ok(Arc::new(MemoryLimiter::new()))
}

impl AppState {
    /// State over an engine, with the configured authentication (`[auth]`) and the
    /// in-memory rate limiter. Fails on an unusable `[auth]` or `[guard]`.
    pub fn new(engine: Arc<Engine>) -> ApiResult<Self> {
        let config = engine.config();
        let limiter = shared_limiter(config)?;
        let auth = Arc::new(Authenticator::new(config)?.with_shared_budget(limiter.clone()));
        crate::settings::effective(config, None)?;
        // Build the guardrails' patterns and lexicons now, not on the first request.
        cairn_guard::warm_up();
        let telemetry = crate::request_trace::telemetry(config)?;
        if let Some(t) = &telemetry {
            engine.set_trace_sink(t.sink());
        }
        let metrics = crate::metrics::global();
        metrics.set_tenant_labels(config.telemetry.metrics_tenant_labels);
        cairn_models::traced::observe_calls(|t| {
            if let Some(s) = t.per_output_token_s {
                crate::metrics::global().per_output_token(t.model, s);
            }
        });
        Ok(Self {
            auth,
            limiter,
            settings: Arc::new(SettingsCache::default()),
            request_timeout: Duration::from_secs(config.server.request_timeout_secs),
            admission: Arc::new(Admission::new(config.max_concurrent, config.max_queued)),
            streams: Arc::new(StreamSlots::new(config.server.max_streams_per_key)),
            stopping: Arc::new(tokio::sync::watch::Sender::new(false)),
            chat_cache: Arc::new(crate::openai::ChatCache::new(
                &config.cache,
                &config.redis_url,
            )),
            usage: crate::usage_ledger::UsageLedger::start(engine.clone()),
            telemetry: telemetry.clone(),
            agents: Arc::new(cairn_agent::Runtime::new(engine.clone())),
            engine,
            draining: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Tells open streams that the server is stopping.
    pub fn begin_shutdown(&self) {
        self.stopping.send_replace(true);
    }

    /// Waits for a generation slot on `tenant`'s generator (its own role, else the
    /// configured one).
    pub async fn admit_generation(&self, tenant: &TenantId) -> ApiResult<Permit> {
        self.admit_generation_for(tenant, None).await
    }

    /// A slot on `model` when the request names one, else on the tenant's generator.
    pub async fn admit_generation_for(
        &self,
        tenant: &TenantId,
        model: Option<&str>,
    ) -> ApiResult<Permit> {
        let model = match model.map(str::trim).filter(|m| !m.is_empty()) {
            Some(m) => m.to_owned(),
            None => self
                .engine
                .tenant_role_model(tenant, cairn_engine::ModelRole::Generator)?,
        };
        self.admit_model(tenant, &model).await
    }

    /// Waits for a slot on `model` for `tenant` (fair between tenants): a local model
    /// has `models.max_concurrent` slots, a remote one its own `max_concurrent`, a route
    /// the sum of its targets' (as many as are asked for when one has no limit), and a
    /// remote one without a limit as many as are asked for. Refused with `503 overloaded` when the queue is full, or when no
    /// slot comes within the request timeout.
    pub async fn admit_model(&self, tenant: &TenantId, model: &str) -> ApiResult<Permit> {
        let registry = self.engine.registry(tenant)?;
        let limit = |name: &str| match registry.model_ref(name) {
            cairn_config::ModelRef::Local => Some(registry.max_concurrent),
            cairn_config::ModelRef::Remote(m) if m.max_concurrent > 0 => Some(m.max_concurrent),
            _ => None,
        };
        let slots = match registry.model_ref(model) {
            // A route holds as many requests at once as its targets together take; more
            // wait in its queue (fairly) rather than finding every target full.
            cairn_config::ModelRef::Route(r) => r
                .targets
                .iter()
                .map(|t| limit(t))
                .sum::<Option<usize>>()
                .unwrap_or(UNBOUNDED_SLOTS),
            _ => limit(model).unwrap_or(UNBOUNDED_SLOTS),
        };
        // A tenant's own model has its own queue (another tenant's model of the same
        // name is another model).
        let queue = self.engine.model_state_key(tenant, model);
        let admit = self.admission.admit_with(&queue, slots, tenant);
        match tokio::time::timeout(self.request_timeout, admit).await {
            Ok(Ok(permit)) => {
                crate::metrics::global().queue_wait(model, permit.waited.as_secs_f64());
                // On the request's trace too: how long it queued for which model.
                cairn_telemetry::record_attrs(
                    &tracing::Span::current(),
                    vec![
                        (
                            "cairn.queue_wait_ms".to_owned(),
                            cairn_telemetry::AttrValue::Float(permit.waited.as_secs_f64() * 1e3),
                        ),
                        (
                            "cairn.queue_model".to_owned(),
                            cairn_telemetry::AttrValue::Str(model.to_owned()),
                        ),
                    ],
                );
                Ok(permit)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(ApiError::new(
                ErrorCode::Overloaded,
                format!(
                    "no generation slot for model `{model}` within {} s \
                     (server.request_timeout_secs); retry later",
                    self.request_timeout.as_secs()
                ),
            )
            .with_retry_after(self.request_timeout.as_secs().clamp(1, 60))),
        }
    }

    /// Charges a finished request's model tokens to its caller's buckets and quotas.
    pub fn meter(&self, id: &Identity, settings: &Arc<TenantSettings>) -> Meter {
        Meter {
            state: self.clone(),
            id: id.clone(),
            settings: settings.clone(),
            trace: crate::request_trace::current(),
        }
    }
}

/// Slots of a queue that should never make anyone wait (its model limits itself).
const UNBOUNDED_SLOTS: usize = 1 << 20;

/// Counts open SSE streams per caller bucket (API key or user).
pub struct StreamSlots {
    max: usize,
    open: Mutex<HashMap<String, usize>>,
}

/// One open stream; frees its place when the stream ends.
pub struct StreamSlot {
    slots: Arc<StreamSlots>,
    bucket: String,
}

impl StreamSlots {
    pub fn new(max: usize) -> Self {
        Self {
            max,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// A place for one more stream of `bucket`, or `429 rate_limited`.
    pub fn open(self: &Arc<Self>, bucket: &str) -> ApiResult<StreamSlot> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let n = open.entry(bucket.to_owned()).or_default();
        if *n >= self.max {
            return Err(ApiError::new(
                ErrorCode::RateLimited,
                format!(
                    "{} streams are already open for this caller (server.max_streams_per_key); \
                     close one or retry",
                    self.max
                ),
            )
            .with_retry_after(1));
        }
        *n += 1;
        Ok(StreamSlot {
            slots: self.clone(),
            bucket: bucket.to_owned(),
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self
            .slots
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.bucket) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.bucket);
            }
        }
    }
}

/// Records the tokens one request used (from the blocking work, once it knows).
pub struct Meter {
    state: AppState,
    id: Identity,
    settings: Arc<TenantSettings>,
    /// The request's trace (its log line reports the model and tokens).
    trace: Option<crate::request_trace::RequestTrace>,
}

impl Meter {
    /// Charges a finished call of `model` (the model that answered).
    pub fn record(&self, model: &str, input_tokens: usize, output_tokens: usize) {
        // Prices of the tenant's own models come from its registry.
        let registry = self.state.engine.registry(&self.id.tenant).ok();
        let config = registry
            .as_deref()
            .unwrap_or_else(|| self.state.engine.config());
        let call = crate::limits::Call {
            model,
            input_tokens: input_tokens as u64,
            output_tokens: output_tokens as u64,
        };
        let cost = crate::limits::cost_micros(config, &self.settings.limits, &call);
        if let Some(t) = &self.trace {
            t.model_call(model, call.input_tokens, call.output_tokens, cost);
        }
        // An answer that abstained before generating called no model.
        if !model.is_empty() {
            let metrics = crate::metrics::global();
            metrics.model_call(
                model,
                call.input_tokens,
                call.output_tokens,
                cost as f64 / 1e6,
            );
            metrics.tenant_usage(
                self.id.tenant.as_str(),
                model,
                call.input_tokens,
                call.output_tokens,
                cost as f64 / 1e6,
            );
        }
        crate::limits::record(
            self.state.limiter.as_ref(),
            &self.state.usage,
            config,
            &self.id,
            &self.settings,
            &call,
            crate::gate::now_ms(),
        );
    }
}

/// What became of the request that started a blocking task.
const RUNNING: u8 = 0;
const COMMITTING: u8 = 1;
const GONE: u8 = 2;

/// Shared between a request and its blocking work. The request side marks it gone
/// when the client disconnects or the time runs out (long work polls
/// [`Cancel::is_cancelled`] and stops); the work side claims the right to commit with
/// [`Cancel::begin_commit`] right before it stores anything. The two are exclusive:
/// work that claimed the commit is waited for and its result answered even past the
/// timeout, and work whose request is gone stores nothing. So a client never gets an
/// error for work that then lands.
#[derive(Clone, Default)]
pub struct Cancel(Arc<AtomicU8>);

impl Cancel {
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire) == GONE
    }

    /// Claims the right to commit; `false` when the request is already gone (then
    /// nothing may be stored).
    pub fn begin_commit(&self) -> bool {
        match self
            .0
            .compare_exchange(RUNNING, COMMITTING, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(state) => state == COMMITTING,
        }
    }

    /// Marks the request gone; `false` when the work is already committing.
    fn cancel(&self) -> bool {
        match self
            .0
            .compare_exchange(RUNNING, GONE, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(state) => state == GONE,
        }
    }
}

/// Cancels on drop: the handler future being dropped means the client is gone.
struct CancelOnDrop(Cancel);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Runs blocking engine work on the blocking pool, bounded by the request timeout. If
/// the client disconnects or the time runs out before the work began committing,
/// `cancel` is set for the work to see and the request fails with `timeout`; work that
/// is committing is waited for (see [`Cancel`]).
pub async fn blocking<T, F>(state: &AppState, f: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce(&Engine, &Cancel) -> ApiResult<T> + Send + 'static,
{
    let cancel = Cancel::default();
    let guard = CancelOnDrop(cancel.clone());
    let engine = state.engine.clone();
    let work = cancel.clone();
    let span = tracing::Span::current();
    let mut task = tokio::task::spawn_blocking(move || span.in_scope(|| f(&engine, &work)));
    let joined = match tokio::time::timeout(state.request_timeout, &mut task).await {
        Ok(joined) => Some(joined),
        Err(_) if cancel.cancel() => None,
        // Past the deadline but committing: the result is what happened.
        Err(_) => Some(task.await),
    };
    let out = match joined {
        Some(Ok(r)) => r,
        Some(Err(join)) => Err(ApiError::new(
            ErrorCode::Internal,
            format!("the request's worker failed: {join}"),
        )),
        None => Err(ApiError::new(
            ErrorCode::Timeout,
            format!(
                "the request took longer than {} s (server.request_timeout_secs); nothing was stored",
                state.request_timeout.as_secs()
            ),
        )),
    };
    drop(guard);
    out
}

#[cfg(test)]
mod tests {
    use super::Cancel;

    #[test]
    fn commit_and_cancel_exclude_each_other() {
        let c = Cancel::default();
        assert!(c.begin_commit());
        assert!(!c.cancel(), "committing work is not cancelled");
        assert!(!c.is_cancelled());
        assert!(c.begin_commit(), "claiming twice is fine");

        let c = Cancel::default();
        assert!(c.cancel());
        assert!(c.is_cancelled());
        assert!(!c.begin_commit(), "a gone request stores nothing");
        assert!(c.cancel());
    }
}
