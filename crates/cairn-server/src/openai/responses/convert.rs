//! Translation between the Responses API and chat completions: a Responses request
//! becomes a chat request (so every model, route and `cairn-rag:*` assistant, with its
//! guardrails, limits and metering, serves it unchanged), and a chat completion or its
//! stream of chunks becomes a response object or its typed events.

use crate::error::{ApiError, ApiResult};
use serde_json::{Map, Value, json};

fn bad(message: impl Into<String>, param: &str) -> ApiError {
    ApiError::invalid(message).with_param(param.to_owned())
}

/// The text of an input item's `content`: a string, or `input_text` / `output_text`
/// parts.
fn content_text(content: &Value, param: &str) -> ApiResult<String> {
    match content {
        Value::String(s) => Ok(s.clone()),
        Value::Array(parts) => {
            let mut out = String::new();
            for (i, p) in parts.iter().enumerate() {
                match p["type"].as_str() {
                    Some("input_text" | "output_text" | "text") => {
                        out.push_str(p["text"].as_str().unwrap_or(""));
                    }
                    other => {
                        return Err(bad(
                            format!("content part type {other:?} is not supported (text only)"),
                            &format!("{param}.content[{i}]"),
                        ));
                    }
                }
            }
            Ok(out)
        }
        Value::Null => Ok(String::new()),
        _ => Err(bad("content must be a string or a list of parts", param)),
    }
}

/// The chat messages of `instructions` and `input`.
fn messages(req: &Value) -> ApiResult<Vec<Value>> {
    let mut out = Vec::new();
    if let Some(i) = req.get("instructions").and_then(Value::as_str) {
        out.push(json!({"role": "system", "content": i}));
    }
    let items = match req.get("input") {
        Some(Value::String(s)) => {
            return Ok([out, vec![json!({"role": "user", "content": s})]].concat());
        }
        Some(Value::Array(items)) => items,
        _ => return Err(bad("input must be a string or a list of items", "input")),
    };
    for (i, item) in items.iter().enumerate() {
        let param = format!("input[{i}]");
        let kind = item["type"].as_str().unwrap_or("message");
        match kind {
            "message" => {
                let role = item["role"].as_str().unwrap_or("user");
                if !["user", "system", "developer", "assistant"].contains(&role) {
                    return Err(bad(format!("role `{role}` is not supported"), &param));
                }
                let text = content_text(&item["content"], &param)?;
                out.push(json!({"role": role, "content": text}));
            }
            "function_call" => {
                let call = json!({"id": item["call_id"], "type": "function",
                    "function": {"name": item["name"], "arguments": item["arguments"]}});
                // Consecutive calls belong to one assistant turn.
                match out.last_mut() {
                    Some(last) if last["role"] == "assistant" && last["tool_calls"].is_array() => {
                        if let Some(calls) = last["tool_calls"].as_array_mut() {
                            calls.push(call);
                        }
                    }
                    _ => out
                        .push(json!({"role": "assistant", "content": null, "tool_calls": [call]})),
                }
            }
            "function_call_output" => {
                let output = match &item["output"] {
                    Value::String(s) => s.clone(),
                    other => content_text(other, &param)?,
                };
                out.push(
                    json!({"role": "tool", "tool_call_id": item["call_id"], "content": output}),
                );
            }
            other => {
                return Err(bad(
                    format!(
                        "input item type `{other}` is not supported (message, function_call, function_call_output)"
                    ),
                    &param,
                ));
            }
        }
    }
    Ok(out)
}

