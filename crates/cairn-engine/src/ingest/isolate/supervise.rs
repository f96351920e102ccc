//! The supervisor side: start `EXE parse-worker`, feed it, read its reply (size-capped),
//! and kill and reap it at the time limit; then turn what happened into a result.

use std::io::{self, Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use cairn_ingest::Format;
use cairn_types::{ErrorCode, ParsedDoc};

use super::child::{EXIT_BAD_REQUEST, Reply};
use super::{Input, Limits};
use crate::{Error, Result};

/// Bytes of the worker's stderr kept for error messages (the last ones).
const STDERR_KEEP: usize = 16 * 1024;

/// How the parse process ended.
struct Ended {
    status: ExitStatus,
    stdout: Vec<u8>,
    /// The reply was longer than the cap (the process was killed).
    overflow: bool,
    stderr: Vec<u8>,
    /// Killed at the time limit.
    timed_out: bool,
}

/// Runs one parse in a child process of `exe` and returns its result.
pub(super) fn run(
    exe: &Path,
    format: Format,
    input: Input<'_>,
    name: &str,
    limits: &Limits,
) -> Result<ParsedDoc> {
    let mut cmd = Command::new(exe);
    cmd.arg("parse-worker")
        .args(["--format", format.as_str(), "--name", name])
        .arg("--timeout-ms")
        .arg(limits.timeout.as_millis().to_string())
        .arg("--memory-mb")
        .arg(limits.memory_mb.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Nothing of this process's environment (keys, tokens) is the parser's business.
        .env_clear();
    if let Some(log) = std::env::var_os("CAIRN_LOG") {
        cmd.env("CAIRN_LOG", log);
    }
    let feed = match input {
        Input::Bytes(bytes) => {
            cmd.stdin(Stdio::piped());
            Some(bytes)
        }
        Input::Path(path) => {
            cmd.arg("--path").arg(path).stdin(Stdio::null());
            None
        }
    };
    let mut child = cmd.spawn().map_err(|e| {
        Error::new(
            ErrorCode::Transient,
            format!(
                "{name}: cannot start the parse process {}: {e}",
                exe.display()
            ),
        )
    })?;
    let reply_cap =
        usize::try_from(limits.memory_mb.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX);
    let ended = supervise(&mut child, feed, limits.timeout, reply_cap).map_err(|e| {
        Error::new(
            ErrorCode::Internal,
            format!("{name}: lost track of the parse process: {e}"),
        )
    })?;
    if ended.timed_out {
        tracing::warn!(
            pid = child.id(),
            file = name,
            "parse timed out; its process was killed"
        );
    }
    verdict(name, format, limits, &ended)
}

/// Feeds, reads and waits for `child` until it ends or `timeout` passes (then kills it).
/// Always reaps the child.
fn supervise(
    child: &mut Child,
    feed: Option<&[u8]>,
    timeout: Duration,
    reply_cap: usize,
) -> io::Result<Ended> {
    let deadline = Instant::now() + timeout;
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    thread::scope(|s| {
        if let (Some(mut pipe), Some(bytes)) = (stdin, feed) {
            // A worker that dies early closes the pipe: the write fails, which is fine.
            s.spawn(move || {
                let _ = pipe.write_all(bytes);
            });
        }
        let errors = s.spawn(move || stderr.map(read_tail).unwrap_or_default());
        let (tx, rx) = mpsc::channel();
        s.spawn(move || {
            let _ = tx.send(stdout.map(|r| read_capped(r, reply_cap)));
        });
        let (read, status, timed_out) = match rx.recv_timeout(timeout) {
            Ok(Some(Ok((bytes, overflow)))) if !overflow => {
                let (status, timed_out) = wait_until(child, deadline)?;
                (Some((bytes, false)), status, timed_out)
            }
            Ok(Some(Ok((bytes, _)))) => (Some((bytes, true)), kill_and_reap(child)?, false),
            Ok(Some(Err(e))) => {
                kill_and_reap(child)?;
                return Err(e);
            }
            Ok(None) => {
                kill_and_reap(child)?;
                return Err(io::Error::other("the reply pipe was not set up"));
            }
            Err(_) => (None, kill_and_reap(child)?, true),
        };
        let stderr = errors.join().unwrap_or_default();
        let (stdout, overflow) = read.unwrap_or_default();
        Ok(Ended {
            status,
            stdout,
            overflow,
            stderr,
            timed_out,
        })
    })
}

/// Waits for `child` to exit until `deadline`, then kills it. `true`: it was killed.
fn wait_until(child: &mut Child, deadline: Instant) -> io::Result<(ExitStatus, bool)> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok((status, false));
        }
        if Instant::now() >= deadline {
            return Ok((kill_and_reap(child)?, true));
        }
        thread::sleep(Duration::from_millis(1));
    }
}

