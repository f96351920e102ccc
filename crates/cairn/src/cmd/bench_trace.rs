//! `cairn bench traces`: what request tracing costs, on against off in the same run.
//!
//! - In process: a request's trace the shape of a search (the root and ten stage
//!   spans with their counts), kept into the trace store, against the same request
//!   untraced. The difference is the layer, the span records and the hand-off to the
//!   writer; the store write itself happens on the writer's thread.
//! - Over loopback: `POST /api/v1/search` on one engine served twice, with the trace
//!   store on and with tracing off, in alternating rounds (one keep-alive client).

use super::{Context, eng};
use crate::progress::{Bar, Mode};
use axum::http::{HeaderMap, Method};
use cairn_server::request_trace::RequestTrace;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use tracing::field::Empty;

fn percentiles(mut us: Vec<f64>) -> (f64, f64) {
    us.sort_by(f64::total_cmp);
    let at = |q| super::bench_guard::percentile(&us, q);
    (at(0.5), at(0.99))
}

/// One request-shaped trace (or an untraced request when `telemetry` is `None`).
fn one_request(telemetry: Option<&Arc<cairn_telemetry::Telemetry>>, headers: &HeaderMap) {
    let id = uuid::Uuid::now_v7().to_string();
    let trace = RequestTrace::start(
        telemetry,
        None,
        headers,
        &id,
        &Method::POST,
        "/api/v1/search",
    );
    let _entered = trace.span().enter();
    for stage in [
        "gate",
        "retrieval.index_sync",
        "retrieval.lexical",
        "embedding",
        "retrieval.dense",
        "retrieval.fusion",
        "retrieval.hydrate",
        "rerank",
        "retrieval.context",
        "guardrail.input",
    ] {
        let span = tracing::info_span!("stage", otel.name = stage, cairn.results = Empty);
        span.in_scope(|| std::hint::black_box(stage.len()));
        span.record("cairn.results", 10_u64);
    }
    trace.status(200);
}

pub fn traces(
    ctx: &Context,
    requests: usize,
    docs: &Path,
    sample_rate: f64,
    otlp_endpoint: Option<&str>,
) -> anyhow::Result<Value> {
    let dir = tempfile::tempdir()?;
    let mut config = ctx.loaded.config.clone();
    config.data_dir = dir.path().to_owned();
    config.store_path = dir.path().join("cairn.db");
    config.traces_path = dir.path().join("traces.db");
    config.auth.mode = "off".into();
    config.tenant = cairn_types::TenantId::new("bench");
    config.telemetry.store_traces = true;
    config.telemetry.sample_rate = sample_rate.clamp(0.0, 1.0);
    config.telemetry.otlp_endpoint = otlp_endpoint.unwrap_or_default().to_owned();
    // The rate limits never run dry: the cost measured is tracing's.
    for rate in [
        &mut config.limits.key_rpm,
        &mut config.limits.key_tpm,
        &mut config.limits.tenant_rpm,
        &mut config.limits.tenant_tpm,
    ] {
        *rate = 1e12;
    }
    let engine = Arc::new(cairn_engine::Engine::open(config.clone()).map_err(eng)?);
    let tenant = config.tenant.clone();
    let collection = cairn_types::CollectionId::new("bench");
    let bar = Bar::new(Mode::for_output(true));
    engine
        .ingest_path(&tenant, &collection, docs, &Default::default(), &bar)
        .map_err(eng)?;
    bar.finish();
    let on = cairn_server::AppState::new(engine.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let telemetry = on
        .telemetry
        .clone()
        .ok_or_else(|| anyhow::anyhow!("the trace store did not start"))?;
    let off = cairn_server::AppState {
        telemetry: None,
        ..on.clone()
    };

    // In process.
    let headers = HeaderMap::new();
    let n = requests.max(100);
    for _ in 0..1_000 {
        one_request(Some(&telemetry), &headers);
        one_request(None, &headers);
    }
    let (mut traced, mut plain) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let t = Instant::now();
        one_request(Some(&telemetry), &headers);
        traced.push(t.elapsed().as_secs_f64() * 1e6);
        let t = Instant::now();
        one_request(None, &headers);
        plain.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let (t50, t99) = percentiles(traced);
    let (p50, p99) = percentiles(plain);

    // Over loopback.
    let (runtime, a, b) = super::bench_guard::serve_pair(on, off)?;
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    let body =
        json!({"collection": "bench", "query": "how are changed files detected", "top_k": 5});
    let search = |addr: std::net::SocketAddr| -> anyhow::Result<f64> {
        let t = Instant::now();
        agent
            .post(&format!("http://{addr}/api/v1/search"))
            .send_json(&body)?
            .body_mut()
            .read_to_string()?;
        Ok(t.elapsed().as_secs_f64() * 1e6)
    };
    for _ in 0..100 {
        search(a)?;
        search(b)?;
    }
    let rounds = (n / 2_000).clamp(1, 10);
    let per_round = (n / rounds).min(2_000);
    let (mut on_us, mut off_us) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        for _ in 0..per_round {
            on_us.push(search(a)?);
        }
        for _ in 0..per_round {
            off_us.push(search(b)?);
        }
    }
    let (on50, on99) = percentiles(on_us);
    let (off50, off99) = percentiles(off_us);
    telemetry.flush(std::time::Duration::from_secs(10));
    let stored = telemetry
        .store()
        .map(|s| s.count().unwrap_or(0))
        .unwrap_or(0);
    drop(runtime);
    Ok(json!({
        "bench": "traces", "requests": n, "sample_rate": config.telemetry.sample_rate,
        "otlp_endpoint": otlp_endpoint,
        "in_process_us": {
            "traced": {"p50": t50, "p99": t99},
            "untraced": {"p50": p50, "p99": p99},
            "added_p50": t50 - p50, "added_p99": t99 - p99,
        },
        "search_us": {
            "route": "POST /api/v1/search",
            "tracing_on": {"p50": on50, "p99": on99},
            "tracing_off": {"p50": off50, "p99": off99},
            "p50_ratio": on50 / off50,
            "p99_ratio": on99 / off99,
        },
        "traces_stored": stored,
        "traces_dropped": telemetry.stats().dropped.load(std::sync::atomic::Ordering::Relaxed),
        "spans_exported": telemetry.stats().exported_spans.load(std::sync::atomic::Ordering::Relaxed),
        "export_dropped": telemetry.stats().export_dropped.load(std::sync::atomic::Ordering::Relaxed),
    }))
}
