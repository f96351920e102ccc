//! The `tracing` layer that turns spans into traces.
//!
//! A trace begins where [`start_trace`] marks a span as a root (the server does this for
//! every request); every span opened beneath it, on any thread that entered it, joins
//! that trace. Spans outside a trace cost one lookup of their parent. When the root
//! closes (after all its children: the registry keeps a parent open while a child
//! lives), the finished spans go to the root's [`Sink`].
//!
//! Fields with special meaning: `otel.name` (the span's name), `otel.kind` (`server`,
//! `client`, `internal`), `otel.status_code` (`ERROR` / `OK`), `otel.status_message`.
//! Attributes whose names are only known at run time (OpenInference's
//! `retrieval.documents.<i>.document.id`) go in with [`record_attrs`]. Warnings and
//! errors logged inside a span become its events.

use crate::context::{TraceContext, format_traceparent, new_span_id};
use crate::span::{Attr, AttrValue, CompletedTrace, SpanEvent, SpanKind, SpanRecord, SpanStatus};
use std::borrow::Cow;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::Registry;
use tracing_subscriber::filter::{FilterFn, Filtered};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// The longest text attribute kept (longer ones are cut at a character boundary).
const MAX_TEXT: usize = 8 * 1024;
/// Attributes and events kept per span.
const MAX_ATTRS: usize = 256;
const MAX_EVENTS: usize = 32;
/// Spans kept per trace (a runaway loop cannot fill memory).
const MAX_SPANS: usize = 2_000;

/// Where finished traces go.
pub trait Sink: Send + Sync {
    fn complete(&self, trace: CompletedTrace);
}

struct TraceBuf {
    trace_id: u128,
    spans: Mutex<Vec<SpanRecord>>,
    sink: Arc<dyn Sink>,
}

/// A traced span while it is open (kept in the registry's extensions).
struct Live {
    trace: Arc<TraceBuf>,
    span_id: u64,
    parent_id: Option<u64>,
    name: &'static str,
    start_unix_ns: u64,
    attrs: Vec<Attr>,
    events: Vec<SpanEvent>,
    root: bool,
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

impl Live {
    fn finish(self) -> (Arc<TraceBuf>, SpanRecord, bool) {
        let mut name = self.name.to_owned();
        let mut kind = SpanKind::Internal;
        let mut code = String::new();
        let mut message = String::new();
        let mut attributes = Vec::with_capacity(self.attrs.len());
        for (k, v) in self.attrs {
            match k.as_ref() {
                "otel.name" => name = v.text(),
                "otel.kind" => kind = SpanKind::parse(&v.text()),
                "otel.status_code" => code = v.text(),
                "otel.status_message" => message = v.text(),
                _ => attributes.push((k, v)),
            }
        }
        let status = match code.to_ascii_uppercase().as_str() {
            "ERROR" => SpanStatus::Error(message),
            "OK" => SpanStatus::Ok,
            _ => SpanStatus::Unset,
        };
        let record = SpanRecord {
            span_id: self.span_id,
            parent_id: self.parent_id,
            name,
            kind,
            start_unix_ns: self.start_unix_ns,
            end_unix_ns: now_ns(),
            status,
            attributes,
            events: self.events,
            root: self.root,
        };
        (self.trace, record, self.root)
    }
}

fn cut(mut s: String) -> String {
    if s.len() > MAX_TEXT {
        let mut end = MAX_TEXT;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

/// Records fields into an attribute list (later values replace earlier ones).
struct Fields<'a>(&'a mut Vec<Attr>);

impl Fields<'_> {
    fn put(&mut self, key: Cow<'static, str>, value: AttrValue) {
        if let Some(slot) = self.0.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = value;
        } else if self.0.len() < MAX_ATTRS {
            self.0.push((key, value));
        }
    }

    fn field(&mut self, field: &Field, value: AttrValue) {
        self.put(Cow::Borrowed(field.name()), value);
    }
}

impl Visit for Fields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.field(field, AttrValue::Float(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, AttrValue::Int(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(
            field,
            AttrValue::Int(i64::try_from(value).unwrap_or(i64::MAX)),
        );
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(field, AttrValue::Bool(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field, AttrValue::Str(cut(value.to_owned())));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.field(field, AttrValue::Str(cut(format!("{value:?}"))));
    }
}

/// Records an event's fields: its message becomes the name.
struct EventFields {
    message: String,
    attrs: Vec<(String, AttrValue)>,
}

impl Visit for EventFields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = cut(format!("{value:?}"));
        if field.name() == "message" {
            self.message = text;
        } else {
            self.attrs
                .push((field.name().to_owned(), AttrValue::Str(text)));
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = cut(value.to_owned());
        } else {
            self.attrs.push((
                field.name().to_owned(),
                AttrValue::Str(cut(value.to_owned())),
            ));
        }
    }
}

/// The layer; install it with [`layer`], which adds its filter.
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceLayer;

/// What the layer looks at: spans at `info` and above, events at `warn` and above
/// (whatever `CAIRN_LOG` says the logs show).
pub fn wanted(meta: &Metadata<'_>) -> bool {
    if meta.is_span() {
        *meta.level() <= Level::INFO
    } else {
        *meta.level() <= Level::WARN
    }
}

