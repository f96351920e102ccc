//! Prometheus metrics (`GET /metrics`, text format 0.0.4): requests by route, method and
//! status with latency histograms, model calls with tokens, cost and time to first token
//! per model, answers by cache outcome, guardrail decisions, the generation queues, and
//! the process. Counted in memory, rendered on scrape.
//!
//! Labels are bounded: the route is the route table's template (`/api/v1/documents/{document}`,
//! never an id), and each family keeps at most [`MAX_SERIES`] label sets (more go to one
//! `"other"` series), so a tenant naming many models cannot grow the scrape without end.
//! No tenant label: per-tenant numbers are in `GET /api/v1/tenant/usage`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, OnceLock, PoisonError};

/// Most label sets one family keeps.
pub const MAX_SERIES: usize = 500;

/// Request latency buckets, seconds.
const LATENCY: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// Time-to-first-token buckets, seconds.
const TTFT: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];
/// Time per output token buckets, in seconds (a 2-core CPU decodes at 20-70 ms a token;
/// an inference server at a few).
const TPOT: &[f64] = &[
    0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0,
];

#[derive(Clone, Debug, Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, bounds: &[f64], value: f64) {
        if self.counts.len() != bounds.len() {
            self.counts = vec![0; bounds.len()];
        }
        for (i, b) in bounds.iter().enumerate() {
            if value <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += value;
        self.count += 1;
    }
}

/// A family of series keyed by their label values.
struct Family<T> {
    series: BTreeMap<Vec<String>, T>,
}

impl<T: Default> Family<T> {
    const fn new() -> Self {
        Self {
            series: BTreeMap::new(),
        }
    }

    /// The series for `values`, or the shared `"other"` one once the family is full.
    fn at(&mut self, values: Vec<String>) -> &mut T {
        let key = if self.series.contains_key(&values) || self.series.len() < MAX_SERIES {
            values
        } else {
            vec!["other".to_owned(); values.len()]
        };
        self.series.entry(key).or_default()
    }
}

