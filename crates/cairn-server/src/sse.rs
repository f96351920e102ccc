//! Server-sent events from blocking work.
//!
//! The work runs on the blocking pool and pushes events into a bounded channel. Errors
//! before the first event become an ordinary enveloped HTTP error (bad parameters,
//! unknown collection, prompt too long); errors after it are sent as a final `error`
//! event. When the client disconnects, the channel closes, the next send fails and the
//! work stops (generation is cancelled by dropping its token stream).

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use cairn_engine::Engine;
use cairn_types::ErrorCode;
use futures_util::StreamExt;
use std::convert::Infallible;
use tokio::sync::{mpsc, oneshot};

/// The work's handle on the stream.
pub struct Emitter {
    tx: mpsc::Sender<Event>,
    started: Option<oneshot::Sender<ApiResult<()>>>,
    request_id: String,
    /// Whether the stream ends with OpenAI's `data: [DONE]`.
    openai: bool,
}

impl Emitter {
    fn start(&mut self) {
        if let Some(s) = self.started.take() {
            let _ = s.send(Ok(()));
        }
    }

    /// Sends `data` (optionally as a named event); `false` when the client is gone.
    pub fn send(&mut self, event: Option<&str>, data: &serde_json::Value) -> bool {
        self.start();
        // The name goes first (clients dispatch at the blank line, but many read in order).
        let mut ev = Event::default();
        if let Some(name) = event {
            ev = ev.event(name);
        }
        let ev = ev.data(data.to_string());
        self.tx.blocking_send(ev).is_ok()
    }

    /// Whether the client is still connected.
    pub fn connected(&self) -> bool {
        !self.tx.is_closed()
    }

    fn finish(mut self, result: ApiResult<()>) {
        match result {
            Ok(()) => {
                self.start();
                if self.openai {
                    let _ = self.tx.blocking_send(Event::default().data("[DONE]"));
                }
            }
            Err(e) => match self.started.take() {
                Some(s) => {
                    let _ = s.send(Err(e));
                }
                None => {
                    if e.code != ErrorCode::Cancelled {
                        tracing::warn!(request_id = %self.request_id, error = %e, "stream failed");
                    }
                    let body = e.body(&self.request_id);
                    let ev = if self.openai {
                        Event::default()
                    } else {
                        Event::default().event("error")
                    };
                    let ev = ev.data(body.to_string());
                    let _ = self.tx.blocking_send(ev);
                }
            },
        }
    }
}

/// Runs `work` and answers with its events as SSE (or with its early error).
pub async fn stream<F>(state: &AppState, request_id: String, openai: bool, work: F) -> Response
where
    F: FnOnce(&Engine, &mut Emitter) -> ApiResult<()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<Event>(64);
    let (started_tx, started_rx) = oneshot::channel();
    let engine = state.engine.clone();
    tokio::task::spawn_blocking(move || {
        let mut em = Emitter {
            tx,
            started: Some(started_tx),
            request_id,
            openai,
        };
        let result = work(&engine, &mut em);
        em.finish(result);
    });
    match started_rx.await {
        Ok(Ok(())) => {
            let events = tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok::<_, Infallible>);
            Sse::new(events)
                .keep_alive(KeepAlive::default())
                .into_response()
        }
        Ok(Err(e)) => e.into_response(),
        Err(_) => ApiError::new(
            ErrorCode::Internal,
            "the stream's worker stopped unexpectedly",
        )
        .into_response(),
    }
}
