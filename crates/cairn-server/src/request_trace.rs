//! Each request's trace and its one log line.
//!
//! The request-id middleware makes a [`RequestTrace`] for every request: the root span
//! of its trace (when tracing is on and the route is not a probe, the metrics or a UI
//! asset), and the facts the per-request log line reports. The gate adds the caller,
//! handlers add the model and tokens; the line (target `cairn::request`, level info) is
//! written when the last holder lets go — for a stream, when the stream ends — so it
//! carries the whole request's tokens and latency.

use crate::auth::Identity;
use axum::http::{HeaderMap, Method};
use cairn_telemetry::{Telemetry, TraceContext};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;
use tracing::field::Empty;

/// One request's trace and facts; cheap to clone.
#[derive(Clone)]
pub struct RequestTrace(Arc<Inner>);

struct Inner {
    span: tracing::Span,
    trace_id: Option<String>,
    request_id: String,
    method: Method,
    path: String,
    route: &'static str,
    started: Instant,
    facts: Mutex<Facts>,
    /// Where the finished request is counted (`GET /api/v1/tenant/usage`).
    usage: Option<Arc<crate::usage_ledger::UsageLedger>>,
}

#[derive(Default)]
struct Facts {
    status: u16,
    tenant: Option<String>,
    user: Option<String>,
    model: Option<String>,
    input_tokens: u64,
    output_tokens: u64,
    cost_micros: i64,
}

/// Paths that are never traced: probes, the metrics scrape and the UI's files.
fn untraced(path: &str) -> bool {
    matches!(
        path,
        "/healthz" | "/readyz" | "/metrics" | "/" | "/favicon.ico"
    ) || crate::ui::is_ui_path(path)
}

impl RequestTrace {
    /// The trace of a request (a root span when `telemetry` is on and the path is
    /// traced; else a disabled span).
    pub fn start(
        telemetry: Option<&Arc<Telemetry>>,
        usage: Option<Arc<crate::usage_ledger::UsageLedger>>,
        headers: &HeaderMap,
        request_id: &str,
        method: &Method,
        path: &str,
    ) -> Self {
        let route = crate::metrics::route_of(path);
        let mut trace_id = None;
        let span = match telemetry {
            Some(t) if !untraced(path) => {
                // The fields recorded later; what is known now goes in below, once the
                // span is the trace's root (a span's creation values reach no trace).
                let span = tracing::info_span!(
                    target: "cairn::trace",
                    "request",
                    otel.status_code = Empty,
                    http.response.status_code = Empty,
                    cairn.tenant = Empty,
                    user.id = Empty,
                    session.id = Empty,
                    cairn.answer_id = Empty,
                    cairn.flagged = Empty,
                    input.value = Empty,
                    output.value = Empty,
                );
                let traceparent = headers.get("traceparent").and_then(|v| v.to_str().ok());
                let ctx = TraceContext::for_request(traceparent, request_id);
                if cairn_telemetry::start_trace(&span, ctx, t.sink()) {
                    trace_id = Some(cairn_telemetry::context::trace_hex(ctx.trace_id));
                    use cairn_telemetry::AttrValue::Str;
                    let attr = |k: &str, v: &str| (k.to_owned(), Str(v.to_owned()));
                    cairn_telemetry::record_attrs(
                        &span,
                        vec![
                            attr("otel.name", &format!("{method} {route}")),
                            attr("otel.kind", "server"),
                            attr(
                                "openinference.span.kind",
                                cairn_telemetry::names::kind::CHAIN,
                            ),
                            attr("http.request.method", method.as_str()),
                            attr("url.path", path),
                            attr("http.route", route),
                            attr("cairn.request_id", request_id),
                        ],
                    );
                }
                span
            }
            _ => tracing::Span::none(),
        };
        Self(Arc::new(Inner {
            span,
            trace_id,
            request_id: request_id.to_owned(),
            method: method.clone(),
            path: path.to_owned(),
            route,
            started: Instant::now(),
            facts: Mutex::new(Facts::default()),
            usage,
        }))
    }

    fn facts(&self) -> std::sync::MutexGuard<'_, Facts> {
        self.0.facts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The root span (disabled when untraced).
    pub fn span(&self) -> &tracing::Span {
        &self.0.span
    }

