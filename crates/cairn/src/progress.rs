//! Progress of long ingests: files done of total, chunks written, failures, rate and ETA.
//! On a terminal it is a live bar; otherwise (CI logs, `nohup`) a plain line goes to
//! stderr every few seconds; with `--json` it is silent.

use cairn_engine::{ProgressEvent, ProgressSink};
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How progress is shown.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Bar,
    Lines,
    Quiet,
}

impl Mode {
    /// Quiet for `--json`, a live bar on a terminal, plain lines otherwise.
    pub fn for_output(json: bool) -> Self {
        use std::io::IsTerminal;
        if json {
            Self::Quiet
        } else if std::io::stderr().is_terminal() {
            Self::Bar
        } else {
            Self::Lines
        }
    }
}

/// Seconds between two plain progress lines.
const LINE_EVERY: Duration = Duration::from_secs(5);

pub struct Bar {
    bar: ProgressBar,
    mode: Mode,
    /// What plain lines start with: `[ingest]`, `[reindex]`.
    label: &'static str,
    chunks: AtomicUsize,
    failed: AtomicUsize,
    started: Instant,
    last_line: Mutex<Instant>,
}

impl Bar {
    /// Progress of an ingest.
    pub fn new(mode: Mode) -> Self {
        Self::labeled(mode, "ingest")
    }

    /// Progress of another per-document job (`reindex`).
    pub fn labeled(mode: Mode, label: &'static str) -> Self {
        let bar = if mode != Mode::Bar {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(0)
        };
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30.cyan/blue} {pos}/{len} files · {msg} · ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style.progress_chars("=> "));
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        Self {
            bar,
            mode,
            label,
            chunks: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            started: Instant::now(),
            last_line: Mutex::new(Instant::now()),
        }
    }

    /// A one-off message above the bar, or on its own line.
    fn note(&self, msg: &str) {
        match self.mode {
            Mode::Bar => self.bar.println(msg),
            Mode::Lines => eprintln!("[{}] {msg}", self.label),
            Mode::Quiet => {}
        }
    }

    /// In line mode, prints a status line if the last one is old enough.
    fn maybe_line(&self) {
        if self.mode != Mode::Lines {
            return;
        }
        let mut last = self
            .last_line
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.elapsed() < LINE_EVERY {
            return;
        }
        *last = Instant::now();
        let (done, total) = (self.bar.position(), self.bar.length().unwrap_or(0));
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = done as f64 / secs;
        let eta = if rate > 0.0 {
            (total.saturating_sub(done)) as f64 / rate
        } else {
            0.0
        };
        eprintln!(
            "[{}] {done}/{total} files · {} chunks · {} failed · {rate:.1} files/s · ETA {eta:.0}s",
            self.label,
            self.chunks.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        );
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    fn update_msg(&self) {
        let chunks = self.chunks.load(Ordering::Relaxed);
        let failed = self.failed.load(Ordering::Relaxed);
        let rate = self.bar.position() as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
        self.bar.set_message(format!(
            "{chunks} chunks · {failed} failed · {rate:.1} files/s"
        ));
    }
}

impl ProgressSink for Bar {
    fn event(&self, event: &ProgressEvent) {
        match event {
            ProgressEvent::Planned {
                queued, resumed, ..
            } => {
                self.bar.set_length((queued + resumed) as u64);
                self.update_msg();
            }
            ProgressEvent::Done { chunks, .. } => {
                self.chunks.fetch_add(*chunks, Ordering::Relaxed);
                self.bar.inc(1);
                self.update_msg();
                self.maybe_line();
            }
            ProgressEvent::Failed {
                source,
                code,
                message,
                will_retry,
            } => {
                if *will_retry {
                    self.bar
                        .println(format!("retrying {source}: [{code}] {message}"));
                } else {
                    self.failed.fetch_add(1, Ordering::Relaxed);
                    self.bar.inc(1);
                    self.update_msg();
                    self.maybe_line();
                }
            }
            ProgressEvent::Removed { source } => self.note(&format!("removed {source}")),
        }
    }
}

/// A plain counting bar for a benchmark's steps on a terminal (hidden otherwise).
pub fn bar(len: u64, msg: &'static str) -> ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} {msg} · ETA {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("=> "));
    bar.set_message(msg);
    bar
}
