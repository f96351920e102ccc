//! Metrics read from the engine and the store when `/metrics` is scraped: the store's
//! connection pool, each remote
//! model's circuit breaker and requests in flight, ingest jobs by state (all tenants,
//! from the store) and what this process's ingest workers did, and how far each open
//! index space trails its collection's change log.

use cairn_engine::Engine;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

fn head(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The text exposition of the engine's state now.
pub fn render(engine: &Engine, tenant_labels: bool) -> String {
    let mut out = String::new();
    connections(&mut out, engine);
    breakers(&mut out, engine);
    ingest(&mut out, engine);
    index_lag(&mut out, engine, tenant_labels);
    out
}

fn connections(out: &mut String, engine: &Engine) {
    let c = engine.store().connections();
    head(
        out,
        "cairn_store_connections",
        "gauge",
        "The state store's pooled connections, by state (SQLite: its readers).",
    );
    let _ = writeln!(out, "cairn_store_connections{{state=\"idle\"}} {}", c.idle);
    let _ = writeln!(
        out,
        "cairn_store_connections{{state=\"in_use\"}} {}",
        c.in_use
    );
    if let Some(max) = c.max {
        head(
            out,
            "cairn_store_connections_max",
            "gauge",
            "The most connections the state store opens.",
        );
        let _ = writeln!(out, "cairn_store_connections_max {max}");
    }
}

fn breakers(out: &mut String, engine: &Engine) {
    use cairn_models::gateway::BreakerState;
    let status = engine.gateway_status();
    head(
        out,
        "cairn_model_breaker_state",
        "gauge",
        "Each remote model's circuit breaker: 1 for the state it is in (closed, open, half_open).",
    );
    for s in &status {
        for (name, state) in [
            ("closed", BreakerState::Closed),
            ("open", BreakerState::Open),
            ("half_open", BreakerState::HalfOpen),
        ] {
            let _ = writeln!(
                out,
                "cairn_model_breaker_state{{model=\"{}\",state=\"{name}\"}} {}",
                label(&s.model),
                u8::from(s.breaker == state)
            );
        }
    }
    head(
        out,
        "cairn_model_in_flight",
        "gauge",
        "Requests in flight to each remote model.",
    );
    for s in &status {
        let _ = writeln!(
            out,
            "cairn_model_in_flight{{model=\"{}\"}} {}",
            label(&s.model),
            s.in_flight
        );
    }
}

fn ingest(out: &mut String, engine: &Engine) {
    head(
        out,
        "cairn_ingest_jobs",
        "gauge",
        "Ingest jobs of every tenant in the store, by state.",
    );
    let mut by_state: BTreeMap<String, u64> = ["queued", "running", "succeeded", "failed", "dead"]
        .iter()
        .map(|s| ((*s).to_owned(), 0))
        .collect();
    match engine.store().job_state_counts() {
        Ok(rows) => by_state.extend(rows),
        Err(e) => tracing::warn!(error = %e, "metrics: cannot count jobs"),
    }
    for (state, n) in &by_state {
        let _ = writeln!(out, "cairn_ingest_jobs{{state=\"{}\"}} {n}", label(state));
    }
    let c = engine.ingest_counts();
    head(
        out,
        "cairn_ingest_job_attempts_total",
        "counter",
        "Ingest job attempts this process finished, by outcome.",
    );
    for (outcome, v) in [("succeeded", &c.jobs_succeeded), ("failed", &c.jobs_failed)] {
        let _ = writeln!(
            out,
            "cairn_ingest_job_attempts_total{{outcome=\"{outcome}\"}} {}",
            v.load(Relaxed)
        );
    }
    for (name, help, v) in [
        (
            "cairn_ingest_documents_total",
            "Documents this process's ingest jobs added or changed.",
            &c.documents,
        ),
        (
            "cairn_ingest_chunks_total",
            "Chunks this process's ingest jobs wrote.",
            &c.chunks,
        ),
        (
            "cairn_ingest_bytes_total",
            "Bytes this process's ingest jobs read.",
            &c.bytes,
        ),
    ] {
        head(out, name, "counter", help);
        let _ = writeln!(out, "{name} {}", v.load(Relaxed));
    }
}

fn index_lag(out: &mut String, engine: &Engine, tenant_labels: bool) {
    head(
        out,
        "cairn_index_lag_changes",
        "gauge",
        "Changes in a collection's log this process's index space has not applied yet \
         (the largest across tenants without tenant labels).",
    );
    let mut worst: BTreeMap<(String, String), i64> = BTreeMap::new();
    for (tenant, collection, lag) in engine.index_lag() {
        let tenant = if tenant_labels { tenant } else { String::new() };
        let e = worst.entry((tenant, collection)).or_insert(0);
        *e = (*e).max(lag);
    }
    for ((tenant, collection), lag) in worst {
        let tenant = if tenant_labels {
            format!("tenant=\"{}\",", label(&tenant))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "cairn_index_lag_changes{{{tenant}collection=\"{}\"}} {lag}",
            label(&collection)
        );
    }
}