    /// The request's route template (found once per request, for the trace, the log
    /// line and the metrics).
    pub fn route(&self) -> &'static str {
        self.0.route
    }

    /// The trace id (32 hex digits) when the request is traced.
    pub fn trace_id(&self) -> Option<&str> {
        self.0.trace_id.as_deref()
    }

    /// Who is calling.
    pub fn caller(&self, who: &Identity) {
        self.0.span.record("cairn.tenant", who.tenant.as_str());
        self.0.span.record("user.id", who.actor.as_str());
        let mut f = self.facts();
        f.tenant = Some(who.tenant.as_str().to_owned());
        f.user = Some(who.actor.clone());
    }

    /// The response's status.
    pub fn status(&self, status: u16) {
        self.0.span.record("http.response.status_code", status);
        if status >= 500 {
            self.0.span.record("otel.status_code", "ERROR");
        }
        self.facts().status = status;
    }

    /// A model call the request made (tokens and cost add up over calls).
    pub fn model_call(&self, model: &str, input_tokens: u64, output_tokens: u64, cost_micros: i64) {
        let mut f = self.facts();
        if !model.is_empty() {
            f.model = Some(model.to_owned());
        }
        f.input_tokens += input_tokens;
        f.output_tokens += output_tokens;
        f.cost_micros += cost_micros;
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let f = self.facts.get_mut().unwrap_or_else(PoisonError::into_inner);
        let ms = self.started.elapsed().as_secs_f64() * 1e3;
        if let (Some(ledger), Some(tenant)) = (&self.usage, &f.tenant) {
            let mut one = cairn_store::RouteUsage::one(f.status, ms);
            one.input_tokens = f.input_tokens as i64;
            one.output_tokens = f.output_tokens as i64;
            one.cost_micros = f.cost_micros;
            ledger.request(
                &cairn_types::TenantId::new(tenant.as_str()),
                self.route,
                f.model.as_deref().unwrap_or(""),
                &one,
            );
        }
        tracing::info!(
            target: "cairn::request",
            request_id = %self.request_id,
            trace_id = self.trace_id.as_deref().unwrap_or("-"),
            method = %self.method,
            path = %self.path,
            route = self.route,
            status = f.status,
            ms,
            tenant = f.tenant.as_deref().unwrap_or("-"),
            user = f.user.as_deref().unwrap_or("-"),
            model = f.model.as_deref().unwrap_or("-"),
            input_tokens = f.input_tokens,
            output_tokens = f.output_tokens,
            "request"
        );
    }
}

tokio::task_local! {
    static CURRENT: RequestTrace;
}

/// Runs `fut` (the rest of the request) with `trace` as its [`current`] one.
pub async fn scope<F: std::future::Future>(trace: RequestTrace, fut: F) -> F::Output {
    CURRENT.scope(trace, fut).await
}

/// The trace of the request being served by this task, if any.
pub fn current() -> Option<RequestTrace> {
    CURRENT.try_with(Clone::clone).ok()
}

/// The telemetry pipeline `[telemetry]` asks for: `None` when traces are neither stored
/// nor exported.
pub fn telemetry(config: &cairn_config::Config) -> crate::error::ApiResult<Option<Arc<Telemetry>>> {
    let t = &config.telemetry;
    if !t.store_traces && t.otlp_endpoint.is_empty() {
        return Ok(None);
    }
    let read = |key: &str, path: &str| -> crate::error::ApiResult<Option<Vec<u8>>> {
        if path.is_empty() {
            return Ok(None);
        }
        std::fs::read(path).map(Some).map_err(|e| {
            crate::error::ApiError::invalid(format!("telemetry.{key}: cannot read {path}: {e}"))
        })
    };
    let ca = read("otlp_ca_file", &t.otlp_ca_file)?;
    let client = match (
        read("otlp_client_cert_file", &t.otlp_client_cert_file)?,
        read("otlp_client_key_file", &t.otlp_client_key_file)?,
    ) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        _ => {
            return Err(crate::error::ApiError::invalid(
                "telemetry.otlp_client_cert_file and otlp_client_key_file go together",
            ));
        }
    };
    let tls = if ca.is_some() || client.is_some() {
        Some(
            cairn_telemetry::otlp::tls_config(
                ca.as_deref(),
                client.as_ref().map(|(c, k)| (c.as_slice(), k.as_slice())),
            )
            .map_err(|e| crate::error::ApiError::invalid(format!("telemetry.{e}")))?,
        )
    } else {
        None
    };
    let otlp = (!t.otlp_endpoint.is_empty()).then(|| cairn_telemetry::OtlpSettings {
        tls,
        endpoint: t.otlp_endpoint.clone(),
        headers: t
            .otlp_headers
            .iter()
            .map(|(k, v)| (k.clone(), expand_env(v)))
            .collect(),
        timeout: std::time::Duration::from_secs(t.otlp_timeout_secs),
        queue: t.otlp_queue,
        service_name: t.service_name.clone(),
    });
    let settings = cairn_telemetry::Settings {
        store_path: t.store_traces.then(|| config.traces_path.clone()),
        sample_rate: t.sample_rate,
        slow_ms: t.slow_trace_ms as f64,
        retention_days: t.retention_days,
        max_store_bytes: t.max_trace_mb << 20,
        otlp,
        ..cairn_telemetry::Settings::default()
    };
    cairn_telemetry::Telemetry::start(settings)
        .map(|t| Some(Arc::new(t)))
        .map_err(|e| {
            crate::error::ApiError::new(
                cairn_types::ErrorCode::InvalidConfig,
                format!("the trace store cannot open: {e}"),
            )
        })
}

