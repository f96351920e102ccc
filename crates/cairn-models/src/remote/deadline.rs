//! The first-token limit of a remote call. A blocking HTTP read cannot be interrupted,
//! so the request and its stream are read on a reader thread and handed over through a
//! channel; the caller waits for the first event only as long as the limit allows.
//! Dropping the returned stream ends the reader at its next event (and the
//! whole-request limit bounds a reader stuck on a silent connection). Reader threads are
//! kept for reuse: starting a thread per call (its stack mapped and faulted in) was a
//! tenth of the gateway's CPU at 1,000 requests/s.

use crate::generate::{StreamEvent, TokenStream};
use crate::{Error, Result};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel, sync_channel};
use std::sync::{Mutex, OnceLock};
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
    readers().run(Box::new(move || match open() {
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
    }))?;
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

/// What a reader thread runs: one call and its whole stream.
type Job = Box<dyn FnOnce() + Send>;

/// How long an idle reader thread waits for another call before it ends.
const IDLE_LIFETIME: Duration = Duration::from_secs(60);

/// Reader threads that outlive their call. Unbounded like the calls themselves (each
/// reads a stream for as long as it lasts; admission bounds how many run at once).
struct Readers {
    jobs: Sender<Job>,
    queue: Mutex<Receiver<Job>>,
    /// Threads waiting for a job that no caller has claimed yet.
    idle: AtomicUsize,
}

fn readers() -> &'static Readers {
    static READERS: OnceLock<Readers> = OnceLock::new();
    READERS.get_or_init(|| {
        let (jobs, queue) = channel();
        Readers {
            jobs,
            queue: Mutex::new(queue),
            idle: AtomicUsize::new(0),
        }
    })
}

/// Takes one from `n` if it is above zero.
fn claim(n: &AtomicUsize) -> bool {
    n.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
        .is_ok()
}

impl Readers {
    /// Runs `job` on an idle reader thread, or on a new one when none is idle.
    fn run(&'static self, job: Job) -> Result<()> {
        if claim(&self.idle) {
            // The receiver lives as long as the pool, which is static.
            return self
                .jobs
                .send(job)
                .map_err(|_| Error::Inference("the reader pool has stopped".into()));
        }
        std::thread::Builder::new()
            .name("cairn-remote-stream".into())
            .spawn(move || {
                job();
                self.serve();
            })
            .map(drop)
            .map_err(|e| Error::Inference(format!("cannot start a reader thread: {e}")))
    }

    /// A reader thread's life after its first job: offer itself, take the next job,
    /// end after [`IDLE_LIFETIME`] without one.
    fn serve(&self) {
        loop {
            self.idle.fetch_add(1, Ordering::AcqRel);
            let job = loop {
                let received = match self.queue.lock() {
                    Ok(queue) => queue.recv_timeout(IDLE_LIFETIME),
                    Err(_) => return,
                };
                match received {
                    Ok(job) => break job,
                    // Leave only if no caller has claimed this thread's place meanwhile;
                    // otherwise the claimed job is on its way.
                    Err(RecvTimeoutError::Timeout) if claim(&self.idle) => return,
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            };
            job();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{Finish, FinishReason, Usage};

    fn done() -> StreamEvent {
        StreamEvent::Done(Finish {
            reason: FinishReason::Stop,
            usage: Usage::default(),
            seed: None,
            model: None,
            tool_calls: Vec::new(),
        })
    }

    #[test]
    fn reader_threads_are_reused_between_calls() {
        let mut threads = std::collections::HashSet::new();
        for _ in 0..20 {
            let (tx, rx) = channel();
            let stream = first_event_within(Duration::from_secs(5), "m", move || {
                let _ = tx.send(std::thread::current().id());
                Ok(Box::new(std::iter::once(Ok(done()))))
            })
            .unwrap();
            assert_eq!(stream.count(), 1);
            threads.insert(rx.recv().unwrap());
            // Let the reader get back to waiting for the next call.
            std::thread::sleep(Duration::from_millis(20));
        }
        // Other tests may run calls on the same pool at the same time, so not exactly 1.
        assert!(threads.len() < 10, "{} threads for 20 calls", threads.len());
    }

    #[test]
    fn a_silent_call_times_out_and_an_error_comes_through() {
        let slow = first_event_within(Duration::from_millis(50), "slow", || {
            std::thread::sleep(Duration::from_millis(500));
            Ok(Box::new(std::iter::empty()))
        });
        assert!(matches!(slow, Err(Error::Timeout(m)) if m.contains("slow")));
        let failed = first_event_within(Duration::from_secs(5), "m", || {
            Err(Error::InvalidRequest("bad".into()))
        });
        assert!(matches!(failed, Err(Error::InvalidRequest(m)) if m == "bad"));
    }
}
