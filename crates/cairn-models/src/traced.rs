//! A generator whose every call is a span: an OpenTelemetry GenAI `chat` span (and an
//! OpenInference `LLM` one) with the sampling parameters, time to first token, token
//! counts, tokens per second, finish reason and the model that answered. Remote calls
//! made inside it carry its `traceparent`.

use crate::Result;
use crate::generate::{FinishReason, GenerateRequest, Generator, StreamEvent, TokenStream};
use std::sync::Arc;
use std::time::Instant;
use tracing::field::Empty;

/// `inner`, traced as a model of `provider` (`gen_ai.provider.name`).
pub struct TracedGenerator {
    inner: Arc<dyn Generator>,
    provider: &'static str,
}

impl TracedGenerator {
    pub fn new(inner: Arc<dyn Generator>, provider: &'static str) -> Self {
        Self { inner, provider }
    }
}

impl Generator for TracedGenerator {
    fn model_id(&self) -> &str {
        self.inner.model_id()
    }

    fn context_length(&self) -> usize {
        self.inner.context_length()
    }

    fn generate(&self, request: GenerateRequest) -> Result<TokenStream> {
        let model = self.inner.model_id();
        let s = &request.sampling;
        let span = tracing::info_span!(
            "chat",
            otel.name = %format_args!("chat {model}"),
            otel.kind = "client",
            otel.status_code = Empty,
            otel.status_message = Empty,
            openinference.span.kind = cairn_telemetry::names::kind::LLM,
            gen_ai.operation.name = "chat",
            gen_ai.provider.name = self.provider,
            gen_ai.request.model = model,
            gen_ai.request.temperature = f64::from(s.temperature),
            gen_ai.request.top_p = f64::from(s.top_p),
            gen_ai.request.max_tokens = s.max_tokens.map(|m| m as u64),
            gen_ai.request.seed = s.seed,
            gen_ai.response.model = Empty,
            gen_ai.usage.input_tokens = Empty,
            gen_ai.usage.output_tokens = Empty,
            llm.model_name = model,
            llm.token_count.prompt = Empty,
            llm.token_count.completion = Empty,
            cairn.cached_input_tokens = Empty,
            cairn.time_to_first_token_ms = Empty,
            cairn.tokens_per_second = Empty,
        );
        let started = Instant::now();
        match span.in_scope(|| self.inner.generate(request)) {
            Ok(inner) => Ok(Box::new(TracedStream {
                inner,
                span,
                model: model.to_owned(),
                started,
                first: None,
            })),
            Err(e) => {
                span.record("otel.status_code", "ERROR");
                span.record("otel.status_message", e.to_string().as_str());
                Err(e)
            }
        }
    }
}

/// What one finished model call measured, handed to the process's observer (metrics).
#[derive(Debug)]
pub struct CallTimings<'a> {
    /// The model that answered.
    pub model: &'a str,
    /// From the call to its first token.
    pub first_token_s: Option<f64>,
    /// Decoding time per output token after the first.
    pub per_output_token_s: Option<f64>,
}

type Observer = Box<dyn Fn(&CallTimings<'_>) + Send + Sync>;

static OBSERVER: std::sync::OnceLock<Observer> = std::sync::OnceLock::new();

/// Hands every finished traced call's timings to `f` (the first observer set stays).
pub fn observe_calls(f: impl Fn(&CallTimings<'_>) + Send + Sync + 'static) {
    let _ = OBSERVER.set(Box::new(f));
}

struct TracedStream {
    inner: TokenStream,
    span: tracing::Span,
    model: String,
    started: Instant,
    first: Option<Instant>,
}

impl Iterator for TracedStream {
    type Item = Result<StreamEvent>;

    fn next(&mut self) -> Option<Self::Item> {
        let event = self.span.in_scope(|| self.inner.next());
        match &event {
            Some(Ok(StreamEvent::Token(d))) if self.first.is_none() && !d.text.is_empty() => {
                let now = Instant::now();
                self.first = Some(now);
                self.span.record(
                    "cairn.time_to_first_token_ms",
                    (now - self.started).as_secs_f64() * 1e3,
                );
            }
            Some(Ok(StreamEvent::Done(f))) => {
                let reason = match f.reason {
                    FinishReason::Stop => "stop",
                    FinishReason::Length => "length",
                };
                let span = &self.span;
                span.record(
                    "gen_ai.response.model",
                    f.model.as_deref().unwrap_or(&self.model),
                );
                // Semconv: an array of strings.
                cairn_telemetry::record_attrs(
                    span,
                    vec![(
                        "gen_ai.response.finish_reasons".into(),
                        cairn_telemetry::AttrValue::List(vec![reason.into()]),
                    )],
                );
                let (input, output) = (
                    f.usage.prompt_tokens as u64,
                    f.usage.completion_tokens as u64,
                );
                span.record("gen_ai.usage.input_tokens", input);
                span.record("gen_ai.usage.output_tokens", output);
                span.record("llm.token_count.prompt", input);
                span.record("llm.token_count.completion", output);
                span.record(
                    "cairn.cached_input_tokens",
                    f.usage.cached_prompt_tokens as u64,
                );
                let mut per_token = None;
                if let Some(first) = self.first {
                    let decode = first.elapsed().as_secs_f64();
                    if decode > 0.0 && output > 1 {
                        span.record("cairn.tokens_per_second", (output - 1) as f64 / decode);
                        per_token = Some(decode / (output - 1) as f64);
                    }
                }
                if let Some(observe) = OBSERVER.get() {
                    observe(&CallTimings {
                        model: f.model.as_deref().unwrap_or(&self.model),
                        first_token_s: self.first.map(|t| (t - self.started).as_secs_f64()),
                        per_output_token_s: per_token,
                    });
                }
            }
            Some(Err(e)) => {
                self.span.record("otel.status_code", "ERROR");
                self.span
                    .record("otel.status_message", e.to_string().as_str());
            }
            _ => {}
        }
        event
    }
}
