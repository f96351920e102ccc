//! OTLP/HTTP (protobuf) export with `opentelemetry-otlp`, over this project's `ureq`
//! client (TLS by rustls; no async runtime, no protoc). One thread drains a bounded
//! queue in batches; when the collector is slow or down the queue fills and further
//! traces are dropped and counted, so requests never wait on it.

use crate::pipeline::Stats;
use crate::span::{AttrValue, CompletedTrace, SpanKind, SpanStatus};
use opentelemetry::trace::{
    Event, SpanContext, SpanId, SpanKind as OtelKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue, Value};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter as _, SpanLinks};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::time::{Duration, Instant, UNIX_EPOCH};

/// Where and how spans are exported (`[telemetry] otlp_*`).
#[derive(Clone, Debug)]
pub struct OtlpSettings {
    /// The collector's traces URL; a bare origin gets `/v1/traces`.
    pub endpoint: String,
    /// Sent with every export (collectors' auth: Langfuse, Datadog, Honeycomb, Grafana).
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    /// Traces waiting for export; more are dropped (and counted).
    pub queue: usize,
    /// `service.name` of the resource.
    pub service_name: String,
    /// TLS to an `https` collector: its roots and a client certificate (see
    /// [`tls_config`]); `None`: Mozilla's roots, no client certificate.
    pub tls: Option<ureq::tls::TlsConfig>,
}

/// TLS for an `https` collector: `ca_pem` (certificate authorities its certificate must
/// chain to, instead of Mozilla's roots) and `client` (a certificate chain and its
/// private key, PEM) for mutual TLS. Errors say which file is wrong.
pub fn tls_config(
    ca_pem: Option<&[u8]>,
    client: Option<(&[u8], &[u8])>,
) -> Result<ureq::tls::TlsConfig, String> {
    use ureq::tls::{Certificate, ClientCert, PemItem, RootCerts, TlsConfig, parse_pem};
    let certs = |pem: &[u8], what: &str| -> Result<Vec<Certificate<'static>>, String> {
        let mut out = Vec::new();
        for item in parse_pem(pem) {
            if let PemItem::Certificate(c) = item.map_err(|e| format!("{what}: {e}"))? {
                out.push(c);
            }
        }
        if out.is_empty() {
            return Err(format!("{what}: no PEM certificate in it"));
        }
        Ok(out)
    };
    let mut builder = TlsConfig::builder();
    if let Some(pem) = ca_pem {
        builder = builder.root_certs(RootCerts::new_with_certs(&certs(pem, "otlp_ca_file")?));
    }
    if let Some((chain, key)) = client {
        let chain = certs(chain, "otlp_client_cert_file")?;
        let key = parse_pem(key)
            .find_map(|item| match item {
                Ok(PemItem::PrivateKey(k)) => Some(k),
                _ => None,
            })
            .ok_or("otlp_client_key_file: no PEM private key in it")?;
        builder = builder.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
    }
    Ok(builder.build())
}

/// The traces URL of `endpoint`: as given when it has a path, else with `/v1/traces`.
pub fn traces_url(endpoint: &str) -> String {
    let trimmed = endpoint.trim_end_matches('/');
    let path_start = trimmed.find("://").map_or(0, |i| i + 3);
    if trimmed[path_start..].contains('/') {
        trimmed.to_owned()
    } else {
        format!("{trimmed}/v1/traces")
    }
}

#[derive(Debug)]
struct UreqClient(ureq::Agent);

#[async_trait::async_trait]
impl HttpClient for UreqClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let request = request.map(|b| b.to_vec());
        let mut response = self.0.run(request)?;
        let status = response.status();
        let body = response
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_vec()?;
        Ok(Response::builder().status(status).body(Bytes::from(body))?)
    }
}

/// The running exporter.
pub struct Exporter {
    tx: SyncSender<Option<CompletedTrace>>,
    stats: Arc<Stats>,
    done: Receiver<()>,
}

/// Traces per export call at most.
const BATCH: usize = 256;

impl Exporter {
    /// Starts the export thread.
    pub fn start(settings: OtlpSettings, stats: Arc<Stats>) -> Self {
        let (tx, rx) = sync_channel(settings.queue.max(1));
        let thread_stats = stats.clone();
        let (done_tx, done) = sync_channel(1);
        std::thread::spawn(move || {
            run(&settings, &rx, &thread_stats);
            let _ = done_tx.send(());
        });
        Self { tx, stats, done }
    }

