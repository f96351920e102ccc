//! Tool calling on local models: the tools are described in a system message and the
//! output is constrained (llguidance, JSON Schema) to either
//! `{"tool_calls": [{"name": ..., "arguments": {...}}]}` or `{"content": "..."}`, so a
//! call always names a declared function and its arguments validate against that
//! function's parameter schema. The result is returned in OpenAI's shape.

use super::types::{FunctionCall, Tool, ToolCall};
use crate::error::{ApiError, ApiResult};
use serde_json::{Value, json};

/// What the caller allows.
#[derive(Clone, Debug, PartialEq)]
pub enum Choice {
    /// Tools are ignored.
    None,
    /// The model chooses between answering and calling.
    Auto,
    /// The model must call one of the tools.
    Required,
    /// The model must call this one.
    Named(String),
}

/// Parses `tool_choice` (default: `auto` when tools are given).
pub fn parse_choice(v: Option<&Value>, tools: &[Tool]) -> ApiResult<Choice> {
    let bad = |m: String| ApiError::invalid(m).with_param("tool_choice");
    let choice = match v {
        None | Some(Value::Null) => Choice::Auto,
        Some(Value::String(s)) => match s.as_str() {
            "none" => Choice::None,
            "auto" => Choice::Auto,
            "required" => Choice::Required,
            other => return Err(bad(format!("unknown tool_choice `{other}`"))),
        },
        Some(Value::Object(o)) => {
            let name = o
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .ok_or_else(|| bad("tool_choice object needs function.name".into()))?;
            if !tools.iter().any(|t| t.function.name == name) {
                return Err(bad(format!(
                    "tool_choice names `{name}`, which is not in tools"
                )));
            }
            Choice::Named(name.to_owned())
        }
        Some(other) => return Err(bad(format!("tool_choice cannot be {other}"))),
    };
    if tools.is_empty() && matches!(choice, Choice::Required | Choice::Named(_)) {
        return Err(bad("tool_choice requires tools".into()));
    }
    Ok(choice)
}

/// The declared tools as OpenAI JSON, for a provider that calls tools itself.
pub fn as_json(tools: &[Tool]) -> Value {
    Value::Array(
        tools
            .iter()
            .map(|t| {
                let mut f = json!({"name": t.function.name});
                if let Some(d) = &t.function.description {
                    f["description"] = json!(d);
                }
                if let Some(p) = &t.function.parameters {
                    f["parameters"] = p.clone();
                }
                json!({"type": t.kind, "function": f})
            })
            .collect(),
    )
}

/// A provider's native tool calls as OpenAI tool calls; a call without an id gets one.
pub fn from_provider(calls: &[Value]) -> ApiResult<Vec<ToolCall>> {
    calls
        .iter()
        .map(|c| {
            let mut call: ToolCall = serde_json::from_value(c.clone()).map_err(|e| {
                ApiError::new(
                    cairn_types::ErrorCode::UpstreamError,
                    format!("the provider sent a malformed tool call ({e}): {c}"),
                )
            })?;
            if call.id.is_empty() {
                call.id = format!("call_{}", uuid::Uuid::now_v7().simple());
            }
            Ok(call)
        })
        .collect()
}

/// Checks the declared tools.
pub fn validate(tools: &[Tool]) -> ApiResult<()> {
    if tools.len() > 128 {
        return Err(ApiError::invalid("at most 128 tools").with_param("tools"));
    }
    for t in tools {
        if t.kind != "function" {
            return Err(ApiError::invalid(format!(
                "tool type `{}` is not supported (function only)",
                t.kind
            ))
            .with_param("tools"));
        }
        let n = &t.function.name;
        if n.is_empty()
            || n.len() > 64
            || !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(ApiError::invalid(format!(
                "function name `{n}` must be 1-64 characters of a-z, A-Z, 0-9, _ and -"
            ))
            .with_param("tools"));
        }
        if t.function
            .parameters
            .as_ref()
            .is_some_and(|p| !p.is_object())
        {
            return Err(ApiError::invalid(format!(
                "parameters of `{n}` must be a JSON Schema object"
            ))
            .with_param("tools"));
        }
    }
    Ok(())
}

