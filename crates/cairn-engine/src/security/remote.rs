//! Remote chat models (`[[models.remote]]`) behind reversible PII redaction: every
//! message is redacted with the tenant's `pii_remote` policy before it leaves the
//! machine, and the placeholders the provider echoes are restored in the streamed
//! answer. The provider's API key is a tenant secret, opened only for the call.

use crate::{Engine, Result};
use cairn_guard::{Decision, Guard, Vault};
use cairn_models::{
    GenerateRequest, Generator, Prompt, RemoteGenerator, StreamEvent, TokenDelta, TokenStream,
};
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// The guard a caller's remote calls are redacted with, and what it found: one per
/// request, shared by every remote target that request may reach.
#[derive(Clone)]
pub struct Redaction {
    guard: Arc<Guard>,
    decisions: Arc<Mutex<Vec<Decision>>>,
}

impl Redaction {
    /// Redaction by `guard` (the tenant's policy).
    pub fn new(guard: Arc<Guard>) -> Self {
        Self {
            guard,
            decisions: Arc::default(),
        }
    }

    /// The guardrail decisions of the requests made so far (what was redacted, why).
    pub fn decisions(&self) -> Vec<Decision> {
        self.decisions.lock().map(|d| d.clone()).unwrap_or_default()
    }

    /// `text` redacted for a remote call whose answer needs no restoring (scores).
    pub fn redact(&self, text: &str) -> String {
        let (out, found) = self.guard.redact_for_remote(text, &mut Vault::new());
        if let Ok(mut d) = self.decisions.lock() {
            d.extend(found);
        }
        out
    }
}

/// A remote generator whose requests are redacted and whose output is restored.
pub struct RedactingGenerator {
    inner: RemoteGenerator,
    redaction: Redaction,
}

impl RedactingGenerator {
    /// `inner` behind `redaction`.
    pub fn new(inner: RemoteGenerator, redaction: Redaction) -> Self {
        Self { inner, redaction }
    }
}

impl Engine {
    /// Redaction with the configured `[guard]` policy, for calls made without a
    /// tenant's own (the CLI, role calls inside search).
    pub fn default_redaction(&self) -> Result<Redaction> {
        Ok(Redaction::new(self.default_guard()?))
    }
}

impl Generator for RedactingGenerator {
    fn model_id(&self) -> &str {
        self.inner.model_id()
    }

    fn context_length(&self) -> usize {
        self.inner.context_length()
    }

    fn generate(&self, mut request: GenerateRequest) -> cairn_models::Result<TokenStream> {
        let mut vault = Vault::new();
        let mut found = Vec::new();
        let mut redact = |text: &mut String| {
            let (out, d) = self.redaction.guard.redact_for_remote(text, &mut vault);
            found.extend(d);
            *text = out;
        };
        match &mut request.prompt {
            Prompt::Chat(messages) => {
                for m in messages.iter_mut() {
                    redact(&mut m.content);
                    // Arguments of earlier tool calls carry user data too.
                    for call in m
                        .tool_calls
                        .iter_mut()
                        .flat_map(|c| c.as_array_mut())
                        .flatten()
                    {
                        if let Some(Value::String(args)) = call.pointer_mut("/function/arguments") {
                            redact(args);
                        }
                    }
                }
            }
            Prompt::Text(t) => redact(t),
        }
        if let Ok(mut d) = self.redaction.decisions.lock() {
            d.extend(found);
        }
        let stream = self.inner.generate(request)?;
        Ok(Box::new(Restoring {
            inner: stream,
            vault,
            pending: String::new(),
            flushed: false,
        }))
    }
}

/// Longest placeholder tail held back waiting for its closing bracket.
const HOLD: usize = 32;

/// Restores placeholders in a token stream; a piece that may be the start of a
/// placeholder (`[EMA`) waits for the next piece.
struct Restoring {
    inner: TokenStream,
    vault: Vault,
    pending: String,
    flushed: bool,
}

impl Restoring {
    /// The part of `pending` that can go out now.
    fn take_ready(&mut self, all: bool) -> String {
        let cut = match self.pending.rfind('[') {
            Some(i)
                if !all && !self.pending[i..].contains(']') && self.pending.len() - i < HOLD =>
            {
                i
            }
            _ => self.pending.len(),
        };
        let ready: String = self.pending.drain(..cut).collect();
        self.vault.restore(&ready)
    }
}

impl Iterator for Restoring {
    type Item = cairn_models::Result<StreamEvent>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.flushed {
            return None;
        }
        match self.inner.next() {
            Some(Ok(StreamEvent::Token(mut d))) => {
                self.pending.push_str(&d.text);
                d.text = self.take_ready(false);
                Some(Ok(StreamEvent::Token(d)))
            }
            Some(Ok(StreamEvent::Done(mut f))) => {
                for call in &mut f.tool_calls {
                    if let Some(Value::String(args)) = call.pointer_mut("/function/arguments") {
                        *args = self.vault.restore(args);
                    }
                }
                let rest = self.take_ready(true);
                if rest.is_empty() {
                    self.flushed = true;
                    return Some(Ok(StreamEvent::Done(f)));
                }
                // Send what was held back, then the end (on the next call).
                self.inner = Box::new(std::iter::once(Ok(StreamEvent::Done(f))));
                Some(Ok(StreamEvent::Token(TokenDelta {
                    text: rest,
                    token_id: None,
                    logprob: None,
                    top_logprobs: Vec::new(),
                })))
            }
            Some(Err(e)) => Some(Err(e)),
            None => {
                self.flushed = true;
                None
            }
        }
    }
}
