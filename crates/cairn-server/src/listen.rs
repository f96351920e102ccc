//! The accept loop: HTTP/1.1 connections with the limits that protect a server from
//! slow and greedy clients, and a graceful shutdown.
//!
//! - At most `server.max_connections` connections are open; further clients wait in the
//!   listen backlog until one closes.
//! - A request head must arrive within `server.header_timeout_secs` and fit in
//!   `server.max_header_bytes` (`431` otherwise); the same timeout closes idle
//!   keep-alive connections, so a slowloris client cannot hold a connection open.
//! - A request body must arrive within `server.body_timeout_secs` ([`crate::body_timeout`]).
//! - On shutdown the listener closes, `/readyz` turns 503, and in-flight requests and
//!   streams get `server.shutdown_grace_secs` to finish; then open SSE streams end with a
//!   final `unavailable` event and a clean end of the response, and what is left after
//!   that is dropped.

use crate::state::AppState;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// How long connections get to deliver their streams' final event after the grace
/// period.
const FAREWELL: Duration = Duration::from_secs(2);

/// Accepts connections on `listener` and serves `state`'s router until `shutdown`
/// resolves, then drains as the module documentation says.
pub async fn run(
    state: AppState,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let server = state.engine.config().server.clone();
    let grace = Duration::from_secs(server.shutdown_grace_secs);
    let app = crate::router(state.clone());
    let slots = Arc::new(Semaphore::new(server.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(server.header_timeout_secs))
        .max_header_size(server.max_header_bytes);
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            () = &mut shutdown => break,
        };
        let Ok(slot) = slot else { break };
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let svc =
            app.clone()
                .map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    req
                });
        let conn = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    state.draining.store(true, Ordering::Relaxed);
    tracing::info!(
        open = graceful.count(),
        "shutting down: finishing in-flight requests"
    );
    let drained = graceful.shutdown();
    tokio::pin!(drained);
    tokio::select! {
        () = &mut drained => return Ok(()),
        () = tokio::time::sleep(grace) => {}
    }
    // Grace is over: open streams end with a final `unavailable` event (a clean end of
    // the response, not a cut connection); whatever is still open after that is dropped.
    tracing::warn!(
        grace_secs = grace.as_secs(),
        "grace period over; ending open streams"
    );
    state.begin_shutdown();
    tokio::select! {
        () = &mut drained => {}
        () = tokio::time::sleep(FAREWELL) => {
            tracing::warn!("dropping connections still open after the streams were ended");
        }
    }
    Ok(())
}
