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
    /// binary is missing.
    pub fn start() -> Result<RedisServer, String> {
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
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err(format!(
                    "redis-server did not listen on port {port} within 20 s"
                ));
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("redis-server exited at start: {status}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
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
