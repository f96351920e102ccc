//! Shared server state and the bridge from async handlers to the blocking engine.

use crate::error::{ApiError, ApiResult};
use cairn_engine::Engine;
use cairn_types::{ErrorCode, TenantId};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    /// Until identity lands (API keys, JWT), every request acts in the configured tenant.
    pub tenant: TenantId,
    pub request_timeout: Duration,
    /// Set when shutdown begins: `/readyz` turns 503 so load balancers drain.
    pub draining: Arc<AtomicBool>,
}

impl AppState {
    pub fn new(engine: Arc<Engine>) -> Self {
        let config = engine.config();
        Self {
            tenant: config.tenant.clone(),
            request_timeout: Duration::from_secs(config.server.request_timeout_secs),
            engine,
            draining: Arc::new(AtomicBool::new(false)),
        }
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
