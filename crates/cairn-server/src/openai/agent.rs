//! `cairn-agent:<name>` models: the chat's last user message is the agent's task and
//! earlier turns its conversation. The run's final answer is the message content; the
//! run (id, state, reason, usage) comes back in the extra field `cairn`. A run that needs
//! approval does not hold the connection open: the content says so and names the run
//! and the routes that approve or deny it.

use super::types::{ChatRequest, Usage};
use super::{completion_id, unix_now};
use crate::error::{ApiError, ApiResult};
use crate::native::agents::Waited;
use cairn_agent::{Caller, HistoryTurn, StartRequest};
use cairn_store::{AgentRun, RunState};
use serde_json::{Value, json};

/// Prefix of the agents' model names.
pub const AGENT_PREFIX: &str = "cairn-agent:";

/// The run a chat asks for.
pub fn plan(req: &ChatRequest, agent: &str, caller: Caller) -> ApiResult<StartRequest> {
    if req.tools.as_ref().is_some_and(|t| !t.is_empty()) {
        return Err(ApiError::invalid("cairn-agent models use their own tools").with_param("tools"));
    }
    if req
        .response_format
        .as_ref()
        .is_some_and(|f| f.kind != "text")
    {
        return Err(
            ApiError::invalid("cairn-agent models answer in text").with_param("response_format")
        );
    }
    // The agent's instructions are its own: system messages are not mixed in.
    let mut turns: Vec<HistoryTurn> = req
        .turns("cairn-agent")?
        .into_iter()
        .map(|(role, content)| HistoryTurn { role, content })
        .collect();
    let task = match turns.pop() {
        Some(t) if t.role == "user" => t.content,
        _ => {
            return Err(
                ApiError::invalid("the last message must be the user's task")
                    .with_param("messages"),
            );
        }
    };
    Ok(StartRequest {
        agent: agent.to_owned(),
        task,
        caller,
        history: turns,
    })
}

/// What the chat says about a run.
fn content(run: &AgentRun, running: bool) -> String {
    if running {
        return format!(
            "The agent is still working (run {}). Its result will be at GET /api/v1/agent-runs/{}.",
            run.id, run.id
        );
    }
    match run.state {
        RunState::Succeeded => run.output.clone().unwrap_or_default(),
        RunState::WaitingApproval => format!(
            "This run needs a person's approval before it goes on (run {id}): approve with POST \
             /api/v1/agent-runs/{id}/approve or deny with POST /api/v1/agent-runs/{id}/deny; its \
             result will be at GET /api/v1/agent-runs/{id}.",
            id = run.id
        ),
        _ => {
            let mut s = format!(
                "The run ended {} ({}).",
                run.state.as_str(),
                run.reason.clone().unwrap_or_default()
            );
            if let Some(o) = &run.output {
                s.push('\n');
                s.push_str(o);
            }
            s
        }
    }
}

fn tokens(run: &AgentRun) -> Usage {
    let n = |k: &str| {
        run.usage[k]
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0)
    };
    Usage::new(n("prompt_tokens"), n("completion_tokens"))
}

fn extras(run: &AgentRun, running: bool) -> Value {
    json!({
        "run_id": run.id,
        "state": if running { "running" } else { run.state.as_str() },
        "reason": run.reason,
        "usage": run.usage,
    })
}

fn parts(waited: &Waited) -> (&AgentRun, bool) {
    match waited {
        Waited::Ended(r) => (r, false),
        Waited::Running(r) => (r, true),
    }
}

/// The chat.completion for a run.
pub fn body(model: &str, waited: &Waited) -> Value {
    let (run, running) = parts(waited);
    json!({
        "id": completion_id(),
        "object": "chat.completion",
        "created": unix_now(),
        "model": model,
        "system_fingerprint": null,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content(run, running), "refusal": null},
                     "logprobs": null, "finish_reason": "stop"}],
        "usage": tokens(run),
        "cairn": extras(run, running),
    })
}

/// The same as chat.completion.chunk events: the role, the content, the end (and the
/// usage when asked for).
pub fn chunks(model: &str, waited: &Waited, include_usage: bool) -> Vec<Value> {
    let (run, running) = parts(waited);
    let id = completion_id();
    let created = unix_now();
    let chunk = |delta: Value, finish: Option<&str>| {
        json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
               "system_fingerprint": null,
               "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
    };
    let mut last = chunk(json!({}), Some("stop"));
    last["cairn"] = extras(run, running);
    let mut out = vec![
        chunk(json!({"role": "assistant", "content": ""}), None),
        chunk(json!({"content": content(run, running)}), None),
        last,
    ];
    if include_usage {
        out.push(
            json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                        "system_fingerprint": null, "choices": [], "usage": tokens(run)}),
        );
    }
    out
}