/// The filter of [`layer`].
pub type Wanted = FilterFn<fn(&Metadata<'_>) -> bool>;

/// The trace layer behind its own filter ([`wanted`]).
pub fn layer<S>() -> Filtered<TraceLayer, Wanted, S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    TraceLayer.with_filter(FilterFn::new(wanted as fn(&Metadata<'_>) -> bool))
}

impl<S> Layer<S> for TraceLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let Some(parent) = span.parent() else { return };
        let inherited = parent
            .extensions()
            .get::<Live>()
            .map(|p| (p.trace.clone(), p.span_id));
        let Some((trace, parent_id)) = inherited else {
            return;
        };
        let mut live = Live {
            trace,
            span_id: new_span_id(),
            parent_id: Some(parent_id),
            name: attrs.metadata().name(),
            start_unix_ns: now_ns(),
            attrs: Vec::new(),
            events: Vec::new(),
            root: false,
        };
        attrs.record(&mut Fields(&mut live.attrs));
        span.extensions_mut().insert(live);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if let Some(live) = ext.get_mut::<Live>() {
            values.record(&mut Fields(&mut live.attrs));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.event_span(event) else {
            return;
        };
        let mut ext = span.extensions_mut();
        let Some(live) = ext.get_mut::<Live>() else {
            return;
        };
        if live.events.len() >= MAX_EVENTS {
            return;
        }
        let mut fields = EventFields {
            message: String::new(),
            attrs: Vec::new(),
        };
        event.record(&mut fields);
        live.events.push(SpanEvent {
            name: fields.message,
            at_unix_ns: now_ns(),
            level: event.metadata().level().to_string(),
            attributes: fields.attrs,
        });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(live) = span.extensions_mut().remove::<Live>() else {
            return;
        };
        let (trace, record, root) = live.finish();
        let mut spans = trace.spans.lock().unwrap_or_else(PoisonError::into_inner);
        if spans.len() < MAX_SPANS || root {
            spans.push(record);
        }
        if root {
            let spans = std::mem::take(&mut *spans);
            trace.sink.complete(CompletedTrace {
                trace_id: trace.trace_id,
                spans,
            });
        }
    }
}

/// Makes `span` the root of a trace that ends in `sink`. `false` when the process's
/// subscriber has no [`TraceLayer`] (nothing is traced then) or `span` is disabled.
/// Fields recorded on `span` after this call become the root's attributes.
pub fn start_trace(span: &tracing::Span, ctx: TraceContext, sink: Arc<dyn Sink>) -> bool {
    span.with_subscriber(|(id, dispatch)| {
        let Some(registry) = dispatch.downcast_ref::<Registry>() else {
            return false;
        };
        let Some(s) = registry.span(id) else {
            return false;
        };
        // A span already inside a trace becomes the root of its own.
        s.extensions_mut().replace(Live {
            trace: Arc::new(TraceBuf {
                trace_id: ctx.trace_id,
                spans: Mutex::new(Vec::new()),
                sink,
            }),
            span_id: new_span_id(),
            parent_id: ctx.remote_parent,
            name: s.name(),
            start_unix_ns: now_ns(),
            attrs: Vec::new(),
            events: Vec::new(),
            root: true,
        });
        true
    })
    .unwrap_or(false)
}

/// The trace id and span id of the innermost traced span around the caller.
pub fn current_ids() -> Option<(u128, u64)> {
    tracing::Span::current()
        .with_subscriber(|(id, dispatch)| {
            let registry = dispatch.downcast_ref::<Registry>()?;
            let span = registry.span(id)?;
            span.scope().find_map(|s| {
                s.extensions()
                    .get::<Live>()
                    .map(|l| (l.trace.trace_id, l.span_id))
            })
        })
        .flatten()
}

/// The `traceparent` to send on a call made from inside a trace (to a remote model), so
/// the provider's spans join it.
pub fn current_traceparent() -> Option<String> {
    current_ids().map(|(t, s)| format_traceparent(t, s))
}

/// The current trace's id as 32 hex digits.
pub fn current_trace_id() -> Option<String> {
    current_ids().map(|(t, _)| crate::context::trace_hex(t))
}

/// Runs `f` on `span`'s open record when `span` is part of a trace.
fn with_live<R>(span: &tracing::Span, f: impl FnOnce(&mut Live) -> R) -> Option<R> {
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        let s = registry.span(id)?;
        let mut ext = s.extensions_mut();
        ext.get_mut::<Live>().map(f)
    })
    .flatten()
}

/// Whether `span` belongs to a trace (attributes recorded on it are kept).
pub fn is_traced(span: &tracing::Span) -> bool {
    with_live(span, |_| ()).is_some()
}

/// Records attributes whose names are only known at run time (OpenInference's
/// `retrieval.documents.<i>.document.id`, …) on `span`, straight into its record.
pub fn record_attrs(span: &tracing::Span, attrs: Vec<(String, AttrValue)>) {
    with_live(span, |live| {
        let mut fields = Fields(&mut live.attrs);
        for (k, v) in attrs {
            let v = match v {
                AttrValue::Str(s) => AttrValue::Str(cut(s)),
                v => v,
            };
            fields.put(Cow::Owned(k), v);
        }
    });
}
