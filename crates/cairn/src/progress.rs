//! A progress bar for long ingests: files done of total, chunks written, rate and ETA.
//! Hidden automatically when stderr is not a terminal.

use cairn_engine::{ProgressEvent, ProgressSink};
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct Bar {
    bar: ProgressBar,
    chunks: AtomicUsize,
    failed: AtomicUsize,
}

impl Bar {
    pub fn new(hidden: bool) -> Self {
        let bar = if hidden {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(0)
        };
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30.cyan/blue} {pos}/{len} files · {msg} · {per_sec} · ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style.progress_chars("=> "));
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        Self {
            bar,
            chunks: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    fn update_msg(&self) {
        let chunks = self.chunks.load(Ordering::Relaxed);
        let failed = self.failed.load(Ordering::Relaxed);
        self.bar
            .set_message(format!("{chunks} chunks · {failed} failed"));
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
                }
            }
            ProgressEvent::Removed { source } => self.bar.println(format!("removed {source}")),
        }
    }
}
