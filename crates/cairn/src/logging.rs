//! Logging to stderr, filtered by `CAIRN_LOG` (tracing's `EnvFilter` syntax, e.g.
//! `CAIRN_LOG=info` or `CAIRN_LOG=warn,cairn_engine=debug`). Unset, it shows warnings
//! and `cairn serve`'s one line per request (target `cairn::request`, level info:
//! request id, trace id, method, route, status, latency, tenant, user, model, tokens).
//! `[logging] format = "json"` writes one JSON object a line instead of text.
//!
//! The same subscriber carries the trace layer (`cairn_telemetry::layer`), which sees
//! spans whatever `CAIRN_LOG` says: logs and traces are filtered apart.
//! llama.cpp's own load-time notes (target `llama-cpp-2`, e.g. about a GGUF's token
//! types) are shown from `error` up unless `CAIRN_LOG` asks for them.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// The filter when `CAIRN_LOG` is unset.
pub const DEFAULT_FILTER: &str = "warn,cairn::request=info,llama-cpp-2=error";

/// `CAIRN_LOG`, or [`DEFAULT_FILTER`] when it is unset or invalid.
pub fn filter() -> EnvFilter {
    EnvFilter::try_from_env("CAIRN_LOG").unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER))
}

/// Installs the process's subscriber: the trace layer, and logs in `format` (`text` or
/// `json`).
pub fn init(format: &str) {
    let registry = tracing_subscriber::registry().with(cairn_telemetry::layer());
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if format == "json" {
        registry
            .with(
                fmt.json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false)
                    .with_filter(filter()),
            )
            .init();
    } else {
        registry.with(fmt.with_filter(filter())).init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn the_default_filter_shows_request_lines_and_warnings_only() {
        let buf = Buffer::default();
        let out = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new(DEFAULT_FILTER))
            .with_writer(move || out.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "cairn::request", status = 200, "request");
            tracing::info!(target: "cairn_engine::ingest", "chatty detail");
            tracing::warn!(target: "cairn_engine::ingest", "something is off");
            tracing::warn!(target: "llama-cpp-2", "token type overridden");
            tracing::error!(target: "llama-cpp-2", "llama.cpp failed");
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert!(text.contains("status=200"), "{text}");
        assert!(text.contains("something is off"), "{text}");
        assert!(!text.contains("chatty detail"), "{text}");
        assert!(!text.contains("token type overridden"), "{text}");
        assert!(text.contains("llama.cpp failed"), "{text}");
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn json_logs_are_one_object_a_line() {
        let buf = Buffer::default();
        let out = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_env_filter(EnvFilter::new(DEFAULT_FILTER))
            .with_writer(move || out.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "cairn::request", status = 200, route = "/api/v1/ask", "request");
            tracing::warn!(target: "cairn_engine::ingest", "something is off");
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["status"], 200);
        assert_eq!(lines[0]["route"], "/api/v1/ask");
        assert_eq!(lines[0]["level"], "INFO");
        assert_eq!(lines[1]["message"], "something is off");
    }
}
