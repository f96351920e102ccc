//! The first-token limit of a remote call. A blocking HTTP read cannot be interrupted,
//! so the request and its stream are read on a thread of their own and handed over
//! through a channel; the caller waits for the first event only as long as the limit
//! allows. Dropping the returned stream ends the reader at its next event (and the
//! whole-request limit bounds a reader stuck on a silent connection).

use crate::generate::{StreamEvent, TokenStream};
use crate::{Error, Result};
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::time::Duration;

/// Events buffered between the reader thread and the consumer.
const BUFFER: usize = 64;

/// Runs `open` and its stream on a reader thread; fails with [`Error::Timeout`] when
/// neither an error nor a first event arrives within `limit`.
pub(crate) fn first_event_within(
    limit: Duration,
    model: &str,
    open: impl FnOnce() -> Result<TokenStream> + Send + 'static,
) -> Result<TokenStream> {
    let (tx, rx) = sync_channel::<Result<StreamEvent>>(BUFFER);
    std::thread::Builder::new()
        .name("cairn-remote-stream".into())
        .spawn(move || match open() {
            Err(e) => {
                let _ = tx.send(Err(e));
            }
            Ok(stream) => {
                for event in stream {
                    if tx.send(event).is_err() {
                        return;
                    }
                }
            }
        })
        .map_err(|e| Error::Inference(format!("cannot start a reader thread: {e}")))?;
    match rx.recv_timeout(limit) {
        Ok(Err(e)) => Err(e),
        Ok(Ok(first)) => Ok(Box::new(Relay {
            first: Some(first),
            rx,
        })),
        Err(RecvTimeoutError::Timeout) => Err(Error::Timeout(format!(
            "`{model}` sent no first token within {} ms",
            limit.as_millis()
        ))),
        Err(RecvTimeoutError::Disconnected) => Err(Error::Upstream {
            status: None,
            message: format!("`{model}` closed the stream before any event"),
        }),
    }
}

/// The stream on the consumer's side.
struct Relay {
    first: Option<StreamEvent>,
    rx: Receiver<Result<StreamEvent>>,
}

impl Iterator for Relay {
    type Item = Result<StreamEvent>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(first) = self.first.take() {
            return Some(Ok(first));
        }
        self.rx.recv().ok()
    }
}
