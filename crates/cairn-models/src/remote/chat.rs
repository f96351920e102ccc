//! [`RemoteGenerator`]: chat and text completions from an OpenAI-compatible server,
//! streamed over SSE and mapped onto Cairn's [`StreamEvent`]s.

use super::RemoteConfig;
use super::sse::SseReader;
use crate::generate::{
    Finish, FinishReason, GenerateRequest, Generator, OutputConstraint, Prompt, SamplingParams,
    StreamEvent, TokenDelta, TokenStream, TopLogprob, Usage,
};
use crate::{Error, Result};
use serde_json::{Value, json};
use std::io::BufReader;

/// A generator backed by a remote OpenAI-compatible API.
pub struct RemoteGenerator {
    config: RemoteConfig,
    agent: ureq::Agent,
}

impl RemoteGenerator {
    /// A generator for `config`.
    pub fn new(config: RemoteConfig) -> Self {
        let agent = config.agent();
        Self { config, agent }
    }

    /// A generator for `config` over an existing client (`RemoteConfig::agent`), whose
    /// open connections it reuses.
    pub fn with_agent(config: RemoteConfig, agent: super::HttpClient) -> Self {
        Self { config, agent }
    }

    /// The request body for `request` (public for inspection and tests).
    pub fn request_body(&self, request: &GenerateRequest) -> Result<(&'static str, Value)> {
        let mut body = json!({"model": self.config.model, "stream": true,
            "stream_options": {"include_usage": true}});
        let path = match &request.prompt {
            Prompt::Chat(messages) => {
                if messages.is_empty() {
                    return Err(Error::InvalidRequest("messages must not be empty".into()));
                }
                body["messages"] = serde_json::to_value(messages)
                    .map_err(|e| Error::InvalidRequest(e.to_string()))?;
                "chat/completions"
            }
            Prompt::Text(text) => {
                body["prompt"] = json!(text);
                "completions"
            }
        };
        add_sampling(&mut body, &request.sampling);
        if let Some(n) = request.logprobs {
            if path == "completions" {
                body["logprobs"] = json!(n);
            } else {
                body["logprobs"] = json!(true);
                body["top_logprobs"] = json!(n);
            }
        }
        match &request.constraint {
            None => {}
            Some(OutputConstraint::JsonObject) => {
                body["response_format"] = json!({"type": "json_object"});
            }
            Some(OutputConstraint::JsonSchema(schema)) => {
                body["response_format"] = json!({"type": "json_schema",
                    "json_schema": {"name": "output", "schema": schema, "strict": true}});
            }
            Some(OutputConstraint::Tools { tools, choice }) => {
                body["tools"] = tools.clone();
                if !choice.is_null() {
                    body["tool_choice"] = choice.clone();
                }
            }
            Some(OutputConstraint::Regex(_)) => {
                return Err(Error::InvalidRequest(
                    "regex constraints need a local model; remote providers take JSON Schema"
                        .into(),
                ));
            }
        }
        Ok((path, body))
    }
}

fn add_sampling(body: &mut Value, s: &SamplingParams) {
    body["temperature"] = json!(s.temperature);
    body["top_p"] = json!(s.top_p);
    if let Some(n) = s.max_tokens {
        body["max_tokens"] = json!(n);
    }
    if !s.stop.is_empty() {
        body["stop"] = json!(s.stop);
    }
    if let Some(seed) = s.seed {
        body["seed"] = json!(seed);
    }
    // Extensions that vLLM and llama.cpp's server accept; sent only when in effect.
    if s.top_k > 0 {
        body["top_k"] = json!(s.top_k);
    }
    if s.min_p > 0.0 {
        body["min_p"] = json!(s.min_p);
    }
    if (s.repetition_penalty - 1.0).abs() > f32::EPSILON {
        body["repetition_penalty"] = json!(s.repetition_penalty);
    }
    if s.presence_penalty != 0.0 {
        body["presence_penalty"] = json!(s.presence_penalty);
    }
    if s.frequency_penalty != 0.0 {
        body["frequency_penalty"] = json!(s.frequency_penalty);
    }
    if s.ignore_eos {
        body["ignore_eos"] = json!(true);
    }
}

impl Generator for RemoteGenerator {
    fn model_id(&self) -> &str {
        &self.config.model
    }

    fn context_length(&self) -> usize {
        self.config.context_length
    }

    fn generate(&self, request: GenerateRequest) -> Result<TokenStream> {
        request.sampling.validate()?;
        let (path, body) = self.request_body(&request)?;
        let seed = request.sampling.seed;
        let (config, agent) = (self.config.clone(), self.agent.clone());
        // Taken here, in the caller's span: `open` may run on a reader thread.
        let traceparent = cairn_telemetry::current_traceparent();
        let open = move || -> Result<TokenStream> {
            let response = config.post(&agent, path, &body, traceparent.as_deref())?;
            let reader = BufReader::new(response.into_body().into_reader());
            Ok(Box::new(RemoteStream {
                events: SseReader::new(reader),
                reason: None,
                usage: Usage::default(),
                seed,
                finished: false,
                calls: Vec::new(),
            }))
        };
        match self.config.first_token_timeout {
            Some(limit) => super::deadline::first_event_within(limit, &self.config.model, open),
            None => open(),
        }
    }
}

