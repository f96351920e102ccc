//! Parsing where a runaway parser can really be stopped: one child process per document.
//!
//! Third-party parsers (PDF, DOCX, HTML) can be driven into near-endless loops or huge
//! allocations by hostile files, and a Rust thread cannot be killed. So, with
//! `ingest.parse_isolation = "process"` (the default), every parse runs in a child process,
//! `cairn parse-worker` (see [`child`]), that lowers its own limits first (address space
//! to `ingest.parse_memory_mb`, CPU time a little above the time limit as a backstop, no
//! core dumps, `nice` 10) and is killed and reaped by [`supervise`] at
//! `ingest.parse_timeout_ms`. A timeout, a crash (signal) or an exhausted memory cap
//! becomes `corrupt_file` naming the cause; nothing is stored for that file.
//!
//! At most `ingest.workers` parse processes run at once in this process (ingest workers
//! and uploads together), so hostile files can hold at most that many cores, each for at
//! most the time limit.
//!
//! The engine finds the worker through [`register_parse_worker`], which the `cairn` binary
//! calls at start with its own path. A process that never registers one (the engine used
//! as a library, e.g. in its own tests) parses on a thread instead (`thread` mode), with a
//! warning logged once.

pub mod child;
mod supervise;

use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, Once, OnceLock, PoisonError};
use std::time::Duration;

use cairn_config::{IngestSettings, ParseIsolation};
use cairn_types::ParsedDoc;

use crate::Result;

pub use cairn_ingest::Format;
pub use child::{WorkerRequest, run_parse_worker};

/// The executable whose `parse-worker` subcommand parses one document.
static WORKER: OnceLock<PathBuf> = OnceLock::new();

/// Registers the executable that serves `parse-worker` (the `cairn` binary registers
/// itself). Only the first registration counts.
pub fn register_parse_worker(exe: PathBuf) {
    let _ = WORKER.set(exe);
}

/// The registered worker executable, if any.
pub fn registered_parse_worker() -> Option<&'static Path> {
    WORKER.get().map(PathBuf::as_path)
}

/// What a parse process reads: bytes fed on its stdin, or a file it opens itself.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    Bytes(&'a [u8]),
    Path(&'a Path),
}

/// The limits of one parse process.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Wall-clock time limit; the process is killed when it is reached.
    pub timeout: Duration,
    /// Address-space cap (RLIMIT_AS), MiB.
    pub memory_mb: u64,
    /// Parse processes allowed at once in this process.
    pub max_running: usize,
}

impl Limits {
    /// The limits the ingest settings ask for.
    pub fn from_settings(settings: &IngestSettings) -> Self {
        Self {
            timeout: Duration::from_millis(settings.parse_timeout_ms),
            memory_mb: settings.parse_memory_mb,
            max_running: settings.workers.max(1),
        }
    }
}

/// Parses `bytes` (the file `name`) as `format` the way `settings` say: in a child
/// process of the registered worker, or on a thread.
pub(crate) fn parse(
    settings: &IngestSettings,
    format: Format,
    bytes: &[u8],
    name: &str,
) -> Result<ParsedDoc> {
    let limits = Limits::from_settings(settings);
    match (settings.parse_isolation, registered_parse_worker()) {
        (ParseIsolation::Process, Some(exe)) => {
            parse_in_process(exe, format, Input::Bytes(bytes), name, &limits)
        }
        (ParseIsolation::Process, None) => {
            static WARNED: Once = Once::new();
            WARNED.call_once(|| {
                tracing::warn!(
                    "ingest.parse_isolation = \"process\" but no parse worker executable is \
                     registered: parsing on threads, where a parser past its time limit \
                     cannot be stopped"
                );
            });
            parse_in_thread(format, bytes, name, &limits)
        }
        (ParseIsolation::Thread, _) => parse_in_thread(format, bytes, name, &limits),
    }
}

/// The in-process parse: a thread, abandoned (still running) at the time limit.
pub fn parse_in_thread(
    format: Format,
    bytes: &[u8],
    name: &str,
    limits: &Limits,
) -> Result<ParsedDoc> {
    Ok(cairn_ingest::parse::parse_with_timeout(
        format,
        bytes,
        name,
        limits.timeout,
    )?)
}

/// Parses in a child process of `exe` (`exe parse-worker ...`), killed at the time limit.
/// Waits first while `limits.max_running` parse processes are running.
pub fn parse_in_process(
    exe: &Path,
    format: Format,
    input: Input<'_>,
    name: &str,
    limits: &Limits,
) -> Result<ParsedDoc> {
    let _slot = Slot::acquire(limits.max_running);
    supervise::run(exe, format, input, name, limits)
}

/// Parse processes running now, and a signal for when one ends.
static RUNNING: Mutex<usize> = Mutex::new(0);
static ENDED: Condvar = Condvar::new();

/// One of the limited places for a running parse process; freed on drop.
struct Slot;

impl Slot {
    fn acquire(max: usize) -> Self {
        let mut running = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
        while *running >= max.max(1) {
            running = ENDED.wait(running).unwrap_or_else(PoisonError::into_inner);
        }
        *running += 1;
        Slot
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut running = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
        *running = running.saturating_sub(1);
        ENDED.notify_all();
    }
}
