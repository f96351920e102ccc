//! `response_format` on remote models. Cairn cannot constrain a provider's decoding
//! token by token, so the provider is asked for the format (its `response_format`), the
//! whole answer is checked (JSON, an object for `json_object`, valid against the schema
//! for `json_schema`), and an answer that fails is repaired once: the model is asked
//! again with its reply and what is wrong with it. A second failure is an error, never
//! an invalid body. A streamed request is answered as one piece after the check.

use super::chat::{self, Plan};
use super::completion_id;
use crate::error::{ApiError, ApiResult};
use crate::sse::Emitter;
use crate::state::Cancel;
use cairn_guard::Decision;
use cairn_models::{ChatMessage, Generator, OutputConstraint, Prompt, Role};
use cairn_types::ErrorCode;
use serde_json::{Value, json};

/// What is wrong with `text` under `constraint`, if anything.
fn violation(constraint: &OutputConstraint, text: &str) -> Option<String> {
    let value: Value = match serde_json::from_str(text.trim()) {
        Ok(v) => v,
        Err(e) => return Some(format!("it is not JSON ({e})")),
    };
    match constraint {
        OutputConstraint::JsonObject if !value.is_object() => {
            Some("it is not a JSON object".into())
        }
        OutputConstraint::JsonSchema(schema) => match jsonschema::validator_for(schema) {
            Err(e) => Some(format!("the schema itself is invalid ({e})")),
            Ok(v) => v
                .validate(&value)
                .err()
                .map(|e| format!("{e} (at `{}`)", e.instance_path())),
        },
        _ => None,
    }
}

/// Whether `plan` asks for JSON output that must be checked.
pub fn needs_check(plan: &Plan) -> bool {
    matches!(
        plan.request.constraint,
        Some(OutputConstraint::JsonObject | OutputConstraint::JsonSchema(_))
    )
}

fn content(body: &Value) -> &str {
    body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or("")
}

/// A whole completion whose content satisfies the plan's JSON constraint, after at most
/// one repair.
pub fn complete(
    generator: &dyn Generator,
    plan: Plan,
    cancel: &Cancel,
) -> ApiResult<(Value, Vec<Decision>)> {
    let constraint = match &plan.request.constraint {
        Some(c) if needs_check(&plan) => c.clone(),
        _ => return chat::complete(generator, plan, cancel),
    };
    let retry = plan.clone();
    let (body, mut decisions) = chat::complete(generator, plan, cancel)?;
    let Some(problem) = violation(&constraint, content(&body)) else {
        return Ok((body, decisions));
    };
    tracing::info!(model = %retry.model, %problem, "repairing a remote model's JSON answer");
    let mut repair = retry;
    if let Prompt::Chat(messages) = &mut repair.request.prompt {
        messages.push(ChatMessage::new(Role::Assistant, content(&body)));
        messages.push(ChatMessage::new(
            Role::User,
            format!(
                "Your reply does not match the required format: {problem}. Reply again \
                 with only the JSON, nothing else."
            ),
        ));
    }
    let (mut again, more) = chat::complete(generator, repair, cancel)?;
    decisions.extend(more);
    if let Some(problem) = violation(&constraint, content(&again)) {
        return Err(ApiError::new(
            ErrorCode::UpstreamError,
            format!(
                "the model's answer does not match response_format after one repair: {problem}"
            ),
        ));
    }
    for k in ["prompt_tokens", "completion_tokens", "total_tokens"] {
        let sum = body["usage"][k].as_u64().unwrap_or(0) + again["usage"][k].as_u64().unwrap_or(0);
        again["usage"][k] = json!(sum);
    }
    Ok((again, decisions))
}

/// The checked completion sent as a stream: a role chunk, the content, the finish
/// (with `cairn`), and the usage when asked for.
pub fn stream(
    generator: &dyn Generator,
    plan: Plan,
    em: &mut Emitter,
    cancel: &Cancel,
) -> ApiResult<(Value, Vec<Decision>)> {
    let include_usage = plan.include_usage;
    let (body, decisions) = complete(generator, plan, cancel)?;
    emit_whole(em, &body, include_usage);
    Ok((body, decisions))
}

/// Sends a whole chat completion as chunks: the role, the content (or the tool calls),
/// the finish (with `cairn`), and the usage when asked for.
pub fn emit_whole(em: &mut Emitter, body: &Value, include_usage: bool) {
    let id = completion_id();
    let chunk = |delta: Value, finish: Value| {
        json!({"id": id, "object": "chat.completion.chunk", "created": body["created"],
               "model": body["model"], "system_fingerprint": null,
               "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
    };
    em.send(
        None,
        &chunk(json!({"role": "assistant", "content": ""}), Value::Null),
    );
    if let Some(calls) = body["choices"][0]["message"]["tool_calls"].as_array() {
        let indexed: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut c = c.clone();
                c["index"] = json!(i);
                c
            })
            .collect();
        em.send(None, &chunk(json!({"tool_calls": indexed}), Value::Null));
    } else {
        em.send(None, &chunk(json!({"content": content(body)}), Value::Null));
    }
    let mut last = chunk(json!({}), body["choices"][0]["finish_reason"].clone());
    last["cairn"] = body["cairn"].clone();
    em.send(None, &last);
    if include_usage {
        let mut u = chunk(json!({}), Value::Null);
        u["choices"] = json!([]);
        u["usage"] = body["usage"].clone();
        em.send(None, &u);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_name_what_is_wrong() {
        let schema = OutputConstraint::JsonSchema(json!({
            "type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"]
        }));
        assert_eq!(violation(&schema, "{\"age\": 3}"), None);
        assert!(
            violation(&schema, "{\"age\": \"x\"}")
                .unwrap()
                .contains("age")
        );
        assert!(violation(&schema, "not json").unwrap().contains("not JSON"));
        assert!(violation(&OutputConstraint::JsonObject, "[1]").is_some());
        assert_eq!(violation(&OutputConstraint::JsonObject, " {} "), None);
    }
}
