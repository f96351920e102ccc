//! A minimal structural check of JSON output against a JSON Schema: the text parses (a
//! surrounding Markdown code fence is tolerated), the top-level `type` matches, `required`
//! keys are present, and each present property listed in `properties` has the declared
//! `type` and, if given, one of its `enum` values. Full JSON Schema validation (nested
//! schemas, formats, combinators) is done elsewhere; this catches the common failures of a
//! model asked for JSON cheaply and explains them.

use serde_json::Value;

/// The first problem found, or `None` when the output fits.
pub(crate) fn problem(text: &str, schema: &Value) -> Option<String> {
    let body = strip_fence(text);
    let value: Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(e) => return Some(format!("output is not valid JSON: {e}")),
    };
    if let Some(t) = schema.get("type")
        && !type_matches(&value, t)
    {
        return Some(format!(
            "output is {}, schema wants {}",
            type_name(&value),
            show_type(t)
        ));
    }
    let Value::Object(obj) = &value else {
        return None;
    };
    if let Some(Value::Array(required)) = schema.get("required") {
        let missing: Vec<&str> = required
            .iter()
            .filter_map(Value::as_str)
            .filter(|k| !obj.contains_key(*k))
            .collect();
        if !missing.is_empty() {
            return Some(format!("missing required key(s): {}", missing.join(", ")));
        }
    }
    if let Some(Value::Object(props)) = schema.get("properties") {
        for (key, sub) in props {
            let Some(v) = obj.get(key) else { continue };
            if let Some(t) = sub.get("type")
                && !type_matches(v, t)
            {
                return Some(format!(
                    "key {key:?} is {}, schema wants {}",
                    type_name(v),
                    show_type(t)
                ));
            }
            if let Some(Value::Array(options)) = sub.get("enum")
                && !options.contains(v)
            {
                return Some(format!("key {key:?} is {v}, not one of the allowed values"));
            }
        }
        if schema.get("additionalProperties") == Some(&Value::Bool(false))
            && let Some(extra) = obj.keys().find(|k| !props.contains_key(*k))
        {
            return Some(format!("unexpected key {extra:?}"));
        }
    }
    None
}

fn strip_fence(text: &str) -> &str {
    let t = text.trim();
    let Some(rest) = t.strip_prefix("```") else {
        return t;
    };
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_alphanumeric());
    rest.strip_suffix("```").unwrap_or(rest).trim()
}

fn type_matches(v: &Value, t: &Value) -> bool {
    match t {
        Value::String(name) => is_type(v, name),
        Value::Array(names) => names
            .iter()
            .filter_map(Value::as_str)
            .any(|n| is_type(v, n)),
        _ => true,
    }
}

fn is_type(v: &Value, name: &str) -> bool {
    match name {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => true,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn show_type(t: &Value) -> String {
    match t {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn structural_checks() {
        let schema = json!({
            "type": "object",
            "required": ["answer", "confidence"],
            "properties": {
                "answer": {"type": "string"},
                "confidence": {"type": "number"},
                "label": {"enum": ["yes", "no"]}
            }
        });
        assert_eq!(
            problem(r#"{"answer": "x", "confidence": 0.5}"#, &schema),
            None
        );
        assert_eq!(
            problem(
                "```json\n{\"answer\": \"x\", \"confidence\": 1}\n```",
                &schema
            ),
            None
        );
        assert!(
            problem("not json", &schema)
                .unwrap_or_default()
                .contains("not valid JSON")
        );
        assert!(
            problem("[1]", &schema)
                .unwrap_or_default()
                .contains("schema wants object")
        );
        assert!(
            problem(r#"{"answer": "x"}"#, &schema)
                .unwrap_or_default()
                .contains("confidence")
        );
        assert!(
            problem(r#"{"answer": 3, "confidence": 1}"#, &schema)
                .unwrap_or_default()
                .contains("\"answer\"")
        );
        assert!(
            problem(
                r#"{"answer": "x", "confidence": 1, "label": "maybe"}"#,
                &schema
            )
            .is_some()
        );
    }
}
