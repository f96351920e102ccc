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
use std::sync::atomic::{AtomicUsize, Ordering};
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
/// (`…/chat/completions`) asking `model`, from `threads` senders.
pub fn gateway(
    url: &str,
    model: &str,
    rps: u32,
    seconds: u32,
    threads: usize,
    label: &str,
) -> anyhow::Result<Value> {
    anyhow::ensure!(
        rps > 0 && seconds > 0,
        "--rps and --seconds must be positive"
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .max_idle_connections(threads * 2)
        .max_idle_connections_per_host(threads * 2)
        .http_status_as_error(false)
        .build()
        .into();
    let body = json!({
        "model": model,
        "messages": [{"role": "user", "content": "Say hello."}],
        "max_tokens": 16,
        "temperature": 0.7,
    })
    .to_string();
    let total = (rps as usize) * (seconds as usize);
    let next = Arc::new(AtomicUsize::new(0));
    let interval = Duration::from_secs_f64(1.0 / f64::from(rps));
    // Every thread opens its connection (one warm-up request) before the clock starts.
    let ready = Arc::new(std::sync::Barrier::new(threads + 1));
    let start_at = Arc::new(std::sync::OnceLock::<Instant>::new());
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (agent, next, body, url) =
                (agent.clone(), next.clone(), body.clone(), url.to_owned());
            let (ready, start_at) = (ready.clone(), start_at.clone());
            std::thread::spawn(move || {
                let _ = agent
                    .post(&url)
                    .header("Content-Type", "application/json")
                    .send(body.as_str())
                    .and_then(|mut r| r.body_mut().read_to_string());
                ready.wait();
                ready.wait();
                let start = start_at.get().copied().unwrap_or_else(Instant::now);
                let mut latencies = Vec::new();
                let (mut errors, mut dropped) = (0usize, 0usize);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let due = start + interval * u32::try_from(i).unwrap_or(u32::MAX);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    } else if due.elapsed() > MAX_BEHIND {
                        // The target cannot keep up: counted, not sent, so the run ends.
                        dropped += 1;
                        continue;
                    }
                    let ok = agent
                        .post(&url)
                        .header("Content-Type", "application/json")
                        .send(body.as_str())
                        .ok()
                        .filter(|r| r.status().is_success())
                        .and_then(|mut r| r.body_mut().read_to_string().ok())
                        .is_some();
                    if ok {
                        latencies.push(due.elapsed().as_secs_f64() * 1e3);
                    } else {
                        errors += 1;
                    }
                }
                (latencies, errors, dropped)
            })
        })
        .collect();
    ready.wait();
    let start = Instant::now() + Duration::from_millis(20);
    let _ = start_at.set(start);
    ready.wait();
    let mut latencies = Vec::with_capacity(total);
    let (mut errors, mut dropped) = (0, 0);
    for w in workers {
        let (l, e, d) = w
            .join()
            .map_err(|_| anyhow::anyhow!("a load thread panicked"))?;
        latencies.extend(l);
        errors += e;
        dropped += d;
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    Ok(json!({
        "bench": "gateway", "target": label, "url": url, "model": model,
        "rps": rps, "seconds": seconds, "threads": threads,
        "requests": total, "ok": latencies.len(), "errors": errors,
        "not_sent_fell_behind": dropped,
        "achieved_rps": latencies.len() as f64 / elapsed,
        "latency_ms": {
            "p50": percentile(&latencies, 0.5),
            "p90": percentile(&latencies, 0.9),
            "p99": percentile(&latencies, 0.99),
            "max": latencies.last().copied().unwrap_or(f64::NAN),
        },
    }))
}
