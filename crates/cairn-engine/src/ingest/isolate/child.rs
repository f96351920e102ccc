//! The child side: `cairn parse-worker --format F --name N [--path P]` parses one document
//! and writes a [`Reply`] as JSON to stdout.
//!
//! Before it reads a byte it lowers its own limits: address space (RLIMIT_AS) to
//! `--memory-mb`, CPU time (RLIMIT_CPU) to the time limit plus [`CPU_GRACE_S`] (a backstop
//! should its supervisor be gone), no core dumps, `nice` 10, and on Linux it asks to be
//! killed when its parent goes away. Then it reads the document from `--path` or stdin
//! and runs the ordinary in-process parse ([`cairn_ingest::parse::parse_with_timeout`]:
//! panics caught, a large stack), whose own time limit is set past the supervisor's so
//! that the supervisor's kill is what ends a runaway parse.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use cairn_ingest::Format;
use cairn_types::{ErrorCode, ParsedDoc};
use serde::{Deserialize, Serialize};

/// Seconds of CPU time past the time limit before the kernel stops the process itself.
pub const CPU_GRACE_S: u64 = 5;

/// Exit status when the request itself is unusable (unknown format, limits not set).
pub const EXIT_BAD_REQUEST: u8 = 2;
/// Exit status when the reply cannot be written.
pub const EXIT_NO_REPLY: u8 = 3;

/// What one parse process is asked to do.
#[derive(Clone, Debug)]
pub struct WorkerRequest {
    /// [`Format::as_str`] of the document's format.
    pub format: String,
    /// The file name, for messages.
    pub name: String,
    /// Read the document from this file instead of stdin.
    pub path: Option<PathBuf>,
    /// The supervisor's time limit, in milliseconds.
    pub timeout_ms: u64,
    /// Address-space cap, MiB.
    pub memory_mb: u64,
}

/// The one line a parse process writes to stdout.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Reply {
    Parsed { doc: ParsedDoc },
    Failed { code: ErrorCode, message: String },
}

/// Serves one [`WorkerRequest`] in this process; returns the exit status. A parse error is
/// a normal reply (status 0); only an unusable request or an unwritable reply is not.
pub fn run_parse_worker(req: &WorkerRequest) -> u8 {
    let Some(format) = Format::from_name(&req.format) else {
        tracing::error!(format = %req.format, "parse-worker: unknown format");
        return EXIT_BAD_REQUEST;
    };
    if let Err(e) = lower_limits(req.timeout_ms, req.memory_mb) {
        tracing::error!(error = %e, "parse-worker: cannot set its resource limits");
        return EXIT_BAD_REQUEST;
    }
    let reply = match read_input(req) {
        Ok(bytes) => {
            // Past the supervisor's limit, so that its kill, not this, ends a slow parse.
            let own_limit = Duration::from_millis(req.timeout_ms.saturating_mul(2))
                + Duration::from_secs(CPU_GRACE_S);
            match cairn_ingest::parse::parse_with_timeout(format, &bytes, &req.name, own_limit) {
                Ok(doc) => Reply::Parsed { doc },
                Err(e) => Reply::Failed {
                    code: e.code,
                    message: e.message,
                },
            }
        }
        Err(e) => e,
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = serde_json::to_writer(&mut out, &reply)
        .map_err(std::io::Error::other)
        .and_then(|()| out.flush());
    match written {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!(error = %e, "parse-worker: cannot write the reply");
            EXIT_NO_REPLY
        }
    }
}

fn read_input(req: &WorkerRequest) -> Result<Vec<u8>, Reply> {
    let read = match &req.path {
        Some(path) => std::fs::read(path),
        None => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .lock()
                .read_to_end(&mut bytes)
                .map(|_| bytes)
        }
    };
    read.map_err(|e| {
        let code = match e.kind() {
            std::io::ErrorKind::NotFound => ErrorCode::NotFound,
            std::io::ErrorKind::PermissionDenied => ErrorCode::InvalidInput,
            _ => ErrorCode::Transient,
        };
        Reply::Failed {
            code,
            message: format!("{}: cannot read the document: {e}", req.name),
        }
    })
}

/// Caps this process's address space and CPU time, turns off core dumps, lowers its
/// priority and (Linux) asks for SIGKILL when the parent dies.
#[cfg(unix)]
fn lower_limits(timeout_ms: u64, memory_mb: u64) -> std::io::Result<()> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    // Lowers the soft and hard limits to at most `soft` and `hard` (never raises them).
    let lower = |resource: Resource, soft: u64, hard: u64| {
        let old = getrlimit(resource);
        let hard = old.maximum.map_or(hard, |m| m.min(hard));
        let new = Rlimit {
            current: Some(soft.min(hard)),
            maximum: Some(hard),
        };
        setrlimit(resource, new).map_err(std::io::Error::from)
    };
    let bytes = memory_mb.saturating_mul(1024 * 1024);
    lower(Resource::As, bytes, bytes)?;
    let cpu_s = timeout_ms.div_ceil(1000) + CPU_GRACE_S;
    lower(Resource::Cpu, cpu_s, cpu_s + CPU_GRACE_S)?;
    lower(Resource::Core, 0, 0)?;
    if let Err(e) = rustix::process::nice(10) {
        tracing::debug!(error = %e, "parse-worker: cannot lower its priority");
    }
    #[cfg(target_os = "linux")]
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
    Ok(())
}

#[cfg(not(unix))]
fn lower_limits(_timeout_ms: u64, _memory_mb: u64) -> std::io::Result<()> {
    Err(std::io::Error::other(
        "resource limits are only supported on Unix",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_name_round_trips() {
        for name in ["text", "markdown", "html", "pdf", "docx", "csv", "json"] {
            assert_eq!(Format::from_name(name).map(Format::as_str), Some(name));
        }
        assert_eq!(Format::from_name("exe"), None);
    }

    #[test]
    fn replies_round_trip_as_json() {
        let reply = Reply::Failed {
            code: ErrorCode::EmptyDocument,
            message: "x: no text found".into(),
        };
        let text = serde_json::to_string(&reply).unwrap_or_default();
        assert!(text.contains("\"status\":\"failed\""), "{text}");
        assert!(matches!(
            serde_json::from_str::<Reply>(&text),
            Ok(Reply::Failed {
                code: ErrorCode::EmptyDocument,
                ..
            })
        ));
    }
}
