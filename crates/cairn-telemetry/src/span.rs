//! What a finished trace is made of: spans with typed attributes, events and a status,
//! and the summary the trace store indexes (route, status, user, model, tokens).

use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// An attribute's value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttrValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// A list of strings (e.g. `gen_ai.response.finish_reasons`).
    List(Vec<String>),
}

impl AttrValue {
    /// The value as text (numbers and booleans formatted).
    pub fn text(&self) -> String {
        match self {
            Self::Bool(b) => b.to_string(),
            Self::Int(i) => i.to_string(),
            Self::Float(f) => f.to_string(),
            Self::Str(s) => s.clone(),
            Self::List(l) => l.join(","),
        }
    }

    /// The value as an integer, when it is one (or a whole float, or digits).
    pub fn int(&self) -> Option<i64> {
        match self {
            Self::Int(i) => Some(*i),
            Self::Float(f) if f.fract() == 0.0 => Some(*f as i64),
            Self::Str(s) => s.parse().ok(),
            _ => None,
        }
    }
}

/// One attribute.
pub type Attr = (Cow<'static, str>, AttrValue);

/// The OpenTelemetry span kind (`otel.kind` on a span sets it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpanKind {
    #[default]
    Internal,
    Server,
    Client,
}

impl SpanKind {
    pub fn parse(s: &str) -> Self {
        match s.to_ascii_lowercase().as_str() {
            "server" => Self::Server,
            "client" => Self::Client,
            _ => Self::Internal,
        }
    }
}

/// A span's outcome (`otel.status_code` = `ERROR` / `OK`, `otel.status_message`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", content = "message", rename_all = "snake_case")]
pub enum SpanStatus {
    #[default]
    Unset,
    Ok,
    Error(String),
}

/// Something that happened inside a span (a warning or error logged there).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpanEvent {
    pub name: String,
    pub at_unix_ns: u64,
    pub level: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<(String, AttrValue)>,
}

/// One finished span.
#[derive(Clone, Debug, PartialEq)]
pub struct SpanRecord {
    pub span_id: u64,
    /// The parent span; for the root, the caller's span from `traceparent` (if any).
    pub parent_id: Option<u64>,
    pub name: String,
    pub kind: SpanKind,
    pub start_unix_ns: u64,
    pub end_unix_ns: u64,
    pub status: SpanStatus,
    pub attributes: Vec<Attr>,
    pub events: Vec<SpanEvent>,
    /// The request's (or job's) own span.
    pub root: bool,
}

impl SpanRecord {
    /// The attribute `key`, if set.
    pub fn attr(&self, key: &str) -> Option<&AttrValue> {
        self.attributes
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    pub fn duration_ms(&self) -> f64 {
        self.end_unix_ns.saturating_sub(self.start_unix_ns) as f64 / 1e6
    }
}

/// A finished trace: every span of one request, its root last.
#[derive(Clone, Debug, PartialEq)]
pub struct CompletedTrace {
    pub trace_id: u128,
    pub spans: Vec<SpanRecord>,
}

/// What the trace store indexes a trace by.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TraceSummary {
    pub trace_id: String,
    pub tenant: String,
    pub request_id: Option<String>,
    pub name: String,
    pub method: Option<String>,
    pub route: Option<String>,
    pub status: Option<i64>,
    pub error: bool,
    pub user: Option<String>,
    pub session: Option<String>,
    pub model: Option<String>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// Milliseconds since the Unix epoch.
    pub started_ms: i64,
    pub duration_ms: f64,
    pub span_count: usize,
    /// Why the trace was kept: `error`, `slow`, `flagged`, `feedback` or `sampled`.
    pub kept: String,
}

impl CompletedTrace {
    /// The root span (the last to close).
    pub fn root(&self) -> Option<&SpanRecord> {
        self.spans
            .iter()
            .rev()
            .find(|s| s.root)
            .or(self.spans.last())
    }

    /// The root's attribute `key` as text.
    pub fn root_text(&self, key: &str) -> Option<String> {
        self.root().and_then(|r| r.attr(key)).map(AttrValue::text)
    }

    /// The tenant the trace belongs to (`cairn.tenant` on the root); empty before
    /// authentication.
    pub fn tenant(&self) -> String {
        self.root_text("cairn.tenant").unwrap_or_default()
    }

    /// An HTTP 5xx, or any span whose status is an error.
    pub fn is_error(&self) -> bool {
        let status = self
            .root()
            .and_then(|r| r.attr("http.response.status_code"))
            .and_then(AttrValue::int)
            .unwrap_or(0);
        status >= 500
            || self
                .spans
                .iter()
                .any(|s| matches!(s.status, SpanStatus::Error(_)))
    }

    /// Any span marked `cairn.flagged = true` (an answer with unsupported claims, or one
    /// a guardrail stopped).
    pub fn is_flagged(&self) -> bool {
        self.spans
            .iter()
            .any(|s| s.attr("cairn.flagged") == Some(&AttrValue::Bool(true)))
    }

    pub fn duration_ms(&self) -> f64 {
        self.root().map_or(0.0, SpanRecord::duration_ms)
    }

    /// The summary row, `kept` for the reason given.
    pub fn summary(&self, kept: &str) -> TraceSummary {
        let root = self.root();
        let text = |k: &str| self.root_text(k);
        let model = self
            .spans
            .iter()
            .find_map(|s| s.attr("gen_ai.response.model"))
            .or_else(|| {
                self.spans
                    .iter()
                    .find_map(|s| s.attr("gen_ai.request.model"))
            })
            .map(AttrValue::text);
        let tokens = |k: &str| {
            self.spans
                .iter()
                .filter_map(|s| s.attr(k).and_then(AttrValue::int))
                .sum()
        };
        TraceSummary {
            trace_id: crate::context::trace_hex(self.trace_id),
            tenant: self.tenant(),
            request_id: text("cairn.request_id"),
            name: root.map(|r| r.name.clone()).unwrap_or_default(),
            method: text("http.request.method"),
            route: text("http.route").or_else(|| text("url.path")),
            status: root
                .and_then(|r| r.attr("http.response.status_code"))
                .and_then(AttrValue::int),
            error: self.is_error(),
            user: text("user.id"),
            session: text("session.id"),
            model,
            input_tokens: tokens("gen_ai.usage.input_tokens"),
            output_tokens: tokens("gen_ai.usage.output_tokens"),
            started_ms: root.map_or(0, |r| (r.start_unix_ns / 1_000_000) as i64),
            duration_ms: self.duration_ms(),
            span_count: self.spans.len(),
            kept: kept.to_owned(),
        }
    }
}
