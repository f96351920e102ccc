//! The server against greedy and slow clients, over real TCP (`cairn_server::serve` on a
//! loopback port, real SQLite, MiniLM and SmolLM2): the generation queue refuses past
//! `models.max_queued` with `503 overloaded`, streams per key are capped, oversized
//! heads get 431, slow heads are cut off, connections are capped, shutdown ends the
//! streams still open after the grace period with a final event, unknown keys cannot lock out real ones, and an upload
//! whose request timed out stores nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use cairn_engine::Engine;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Server {
    addr: SocketAddr,
    engine: Arc<Engine>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(extra: &str) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let toml = format!(
            "data_dir = \"{}\"\n[ingest.quality]\nmin_chars = 10\n[models]\n\
             generator = \"smollm2-135m-instruct\"\n{extra}\n{auth}",
            dir.path().join("data").display(),
            auth = if extra.contains("[auth]") {
                ""
            } else {
                "[auth]\nmode = \"off\""
            },
        );
        let (config, _) = cairn_config::load_from_str(&toml, "test", &[]).unwrap();
        let engine = Arc::new(Engine::open(config).unwrap());
        let (listener, addr) = cairn_server::bind("127.0.0.1:0").await.unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let done = tokio::spawn(cairn_server::serve(engine.clone(), listener, async move {
            let _ = rx.await;
        }));
        Server {
            addr,
            engine,
            stop: Some(tx),
            done,
            _dir: dir,
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(20), &mut self.done)
            .await
            .expect("the server stops within its grace period")
            .unwrap()
            .unwrap();
    }
}

/// A parsed HTTP/1.1 response.
struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|_| panic!("not JSON ({}): {}", self.status, self.body))
    }

    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut r = format!(
        "{method} {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        r.push_str("content-type: application/json\r\n");
    }
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str("\r\n");
    r.push_str(body);
    r
}

/// Sends one request on a new connection and reads the whole response.
async fn send(addr: SocketAddr, raw: &str) -> Reply {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(raw.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(120), s.read_to_end(&mut buf))
        .await
        .expect("a response")
        .unwrap();
    parse(&buf)
}