struct RemoteStream<R> {
    events: SseReader<R>,
    reason: Option<FinishReason>,
    usage: Usage,
    seed: Option<u64>,
    finished: bool,
    /// Tool calls assembled from `delta.tool_calls` pieces, by their `index`.
    calls: Vec<Value>,
}

/// Folds one streamed `delta.tool_calls` piece into `calls` (OpenAI streams the id and
/// name first, then the arguments string in parts; a non-streaming-style piece carries
/// them whole).
fn fold_tool_call(calls: &mut Vec<Value>, piece: &Value) {
    let index = piece
        .get("index")
        .and_then(Value::as_u64)
        .map_or(calls.len(), |i| i as usize);
    while calls.len() <= index {
        calls
            .push(json!({"id": "", "type": "function", "function": {"name": "", "arguments": ""}}));
    }
    let call = &mut calls[index];
    if let Some(id) = piece.get("id").and_then(Value::as_str) {
        call["id"] = json!(id);
    }
    if let Some(f) = piece.get("function") {
        for key in ["name", "arguments"] {
            if let Some(part) = f.get(key).and_then(Value::as_str) {
                let so_far = call["function"][key].as_str().unwrap_or("").to_owned();
                call["function"][key] = json!(so_far + part);
            }
        }
    }
}

impl<R: std::io::BufRead> RemoteStream<R> {
    /// Folds one chunk into the state; returns a delta when it carries text.
    fn chunk(&mut self, data: &str) -> Result<Option<TokenDelta>> {
        let value: Value = serde_json::from_str(data).map_err(|e| Error::Upstream {
            status: None,
            message: format!("malformed stream chunk ({e}): {data}"),
        })?;
        if let Some(error) = value.get("error") {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| error.to_string(), str::to_string);
            return Err(Error::Upstream {
                status: None,
                message,
            });
        }
        if let Some(usage) = value.get("usage").filter(|u| !u.is_null()) {
            let n = |k: &str| usage.get(k).and_then(Value::as_u64).unwrap_or(0) as usize;
            self.usage = Usage {
                prompt_tokens: n("prompt_tokens"),
                completion_tokens: n("completion_tokens"),
                cached_prompt_tokens: usage
                    .pointer("/prompt_tokens_details/cached_tokens")
                    .and_then(Value::as_u64)
                    .unwrap_or(0) as usize,
            };
        }
        let Some(choice) = value.pointer("/choices/0") else {
            return Ok(None);
        };
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.reason = Some(if reason == "length" {
                FinishReason::Length
            } else {
                FinishReason::Stop
            });
        }
        if let Some(pieces) = choice
            .pointer("/delta/tool_calls")
            .or_else(|| choice.pointer("/message/tool_calls"))
            .and_then(Value::as_array)
        {
            for piece in pieces {
                fold_tool_call(&mut self.calls, piece);
            }
        }
        let text = choice
            .pointer("/delta/content")
            .or_else(|| choice.get("text"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let logprobs = choice.pointer("/logprobs/content/0");
        if text.is_empty() && logprobs.is_none() {
            return Ok(None);
        }
        let top_logprobs = logprobs
            .and_then(|l| l.get("top_logprobs"))
            .and_then(Value::as_array)
            .map(|alts| {
                alts.iter()
                    .map(|a| TopLogprob {
                        token_id: None,
                        token: a.get("token").and_then(Value::as_str).unwrap_or("").into(),
                        logprob: a.get("logprob").and_then(Value::as_f64).unwrap_or(f64::NAN)
                            as f32,
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Some(TokenDelta {
            text: text.to_string(),
            token_id: None,
            logprob: logprobs
                .and_then(|l| l.get("logprob"))
                .and_then(Value::as_f64)
                .map(|l| l as f32),
            top_logprobs,
        }))
    }
}

impl<R: std::io::BufRead> Iterator for RemoteStream<R> {
    type Item = Result<StreamEvent>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        loop {
            match self.events.next() {
                Some(Ok(data)) => match self.chunk(&data) {
                    Ok(Some(delta)) => return Some(Ok(StreamEvent::Token(delta))),
                    Ok(None) => {}
                    Err(e) => {
                        self.finished = true;
                        return Some(Err(e));
                    }
                },
                Some(Err(e)) => {
                    self.finished = true;
                    return Some(Err(e));
                }
                None => {
                    self.finished = true;
                    return Some(Ok(StreamEvent::Done(Finish {
                        reason: self.reason.unwrap_or(FinishReason::Stop),
                        usage: self.usage,
                        seed: self.seed,
                        model: None,
                        tool_calls: std::mem::take(&mut self.calls),
                    })));
                }
            }
        }
    }
}
