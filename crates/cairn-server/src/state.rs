//! Shared server state and the bridge from async handlers to the blocking engine.

use crate::auth::{Authenticator, Identity};
use crate::error::{ApiError, ApiResult};
use crate::settings::{SettingsCache, TenantSettings};
use cairn_auth::{MemoryLimiter, RateLimiter};
use cairn_engine::Engine;
use cairn_types::ErrorCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
}

impl AppState {
    /// State over an engine, with the configured authentication (`[auth]`) and the
    /// in-memory rate limiter. Fails on an unusable `[auth]` or `[guard]`.
    pub fn new(engine: Arc<Engine>) -> ApiResult<Self> {
        let config = engine.config();
        let auth = Arc::new(Authenticator::new(config)?);
        crate::settings::effective(config, None)?;
        // Build the guardrails' patterns and lexicons now, not on the first request.
        cairn_guard::warm_up();
        Ok(Self {
            auth,
            limiter: Arc::new(MemoryLimiter::new()),
            settings: Arc::new(SettingsCache::default()),
            request_timeout: Duration::from_secs(config.server.request_timeout_secs),
            engine,
            draining: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Charges a finished request's model tokens to its caller's buckets and quotas.
    pub fn meter(&self, id: &Identity, settings: &Arc<TenantSettings>) -> Meter {
        Meter {
            state: self.clone(),
            id: id.clone(),
            settings: settings.clone(),
        }
    }
}

/// Records the tokens one request used (from the blocking work, once it knows).
pub struct Meter {
    state: AppState,
    id: Identity,
    settings: Arc<TenantSettings>,
}

impl Meter {
    pub fn record(&self, tokens: u64) {
        crate::limits::record(
            self.state.limiter.as_ref(),
            self.state.engine.store(),
            &self.id,
            &self.settings,
            tokens,
            crate::gate::now_ms(),
        );
    }
}

/// Set when the request that started a blocking task is gone (client disconnected or
/// timed out); long work polls it and stops.
#[derive(Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
    fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
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
/// the client disconnects or the time runs out, `cancel` is set for the work to see.
pub async fn blocking<T, F>(state: &AppState, f: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce(&Engine, &Cancel) -> ApiResult<T> + Send + 'static,
{
    let cancel = Cancel::default();
    let guard = CancelOnDrop(cancel.clone());
    let engine = state.engine.clone();
    let task = tokio::task::spawn_blocking(move || f(&engine, &cancel));
    let out = match tokio::time::timeout(state.request_timeout, task).await {
        Ok(Ok(r)) => r,
        Ok(Err(join)) => Err(ApiError::new(
            ErrorCode::Internal,
            format!("the request's worker failed: {join}"),
        )),
        Err(_) => Err(ApiError::new(
            ErrorCode::Timeout,
            format!(
                "the request took longer than {} s (server.request_timeout_secs)",
                state.request_timeout.as_secs()
            ),
        )),
    };
    drop(guard);
    out
}