/// The chat-completions request for a Responses request.
pub fn chat_request(req: &Value) -> ApiResult<Value> {
    if !req.is_object() {
        return Err(ApiError::invalid("the body must be a JSON object"));
    }
    if req
        .get("previous_response_id")
        .is_some_and(|v| !v.is_null())
    {
        return Err(bad(
            "previous_response_id is not supported: responses are not stored; send the \
             conversation as input",
            "previous_response_id",
        ));
    }
    let model = req["model"]
        .as_str()
        .ok_or_else(|| bad("model is required", "model"))?;
    let mut chat = Map::new();
    chat.insert("model".into(), json!(model));
    chat.insert("messages".into(), Value::Array(messages(req)?));
    let stream = req["stream"].as_bool().unwrap_or(false);
    chat.insert("stream".into(), json!(stream));
    if stream {
        chat.insert("stream_options".into(), json!({"include_usage": true}));
    }
    for (from, to) in [
        ("max_output_tokens", "max_tokens"),
        ("temperature", "temperature"),
        ("top_p", "top_p"),
        ("parallel_tool_calls", "parallel_tool_calls"),
    ] {
        if let Some(v) = req.get(from).filter(|v| !v.is_null()) {
            chat.insert(to.into(), v.clone());
        }
    }
    if let Some(tools) = req
        .get("tools")
        .and_then(Value::as_array)
        .filter(|t| !t.is_empty())
    {
        let mut out = Vec::new();
        for (i, t) in tools.iter().enumerate() {
            if t["type"] != "function" {
                return Err(bad(
                    format!("tool type {} is not supported (function only)", t["type"]),
                    &format!("tools[{i}]"),
                ));
            }
            let mut f = json!({"name": t["name"]});
            for k in ["description", "parameters"] {
                if let Some(v) = t.get(k).filter(|v| !v.is_null()) {
                    f[k] = v.clone();
                }
            }
            out.push(json!({"type": "function", "function": f}));
        }
        chat.insert("tools".into(), Value::Array(out));
    }
    match req.get("tool_choice") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => {
            chat.insert("tool_choice".into(), json!(s));
        }
        Some(c) if c["type"] == "function" => {
            chat.insert(
                "tool_choice".into(),
                json!({"type": "function", "function": {"name": c["name"]}}),
            );
        }
        Some(other) => {
            return Err(bad(
                format!("tool_choice {other} is not supported"),
                "tool_choice",
            ));
        }
    }
    if let Some(format) = req.pointer("/text/format").filter(|f| !f.is_null()) {
        let rf = match format["type"].as_str() {
            Some("text") => None,
            Some("json_object") => Some(json!({"type": "json_object"})),
            Some("json_schema") => Some(json!({"type": "json_schema", "json_schema": {
                "name": format["name"].as_str().unwrap_or("output"),
                "schema": format["schema"], "strict": format["strict"]}})),
            other => {
                return Err(bad(
                    format!("text.format type {other:?} is not supported"),
                    "text.format",
                ));
            }
        };
        if let Some(rf) = rf {
            chat.insert("response_format".into(), rf);
        }
    }
    Ok(Value::Object(chat))
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// The parts of a response object that echo the request.
#[derive(Clone, Debug)]
pub struct Echo {
    pub id: String,
    pub created_at: u64,
    pub model: String,
    fields: Map<String, Value>,
}

impl Echo {
    pub fn of(req: &Value) -> Self {
        let mut fields = Map::new();
        for k in [
            "instructions",
            "max_output_tokens",
            "temperature",
            "top_p",
            "tool_choice",
            "tools",
            "parallel_tool_calls",
            "metadata",
            "text",
            "user",
        ] {
            fields.insert(k.into(), req.get(k).cloned().unwrap_or(Value::Null));
        }
        if fields["text"].is_null() {
            fields.insert("text".into(), json!({"format": {"type": "text"}}));
        }
        if fields["tools"].is_null() {
            fields.insert("tools".into(), json!([]));
        }
        if fields["tool_choice"].is_null() {
            fields.insert("tool_choice".into(), json!("auto"));
        }
        if fields["parallel_tool_calls"].is_null() {
            fields.insert("parallel_tool_calls".into(), json!(true));
        }
        if fields["metadata"].is_null() {
            fields.insert("metadata".into(), json!({}));
        }
        Self {
            id: new_id("resp"),
            created_at: crate::openai::unix_now(),
            model: req["model"].as_str().unwrap_or("").to_owned(),
            fields,
        }
    }

    /// The response object with `output`, `usage` and how it ended.
    pub fn response(
        &self,
        status: &str,
        output: Vec<Value>,
        usage: Value,
        finish: Option<&str>,
        cairn: Value,
    ) -> Value {
        let incomplete = match finish {
            Some("length") => json!({"reason": "max_output_tokens"}),
            Some("content_filter") => json!({"reason": "content_filter"}),
            _ => Value::Null,
        };
        let status = if status == "completed" && !incomplete.is_null() {
            "incomplete"
        } else {
            status
        };
        let mut r = json!({
            "id": self.id, "object": "response", "created_at": self.created_at,
            "status": status, "model": self.model, "output": output, "usage": usage,
            "error": null, "incomplete_details": incomplete, "reasoning": null,
            "store": false, "truncation": "disabled", "background": false,
        });
        for (k, v) in &self.fields {
            r[k] = v.clone();
        }
        if !cairn.is_null() {
            r["cairn"] = cairn;
        }
        r
    }
}

