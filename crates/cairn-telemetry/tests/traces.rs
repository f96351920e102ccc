//! The layer collects one trace per root, the pipeline keeps and stores it, and the
//! store answers tenant-scoped queries.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cairn_telemetry::span::SpanStatus;
use cairn_telemetry::{
    AttrValue, CompletedTrace, Score, Settings, Sink, Telemetry, TraceContext, TraceQuery,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing_subscriber::layer::SubscriberExt;

#[derive(Default)]
struct Collect(Mutex<Vec<CompletedTrace>>);

impl Sink for Collect {
    fn complete(&self, trace: CompletedTrace) {
        self.0.lock().unwrap().push(trace);
    }
}

fn subscriber() -> impl tracing::Subscriber + Send + Sync {
    tracing_subscriber::registry().with(cairn_telemetry::layer())
}

fn request(sink: Arc<dyn Sink>, tenant: &str, ctx: TraceContext, work: impl FnOnce()) {
    let root = tracing::info_span!(
        "request",
        otel.name = tracing::field::Empty,
        otel.kind = "server",
        cairn.tenant = tracing::field::Empty,
        http.route = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
    );
    assert!(cairn_telemetry::start_trace(&root, ctx, sink));
    root.record("otel.name", "POST /api/v1/ask");
    root.record("cairn.tenant", tenant);
    root.record("http.route", "/api/v1/ask");
    root.in_scope(work);
    root.record("http.response.status_code", 200);
}

#[test]
fn a_root_collects_its_children_across_threads() {
    let sink = Arc::new(Collect::default());
    let ctx = TraceContext::for_request(
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        "r1",
    );
    tracing::subscriber::with_default(subscriber(), || {
        // Outside any trace: ignored.
        tracing::info_span!("stray").in_scope(|| {});
        request(sink.clone(), "acme", ctx, || {
            let parent = tracing::Span::current();
            let dispatch = tracing::dispatcher::get_default(Clone::clone);
            let tp = cairn_telemetry::current_traceparent().unwrap();
            assert!(
                tp.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
                "{tp}"
            );
            std::thread::scope(|s| {
                s.spawn(|| {
                    let _d = tracing::dispatcher::set_default(&dispatch);
                    let _g = parent.enter();
                    let span = tracing::info_span!(
                        "retrieval.lexical",
                        openinference.span.kind = "RETRIEVER",
                        cairn.hits = tracing::field::Empty,
                    );
                    let _e = span.enter();
                    span.record("cairn.hits", 3);
                    assert!(cairn_telemetry::is_traced(&span));
                    cairn_telemetry::record_attrs(
                        &span,
                        vec![
                            (
                                "retrieval.documents.0.document.id".into(),
                                AttrValue::Str("d1".into()),
                            ),
                            (
                                "retrieval.documents.0.document.score".into(),
                                AttrValue::Float(0.5),
                            ),
                        ],
                    );
                    tracing::warn!(reason = "test", "something odd");
                });
            });
            let failed = tracing::info_span!(
                "generation",
                otel.status_code = "ERROR",
                otel.status_message = "model down"
            );
            failed.in_scope(|| {});
        });
    });
    let traces = sink.0.lock().unwrap();
    assert_eq!(traces.len(), 1, "one trace, the stray span ignored");
    let t = &traces[0];
    assert_eq!(
        cairn_telemetry::context::trace_hex(t.trace_id),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(t.spans.len(), 3);
    let root = t.root().unwrap();
    assert_eq!(root.name, "POST /api/v1/ask");
    assert_eq!(
        root.parent_id,
        Some(0x00f0_67aa_0ba9_02b7),
        "continues the caller's span"
    );
    assert_eq!(t.tenant(), "acme");
    let lexical = t
        .spans
        .iter()
        .find(|s| s.name == "retrieval.lexical")
        .unwrap();
    assert_eq!(lexical.parent_id, Some(root.span_id));
    assert_eq!(lexical.attr("cairn.hits"), Some(&AttrValue::Int(3)));
    assert_eq!(
        lexical.attr("retrieval.documents.0.document.id"),
        Some(&AttrValue::Str("d1".into()))
    );
    assert_eq!(lexical.events.len(), 1);
    assert_eq!(lexical.events[0].name, "something odd");
    let generation = t.spans.iter().find(|s| s.name == "generation").unwrap();
    assert_eq!(generation.status, SpanStatus::Error("model down".into()));
    assert!(t.is_error());
    assert!(
        generation.attr("otel.status_code").is_none(),
        "otel.* are not attributes"
    );
}

fn settings(dir: &std::path::Path, rate: f64) -> Settings {
    Settings {
        store_path: Some(dir.join("traces.sqlite")),
        sample_rate: rate,
        ..Settings::default()
    }
}

#[test]
fn kept_traces_are_stored_per_tenant_and_queried() {
    let dir = tempfile::tempdir().unwrap();
    let telemetry = Telemetry::start(settings(dir.path(), 1.0)).unwrap();
    let a = TraceContext::for_request(None, &uuid::Uuid::now_v7().to_string());
    let b = TraceContext::for_request(None, &uuid::Uuid::now_v7().to_string());
    tracing::subscriber::with_default(subscriber(), || {
        request(telemetry.sink(), "acme", a, || {
            tracing::info_span!(
                "chat",
                gen_ai.request.model = "qwen",
                gen_ai.usage.input_tokens = 100,
                gen_ai.usage.output_tokens = 20
            )
            .in_scope(|| {});
        });
        request(telemetry.sink(), "globex", b, || {});
    });
    telemetry.flush(Duration::from_secs(5));
    let store = telemetry.store().unwrap();
    let acme = store
        .list(&TraceQuery {
            tenant: "acme".into(),
            limit: 10,
            ..TraceQuery::default()
        })
        .unwrap();
    assert_eq!(acme.len(), 1);
    assert_eq!(acme[0].model.as_deref(), Some("qwen"));
    assert_eq!((acme[0].input_tokens, acme[0].output_tokens), (100, 20));
    assert_eq!(acme[0].route.as_deref(), Some("/api/v1/ask"));
    assert_eq!(acme[0].status, Some(200));
    // Filters.
    let by_model = |m: &str| {
        store
            .list(&TraceQuery {
                tenant: "acme".into(),
                model: Some(m.into()),
                limit: 10,
                ..TraceQuery::default()
            })
            .unwrap()
            .len()
    };
    assert_eq!(by_model("qwen"), 1);
    assert_eq!(by_model("other"), 0);
    // Another tenant's trace is invisible, by list and by id.
    assert!(store.get("acme", b.trace_id).unwrap().is_none());
    let detail = store.get("acme", a.trace_id).unwrap().unwrap();
    assert_eq!(detail.spans.len(), 1, "one root");
    assert_eq!(detail.spans[0]["children"][0]["name"], "chat");
    // Scores attach to the tenant's own traces only.
    let score = Score {
        name: "feedback".into(),
        value: 1.0,
        comment: None,
        source: "user".into(),
    };
    assert!(store.add_score("acme", a.trace_id, &score, 0).unwrap());
    assert!(!store.add_score("acme", b.trace_id, &score, 0).unwrap());
    telemetry.stop();
}

#[test]
fn sampling_passes_over_ordinary_traces_but_feedback_brings_one_back() {
    let dir = tempfile::tempdir().unwrap();
    let telemetry = Telemetry::start(settings(dir.path(), 0.0)).unwrap();
    let ok = TraceContext::for_request(None, "ok-1");
    let bad = TraceContext::for_request(None, "bad-1");
    let later = TraceContext::for_request(None, "later-1");
    tracing::subscriber::with_default(subscriber(), || {
        request(telemetry.sink(), "acme", ok, || {});
        request(telemetry.sink(), "acme", bad, || {
            tracing::info_span!("x", otel.status_code = "ERROR").in_scope(|| {});
        });
        request(telemetry.sink(), "acme", later, || {});
    });
    telemetry.flush(Duration::from_secs(5));
    let store = telemetry.store().unwrap().clone();
    assert!(
        store.get("acme", ok.trace_id).unwrap().is_none(),
        "sampled out"
    );
    assert_eq!(
        store
            .get("acme", bad.trace_id)
            .unwrap()
            .unwrap()
            .summary
            .kept,
        "error"
    );
    telemetry.score(
        "acme",
        later.trace_id,
        Score {
            name: "feedback".into(),
            value: -1.0,
            comment: Some("wrong".into()),
            source: "user".into(),
        },
    );
    telemetry.flush(Duration::from_secs(5));
    let back = store.get("acme", later.trace_id).unwrap().unwrap();
    assert_eq!(back.summary.kept, "feedback");
    assert_eq!(back.scores.len(), 1);
    assert_eq!(
        telemetry
            .stats()
            .sampled_out
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    telemetry.stop();
}

#[test]
fn slow_and_flagged_traces_are_kept_whatever_the_sample_rate() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), 0.0);
    s.slow_ms = 50.0;
    let telemetry = Telemetry::start(s).unwrap();
    let quick = TraceContext::for_request(None, "quick-1");
    let slow = TraceContext::for_request(None, "slow-1");
    let flagged = TraceContext::for_request(None, "flagged-1");
    tracing::subscriber::with_default(subscriber(), || {
        request(telemetry.sink(), "acme", quick, || {});
        request(telemetry.sink(), "acme", slow, || {
            std::thread::sleep(Duration::from_millis(80));
        });
        request(telemetry.sink(), "acme", flagged, || {
            // An answer with unsupported claims marks its trace.
            tracing::info_span!("answer.grounding", cairn.flagged = true).in_scope(|| {});
        });
    });
    telemetry.flush(Duration::from_secs(5));
    let store = telemetry.store().unwrap().clone();
    let kept = |ctx: TraceContext| {
        store
            .get("acme", ctx.trace_id)
            .unwrap()
            .map(|t| t.summary.kept)
    };
    assert_eq!(
        kept(quick),
        None,
        "an ordinary trace is sampled out at rate 0"
    );
    assert_eq!(kept(slow).as_deref(), Some("slow"));
    assert_eq!(kept(flagged).as_deref(), Some("flagged"));
    telemetry.stop();
}

#[test]
fn the_sweep_keeps_the_store_under_its_cap() {
    let dir = tempfile::tempdir().unwrap();
    let telemetry = Telemetry::start(settings(dir.path(), 1.0)).unwrap();
    tracing::subscriber::with_default(subscriber(), || {
        for i in 0..50 {
            request(
                telemetry.sink(),
                "acme",
                TraceContext::for_request(None, &format!("r{i}")),
                || {},
            );
        }
    });
    telemetry.flush(Duration::from_secs(5));
    let store = telemetry.store().unwrap();
    assert_eq!(store.count().unwrap(), 50);
    store.sweep(0, 2_000).unwrap();
    let left = store.count().unwrap();
    assert!(left > 0 && left < 50, "{left}");
    // Retention: everything older than now goes.
    store.sweep(i64::MAX, u64::MAX).unwrap();
    assert_eq!(store.count().unwrap(), 0);
    telemetry.stop();
}
