//! The process's thread count, fixed before anything runs.
//!
//! candle sizes the thread team of every matrix product from `RAYON_NUM_THREADS`; when
//! the variable is unset it counts physical cores again for each product, which on
//! Linux reads and parses `/proc/cpuinfo`. A query embedding makes about fifty products,
//! so that read was 5–8 ms of a ~20 ms query embedding (`cairn bench semantic-cache`,
//! 2-core VM). Setting the variable inside a running process is not allowed here (it is
//! `unsafe`: other threads may read the environment at the same moment), so when it is
//! unset the binary starts itself again, once, with it set to the CPUs this process may
//! use (what rayon would pick by default, so no thread pool changes size).

use std::ffi::OsString;

/// The variable candle and rayon read.
const VAR: &str = "RAYON_NUM_THREADS";

/// Re-executes this binary with [`VAR`] set when it is not; returns only when it was
/// already set or the re-execution could not happen (the process then runs as before).
pub fn pin_thread_count() {
    if std::env::var_os(VAR).is_some() {
        return;
    }
    let Ok(threads) = std::thread::available_parallelism() else {
        return;
    };
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    reexec(exe, std::env::args_os().skip(1).collect(), threads.get());
}

#[cfg(unix)]
fn reexec(exe: std::path::PathBuf, args: Vec<OsString>, threads: usize) {
    use std::os::unix::process::CommandExt as _;
    // `exec` returns only on failure; the process then goes on without the variable.
    let error = std::process::Command::new(&exe)
        .args(args)
        .env(VAR, threads.to_string())
        .exec();
    tracing::debug!(%error, exe = %exe.display(), "cannot re-execute with {VAR} set");
}

#[cfg(not(unix))]
fn reexec(_exe: std::path::PathBuf, _args: Vec<OsString>, _threads: usize) {}