fn parse(buf: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    Reply {
        status,
        head: head.to_owned(),
        body: if chunked {
            dechunk(body)
        } else {
            body.to_owned()
        },
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            out.push_str(&rest[..rest.len().min(n)]);
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Opens a streaming chat completion and returns the connection once its first
/// event arrived (the stream holds its generation slot while it is open).
async fn open_stream(addr: SocketAddr, headers: &[(&str, &str)]) -> (TcpStream, String) {
    open_long_stream(addr, headers, 400).await
}

/// [`open_stream`] for a generation that cannot end before `max_tokens`: the answer is
/// constrained to a JSON array of at least as many integers.
async fn open_long_stream(
    addr: SocketAddr,
    headers: &[(&str, &str)],
    max_tokens: usize,
) -> (TcpStream, String) {
    let body = json!({
        "model": "smollm2-135m-instruct",
        "messages": [{"role": "user", "content": "List numbers."}],
        "max_tokens": max_tokens, "stream": true, "temperature": 0,
        "response_format": {"type": "json_schema", "json_schema": {"name": "numbers",
            "schema": {"type": "array", "items": {"type": "integer"}, "minItems": max_tokens}}}
    })
    .to_string();
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request("POST", "/v1/chat/completions", headers, &body).as_bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("data:") {
        let n = tokio::time::timeout(Duration::from_secs(60), s.read(&mut buf))
            .await
            .expect("the stream starts")
            .unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&got).into_owned();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    (s, head)
}

fn chat_body(stream: bool) -> String {
    json!({
        "model": "smollm2-135m-instruct",
        "messages": [{"role": "user", "content": "Say hi."}],
        "max_tokens": 4, "stream": stream
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_generation_queue_answers_503_overloaded_and_readyz_shows_it() {
    let server = Server::start("max_concurrent = 1\nmax_queued = 0").await;
    let (held, _) = open_stream(server.addr, &[]).await;
    // The one slot is taken and nobody may wait: refused at once, with a retry hint.
    let r = send(
        server.addr,
        &request("POST", "/v1/chat/completions", &[], &chat_body(false)),
    )
    .await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], "overloaded");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(retry >= 1);
    let ask = json!({"collection": "kb", "question": "anything?"}).to_string();
    let r = send(server.addr, &request("POST", "/api/v1/ask", &[], &ask)).await;
    assert_eq!(r.status, 503, "ask shares the queue: {}", r.body);

    let ready = send(server.addr, &request("GET", "/readyz", &[], "")).await;
    let q = &ready.json()["generation"][0];
    assert_eq!(q["model"], "smollm2-135m-instruct", "{}", ready.body);
    assert_eq!(q["running"], 1);
    assert_eq!(q["max_concurrent"], 1);
    assert!(q["refused"].as_u64().unwrap() >= 2, "{q}");

    // The client leaves: its generation stops and frees the slot.
    drop(held);
    let mut ok = None;
    for _ in 0..100 {
        let r = send(
            server.addr,
            &request("POST", "/v1/chat/completions", &[], &chat_body(false)),
        )
        .await;
        if r.status == 200 {
            ok = Some(r);
            break;
        }
        assert_eq!(r.status, 503, "{}", r.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ok = ok.expect("the slot came back after the stream closed");
    let waited: u64 = ok.header("x-queue-wait-ms").unwrap().parse().unwrap();
    assert!(waited < 120_000);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_per_key_are_capped() {
    let server = Server::start(
        "max_concurrent = 4\n[server]\nmax_streams_per_key = 1\nshutdown_grace_secs = 5",
    )
    .await;
    let (held, _) = open_stream(server.addr, &[]).await;
    let r = send(
        server.addr,
        &request("POST", "/v1/chat/completions", &[], &chat_body(true)),
    )
    .await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], "rate_limited");
    assert!(r.header("retry-after").is_some());
    // Plain requests are not streams.
    let r = send(
        server.addr,
        &request("POST", "/v1/chat/completions", &[], &chat_body(false)),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    drop(held);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_streams_still_open_after_the_grace_with_a_final_unavailable_event() {
    let server = Server::start("[server]\nshutdown_grace_secs = 2").await;
    let (mut held, mut seen) = open_long_stream(server.addr, &[], 4_000).await;
    let reader = tokio::spawn(async move {
        let mut buf = Vec::new();
        held.read_to_end(&mut buf).await.unwrap();
        seen.push_str(&String::from_utf8_lossy(&buf));
        seen
    });
    let started = std::time::Instant::now();
    server.stop().await;
    let all = tokio::time::timeout(Duration::from_secs(10), reader)
        .await
        .expect("the stream ended")
        .unwrap();
    assert!(all.contains("\"code\":\"unavailable\""), "{all}");
    // It ended after the 2 s grace, not after a generation of 4,000 tokens.
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_heads_get_431_and_slow_heads_are_cut_off() {
    let server = Server::start("[server]\nmax_header_bytes = 8192\nheader_timeout_secs = 1").await;
    let big = "x".repeat(20_000);
    let r = send(
        server.addr,
        &request("GET", "/healthz", &[("x-padding", &big)], ""),
    )
    .await;
    assert_eq!(r.status, 431, "{}", r.head);
    // A slowloris client: half a request line, then nothing.
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nhost: t")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(15), slow.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the server closed the stalled connection");
    // Ordinary requests still work.
    let r = send(server.addr, &request("GET", "/healthz", &[], "")).await;
    assert_eq!(r.status, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_wait_until_one_closes() {
    let server = Server::start("[server]\nmax_connections = 1\nheader_timeout_secs = 60").await;
    // The only slot: an idle keep-alive connection.
    let mut first = TcpStream::connect(server.addr).await.unwrap();
    first
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: t\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = first.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let second = tokio::spawn(send(
        server.addr,
        "GET /healthz HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"
            .to_owned()
            .leak(),
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !second.is_finished(),
        "the second connection waits for a slot"
    );
    drop(first);
    let r = tokio::time::timeout(Duration::from_secs(10), second)
        .await
        .expect("served once the first closed")
        .unwrap();
    assert_eq!(r.status, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_keys_do_not_spend_the_budget_of_real_keys() {
    let server = Server::start("[auth]\nmode = \"required\"\nkey_checks_per_minute = 3").await;
    let t = cairn_types::TenantId::new("default");
    let spec = cairn_engine::security::KeySpec {
        name: "ok".into(),
        ..Default::default()
    };
    let used = server.engine.create_key(&t, &spec, None).unwrap();
    let fresh = server.engine.create_key(&t, &spec, None).unwrap();
    let me = |token: &str| {
        request(
            "GET",
            "/api/v1/me",
            &[("authorization", &format!("Bearer {token}"))],
            "",
        )
    };
    assert_eq!(send(server.addr, &me(&used.token)).await.status, 200);
    // A flood of unknown keys: all 401, none 429, and no budget spent.
    for i in 0..40 {
        let fake = format!("cairn_{:0>12}_{}", i, "x".repeat(40));
        let r = send(server.addr, &me(&fake)).await;
        assert_eq!(r.status, 401, "{}", r.body);
    }
    // A key never checked before still gets its hash check.
    let r = send(server.addr, &me(&fresh.token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Wrong secrets for a real lookup do spend the budget (3 a minute here).
    let lookup = fresh.token.rsplit_once('_').unwrap().0;
    let mut limited = false;
    for _ in 0..5 {
        let r = send(server.addr, &me(&format!("{lookup}_{}", "y".repeat(40)))).await;
        limited |= r.status == 429;
    }
    assert!(limited, "guessing a real key's secret is budgeted");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_whose_request_timed_out_stores_nothing() {
    let server = Server::start("[server]\nrequest_timeout_secs = 1").await;
    // Enough text that chunking and embedding take well over a second on any machine.
    let mut text = String::from("# Timeouts\n\n");
    for i in 0..400 {
        text.push_str(&format!(
            "Paragraph {i} explains how request number {i} waits on lock {} before it commits.\n\n",
            i * 7
        ));
    }
    let boundary = "cairnboundaryTimeout";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.md\"\r\n\
         Content-Type: text/markdown\r\n\r\n{text}\r\n--{boundary}--\r\n"
    );
    let raw = format!(
        "POST /api/v1/collections/kb/documents HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\
         content-type: multipart/form-data; boundary={boundary}\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let r = send(server.addr, &raw).await;
    assert_eq!(r.status, 504, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], "timeout");
    // The work ends on its own (its spooled file is removed then); nothing landed.
    let tmp = server.engine.config().data_dir.join("tmp");
    for _ in 0..600 {
        let empty = std::fs::read_dir(&tmp).map_or(true, |mut d| d.next().is_none());
        if empty {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let t = cairn_types::TenantId::new("default");
    let docs = server
        .engine
        .store()
        .list_documents(&t, None, 10, 0)
        .unwrap();
    assert!(docs.is_empty(), "a timed-out upload was stored: {docs:?}");
    server.stop().await;
}