/// Every metric Cairn keeps.
pub struct Metrics {
    started_unix: f64,
    requests: Mutex<Family<u64>>,
    latency: Mutex<Family<Histogram>>,
    model_calls: Mutex<Family<u64>>,
    model_tokens: Mutex<Family<u64>>,
    model_cost: Mutex<Family<f64>>,
    ttft: Mutex<Family<Histogram>>,
    queue_wait: Mutex<Family<Histogram>>,
    answers: Mutex<Family<u64>>,
    guardrails: Mutex<Family<u64>>,
    tpot: Mutex<Family<Histogram>>,
    /// Tokens and cost by tenant, model (and direction), when `tenant_labels` is on.
    tenant_tokens: Mutex<Family<u64>>,
    tenant_cost: Mutex<Family<f64>>,
    /// `telemetry.metrics_tenant_labels`: series per tenant (cardinality grows with
    /// tenants, so it is off by default).
    tenant_labels: std::sync::atomic::AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `\`, `"` and newlines escaped, as the text format wants label values.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn label_text(names: &[&str], values: &[String], extra: Option<(&str, String)>) -> String {
    let mut parts: Vec<String> = names
        .iter()
        .zip(values)
        .map(|(n, v)| format!("{n}=\"{}\"", escape(v)))
        .collect();
    if let Some((n, v)) = extra {
        parts.push(format!("{n}=\"{v}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn number(v: f64) -> String {
    if v.is_infinite() {
        "+Inf".into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn head(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A counter's value as the text format writes it.
trait Sample {
    fn text(&self) -> String;
}

impl Sample for u64 {
    fn text(&self) -> String {
        self.to_string()
    }
}

impl Sample for f64 {
    fn text(&self) -> String {
        number(*self)
    }
}

fn counters<T: Sample>(
    out: &mut String,
    name: &str,
    help: &str,
    names: &[&str],
    family: &Family<T>,
) {
    head(out, name, "counter", help);
    for (values, v) in &family.series {
        let _ = writeln!(
            out,
            "{name}{} {}",
            label_text(names, values, None),
            v.text()
        );
    }
}

fn histograms(
    out: &mut String,
    name: &str,
    help: &str,
    names: &[&str],
    bounds: &[f64],
    family: &Family<Histogram>,
) {
    head(out, name, "histogram", help);
    for (values, h) in &family.series {
        for (i, b) in bounds.iter().enumerate() {
            let n = h.counts.get(i).copied().unwrap_or(0);
            let labels = label_text(names, values, Some(("le", number(*b))));
            let _ = writeln!(out, "{name}_bucket{labels} {n}");
        }
        let labels = label_text(names, values, Some(("le", "+Inf".into())));
        let _ = writeln!(out, "{name}_bucket{labels} {}", h.count);
        let plain = label_text(names, values, None);
        let _ = writeln!(out, "{name}_sum{plain} {}", number(h.sum));
        let _ = writeln!(out, "{name}_count{plain} {}", h.count);
    }
}

/// The resident set size of this process, in bytes (Linux; 0 elsewhere).
fn resident_bytes() -> u64 {
    let kib = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .unwrap_or(0);
    kib * 1024
}

/// Values read at scrape time from elsewhere in the server.
#[derive(Default)]
pub struct Gauges {
    /// (model, waiting, running) of each generation queue.
    pub queues: Vec<(String, usize, usize)>,
    /// Open index spaces and the bytes they hold (`retrieval.index_memory_mb` bounds it).
    pub index_spaces: (usize, usize),
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let started_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        Self {
            started_unix,
            requests: Mutex::new(Family::new()),
            latency: Mutex::new(Family::new()),
            model_calls: Mutex::new(Family::new()),
            model_tokens: Mutex::new(Family::new()),
            model_cost: Mutex::new(Family::new()),
            ttft: Mutex::new(Family::new()),
            queue_wait: Mutex::new(Family::new()),
            answers: Mutex::new(Family::new()),
            guardrails: Mutex::new(Family::new()),
            tpot: Mutex::new(Family::new()),
            tenant_tokens: Mutex::new(Family::new()),
            tenant_cost: Mutex::new(Family::new()),
            tenant_labels: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Keeps per-tenant series from now on (`telemetry.metrics_tenant_labels`).
    pub fn set_tenant_labels(&self, on: bool) {
        self.tenant_labels
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    fn tenant_labels(&self) -> bool {
        self.tenant_labels
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A tenant's tokens and cost with `model` (kept only with tenant labels on).
    pub fn tenant_usage(&self, tenant: &str, model: &str, input: u64, output: u64, cost_usd: f64) {
        if !self.tenant_labels() {
            return;
        }
        let mut tokens = lock(&self.tenant_tokens);
        *tokens.at(vec![tenant.into(), model.into(), "input".into()]) += input;
        *tokens.at(vec![tenant.into(), model.into(), "output".into()]) += output;
        drop(tokens);
        *lock(&self.tenant_cost).at(vec![tenant.into(), model.into()]) += cost_usd;
    }

    /// A finished model call's decoding time per output token.
    pub fn per_output_token(&self, model: &str, seconds: f64) {
        lock(&self.tpot)
            .at(vec![model.into()])
            .observe(TPOT, seconds);
    }

    /// One served request: `route` is its template.
    pub fn request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        *lock(&self.requests).at(vec![route.into(), method.into(), status.to_string()]) += 1;
        lock(&self.latency)
            .at(vec![route.into(), method.into()])
            .observe(LATENCY, seconds);
    }

    /// One finished model call.
    pub fn model_call(&self, model: &str, input: u64, output: u64, cost_usd: f64) {
        *lock(&self.model_calls).at(vec![model.into()]) += 1;
        let mut tokens = lock(&self.model_tokens);
        *tokens.at(vec![model.into(), "input".into()]) += input;
        *tokens.at(vec![model.into(), "output".into()]) += output;
        drop(tokens);
        *lock(&self.model_cost).at(vec![model.into()]) += cost_usd;
    }

    /// How long `model` took to its first token.
    pub fn first_token(&self, model: &str, seconds: f64) {
        lock(&self.ttft)
            .at(vec![model.into()])
            .observe(TTFT, seconds);
    }

    /// How long a request waited in `model`'s generation queue for its slot.
    pub fn queue_wait(&self, model: &str, seconds: f64) {
        lock(&self.queue_wait)
            .at(vec![model.into()])
            .observe(TTFT, seconds);
    }

    /// One answer: from which cache (`exact`, `semantic`, `none`), abstained or not.
    pub fn answer(&self, cache: &str, abstained: bool) {
        *lock(&self.answers).at(vec![cache.into(), abstained.to_string()]) += 1;
    }

    /// One guardrail decision.
    pub fn guardrail(&self, check: &str, verdict: &str) {
        *lock(&self.guardrails).at(vec![check.into(), verdict.into()]) += 1;
    }

    /// The text exposition of everything, with `gauges` read now.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::new();
        head(
            &mut out,
            "cairn_build_info",
            "gauge",
            "The running Cairn version.",
        );
        let _ = writeln!(
            out,
            "cairn_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        head(
            &mut out,
            "process_start_time_seconds",
            "gauge",
            "When the process started, seconds since the epoch.",
        );
        let _ = writeln!(
            out,
            "process_start_time_seconds {}",
            number(self.started_unix.floor())
        );
        head(
            &mut out,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory of the process.",
        );
        let _ = writeln!(out, "process_resident_memory_bytes {}", resident_bytes());
        head(
            &mut out,
            "cairn_index_spaces_open",
            "gauge",
            "Index spaces (one per tenant and collection) open in this process.",
        );
        let _ = writeln!(out, "cairn_index_spaces_open {}", gauges.index_spaces.0);
        head(
            &mut out,
            "cairn_index_memory_bytes",
            "gauge",
            "Memory the open index spaces hold (HNSW graphs, vectors, catalogs).",
        );
        let _ = writeln!(out, "cairn_index_memory_bytes {}", gauges.index_spaces.1);
        counters(
            &mut out,
            "cairn_http_requests_total",
            "Requests served, by route template, method and status.",
            &["route", "method", "status"],
            &lock(&self.requests),
        );
        histograms(
            &mut out,
            "cairn_http_request_duration_seconds",
            "Time from the request's arrival to its response head, by route and method.",
            &["route", "method"],
            LATENCY,
            &lock(&self.latency),
        );
        counters(
            &mut out,
            "cairn_model_calls_total",
            "Finished generations, by the model that answered.",
            &["model"],
            &lock(&self.model_calls),
        );
        counters(
            &mut out,
            "cairn_model_tokens_total",
            "Tokens in and out, by model.",
            &["model", "direction"],
            &lock(&self.model_tokens),
        );
        counters(
            &mut out,
            "cairn_model_cost_usd_total",
            "Cost of the model calls at the configured prices, in dollars.",
            &["model"],
            &lock(&self.model_cost),
        );
        histograms(
            &mut out,
            "cairn_model_time_to_first_token_seconds",
            "Time from an answer's start to the model's first token, by model.",
            &["model"],
            TTFT,
            &lock(&self.ttft),
        );
        histograms(
            &mut out,
            "cairn_model_time_per_output_token_seconds",
            "Decoding time per output token after the first, by the model that answered.",
            &["model"],
            TPOT,
            &lock(&self.tpot),
        );
        if self.tenant_labels() {
            counters(
                &mut out,
                "cairn_tenant_model_tokens_total",
                "Tokens in and out, by tenant and model (telemetry.metrics_tenant_labels).",
                &["tenant", "model", "direction"],
                &lock(&self.tenant_tokens),
            );
            counters(
                &mut out,
                "cairn_tenant_model_cost_usd_total",
                "Cost of model calls by tenant and model, in dollars \
                 (telemetry.metrics_tenant_labels).",
                &["tenant", "model"],
                &lock(&self.tenant_cost),
            );
        }
        histograms(
            &mut out,
            "cairn_generation_queue_wait_seconds",
            "Time a request waited for a generation slot, by model.",
            &["model"],
            TTFT,
            &lock(&self.queue_wait),
        );
        counters(
            &mut out,
            "cairn_answers_total",
            "Answers, by the cache that served them (exact, semantic, none) and abstention.",
            &["cache", "abstained"],
            &lock(&self.answers),
        );
        counters(
            &mut out,
            "cairn_guardrail_decisions_total",
            "Guardrail decisions, by check and verdict.",
            &["check", "verdict"],
            &lock(&self.guardrails),
        );
        head(
            &mut out,
            "cairn_generation_queue_waiting",
            "gauge",
            "Requests waiting for a generation slot, by model.",
        );
        for (model, waiting, _) in &gauges.queues {
            let _ = writeln!(
                out,
                "cairn_generation_queue_waiting{{model=\"{}\"}} {waiting}",
                escape(model)
            );
        }
        head(
            &mut out,
            "cairn_generation_queue_running",
            "gauge",
            "Generations holding a slot, by model.",
        );
        for (model, _, running) in &gauges.queues {
            let _ = writeln!(
                out,
                "cairn_generation_queue_running{{model=\"{}\"}} {running}",
                escape(model)
            );
        }
        out
    }
}

/// The route template a concrete path belongs to (`/api/v1/documents/{document}`), from
/// the route table; `/ui` for the web application, `unmatched` for anything else.
pub fn route_of(path: &str) -> &'static str {
    /// Each template with its segments and its count of literal segments, split once.
    type Template = (&'static str, Vec<&'static str>, usize);
    static TEMPLATES: OnceLock<Vec<Template>> = OnceLock::new();
    let templates = TEMPLATES.get_or_init(|| {
        let mut t: Vec<&'static str> = crate::routes::table()
            .into_iter()
            .map(|(_, p, _)| p)
            .collect();
        t.sort_unstable();
        t.dedup();
        t.into_iter()
            .map(|p| {
                let segs: Vec<&'static str> = p.split('/').collect();
                let literal = segs.iter().filter(|s| !s.starts_with('{')).count();
                (p, segs, literal)
            })
            .collect()
    });
    if crate::ui::is_ui_path(path) {
        return "/ui";
    }
    if path == "/metrics" {
        return "/metrics";
    }
    let parts: Vec<&str> = path.split('/').collect();
    // Literal segments beat parameters: `/api/v1/auth/session` before `/api/v1/{x}/...`.
    templates
        .iter()
        .filter(|(_, segs, _)| matches(segs, &parts))
        .max_by_key(|(_, _, literal)| *literal)
        .map_or("unmatched", |(p, _, _)| p)
}

fn matches(segs: &[&str], parts: &[&str]) -> bool {
    for (i, seg) in segs.iter().enumerate() {
        if seg.starts_with("{*") {
            return parts.len() > i && !parts[i].is_empty();
        }
        let Some(part) = parts.get(i) else {
            return false;
        };
        if seg.starts_with('{') {
            if part.is_empty() {
                return false;
            }
        } else if seg != part {
            return false;
        }
    }
    segs.len() == parts.len()
}

/// The process's metrics (one registry per process, as Prometheus clients keep).
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// Counts every request by its route template, method and final status.
pub async fn track(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = req
        .extensions()
        .get::<crate::request_trace::RequestTrace>()
        .map_or_else(|| route_of(req.uri().path()), |t| t.route());
    let method: &'static str = match req.method().as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let started = std::time::Instant::now();
    let res = next.run(req).await;
    global().request(
        route,
        method,
        res.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    res
}

/// `GET /metrics`: the text exposition. Without `telemetry.metrics_public` it needs an
/// owner (the numbers span every tenant).
pub async fn scrape(
    axum::extract::State(state): axum::extract::State<crate::AppState>,
    request: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if !state.engine.config().telemetry.metrics_public {
        let allowed = request
            .extensions()
            .get::<crate::auth::Identity>()
            .is_some_and(|id| id.can(cairn_auth::Action::ManageTenant));
        if !allowed {
            return crate::error::ApiError::new(
                cairn_types::ErrorCode::Forbidden,
                "GET /metrics needs an owner's credentials (or telemetry.metrics_public = true)",
            )
            .into_response();
        }
    }
    let queues = state
        .admission
        .snapshot()
        .as_array()
        .into_iter()
        .flatten()
        .map(|q| {
            let n = |k: &str| q[k].as_u64().unwrap_or(0) as usize;
            (
                q["model"].as_str().unwrap_or("").to_owned(),
                n("queued"),
                n("running"),
            )
        })
        .collect();
    let index_spaces = state.engine.index_memory();
    let mut text = global().render(&Gauges {
        queues,
        index_spaces,
    });
    let engine = state.engine.clone();
    let tenant_labels = global().tenant_labels();
    let scraped =
        tokio::task::spawn_blocking(move || crate::metrics_state::render(&engine, tenant_labels))
            .await
            .unwrap_or_default();
    text.push_str(&scraped);
    if let Some(t) = &state.telemetry {
        traces(&mut text, t.stats());
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// The trace pipeline's counters: what was kept, passed over or dropped, and what the
/// OTLP exporter delivered.
fn traces(out: &mut String, s: &cairn_telemetry::Stats) {
    use std::sync::atomic::Ordering::Relaxed;
    head(
        out,
        "cairn_traces_total",
        "counter",
        "Finished request traces by outcome: kept (stored or exported), sampled_out, \
         dropped (the writer's queue was full).",
    );
    for (outcome, v) in [
        ("kept", &s.kept),
        ("sampled_out", &s.sampled_out),
        ("dropped", &s.dropped),
    ] {
        let _ = writeln!(
            out,
            "cairn_traces_total{{outcome=\"{outcome}\"}} {}",
            v.load(Relaxed)
        );
    }
    head(
        out,
        "cairn_trace_export_spans_total",
        "counter",
        "Spans sent over OTLP by outcome: exported, failed (refused or unreachable collector).",
    );
    for (outcome, v) in [
        ("exported", &s.exported_spans),
        ("failed", &s.export_failed_spans),
    ] {
        let _ = writeln!(
            out,
            "cairn_trace_export_spans_total{{outcome=\"{outcome}\"}} {}",
            v.load(Relaxed)
        );
    }
    head(
        out,
        "cairn_trace_export_dropped_total",
        "counter",
        "Traces dropped because the OTLP export queue was full (collector slow or down).",
    );
    let _ = writeln!(
        out,
        "cairn_trace_export_dropped_total {}",
        s.export_dropped.load(Relaxed)
    );
    head(
        out,
        "cairn_trace_store_errors_total",
        "counter",
        "Trace store writes that failed.",
    );
    let _ = writeln!(
        out,
        "cairn_trace_store_errors_total {}",
        s.store_errors.load(Relaxed)
    );
}

/// Counts a finished answer: its cache outcome, abstention, and time to first token.
pub fn answered(answer: &cairn_engine::Answer) {
    use cairn_engine::answer::CacheHit;
    let cache = match answer.cache.hit {
        Some(CacheHit::Exact) => "exact",
        Some(CacheHit::Semantic) => "semantic",
        None => "none",
    };
    let m = global();
    m.answer(cache, answer.abstained);
    if answer.cache.hit.is_none()
        && let Some(ms) = answer.timings.first_token_ms
    {
        m.first_token(&answer.model, ms / 1000.0);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn concrete_paths_map_to_their_templates() {
        assert_eq!(
            route_of("/api/v1/documents/01abc"),
            "/api/v1/documents/{document}"
        );
        assert_eq!(route_of("/api/v1/auth/session"), "/api/v1/auth/session");
        assert_eq!(route_of("/v1/models/cairn-rag:kb"), "/v1/models/{*model}");
        assert_eq!(
            route_of("/api/v1/collections/kb/documents"),
            "/api/v1/collections/{collection}/documents"
        );
        assert_eq!(route_of("/"), "/ui");
        assert_eq!(route_of("/etc/passwd"), "unmatched");
        assert_eq!(route_of("/api/v1/documents/"), "unmatched");
    }

    #[test]
    fn the_text_format_has_types_cumulative_buckets_and_escaped_labels() {
        let m = Metrics::new();
        m.request("/api/v1/ask", "POST", 200, 0.003);
        m.request("/api/v1/ask", "POST", 200, 2.0);
        m.model_call("evil\"model\\\n", 10, 5, 0.25);
        m.first_token("fake", 0.3);
        let text = m.render(&Gauges {
            queues: vec![("fake".into(), 2, 1)],
            index_spaces: (3, 4096),
        });
        assert!(text.contains("cairn_index_spaces_open 3\n"));
        assert!(text.contains("cairn_index_memory_bytes 4096\n"));
        assert!(text.contains("# TYPE cairn_http_requests_total counter"));
        assert!(text.contains(
            "cairn_http_requests_total{route=\"/api/v1/ask\",method=\"POST\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "cairn_http_request_duration_seconds_bucket{route=\"/api/v1/ask\",method=\"POST\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "cairn_http_request_duration_seconds_bucket{route=\"/api/v1/ask\",method=\"POST\",le=\"+Inf\"} 2"
        ));
        assert!(
            text.contains("model=\"evil\\\"model\\\\\\n\",direction=\"output\"} 5"),
            "{text}"
        );
        assert!(text.contains("cairn_model_cost_usd_total{model=\"evil\\\"model\\\\\\n\"} 0.25"));
        assert!(text.contains("cairn_generation_queue_waiting{model=\"fake\"} 2"));
    }

    #[test]
    fn a_family_stops_growing_at_its_cap() {
        let m = Metrics::new();
        for i in 0..MAX_SERIES + 50 {
            m.model_call(&format!("m{i}"), 1, 1, 0.0);
        }
        let calls = lock(&m.model_calls);
        assert_eq!(calls.series.len(), MAX_SERIES + 1);
        assert_eq!(calls.series[&vec!["other".to_owned()]], 50);
    }
}