    /// Queues a trace; drops it (counted) when the queue is full.
    pub fn send(&self, trace: CompletedTrace) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.tx.try_send(Some(trace))
        {
            self.stats.export_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Exports what is queued and stops, waiting at most five seconds (a hung
    /// collector never holds up shutdown longer).
    pub fn stop(self) {
        if self.tx.try_send(None).is_ok() {
            let _ = self.done.recv_timeout(Duration::from_secs(5));
        }
    }
}

fn run(settings: &OtlpSettings, rx: &Receiver<Option<CompletedTrace>>, stats: &Stats) {
    crate::pipeline::background_priority();
    let mut config = ureq::Agent::config_builder()
        .timeout_global(Some(settings.timeout))
        .http_status_as_error(false);
    if let Some(tls) = &settings.tls {
        config = config.tls_config(tls.clone());
    }
    let agent: ureq::Agent = config.build().into();
    let built = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(UreqClient(agent))
        .with_endpoint(traces_url(&settings.endpoint))
        .with_timeout(settings.timeout)
        .with_headers(settings.headers.iter().cloned().collect())
        .build();
    let mut exporter = match built {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(target: "cairn::telemetry", error = %e,
                "the OTLP exporter could not start; traces are not exported");
            // Keep draining so senders see a live queue; count what is lost.
            while let Ok(Some(t)) = rx.recv() {
                stats
                    .export_failed_spans
                    .fetch_add(t.spans.len() as u64, Ordering::Relaxed);
            }
            return;
        }
    };
    exporter.set_resource(
        &Resource::builder_empty()
            .with_service_name(settings.service_name.clone())
            .with_attributes([KeyValue::new("service.version", env!("CARGO_PKG_VERSION"))])
            .build(),
    );
    let scope = InstrumentationScope::builder("cairn")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build();
    let mut last_warning: Option<Instant> = None;
    let mut stopping = false;
    while !stopping {
        let Ok(first) = rx.recv() else { return };
        let mut batch = Vec::new();
        match first {
            Some(t) => batch.push(t),
            None => stopping = true,
        }
        while batch.len() < BATCH && !stopping {
            match rx.try_recv() {
                Ok(Some(t)) => batch.push(t),
                Ok(None) => stopping = true,
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        if batch.is_empty() {
            continue;
        }
        let spans: Vec<SpanData> = batch.iter().flat_map(|t| span_data(t, &scope)).collect();
        let n = spans.len() as u64;
        match futures_executor::block_on(opentelemetry_sdk::trace::SpanExporter::export(
            &exporter, spans,
        )) {
            Ok(()) => {
                stats.exported_spans.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => {
                stats.export_failed_spans.fetch_add(n, Ordering::Relaxed);
                if last_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                    last_warning = Some(Instant::now());
                    tracing::warn!(target: "cairn::telemetry", error = %e, spans = n,
                        "OTLP export failed; spans dropped");
                }
            }
        }
    }
}

fn value(v: &AttrValue) -> Value {
    match v {
        AttrValue::Bool(b) => Value::Bool(*b),
        AttrValue::Int(i) => Value::I64(*i),
        AttrValue::Float(f) => Value::F64(*f),
        AttrValue::Str(s) => Value::String(s.clone().into()),
        AttrValue::List(l) => Value::Array(opentelemetry::Array::String(
            l.iter().map(|s| s.clone().into()).collect(),
        )),
    }
}

/// One trace's spans as the SDK's export records.
pub fn span_data(trace: &CompletedTrace, scope: &InstrumentationScope) -> Vec<SpanData> {
    let trace_id = TraceId::from_bytes(trace.trace_id.to_be_bytes());
    let at = |ns: u64| UNIX_EPOCH + Duration::from_nanos(ns);
    trace
        .spans
        .iter()
        .map(|s| {
            let mut events = SpanEvents::default();
            events.events = s
                .events
                .iter()
                .map(|e| {
                    let mut attrs = vec![KeyValue::new("level", e.level.clone())];
                    attrs.extend(
                        e.attributes
                            .iter()
                            .map(|(k, v)| KeyValue::new(k.clone(), value(v))),
                    );
                    Event::new(e.name.clone(), at(e.at_unix_ns), attrs, 0)
                })
                .collect();
            SpanData {
                span_context: SpanContext::new(
                    trace_id,
                    SpanId::from_bytes(s.span_id.to_be_bytes()),
                    TraceFlags::SAMPLED,
                    false,
                    TraceState::default(),
                ),
                parent_span_id: s
                    .parent_id
                    .map_or(SpanId::INVALID, |p| SpanId::from_bytes(p.to_be_bytes())),
                parent_span_is_remote: s.root && s.parent_id.is_some(),
                span_kind: match s.kind {
                    SpanKind::Internal => OtelKind::Internal,
                    SpanKind::Server => OtelKind::Server,
                    SpanKind::Client => OtelKind::Client,
                },
                name: s.name.clone().into(),
                start_time: at(s.start_unix_ns),
                end_time: at(s.end_unix_ns),
                attributes: s
                    .attributes
                    .iter()
                    .map(|(k, v)| KeyValue::new(k.clone(), value(v)))
                    .collect(),
                dropped_attributes_count: 0,
                events,
                links: SpanLinks::default(),
                status: match &s.status {
                    SpanStatus::Unset => Status::Unset,
                    SpanStatus::Ok => Status::Ok,
                    SpanStatus::Error(m) => Status::Error {
                        description: m.clone().into(),
                    },
                },
                instrumentation_scope: scope.clone(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::traces_url;

    #[test]
    fn a_bare_origin_gets_the_traces_path() {
        assert_eq!(
            traces_url("http://127.0.0.1:4318"),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(
            traces_url("http://127.0.0.1:4318/"),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(
            traces_url("https://cloud.langfuse.com/api/public/otel/v1/traces"),
            "https://cloud.langfuse.com/api/public/otel/v1/traces"
        );
    }
}