fn params(t: &Tool) -> Value {
    t.function
        .parameters
        .clone()
        .unwrap_or_else(|| json!({"type": "object", "properties": {}}))
}

fn closed_params(t: &Tool) -> Value {
    let mut p = params(t);
    cairn_models::close_objects(&mut p);
    p
}

/// The output schema for this choice; `parallel` allows several calls in one turn
/// (a named function is called once, as OpenAI does).
pub fn output_schema(tools: &[Tool], choice: &Choice, parallel: bool) -> Value {
    let allowed: Vec<&Tool> = match choice {
        Choice::Named(name) => tools.iter().filter(|t| &t.function.name == name).collect(),
        _ => tools.iter().collect(),
    };
    let calls: Vec<Value> = allowed
        .iter()
        .map(|t| {
            json!({
                "type": "object",
                "properties": {
                    "name": {"const": t.function.name},
                    "arguments": closed_params(t)
                },
                "required": ["name", "arguments"],
                "additionalProperties": false
            })
        })
        .collect();
    let call = json!({
        "type": "object",
        "properties": {
            "tool_calls": {
                "type": "array",
                "items": {"anyOf": calls},
                "minItems": 1,
                "maxItems": if parallel && !matches!(choice, Choice::Named(_)) { 4 } else { 1 }
            }
        },
        "required": ["tool_calls"],
        "additionalProperties": false
    });
    match choice {
        Choice::Auto => json!({"anyOf": [call, {
            "type": "object",
            "properties": {"content": {"type": "string"}},
            "required": ["content"],
            "additionalProperties": false
        }]}),
        _ => call,
    }
}

/// The system message describing the tools.
pub fn system_prompt(tools: &[Tool], choice: &Choice) -> String {
    let list: Vec<Value> = tools
        .iter()
        .map(|t| {
            json!({
                "name": t.function.name,
                "description": t.function.description.clone().unwrap_or_default(),
                "parameters": params(t)
            })
        })
        .collect();
    let how = match choice {
        Choice::Auto => {
            "If a function is needed to answer, reply with JSON \
             {\"tool_calls\": [{\"name\": <function name>, \"arguments\": {...}}]}. Otherwise \
             reply with JSON {\"content\": <your answer>}."
        }
        Choice::Named(_) | Choice::Required => {
            "Call a function now: reply with JSON \
             {\"tool_calls\": [{\"name\": <function name>, \"arguments\": {...}}]}, filling the \
             arguments from the conversation."
        }
        Choice::None => "",
    };
    format!(
        "You can call these functions:\n{}\n{how}",
        serde_json::to_string_pretty(&list).unwrap_or_default()
    )
}

/// What the constrained output meant.
pub enum Output {
    Calls(Vec<ToolCall>),
    Content(String),
}

/// Turns the constrained output into tool calls (with fresh ids) or content.
/// Output that `max_tokens` cut short (`truncated`) comes back as it is, as content, so
/// the response can say `finish_reason: "length"` the way OpenAI's does.
pub fn parse_output(text: &str, truncated: bool) -> ApiResult<Output> {
    let v: Value = match serde_json::from_str(text.trim()) {
        Ok(v) => v,
        Err(_) if truncated => return Ok(Output::Content(text.to_owned())),
        Err(e) => {
            return Err(ApiError::new(
                cairn_types::ErrorCode::ModelError,
                format!("the model's constrained tool output is not JSON ({e})"),
            ));
        }
    };
    if let Some(calls) = v.get("tool_calls").and_then(Value::as_array) {
        let out = calls
            .iter()
            .map(|c| ToolCall {
                id: format!("call_{}", uuid::Uuid::new_v4().simple()),
                kind: "function".into(),
                function: FunctionCall {
                    name: c
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    arguments: c
                        .get("arguments")
                        .map_or_else(|| "{}".to_owned(), Value::to_string),
                },
            })
            .collect();
        return Ok(Output::Calls(out));
    }
    Ok(Output::Content(
        v.get("content")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    ))
}

