//! Test support: a real `redis-server` (Debian's package; scripts/bootstrap.sh installs
//! it with `CAIRN_NEED_REDIS=1`) on a free loopback port, stopped when dropped. Not for
//! production use.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server`, killed on drop.
pub struct RedisServer {
    child: Child,
    /// `redis://127.0.0.1:PORT/`
    pub url: String,
    pub port: u16,
}

impl RedisServer {
    /// Starts one with no persistence; an error says how to install Redis when the
    /// binary is missing. Tests start servers in parallel, and a free port found here may
    /// be taken by another test's server before this one binds it: the server that
    /// answers must be this child (its `process_id`), else it starts again elsewhere.
    pub fn start() -> Result<RedisServer, String> {
        let mut last = String::new();
        for _ in 0..5 {
            match Self::start_once()? {
                Ok(server) => return Ok(server),
                Err(why) => last = why,
            }
        }
        Err(format!("redis-server did not start: {last}"))
    }

    /// `Err` for a missing binary; `Ok(Err(why))` for a start worth trying again.
    fn start_once() -> Result<Result<RedisServer, String>, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free loopback port: {e}"))?
            .port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot run redis-server ({e}): install Debian's redis-server \
                     (CAIRN_NEED_REDIS=1 scripts/bootstrap.sh, which scripts/test.sh runs)"
                )
            })?;
        let mut server = RedisServer {
            child,
            url: format!("redis://127.0.0.1:{port}/"),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Ok(Err(format!("exited at start on port {port}: {status}")));
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                match server.answering_pid() {
                    Some(pid) if pid == server.child.id() => return Ok(Ok(server)),
                    Some(_) => {
                        return Ok(Err(format!("port {port} belongs to another server")));
                    }
                    None => {}
                }
            }
            if Instant::now() > deadline {
                return Ok(Err(format!("did not answer on port {port} within 20 s")));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The `process_id` of the server answering on this port, once it answers.
    fn answering_pid(&self) -> Option<u32> {
        let client = redis::Client::open(self.url.as_str()).ok()?;
        let mut conn = client
            .get_connection_with_timeout(Duration::from_secs(2))
            .ok()?;
        let info: String = redis::cmd("INFO").arg("server").query(&mut conn).ok()?;
        info.lines()
            .find_map(|l| l.strip_prefix("process_id:"))
            .and_then(|pid| pid.trim().parse().ok())
    }

    /// Stops the server now (tests of an unreachable Redis).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
