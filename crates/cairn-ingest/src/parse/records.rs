//! CSV/TSV and JSON/JSON Lines: one `Record` block per row or object.
//!
//! A record is rendered as `key: value` lines, empty values skipped. CSV uses its header
//! row for keys (`column N` where a header is missing); `.tsv` files, or files whose first
//! line has tabs but no commas, are tab-separated. JSON: an array gives one record per
//! element, any other value one record; JSON Lines (`.jsonl`, `.ndjson`, or a `.json`
//! that is not one value but parses line by line) one record per line. Nested keys are
//! flattened with dots (`a.b: v`, array elements as `a.0.b: v`); arrays of scalars are
//! joined with `, `.

use cairn_types::{Block, BlockKind, ParsedDoc};
use serde_json::Value;

use super::decode_text;
use crate::normalize::normalize;
use crate::{Error, Result};

pub(crate) fn parse_csv(bytes: &[u8], name: &str) -> Result<ParsedDoc> {
    let mut doc = ParsedDoc::default();
    let text = decode_text(bytes, name, &mut doc.warnings);
    let first_line = text.lines().next().unwrap_or_default();
    let tsv = name.to_ascii_lowercase().ends_with(".tsv")
        || (first_line.contains('\t') && !first_line.contains(','));
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(if tsv { b'\t' } else { b',' })
        .flexible(true)
        .has_headers(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| Error::corrupt(format!("{name}: unreadable CSV header: {e}")))?
        .iter()
        .map(normalize)
        .collect();
    for (index, row) in reader.records().enumerate() {
        let row = row.map_err(|e| {
            Error::corrupt(format!(
                "{name}: unreadable CSV at record {}: {e}",
                index + 1
            ))
        })?;
        let mut lines = Vec::new();
        for (i, value) in row.iter().enumerate() {
            let value = normalize(value);
            if value.is_empty() {
                continue;
            }
            let key = match headers.get(i) {
                Some(h) if !h.is_empty() => h.clone(),
                _ => format!("column {}", i + 1),
            };
            lines.push(format!("{key}: {value}"));
        }
        push_record(&mut doc.blocks, lines);
    }
    Ok(doc)
}

pub(crate) fn parse_json(bytes: &[u8], name: &str) -> Result<ParsedDoc> {
    let mut doc = ParsedDoc::default();
    let text = decode_text(bytes, name, &mut doc.warnings);
    let lower = name.to_ascii_lowercase();
    let values = if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") {
        json_lines(&text, name)?
    } else {
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Array(items)) => items,
            Ok(value) => vec![value],
            Err(whole) => match json_lines(&text, name) {
                Ok(values) if values.len() >= 2 => values,
                _ => return Err(json_error(name, &whole, 0)),
            },
        }
    };
    for value in &values {
        let mut lines = Vec::new();
        flatten("", value, &mut lines);
        push_record(&mut doc.blocks, lines);
    }
    Ok(doc)
}

fn json_lines(text: &str, name: &str) -> Result<Vec<Value>> {
    let mut values = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value = serde_json::from_str(line).map_err(|e| json_error(name, &e, i))?;
        values.push(value);
    }
    Ok(values)
}

/// `line_offset`: lines before the parsed text (for JSON Lines).
fn json_error(name: &str, e: &serde_json::Error, line_offset: usize) -> Error {
    Error::corrupt(format!(
        "{name}: invalid JSON at line {}, column {}: {e}",
        e.line() + line_offset,
        e.column()
    ))
}

fn push_record(blocks: &mut Vec<Block>, lines: Vec<String>) {
    if !lines.is_empty() {
        blocks.push(Block::new(BlockKind::Record, lines.join("\n"), Vec::new()));
    }
}

fn scalar(value: &Value) -> Option<String> {
    let s = match value {
        Value::Null => return None,
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => normalize(s),
        Value::Array(_) | Value::Object(_) => return None,
    };
    (!s.is_empty()).then_some(s)
}

fn line(key: &str, value: String) -> String {
    if key.is_empty() {
        value
    } else {
        format!("{key}: {value}")
    }
}

fn flatten(prefix: &str, value: &Value, out: &mut Vec<String>) {
    let join = |key: &str| {
        if prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{prefix}.{key}")
        }
    };
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                flatten(&join(key), v, out);
            }
        }
        Value::Array(items) if items.iter().all(|v| !v.is_array() && !v.is_object()) => {
            let joined: Vec<String> = items.iter().filter_map(scalar).collect();
            if !joined.is_empty() {
                out.push(line(prefix, joined.join(", ")));
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&join(&i.to_string()), v, out);
            }
        }
        other => {
            if let Some(s) = scalar(other) {
                out.push(line(prefix, s));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flatten_nested() {
        let v: Value =
            serde_json::json!({"a": {"b": 1, "c": null}, "t": ["x", "y"], "o": [{"k": true}]});
        let mut out = Vec::new();
        flatten("", &v, &mut out);
        out.sort();
        assert_eq!(out, ["a.b: 1", "o.0.k: true", "t: x, y"]);
    }

    #[test]
    fn tsv_by_content() {
        let doc = parse_csv(b"name\tage\nAda\t36\n", "people.txt").unwrap();
        assert_eq!(doc.blocks[0].text, "name: Ada\nage: 36");
    }
}