/// Chat usage in the Responses API's shape.
pub fn usage(chat: &Value) -> Value {
    let n = |k: &str| chat[k].as_u64().unwrap_or(0);
    json!({
        "input_tokens": n("prompt_tokens"),
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": n("completion_tokens"),
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": n("prompt_tokens") + n("completion_tokens"),
    })
}

fn message_item(id: &str, text: &str, status: &str) -> Value {
    json!({"type": "message", "id": id, "status": status, "role": "assistant",
           "content": [{"type": "output_text", "text": text, "annotations": []}]})
}

fn call_item(call: &Value, status: &str) -> Value {
    json!({"type": "function_call", "id": new_id("fc"), "call_id": call["id"],
           "name": call["function"]["name"], "arguments": call["function"]["arguments"],
           "status": status})
}

/// A whole chat completion as a response object.
pub fn response(echo: &Echo, chat: &Value) -> Value {
    let choice = &chat["choices"][0];
    let message = &choice["message"];
    let mut output = Vec::new();
    let text = message["content"].as_str().unwrap_or("");
    let calls = message["tool_calls"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !text.is_empty() || calls.is_empty() {
        output.push(message_item(&new_id("msg"), text, "completed"));
    }
    output.extend(calls.iter().map(|c| call_item(c, "completed")));
    let mut cairn = chat["cairn"].clone();
    if let Some(c) = chat.get("citations") {
        cairn["citations"] = c.clone();
    }
    echo.response(
        "completed",
        output,
        usage(&chat["usage"]),
        choice["finish_reason"].as_str(),
        cairn,
    )
}

/// Turns a stream of chat chunks into the Responses API's events, in order.
pub struct EventStream {
    echo: Echo,
    seq: u64,
    started: bool,
    message: Option<(String, String)>,
    output: Vec<Value>,
    finish: Option<String>,
    cairn: Value,
}

impl EventStream {
    pub fn new(echo: Echo) -> Self {
        Self {
            echo,
            seq: 0,
            started: false,
            message: None,
            output: Vec::new(),
            finish: None,
            cairn: Value::Null,
        }
    }

    fn event(&mut self, kind: &str, mut data: Value) -> (String, Value) {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(self.seq);
        self.seq += 1;
        (kind.to_owned(), data)
    }

    fn close_message(&mut self, out: &mut Vec<(String, Value)>) {
        let Some((id, text)) = self.message.take() else {
            return;
        };
        let index = self.output.len();
        let part = json!({"type": "output_text", "text": text, "annotations": []});
        out.push(self.event(
            "response.output_text.done",
            json!({"item_id": id, "output_index": index, "content_index": 0, "text": text}),
        ));
        out.push(self.event(
            "response.content_part.done",
            json!({"item_id": id, "output_index": index, "content_index": 0, "part": part}),
        ));
        let item = message_item(&id, &text, "completed");
        out.push(self.event(
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
        ));
        self.output.push(item);
    }

    /// The events for one chat chunk.
    pub fn on_chunk(&mut self, chunk: &Value) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            let r = self
                .echo
                .response("in_progress", Vec::new(), Value::Null, None, Value::Null);
            out.push(self.event("response.created", json!({"response": r})));
            out.push(self.event("response.in_progress", json!({"response": r})));
        }
        let choice = &chunk["choices"][0];
        if let Some(text) = choice["delta"]["content"]
            .as_str()
            .filter(|t| !t.is_empty())
        {
            if self.message.is_none() {
                let id = new_id("msg");
                let index = self.output.len();
                let item = json!({"type": "message", "id": id, "status": "in_progress", "role": "assistant", "content": []});
                out.push(self.event(
                    "response.output_item.added",
                    json!({"output_index": index, "item": item}),
                ));
                out.push(self.event(
                    "response.content_part.added",
                    json!({"item_id": id, "output_index": index, "content_index": 0,
                    "part": {"type": "output_text", "text": "", "annotations": []}}),
                ));
                self.message = Some((id, String::new()));
            }
            let index = self.output.len();
            let id = self
                .message
                .as_ref()
                .map(|m| m.0.clone())
                .unwrap_or_default();
            if let Some(m) = self.message.as_mut() {
                m.1.push_str(text);
            }
            out.push(self.event(
                "response.output_text.delta",
                json!({"item_id": id, "output_index": index, "content_index": 0, "delta": text}),
            ));
        }
        if let Some(calls) = choice["delta"]["tool_calls"].as_array() {
            self.close_message(&mut out);
            for c in calls {
                let index = self.output.len();
                let mut item = call_item(c, "in_progress");
                let args = item["arguments"].as_str().unwrap_or("").to_owned();
                item["arguments"] = json!("");
                let id = item["id"].clone();
                out.push(self.event(
                    "response.output_item.added",
                    json!({"output_index": index, "item": item}),
                ));
                out.push(self.event(
                    "response.function_call_arguments.delta",
                    json!({"item_id": id, "output_index": index, "delta": args}),
                ));
                out.push(self.event(
                    "response.function_call_arguments.done",
                    json!({"item_id": id, "output_index": index, "arguments": args}),
                ));
                item["arguments"] = json!(args);
                item["status"] = json!("completed");
                out.push(self.event(
                    "response.output_item.done",
                    json!({"output_index": index, "item": item}),
                ));
                self.output.push(item);
            }
        }
        if let Some(f) = choice["finish_reason"].as_str() {
            self.close_message(&mut out);
            self.finish = Some(f.to_owned());
            if let Some(c) = chunk.get("cairn") {
                self.cairn = c.clone();
            }
            if let Some(c) = chunk.get("citations") {
                self.cairn["citations"] = c.clone();
            }
        }
        if let Some(u) = chunk.get("usage").filter(|u| !u.is_null()) {
            self.close_message(&mut out);
            let r = self.echo.response(
                "completed",
                self.output.clone(),
                usage(u),
                self.finish.as_deref(),
                self.cairn.clone(),
            );
            out.push(self.event("response.completed", json!({"response": r})));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_items_become_chat_messages() {
        let req = json!({"model": "m", "instructions": "Be brief.", "max_output_tokens": 9,
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
                {"type": "function_call", "call_id": "c1", "name": "w", "arguments": "{}"},
                {"type": "function_call", "call_id": "c2", "name": "t", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": "sunny"}],
            "tools": [{"type": "function", "name": "w", "parameters": {"type": "object"}}],
            "tool_choice": {"type": "function", "name": "w"},
            "text": {"format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}}}});
        let chat = chat_request(&req).unwrap();
        let m = chat["messages"].as_array().unwrap();
        assert_eq!(m.len(), 4);
        assert_eq!(m[0], json!({"role": "system", "content": "Be brief."}));
        assert_eq!(m[1]["content"], "Weather?");
        assert_eq!(
            m[2]["tool_calls"].as_array().unwrap().len(),
            2,
            "one assistant turn"
        );
        assert_eq!(
            m[3],
            json!({"role": "tool", "tool_call_id": "c1", "content": "sunny"})
        );
        assert_eq!(chat["max_tokens"], 9);
        assert_eq!(chat["tools"][0]["function"]["name"], "w");
        assert_eq!(chat["tool_choice"]["function"]["name"], "w");
        assert_eq!(chat["response_format"]["json_schema"]["name"], "x");
        for bad in [
            json!({"model": "m", "input": [{"type": "input_image"}]}),
            json!({"model": "m", "input": "x", "previous_response_id": "resp_1"}),
            json!({"model": "m", "input": "x", "tools": [{"type": "web_search"}]}),
            json!({"input": "x"}),
            json!({"model": "m", "input": 3}),
        ] {
            assert!(chat_request(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_chunk_stream_becomes_typed_events_ending_in_completed() {
        let mut s = EventStream::new(Echo::of(&json!({"model": "m"})));
        let mut kinds = Vec::new();
        for chunk in [
            json!({"choices": [{"delta": {"role": "assistant", "content": ""}}]}),
            json!({"choices": [{"delta": {"content": "Hel"}}]}),
            json!({"choices": [{"delta": {"content": "lo"}}]}),
            json!({"choices": [{"delta": {}, "finish_reason": "stop"}], "cairn": {"model": "m"}}),
            json!({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}),
        ] {
            kinds.extend(s.on_chunk(&chunk));
        }
        let names: Vec<&str> = kinds.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed"
            ]
        );
        let done = &kinds.last().unwrap().1["response"];
        assert_eq!(done["output"][0]["content"][0]["text"], "Hello");
        assert_eq!(done["usage"]["total_tokens"], 5);
        assert_eq!(done["status"], "completed");
        assert_eq!(done["cairn"]["model"], "m");
        let seqs: Vec<u64> = kinds
            .iter()
            .map(|(_, d)| d["sequence_number"].as_u64().unwrap())
            .collect();
        assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1));
    }
}