/// How an assistant's earlier tool calls are shown back to the model: the same JSON it
/// is constrained to write.
pub fn render_calls(calls: &[ToolCall]) -> String {
    let list: Vec<Value> = calls
        .iter()
        .map(|c| {
            let args: Value = serde_json::from_str(&c.function.arguments)
                .unwrap_or_else(|_| Value::String(c.function.arguments.clone()));
            json!({"name": c.function.name, "arguments": args})
        })
        .collect();
    json!({"tool_calls": list}).to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::openai::types::FunctionDef;

    fn weather() -> Tool {
        Tool {
            kind: "function".into(),
            function: FunctionDef {
                name: "get_weather".into(),
                description: Some("Weather in a city".into()),
                parameters: Some(json!({"type": "object", "properties": {
                        "city": {"type": "string"},
                        "properties": {"type": "object", "properties": {"x": {"type": "integer"}}}
                    }, "required": ["city"]})),
            },
        }
    }

    #[test]
    fn choices_parse_and_refer_to_declared_tools() {
        let tools = [weather()];
        assert_eq!(parse_choice(None, &tools).unwrap(), Choice::Auto);
        assert_eq!(
            parse_choice(Some(&json!("required")), &tools).unwrap(),
            Choice::Required
        );
        assert_eq!(
            parse_choice(
                Some(&json!({"type": "function", "function": {"name": "get_weather"}})),
                &tools
            )
            .unwrap(),
            Choice::Named("get_weather".into())
        );
        assert!(
            parse_choice(
                Some(&json!({"type": "function", "function": {"name": "nope"}})),
                &tools
            )
            .is_err()
        );
        assert!(parse_choice(Some(&json!("required")), &[]).is_err());
        assert!(parse_choice(Some(&json!("sometimes")), &tools).is_err());
    }

    #[test]
    fn outputs_become_openai_tool_calls() {
        let Output::Calls(calls) = parse_output(
            r#"{"tool_calls":[{"name":"get_weather","arguments":{"city":"Oslo"}}]}"#,
            false,
        )
        .unwrap() else {
            panic!("expected calls")
        };
        assert_eq!(calls[0].function.name, "get_weather");
        assert_eq!(calls[0].function.arguments, r#"{"city":"Oslo"}"#);
        assert!(calls[0].id.starts_with("call_"));
        assert!(
            matches!(parse_output(r#"{"content":"hi"}"#, false).unwrap(), Output::Content(c) if c == "hi")
        );
        assert!(parse_output("{\"tool_calls\": [", false).is_err());
        // Cut short by max_tokens: returned as it is, for a `length` finish.
        assert!(
            matches!(parse_output("{\"tool_calls\": [", true).unwrap(), Output::Content(c) if c == "{\"tool_calls\": [")
        );
        let back: Value = serde_json::from_str(&render_calls(&calls)).unwrap();
        assert_eq!(
            back,
            json!({"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]})
        );
    }

    #[test]
    fn the_schema_pins_names_and_arguments() {
        let s = output_schema(&[weather()], &Choice::Required, true);
        assert_eq!(
            s["properties"]["tool_calls"]["items"]["anyOf"][0]["properties"]["name"]["const"],
            "get_weather"
        );
        assert_eq!(
            s["properties"]["tool_calls"]["items"]["anyOf"][0]["properties"]["arguments"]["required"]
                [0],
            "city"
        );
        let args = &s["properties"]["tool_calls"]["items"]["anyOf"][0]["properties"]["arguments"];
        assert_eq!(args["additionalProperties"], false, "{args}");
        // Nested objects are closed; a property that happens to be called `properties`
        // stays a property.
        let nested = &args["properties"]["properties"];
        assert_eq!(nested["additionalProperties"], false, "{args}");
        assert!(
            args["properties"].get("additionalProperties").is_none(),
            "{args}"
        );
        assert_eq!(s["properties"]["tool_calls"]["maxItems"], 4);
        let single = output_schema(&[weather()], &Choice::Required, false);
        assert_eq!(single["properties"]["tool_calls"]["maxItems"], 1);
        let named = output_schema(&[weather()], &Choice::Named("get_weather".into()), true);
        assert_eq!(named["properties"]["tool_calls"]["maxItems"], 1);
        assert!(output_schema(&[weather()], &Choice::Auto, true)["anyOf"].is_array());
    }
}
