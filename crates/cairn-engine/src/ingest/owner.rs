//! Worker identity and liveness. A job lease names its owner as `host:pid:start`, where
//! `start` is the process start time from `/proc`, so a recycled pid is not mistaken for
//! the dead owner. Owners on this host whose process is gone are dead and their jobs are
//! reclaimed at once instead of waiting for the lease to expire.

pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Start time of a process in clock ticks since boot (field 22 of `/proc/PID/stat`).
fn start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces; fields after it follow the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19).map(str::to_owned)
}

/// This process's owner id.
pub fn current() -> String {
    let pid = std::process::id();
    format!(
        "{}:{pid}:{}",
        hostname(),
        start_time(pid).unwrap_or_default()
    )
}

/// Whether the owner is known to be dead: on this host, and its process is gone or is a
/// different process with the same pid. Owners on other hosts are left to lease expiry.
pub fn is_dead(owner: &str) -> bool {
    let mut parts = owner.rsplitn(3, ':');
    let (Some(start), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    if host != hostname() {
        return false;
    }
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    start_time(pid).as_deref() != Some(start)
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_process_is_alive_and_a_gone_pid_is_dead() {
        let me = super::current();
        assert!(!super::is_dead(&me));
        let host = super::hostname();
        assert!(super::is_dead(&format!("{host}:4294967:123")));
        assert!(!super::is_dead("some-other-host:1:1"));
        // Same pid, different start time: a recycled pid.
        let pid = std::process::id();
        assert!(super::is_dead(&format!("{host}:{pid}:0")));
    }
}