/// `${VAR}` in `value` replaced by the environment's `VAR` (empty when unset).
fn expand_env(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        match rest[start + 2..].find('}') {
            Some(end) => {
                let name = &rest[start + 2..start + 2 + end];
                out.push_str(&std::env::var(name).unwrap_or_default());
                rest = &rest[start + 3 + end..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

impl RequestTrace {
    /// An answer this request produced: its id and conversation, whether it is flagged
    /// (unsupported claims, or stopped by a guardrail: such traces are always kept),
    /// and — with `telemetry.trace_content` — the question and answer after `guard`'s
    /// PII redaction.
    pub fn answered(&self, a: &cairn_engine::answer::Answer, content: Option<&cairn_guard::Guard>) {
        let span = &self.0.span;
        if span.is_disabled() {
            return;
        }
        span.record("cairn.answer_id", a.id.as_str());
        if let Some(c) = &a.conversation {
            span.record("session.id", c.as_str());
        }
        let flagged = !a.unsupported.is_empty()
            || a.abstain_reason == Some(cairn_engine::answer::AbstainReason::Guardrail);
        span.record("cairn.flagged", flagged);
        // Served from a cache: which one, and the answer it was first computed as.
        let hit = a.cache.hit.as_ref().map_or_else(
            || "miss".to_owned(),
            |h| {
                serde_json::to_value(h)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_else(|| "hit".to_owned())
            },
        );
        let mut attrs = vec![(
            "cairn.cache".to_owned(),
            cairn_telemetry::AttrValue::Str(hit),
        )];
        // Online evaluation: the grounding check's numbers become the trace's scores.
        if !a.abstained || !a.claims.is_empty() {
            attrs.push((
                "cairn.score.confidence".to_owned(),
                cairn_telemetry::AttrValue::Float(f64::from(a.confidence)),
            ));
        }
        if !a.claims.is_empty() {
            let supported = a.claims.len().saturating_sub(a.unsupported.len());
            attrs.push((
                "cairn.score.grounded_share".to_owned(),
                cairn_telemetry::AttrValue::Float(supported as f64 / a.claims.len() as f64),
            ));
        }
        if let Some(first) = &a.cache.answer_id {
            attrs.push((
                "cairn.cache_answer_id".to_owned(),
                cairn_telemetry::AttrValue::Str(first.as_str().to_owned()),
            ));
        }
        cairn_telemetry::record_attrs(span, attrs);
        if let Some(guard) = content {
            span.record("input.value", guard.redact_pii(&a.question).as_str());
            let text = a.draft.as_deref().unwrap_or(&a.answer);
            span.record("output.value", guard.redact_pii(text).as_str());
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn header_values_read_the_environment() {
        // SAFETY-free: HOME is set for every test process.
        let home = std::env::var("HOME").unwrap_or_default();
        assert_eq!(
            super::expand_env("Bearer ${HOME}"),
            format!("Bearer {home}")
        );
        assert_eq!(super::expand_env("plain"), "plain");
        assert_eq!(super::expand_env("x ${unterminated"), "x ${unterminated");
    }
}
