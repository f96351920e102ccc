//! `POST /v1/chat/completions` on a plain model: messages through the model's chat
//! template, sampling parameters, stop sequences, seeds, log-probabilities,
//! `response_format` and tools enforced by the constrained decoder, usage, and SSE
//! streaming in OpenAI's chunk format ending in `[DONE]`.

use super::tools::{self, Choice, Output};
use super::types::{ChatRequest, Stop, ToolCall, Usage};
use super::{completion_id, unix_now};
use crate::error::{ApiError, ApiResult};
use crate::sse::Emitter;
use crate::state::Cancel;
use cairn_guard::{Decision, Guard};
use cairn_models::{
    ChatMessage, FinishReason, GenerateRequest, Generator, OutputConstraint, Role, SamplingParams,
    StreamEvent, TokenDelta,
};
use cairn_types::ErrorCode;
use serde_json::{Value, json};

/// A validated plain-model request.
#[derive(Clone)]
pub struct Plan {
    pub model: String,
    pub request: GenerateRequest,
    pub tools: Option<Choice>,
    pub include_usage: bool,
    /// The tenant's guardrails: plain answers are checked for PII leakage (`pii_output`).
    pub guard: Option<std::sync::Arc<cairn_guard::Guard>>,
}

/// A plain answer after the output guardrails: its text (redacted if the policy says
/// so), whether it was withheld, and the decisions.
fn screen_output(guard: Option<&Guard>, text: &str) -> (String, bool, Vec<Decision>) {
    match guard {
        None => (text.to_owned(), false, Vec::new()),
        Some(g) => {
            let check = g.check_output(text, None);
            let out = if check.blocked {
                String::new()
            } else {
                check.text
            };
            (out, check.blocked, check.decisions)
        }
    }
}

/// Validates the request and builds the generation request for a local model.
pub fn plan(req: &ChatRequest, model: &str) -> ApiResult<Plan> {
    plan_for(req, model, false)
}

