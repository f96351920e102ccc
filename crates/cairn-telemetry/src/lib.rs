//! Cairn's request traces.
//!
//! - [`layer`]: a `tracing` layer that collects the spans of each request (or job) into
//!   one trace, whose id is the request id (or the caller's W3C `traceparent`, which is
//!   continued: [`context`]).
//! - [`pipeline`]: finished traces leave the request path through a bounded queue; one
//!   writer thread samples them (errors, slow and flagged requests always kept), writes
//!   them in batches to the [`store`] — its own SQLite file, apart from the state store
//!   — and hands them to the [`otlp`] exporter, which drops (and counts) rather than
//!   blocks when the collector is down.
//!
//! Attribute names follow the OpenTelemetry GenAI semantic conventions (semconv
//! 1.37, `gen_ai.*`) for model calls, and OpenInference (`openinference.span.kind`,
//! `retrieval.documents.*`, `input.value`, `output.value`) so Phoenix and Langfuse
//! render retrievals natively; see [`names`].

pub mod context;
pub mod layer;
pub mod names;
pub mod otlp;
pub mod pipeline;
pub mod span;
pub mod store;

pub use context::{TraceContext, format_traceparent, parse_trace_id, parse_traceparent};
pub use layer::{
    Sink, TraceLayer, current_trace_id, current_traceparent, is_traced, layer, record_attrs,
    start_trace,
};
pub use otlp::OtlpSettings;
pub use pipeline::{Settings, Stats, Telemetry};
pub use span::{AttrValue, CompletedTrace, SpanRecord, TraceSummary};
pub use store::{Score, TraceDetail, TraceQuery, TraceStore};
