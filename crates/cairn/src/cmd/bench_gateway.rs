//! `cairn bench upstream` and `cairn bench gateway`: what a gateway adds to a chat
//! completion. `upstream` is a minimal OpenAI-compatible server (a fixed completion,
//! answered at once, keep-alive); `gateway` is an open-loop load generator: request `i`
//! is due at `start + i / rps` whatever became of the earlier ones, and its latency is
//! measured from that due time, so a slow gateway's queueing shows instead of hiding
//! behind a slower send rate. Run it against the upstream directly and through each
//! gateway at the same rates; `bench/gateway.sh` does, pinning each process to a core.

use axum::Json;
use axum::routing::post;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Serves `POST /v1/chat/completions` (and `/chat/completions`) on `127.0.0.1:port`
/// until killed.
pub fn upstream(port: u16) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        async fn complete(Json(body): Json<Value>) -> axum::response::Response {
            use axum::response::IntoResponse;
            let text = "Hello from the bench upstream.";
            let usage = json!({"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19});
            if body["stream"] == true {
                let head = json!({"id": "chatcmpl-bench", "object": "chat.completion.chunk",
                    "created": 0, "model": body["model"],
                    "choices": [{"index": 0, "delta": {"role": "assistant", "content": text},
                        "finish_reason": null}]});
                let tail = json!({"id": "chatcmpl-bench", "object": "chat.completion.chunk",
                    "created": 0, "model": body["model"],
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                    "usage": usage});
                let sse = format!("data: {head}\n\ndata: {tail}\n\ndata: [DONE]\n\n");
                return ([("content-type", "text/event-stream")], sse).into_response();
            }
            Json(json!({
                "id": "chatcmpl-bench", "object": "chat.completion", "created": 0,
                "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop",
                    "message": {"role": "assistant", "content": text}}],
                "usage": usage,
            }))
            .into_response()
        }
        let app = axum::Router::new()
            .route("/v1/chat/completions", post(complete))
            .route("/chat/completions", post(complete));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        tracing::info!(port, "bench upstream listening");
        axum::serve(listener, app).await?;
        anyhow::Ok(())
    })
}

/// How far behind schedule a request may start; later ones are counted as not sent
/// (the target cannot keep up with the rate), so a run ends near its planned length.
const MAX_BEHIND: Duration = Duration::from_secs(10);

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// One open-loop run: `rps` requests a second for `seconds` against `url`
/// (`http://host:port/…/chat/completions`) asking `model`, over at most `connections`
/// keep-alive connections. The sender is one asynchronous thread (each request is a
/// task started at its due time), so the load generator itself stays cheap and does not
/// add scheduling stalls of its own; a request that finds every connection busy waits
/// for one, and that wait counts in its latency.
pub fn gateway(
    url: &str,
    model: &str,
    rps: u32,
    seconds: u32,
    connections: usize,
    label: &str,
) -> anyhow::Result<Value> {
    anyhow::ensure!(
        rps > 0 && seconds > 0 && connections > 0,
        "--rps, --seconds and --connections must be positive"
    );
    let target = Target::parse(url, model)?;
    let total = (rps as usize) * (seconds as usize);
    let interval = Duration::from_secs_f64(1.0 / f64::from(rps));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (mut latencies, mut lags, errors, dropped, elapsed) = rt.block_on(async move {
        let target = Arc::new(target);
        let pool = Arc::new(Pool {
            idle: std::sync::Mutex::new(Vec::new()),
            slots: tokio::sync::Semaphore::new(connections),
        });
        // Open a share of the connections (one warm-up request each) before the clock.
        let warm = connections.min(64);
        let mut opened = Vec::with_capacity(warm);
        for _ in 0..warm {
            let mut conn = Conn::open(&target.addr).await?;
            conn.exchange(&target.request).await?;
            opened.push(conn);
        }
        pool.put_all(opened);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Outcome>();
        let start = tokio::time::Instant::now() + Duration::from_millis(20);
        for i in 0..total {
            let due = start + interval * u32::try_from(i).unwrap_or(u32::MAX);
            tokio::time::sleep_until(due).await;
            let (target, pool, tx) = (target.clone(), pool.clone(), tx.clone());
            tokio::spawn(async move {
                let _ = tx.send(pool.send(&target, due.into_std()).await);
            });
        }
        drop(tx);
        let (mut latencies, mut lags) = (Vec::with_capacity(total), Vec::with_capacity(total));
        let (mut errors, mut dropped) = (0usize, 0usize);
        while let Some(outcome) = rx.recv().await {
            match outcome {
                Outcome::Done(ms, lag) => {
                    latencies.push(ms);
                    lags.push(lag);
                }
                Outcome::Failed => errors += 1,
                Outcome::FellBehind => dropped += 1,
            }
        }
        anyhow::Ok((
            latencies,
            lags,
            errors,
            dropped,
            start.elapsed().as_secs_f64(),
        ))
    })?;
    latencies.sort_by(f64::total_cmp);
    lags.sort_by(f64::total_cmp);
    Ok(json!({
        "bench": "gateway", "target": label, "url": url, "model": model,
        "rps": rps, "seconds": seconds, "connections": connections,
        "requests": total, "ok": latencies.len(), "errors": errors,
        "not_sent_fell_behind": dropped,
        "achieved_rps": latencies.len() as f64 / elapsed,
        "latency_ms": {
            "p50": percentile(&latencies, 0.5),
            "p90": percentile(&latencies, 0.9),
            "p99": percentile(&latencies, 0.99),
            "max": latencies.last().copied().unwrap_or(f64::NAN),
        },
        "send_lag_ms": {
            "what": "due time to the request's first byte: the load generator's own lateness",
            "p50": percentile(&lags, 0.5),
            "p99": percentile(&lags, 0.99),
        },
    }))
}