/// Validates the request and builds the generation request; with `native_tools` (a
/// remote model) tools, tool calls and tool results go to the provider as they are
/// instead of through Cairn's constrained-JSON protocol.
pub fn plan_for(req: &ChatRequest, model: &str, native_tools: bool) -> ApiResult<Plan> {
    let declared = req.tools.clone().unwrap_or_default();
    tools::validate(&declared)?;
    let choice = tools::parse_choice(req.tool_choice.as_ref(), &declared)?;
    let use_tools = !declared.is_empty() && choice != Choice::None;

    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    for (i, m) in req.messages.iter().enumerate() {
        let param = || format!("messages[{i}]");
        let text = match &m.content {
            Some(c) => c
                .text()
                .map_err(|e| ApiError::invalid(e).with_param(param()))?,
            None => String::new(),
        };
        let calls = m.tool_calls.as_ref().filter(|c| !c.is_empty());
        if native_tools && (calls.is_some() || m.role == "tool") {
            let mut message = ChatMessage::new(
                if m.role == "tool" {
                    Role::Tool
                } else {
                    Role::Assistant
                },
                text,
            );
            message.tool_calls = calls.map(|c| json!(c));
            message.tool_call_id = m.tool_call_id.clone();
            messages.push(message);
            continue;
        }
        let (role, content) = match m.role.as_str() {
            "system" | "developer" => (Role::System, text),
            "user" => (Role::User, text),
            "assistant" => match calls {
                Some(calls) => (Role::Assistant, tools::render_calls(calls)),
                _ => (Role::Assistant, text),
            },
            "tool" => {
                let id = m.tool_call_id.as_deref().unwrap_or("");
                (Role::Tool, format!("Result of tool call {id}: {text}"))
            }
            other => {
                return Err(ApiError::invalid(format!(
                    "role `{other}` is not one of system, developer, user, assistant, tool"
                ))
                .with_param(format!("{}.role", param())));
            }
        };
        messages.push(ChatMessage::new(role, content));
    }
    if use_tools && !native_tools {
        let prompt = tools::system_prompt(&declared, &choice);
        match messages.first_mut() {
            Some(first) if first.role == Role::System => {
                first.content = format!("{}\n\n{prompt}", first.content);
            }
            _ => messages.insert(0, ChatMessage::new(Role::System, prompt)),
        }
    }

    let mut sampling = SamplingParams::default();
    if let Some(t) = req.temperature {
        sampling.temperature = t;
    }
    if let Some(p) = req.top_p {
        sampling.top_p = p;
    }
    if let Some(n) = req.max_completion_tokens.or(req.max_tokens) {
        if n == 0 {
            return Err(ApiError::invalid("max_tokens must be at least 1").with_param("max_tokens"));
        }
        sampling.max_tokens = Some(n);
    }
    sampling.seed = req.seed;
    sampling.presence_penalty = req.presence_penalty.unwrap_or(0.0);
    sampling.frequency_penalty = req.frequency_penalty.unwrap_or(0.0);
    if let Some(r) = req.repetition_penalty {
        sampling.repetition_penalty = r;
    }
    sampling.stop = match &req.stop {
        None => Vec::new(),
        Some(Stop::One(s)) => vec![s.clone()],
        Some(Stop::Many(v)) => v.clone(),
    };

    let constraint = if use_tools && native_tools {
        Some(OutputConstraint::Tools {
            tools: tools::as_json(&declared),
            choice: req.tool_choice.clone().unwrap_or(Value::Null),
        })
    } else if use_tools {
        Some(OutputConstraint::JsonSchema(tools::output_schema(
            &declared,
            &choice,
            req.parallel_tool_calls.unwrap_or(true),
        )))
    } else {
        match &req.response_format {
            None => None,
            Some(f) => match f.kind.as_str() {
                "text" => None,
                "json_object" => Some(OutputConstraint::JsonObject),
                "json_schema" => {
                    let schema = f
                        .json_schema
                        .as_ref()
                        .and_then(|s| s.schema.clone())
                        .ok_or_else(|| {
                            ApiError::invalid(
                                "response_format json_schema needs json_schema.schema",
                            )
                            .with_param("response_format")
                        })?;
                    Some(OutputConstraint::JsonSchema(schema))
                }
                other => {
                    return Err(ApiError::invalid(format!(
                        "response_format type `{other}` is not one of text, json_object, json_schema"
                    ))
                    .with_param("response_format"));
                }
            },
        }
    };
    let logprobs = match (req.logprobs, req.top_logprobs) {
        (Some(true), k) => Some(k.unwrap_or(0).min(20)),
        (_, Some(_)) => {
            return Err(ApiError::invalid("top_logprobs requires logprobs: true")
                .with_param("top_logprobs"));
        }
        _ => None,
    };
    Ok(Plan {
        model: model.to_owned(),
        request: GenerateRequest {
            prompt: cairn_models::Prompt::Chat(messages),
            sampling,
            constraint,
            logprobs,
        },
        tools: (use_tools && !native_tools).then_some(choice),
        include_usage: req.stream_options.as_ref().is_some_and(|o| o.include_usage),
        guard: None,
    })
}

fn finish_reason(r: FinishReason) -> &'static str {
    match r {
        FinishReason::Stop => "stop",
        FinishReason::Length => "length",
    }
}

fn logprob_entry(d: &TokenDelta) -> Value {
    json!({
        "token": d.text,
        "logprob": d.logprob.unwrap_or(0.0),
        "bytes": d.text.as_bytes(),
        "top_logprobs": d.top_logprobs.iter().map(|t| json!({
            "token": t.token, "logprob": t.logprob, "bytes": t.token.as_bytes()
        })).collect::<Vec<_>>()
    })
}

/// The generated text, steps and finish of one run; `on_text` sees each piece.
struct Run {
    text: String,
    steps: Vec<TokenDelta>,
    reason: FinishReason,
    usage: Usage,
    /// The registry model that answered, when a route or gateway chose it.
    model: Option<String>,
    /// Calls a provider made with its own tool calling.
    tool_calls: Vec<ToolCall>,
}