fn kill_and_reap(child: &mut Child) -> io::Result<ExitStatus> {
    // Fails only if it already exited, which the wait below then reports.
    let _ = child.kill();
    child.wait()
}

/// Reads up to `cap` bytes; `true` when there was more (the rest is left unread).
fn read_capped(reader: impl Read, cap: usize) -> io::Result<(Vec<u8>, bool)> {
    let mut bytes = Vec::new();
    reader
        .take(u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut bytes)?;
    let overflow = bytes.len() > cap;
    bytes.truncate(cap);
    Ok((bytes, overflow))
}

/// Reads to the end, keeping the last [`STDERR_KEEP`] bytes.
fn read_tail(mut reader: impl Read) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => return kept,
            Ok(n) => {
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > 2 * STDERR_KEEP {
                    kept.drain(..kept.len() - STDERR_KEEP);
                }
            }
        }
    }
}

/// The result of a parse process that ended as `ended` says.
fn verdict(name: &str, format: Format, limits: &Limits, ended: &Ended) -> Result<ParsedDoc> {
    let corrupt = |why: String| {
        Err(Error::new(
            ErrorCode::CorruptFile,
            format!("{name}: the {format} parser {why}"),
        ))
    };
    if ended.timed_out {
        return corrupt(format!(
            "timed out after {} s; its process was stopped",
            seconds(limits.timeout)
        ));
    }
    if ended.overflow {
        return corrupt(format!(
            "produced more than {} MiB of text (ingest.parse_memory_mb)",
            limits.memory_mb
        ));
    }
    let stderr = String::from_utf8_lossy(&ended.stderr);
    if !ended.status.success() {
        if let Some(line) = stderr.lines().find(|l| l.contains("memory allocation of")) {
            return corrupt(format!(
                "ran out of memory: the file needs more than ingest.parse_memory_mb ({} MiB) \
                 ({})",
                limits.memory_mb,
                line.trim()
            ));
        }
        if stderr.contains("has overflowed its stack") {
            return corrupt("overflowed its stack on this file".to_owned());
        }
        if let Some(signal) = signal_of(ended.status) {
            let why = match signal {
                SIGXCPU => format!(
                    "used more than {} s of CPU time",
                    limits.timeout.as_millis().div_ceil(1000)
                        + u128::from(super::child::CPU_GRACE_S)
                ),
                _ => format!("crashed on this file ({})", signal_name(signal)),
            };
            return corrupt(why);
        }
        let last = stderr.lines().last().unwrap_or("no message");
        let code = ended.status.code().unwrap_or(-1);
        let kind = if code == i32::from(EXIT_BAD_REQUEST) {
            ErrorCode::Internal
        } else {
            ErrorCode::CorruptFile
        };
        return Err(Error::new(
            kind,
            format!("{name}: the {format} parse process failed (exit status {code}: {last})"),
        ));
    }
    match serde_json::from_slice::<Reply>(&ended.stdout) {
        Ok(Reply::Parsed { doc }) => Ok(doc),
        Ok(Reply::Failed { code, message }) => Err(Error::new(code, message)),
        Err(e) => Err(Error::new(
            ErrorCode::Internal,
            format!("{name}: unreadable reply from the parse process: {e}"),
        )),
    }
}

/// `2 s`, `0.5 s`.
fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        d.as_secs().to_string()
    } else {
        format!("{:.1}", d.as_secs_f64())
    }
}

const SIGXCPU: i32 = 24;

#[cfg(unix)]
fn signal_of(status: ExitStatus) -> Option<i32> {
    std::os::unix::process::ExitStatusExt::signal(&status)
}

#[cfg(not(unix))]
fn signal_of(_status: ExitStatus) -> Option<i32> {
    None
}

fn signal_name(signal: i32) -> String {
    let name = match signal {
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        SIGXCPU => "SIGXCPU",
        _ => return format!("signal {signal}"),
    };
    format!("{name}, signal {signal}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_capped_and_tails_kept() {
        let (bytes, overflow) = read_capped(&b"abcdef"[..], 4).unwrap_or_default();
        assert_eq!((bytes.as_slice(), overflow), (&b"abcd"[..], true));
        let (bytes, overflow) = read_capped(&b"abc"[..], 4).unwrap_or_default();
        assert_eq!((bytes.as_slice(), overflow), (&b"abc"[..], false));
        let long = vec![b'x'; 5 * STDERR_KEEP];
        let tail = read_tail(&long[..]);
        assert!(tail.len() <= 2 * STDERR_KEEP && tail.len() >= STDERR_KEEP);
    }

    #[test]
    fn durations_print_as_seconds() {
        assert_eq!(seconds(Duration::from_secs(120)), "120");
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5");
    }
}