/// Where requests go and the exact bytes of one (every request is the same).
struct Target {
    addr: String,
    request: Vec<u8>,
}

impl Target {
    fn parse(url: &str, model: &str) -> anyhow::Result<Self> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| anyhow::anyhow!("--url must be http://host:port/path, got `{url}`"))?;
        let (addr, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        anyhow::ensure!(!addr.is_empty(), "--url has no host: `{url}`");
        let path = if path.is_empty() { "/" } else { path };
        let body = json!({
            "model": model,
            "messages": [{"role": "user", "content": "Say hello."}],
            "max_tokens": 16,
            "temperature": 0.7,
        })
        .to_string();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        );
        Ok(Self {
            addr: addr.to_owned(),
            request: [head.into_bytes(), body.into_bytes()].concat(),
        })
    }
}

enum Outcome {
    /// Answered with a 2xx: milliseconds from the due time to the answer, and from the
    /// due time to the request's first byte (the load generator's own lateness).
    Done(f64, f64),
    Failed,
    /// Could not start within [`MAX_BEHIND`] of its due time.
    FellBehind,
}

/// Idle keep-alive connections, and permits for at most as many as were asked for.
struct Pool {
    idle: std::sync::Mutex<Vec<Conn>>,
    slots: tokio::sync::Semaphore,
}

impl Pool {
    fn put_all(&self, conns: Vec<Conn>) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.extend(conns);
        }
    }

    /// One request on an idle connection (or a new one), timed from `due`.
    async fn send(&self, target: &Target, due: Instant) -> Outcome {
        let Ok(_permit) = self.slots.acquire().await else {
            return Outcome::Failed;
        };
        if due.elapsed() > MAX_BEHIND {
            return Outcome::FellBehind;
        }
        let reused = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let mut conn = match reused {
            Some(c) => c,
            None => match Conn::open(&target.addr).await {
                Ok(c) => c,
                Err(_) => return Outcome::Failed,
            },
        };
        let lag = due.elapsed().as_secs_f64() * 1e3;
        match conn.exchange(&target.request).await {
            Ok(true) => {
                let ms = due.elapsed().as_secs_f64() * 1e3;
                self.put_all(vec![conn]);
                Outcome::Done(ms, lag)
            }
            Ok(false) => {
                self.put_all(vec![conn]);
                Outcome::Failed
            }
            Err(_) => Outcome::Failed,
        }
    }
}

/// One HTTP/1.1 keep-alive connection.
struct Conn {
    stream: tokio::io::BufStream<tokio::net::TcpStream>,
}

impl Conn {
    async fn open(addr: &str) -> anyhow::Result<Self> {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        Ok(Self {
            stream: tokio::io::BufStream::new(tcp),
        })
    }

    /// Sends `request` and reads the whole response; whether its status was 2xx.
    async fn exchange(&mut self, request: &[u8]) -> anyhow::Result<bool> {
        use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};
        self.stream.write_all(request).await?;
        self.stream.flush().await?;
        let mut line = String::new();
        self.stream.read_line(&mut line).await?;
        let ok = line
            .split_whitespace()
            .nth(1)
            .is_some_and(|code| code.starts_with('2'));
        let (mut length, mut chunked) = (0usize, false);
        loop {
            line.clear();
            anyhow::ensure!(
                self.stream.read_line(&mut line).await? > 0,
                "connection closed"
            );
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse()?;
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = value.eq_ignore_ascii_case("chunked");
                }
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.stream.read_line(&mut line).await?;
                let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)?;
                body.resize(size + 2, 0);
                self.stream.read_exact(&mut body).await?;
                if size == 0 {
                    break;
                }
            }
        } else {
            body.resize(length, 0);
            self.stream.read_exact(&mut body).await?;
        }
        Ok(ok)
    }
}