/// The `cairn` extension of a response: the model that answered.
/// Cairn's fields on a completion: the model that answered, the cache, and the trace.
fn cairn_extension(requested: &str, answered: Option<&str>) -> Value {
    json!({"model": answered.unwrap_or(requested), "cache": {"hit": null, "answer_id": null},
        "trace_id": cairn_telemetry::layer::current_trace_id()})
}

fn run(
    generator: &dyn Generator,
    request: GenerateRequest,
    mut on_step: impl FnMut(&TokenDelta) -> bool,
) -> ApiResult<Run> {
    let mut out = Run {
        text: String::new(),
        steps: Vec::new(),
        reason: FinishReason::Stop,
        usage: Usage::default(),
        model: None,
        tool_calls: Vec::new(),
    };
    let want_steps = request.logprobs.is_some();
    for event in generator.generate(request)? {
        match event? {
            StreamEvent::Token(d) => {
                if !on_step(&d) {
                    return Err(ApiError::new(ErrorCode::Cancelled, "the client went away"));
                }
                out.text.push_str(&d.text);
                if want_steps {
                    out.steps.push(d);
                }
            }
            StreamEvent::Done(f) => {
                out.reason = f.reason;
                out.model = f.model;
                out.tool_calls = tools::from_provider(&f.tool_calls)?;
                out.usage = Usage::new(f.usage.prompt_tokens, f.usage.completion_tokens);
            }
        }
    }
    Ok(out)
}

/// The non-streaming response.
pub fn complete(
    generator: &dyn Generator,
    plan: Plan,
    cancel: &Cancel,
) -> ApiResult<(Value, Vec<Decision>)> {
    let want_logprobs = plan.request.logprobs.is_some();
    let Plan {
        model,
        request,
        tools,
        guard,
        ..
    } = plan;
    let r = run(generator, request, |_| !cancel.is_cancelled())?;
    let mut decisions = Vec::new();
    let (message, reason) = match &tools {
        _ if !r.tool_calls.is_empty() => {
            let content = (!r.text.trim().is_empty()).then(|| r.text.clone());
            (
                json!({"role": "assistant", "content": content, "tool_calls": r.tool_calls, "refusal": null}),
                "tool_calls",
            )
        }
        Some(_) => match tools::parse_output(&r.text, r.reason == FinishReason::Length)? {
            Output::Calls(calls) => (
                json!({"role": "assistant", "content": null, "tool_calls": calls, "refusal": null}),
                "tool_calls",
            ),
            Output::Content(c) => (
                json!({"role": "assistant", "content": c, "refusal": null}),
                finish_reason(r.reason),
            ),
        },
        None => {
            let (text, withheld, d) = screen_output(guard.as_deref(), &r.text);
            decisions = d;
            let reason = if withheld {
                "content_filter"
            } else {
                finish_reason(r.reason)
            };
            (
                json!({"role": "assistant", "content": text, "refusal": null}),
                reason,
            )
        }
    };
    let logprobs = if want_logprobs {
        json!({"content": r.steps.iter().map(logprob_entry).collect::<Vec<_>>()})
    } else {
        Value::Null
    };
    let body = json!({
        "id": completion_id(),
        "object": "chat.completion",
        "created": unix_now(),
        "model": model,
        "system_fingerprint": null,
        "choices": [{"index": 0, "message": message, "logprobs": logprobs, "finish_reason": reason}],
        "usage": r.usage,
        "cairn": cairn_extension(&model, r.model.as_deref()),
    });
    Ok((body, decisions))
}

/// Tool calls as streamed deltas: each with its `index`.
fn indexed(calls: &[ToolCall]) -> Vec<Value> {
    calls
        .iter()
        .enumerate()
        .map(|(i, c)| json!({"index": i, "id": c.id, "type": "function", "function": c.function}))
        .collect()
}

