//! Request bodies that must keep coming: every body is wrapped so that it fails when it
//! takes longer than `server.body_timeout_secs` in all, or stalls longer than
//! `server.header_timeout_secs` between two pieces. The handler's extractor then sees a
//! body error (the request fails with an enveloped 4xx) and the connection closes, so
//! a client trickling bytes cannot hold a connection and a handler forever.

use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Body as HttpBody, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// The middleware: wraps the request's body.
pub async fn middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let server = &state.engine.config().server;
    let total = Duration::from_secs(server.body_timeout_secs);
    let gap = Duration::from_secs(server.header_timeout_secs);
    let req = req.map(|body| Body::new(TimedBody::new(body, total, gap)));
    next.run(req).await
}

/// A body with a deadline for the whole and for each piece.
pub struct TimedBody {
    inner: Body,
    deadline: Instant,
    gap: Duration,
    timer: Pin<Box<Sleep>>,
}

impl TimedBody {
    pub fn new(inner: Body, total: Duration, gap: Duration) -> Self {
        let now = Instant::now();
        let deadline = now + total;
        Self {
            inner,
            deadline,
            gap,
            timer: Box::pin(tokio::time::sleep_until(deadline.min(now + gap))),
        }
    }
}

/// Why a body was cut off.
#[derive(Debug)]
pub struct BodyTimeout(&'static str);

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for BodyTimeout {}

impl HttpBody for TimedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                let now = Instant::now();
                let next = this.deadline.min(now + this.gap);
                this.timer.as_mut().reset(next);
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    let why = if Instant::now() >= this.deadline {
                        "the request body took longer than server.body_timeout_secs"
                    } else {
                        "the request body stalled longer than server.header_timeout_secs"
                    };
                    Poll::Ready(Some(Err(Box::new(BodyTimeout(why)))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_fails_after_the_gap() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
        let inner = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
        let body = TimedBody::new(inner, Duration::from_secs(120), Duration::from_secs(5));
        let mut stream = Body::new(body).into_data_stream();
        tx.send(Ok(Bytes::from_static(b"abc"))).await.unwrap();
        assert_eq!(stream.next().await.unwrap().unwrap(), "abc");
        // Nothing more arrives: after the 5 s gap the body fails.
        let err = stream.next().await.unwrap().unwrap_err();
        assert!(err.to_string().contains("stalled"), "{err}");
        drop(tx);
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickling_body_fails_at_the_total_deadline() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
        let inner = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
        let body = TimedBody::new(inner, Duration::from_secs(10), Duration::from_secs(5));
        let mut stream = Body::new(body).into_data_stream();
        let feeder = tokio::spawn(async move {
            // One byte every 4 s: never stalls past the gap, never finishes.
            while tx.send(Ok(Bytes::from_static(b"x"))).await.is_ok() {
                tokio::time::sleep(Duration::from_secs(4)).await;
            }
        });
        let mut got = 0;
        let err = loop {
            match stream.next().await.unwrap() {
                Ok(b) => got += b.len(),
                Err(e) => break e,
            }
        };
        assert!(err.to_string().contains("body_timeout_secs"), "{err}");
        assert!((2..=4).contains(&got), "{got} bytes before the deadline");
        feeder.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_keeps_coming_passes() {
        let body = TimedBody::new(
            Body::from("hello"),
            Duration::from_secs(1),
            Duration::from_secs(1),
        );
        let bytes = axum::body::to_bytes(Body::new(body), 1024).await.unwrap();
        assert_eq!(bytes, "hello");
    }
}
