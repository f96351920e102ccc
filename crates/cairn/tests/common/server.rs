//! A real `cairn serve` process for end-to-end tests, and a small HTTP client for it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `cairn serve`; killed if the test fails before it stops it.
pub struct Server {
    pub child: Child,
    pub url: String,
}

impl Server {
    pub fn start(home: &Path) -> Server {
        Self::start_with_stderr(home, Stdio::inherit())
    }

    /// Starts `cairn serve` with its standard error (its logs) going to `stderr`.
    pub fn start_with_stderr(home: &Path, stderr: Stdio) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .env("CAIRN_DATA_DIR", home.join("data"))
            .env_remove("CAIRN_CONFIG")
            // The binary sets it for itself (see `threads.rs`); tests see that it does.
            .env_remove("RAYON_NUM_THREADS")
            .current_dir(home)
            .args(["serve", "--listen", "127.0.0.1:0", "--warm"])
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                eprintln!("[serve] {line}");
                let _ = tx.send(line);
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(300))
            .expect("cairn serve printed no address");
        let url = line
            .strip_prefix("cairn: listening on ")
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .to_owned();
        Server { child, url }
    }

    /// The running process's environment (`/proc/PID/environ`).
    pub fn environ(&self) -> Vec<(String, String)> {
        let raw = std::fs::read(format!("/proc/{}/environ", self.child.id())).unwrap();
        raw.split(|b| *b == 0)
            .filter_map(|entry| {
                let entry = String::from_utf8_lossy(entry);
                let (k, v) = entry.split_once('=')?;
                Some((k.to_owned(), v.to_owned()))
            })
            .collect()
    }

    pub fn addr(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit, at most `limit`.
    pub fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(start.elapsed() < limit, "cairn serve did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response: status, JSON body (`Null` if none or not JSON), and a header lookup.
pub struct Reply {
    pub status: u16,
    pub body: serde_json::Value,
    pub text: String,
    pub retry_after: Option<String>,
    /// The `Location` header (an asynchronous upload's job).
    pub location: Option<String>,
}

/// Sends one request; `key` goes in `Authorization: Bearer`.
pub fn call(method: &str, url: &str, key: Option<&str>, body: Option<&serde_json::Value>) -> Reply {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(600)))
        .build()
        .into();
    let auth = key.map(|k| format!("Bearer {k}"));
    let resp = match (method, body) {
        ("GET" | "DELETE", _) => {
            let mut r = if method == "GET" {
                agent.get(url)
            } else {
                agent.delete(url)
            };
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.call()
        }
        (_, b) => {
            let mut r = match method {
                "PUT" => agent.put(url),
                "PATCH" => agent.patch(url),
                _ => agent.post(url),
            };
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.send_json(b.cloned().unwrap_or(serde_json::json!({})))
        }
    };
    let mut resp = resp.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    Reply {
        status,
        body,
        text,
        retry_after,
        location: None,
    }
}

/// Uploads `text` as file `name` (multipart, with an optional `acl` JSON field).
pub fn upload(
    url: &str,
    key: &str,
    collection: &str,
    name: &str,
    text: &str,
    acl: Option<&str>,
) -> Reply {
    upload_with(url, key, collection, name, text, acl, &[])
}

/// Uploads `text` as file `name` with `Prefer: respond-async`: the server answers `202`
/// with `{"job": …}` and a `Location` (in `Reply::location`).
pub fn upload_async(url: &str, key: &str, collection: &str, name: &str, text: &str) -> Reply {
    upload_with(
        url,
        key,
        collection,
        name,
        text,
        None,
        &[("Prefer", "respond-async")],
    )
}

/// [`upload`] with extra request headers.
pub fn upload_with(
    url: &str,
    key: &str,
    collection: &str,
    name: &str,
    text: &str,
    acl: Option<&str>,
    headers: &[(&str, &str)],
) -> Reply {
    let to = format!("{url}/api/v1/collections/{collection}/documents");
    post_file(&to, key, name, text, acl, headers)
}

/// Attaches `text` as file `name` to a conversation.
pub fn attach(url: &str, key: &str, conversation: &str, name: &str, text: &str) -> Reply {
    let to = format!("{url}/api/v1/conversations/{conversation}/attachments");
    post_file(&to, key, name, text, None, &[])
}

/// POSTs a multipart upload (`file`, and `acl` when given) to `to`.
fn post_file(
    to: &str,
    key: &str,
    name: &str,
    text: &str,
    acl: Option<&str>,
    headers: &[(&str, &str)],
) -> Reply {
    let boundary = "cairn-test-boundary-7d1f";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n{text}\r\n"
    );
    if let Some(acl) = acl {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"acl\"\r\n\r\n{acl}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = agent
        .post(to)
        .header("Authorization", &format!("Bearer {key}"))
        .header(
            "Content-Type",
            &format!("multipart/form-data; boundary={boundary}"),
        );
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut resp = req.send(body.as_bytes()).unwrap();
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    Reply {
        status,
        body: serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        text,
        retry_after: None,
        location,
    }
}