/// The streaming response: OpenAI chunks.
/// What a streamed completion amounted to.
pub struct Streamed {
    pub usage: Usage,
    /// The output guardrails' decisions.
    pub decisions: Vec<Decision>,
    /// The model that answered (a route's chosen target).
    pub answered: String,
    /// The completion as one whole body, when it was plain text that was not withheld
    /// and carried no log-probabilities: what the exact cache keeps.
    pub whole: Option<Value>,
}

pub fn stream(generator: &dyn Generator, plan: Plan, em: &mut Emitter) -> ApiResult<Streamed> {
    let id = completion_id();
    let created = unix_now();
    let model = plan.model.clone();
    let chunk = |delta: Value, logprobs: Value, finish: Option<&str>| {
        json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "system_fingerprint": null,
            "choices": [{"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish}]
        })
    };
    let include_usage = plan.include_usage;
    let want_logprobs = plan.request.logprobs.is_some();
    let tool_mode = plan.tools.is_some();
    let mut decisions = Vec::new();
    let mut whole_text: Option<String> = None;
    // Validation errors come before the first chunk, so they surface as an HTTP error.
    let mut sent_role = false;
    let mut gone = false;
    let guard = plan.guard;
    let r = run(generator, plan.request, |d| {
        if tool_mode {
            // Tool output is parsed whole, then sent.
            return em.connected();
        }
        if !sent_role {
            sent_role = true;
            if !em.send(
                None,
                &chunk(
                    json!({"role": "assistant", "content": ""}),
                    Value::Null,
                    None,
                ),
            ) {
                gone = true;
                return false;
            }
        }
        if d.text.is_empty() && !want_logprobs {
            return true;
        }
        let lp = if want_logprobs {
            json!({"content": [logprob_entry(d)]})
        } else {
            Value::Null
        };
        let ok = em.send(None, &chunk(json!({"content": d.text}), lp, None));
        gone = !ok;
        ok
    })?;
    if gone {
        return Err(ApiError::new(ErrorCode::Cancelled, "the client went away"));
    }
    let reason = if !r.tool_calls.is_empty() {
        em.send(
            None,
            &chunk(
                json!({"tool_calls": indexed(&r.tool_calls)}),
                Value::Null,
                None,
            ),
        );
        "tool_calls"
    } else if tool_mode {
        match tools::parse_output(&r.text, r.reason == FinishReason::Length)? {
            Output::Calls(calls) => {
                em.send(
                    None,
                    &chunk(
                        json!({"role": "assistant", "content": null, "tool_calls": indexed(&calls)}),
                        Value::Null,
                        None,
                    ),
                );
                "tool_calls"
            }
            Output::Content(c) => {
                em.send(
                    None,
                    &chunk(
                        json!({"role": "assistant", "content": c}),
                        Value::Null,
                        None,
                    ),
                );
                finish_reason(r.reason)
            }
        }
    } else {
        if !sent_role {
            em.send(
                None,
                &chunk(
                    json!({"role": "assistant", "content": ""}),
                    Value::Null,
                    None,
                ),
            );
        }
        // Streamed text is already out; a withheld answer ends as `content_filter`.
        let (text, withheld, d) = screen_output(guard.as_deref(), &r.text);
        decisions = d;
        if withheld {
            "content_filter"
        } else {
            whole_text = (!want_logprobs).then_some(text);
            finish_reason(r.reason)
        }
    };
    let mut last = chunk(json!({}), Value::Null, Some(reason));
    last["cairn"] = cairn_extension(&model, r.model.as_deref());
    em.send(None, &last);
    if include_usage {
        em.send(
            None,
            &json!({
                "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                "system_fingerprint": null, "choices": [], "usage": r.usage
            }),
        );
    }
    let whole = whole_text.map(|text| {
        json!({
            "id": id, "object": "chat.completion", "created": created, "model": model,
            "system_fingerprint": null,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": null},
                "logprobs": null, "finish_reason": reason}],
            "usage": r.usage,
            "cairn": cairn_extension(&model, r.model.as_deref()),
        })
    });
    let answered = r.model.unwrap_or(model);
    Ok(Streamed {
        usage: r.usage,
        decisions,
        answered,
        whole,
    })
}
