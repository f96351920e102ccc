//! Server-sent events from blocking work.
//!
//! The work runs on the blocking pool and pushes events into a bounded channel. Errors
//! before the first event become an ordinary enveloped HTTP error (bad parameters,
//! unknown collection, prompt too long); errors after it are sent as a final `error`
//! event. When the client disconnects, the channel closes, the next send fails and the
//! work stops (generation is cancelled by dropping its token stream). When the server
//! shuts down, a stream still open after the grace period ends with a final
//! `unavailable` error event, and a
//! caller holds at most `server.max_streams_per_key` streams at once.

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::state::StreamSlot;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use cairn_engine::Engine;
use cairn_types::ErrorCode;
use futures_util::{Stream, StreamExt};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::{mpsc, oneshot};

/// Rewrites each event a worker sends into the events the client gets (the Responses
/// API's typed events over chat chunks).
pub type Translate =
    Box<dyn FnMut(Option<&str>, &serde_json::Value) -> Vec<(String, serde_json::Value)> + Send>;

/// The work's handle on the stream.
pub struct Emitter {
    tx: mpsc::Sender<Event>,
    started: Option<oneshot::Sender<ApiResult<()>>>,
    request_id: String,
    /// Whether the stream ends with OpenAI's `data: [DONE]`.
    openai: bool,
    translate: Option<Translate>,
}

impl Emitter {
    fn start(&mut self) {
        if let Some(s) = self.started.take() {
            let _ = s.send(Ok(()));
        }
    }

    /// Sends `data` (optionally as a named event); `false` when the client is gone.
    pub fn send(&mut self, event: Option<&str>, data: &serde_json::Value) -> bool {
        if let Some(mut translate) = self.translate.take() {
            let events = translate(event, data);
            self.translate = Some(translate);
            if events.is_empty() {
                self.start();
                return self.connected();
            }
            return events
                .iter()
                .all(|(name, data)| self.send_raw(Some(name), data));
        }
        self.send_raw(event, data)
    }

    fn send_raw(&mut self, event: Option<&str>, data: &serde_json::Value) -> bool {
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

/// Runs `work` and answers with its events as SSE (or with its early error). `slot` is
/// the caller's place among its open streams, held until the stream ends.
pub async fn stream<F>(
    state: &AppState,
    slot: StreamSlot,
    request_id: String,
    openai: bool,
    work: F,
) -> Response
where
    F: FnOnce(&Engine, &mut Emitter) -> ApiResult<()> + Send + 'static,
{
    stream_with(state, slot, request_id, openai, None, work).await
}

/// [`stream`], with every event the work sends rewritten by `translate`.
pub async fn stream_with<F>(
    state: &AppState,
    slot: StreamSlot,
    request_id: String,
    openai: bool,
    translate: Option<Translate>,
    work: F,
) -> Response
where
    F: FnOnce(&Engine, &mut Emitter) -> ApiResult<()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<Event>(64);
    let (started_tx, started_rx) = oneshot::channel();
    let engine = state.engine.clone();
    let farewell = farewell(&request_id, openai);
    // The work belongs to the request's trace, and holds it open until the stream ends.
    let span = tracing::Span::current();
    let trace = crate::request_trace::current();
    tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        let _trace = trace;
        let mut em = Emitter {
            tx,
            started: Some(started_tx),
            request_id,
            openai,
            translate,
        };
        let result = work(&engine, &mut em);
        em.finish(result);
    });
    match started_rx.await {
        Ok(Ok(())) => {
            let mut stopping = state.stopping.subscribe();
            let stop = Box::pin(async move {
                let _ = stopping.wait_for(|s| *s).await;
            });
            let events = UntilShutdown {
                events: tokio_stream::wrappers::ReceiverStream::new(rx),
                stop,
                farewell: Some(farewell),
                _slot: slot,
            };
            Sse::new(events.map(Ok::<_, Infallible>))
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

/// The last event of a stream cut short by shutdown.
fn farewell(request_id: &str, openai: bool) -> Event {
    let e = ApiError::new(
        ErrorCode::Unavailable,
        "the server is shutting down; retry on another instance or shortly",
    );
    let ev = if openai {
        Event::default()
    } else {
        Event::default().event("error")
    };
    ev.data(e.body(request_id).to_string())
}

/// A stream's events until the server starts shutting down; then one final
/// `unavailable` event and the end (dropping the receiver stops the work).
struct UntilShutdown {
    events: tokio_stream::wrappers::ReceiverStream<Event>,
    stop: Pin<Box<dyn Future<Output = ()> + Send>>,
    farewell: Option<Event>,
    _slot: StreamSlot,
}

impl Stream for UntilShutdown {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        let this = &mut *self;
        let Some(_) = this.farewell.as_ref() else {
            return Poll::Ready(None);
        };
        if this.stop.as_mut().poll(cx).is_ready() {
            this.events.close();
            return Poll::Ready(this.farewell.take());
        }
        match this.events.poll_next_unpin(cx) {
            Poll::Ready(None) => {
                this.farewell = None;
                Poll::Ready(None)
            }
            other => other,
        }
    }
}
