//! CSV/TSV and JSON/JSON Lines: one `Record` block per row or object.
//!
//! A record is rendered as `key: value` lines, empty values skipped. CSV uses its header
//! row for keys (`column N` where a header is missing); `.tsv` files, or files whose first
//! line has tabs but no commas, are tab-separated. JSON: an array gives one record per
//! element, any other value one record; JSON Lines (`.jsonl`, `.ndjson`, or a `.json`
//! that is not one value but parses line by line) one record per line. Nested keys are
//! flattened with dots (`a.b: v`, array elements as `a.0.b: v`); arrays of scalars are
//! joined with `, `.
//!
//! Limits (`too_large`): a CSV row of more than [`MAX_CSV_COLUMNS`] fields; JSON nested
//! deeper than serde_json's recursion limit ([`JSON_MAX_DEPTH`]); and rendered text
//! beyond [`RenderBudget`] (keys are repeated on every row, and a JSON key path on every
//! leaf, so a small file could otherwise render to gigabytes). A single huge CSV field is
//! only as large as the file.

use cairn_types::{Block, BlockKind, ParsedDoc};
use serde_json::Value;

use cairn_types::ErrorCode;

use super::decode_text;
use crate::normalize::normalize;
use crate::{Error, Result};

/// Most fields in one CSV row: Excel's column limit.
pub(crate) const MAX_CSV_COLUMNS: usize = 16_384;

/// serde_json's recursion limit (fixed at 128 nested arrays/objects).
pub(crate) const JSON_MAX_DEPTH: usize = 128;

/// Rendered text may reach this many bytes whatever the input size ...
const RENDER_FLOOR: usize = 64 * 1024 * 1024;
/// ... and otherwise this many times the input: real files render to 1–3× (keys repeated
/// per row, `items.0.name` paths per leaf).
const RENDER_FACTOR: usize = 8;

/// How many more bytes of record text (and JSON key paths built) may be produced.
struct RenderBudget {
    limit: usize,
    left: usize,
}

impl RenderBudget {
    fn for_input(len: usize) -> Self {
        let limit = RENDER_FLOOR.max(len.saturating_mul(RENDER_FACTOR));
        Self { limit, left: limit }
    }

    fn spend(&mut self, bytes: usize, name: &str) -> Result<()> {
        match self.left.checked_sub(bytes) {
            Some(left) => {
                self.left = left;
                Ok(())
            }
            None => Err(Error::new(
                ErrorCode::TooLarge,
                format!(
                    "{name}: its records render to more than {} bytes of text \
                     (keys repeated on every row or leaf); split the file",
                    self.limit
                ),
            )),
        }
    }
}

fn too_many_columns(name: &str, record: usize, columns: usize) -> Error {
    Error::new(
        ErrorCode::TooLarge,
        format!(
            "{name}: record {record} has {columns} columns (at most {MAX_CSV_COLUMNS} accepted)"
        ),
    )
}

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
    if headers.len() > MAX_CSV_COLUMNS {
        return Err(too_many_columns(name, 0, headers.len()));
    }
    let mut budget = RenderBudget::for_input(bytes.len());
    for (index, row) in reader.records().enumerate() {
        let row = row.map_err(|e| {
            Error::corrupt(format!(
                "{name}: unreadable CSV at record {}: {e}",
                index + 1
            ))
        })?;
        if row.len() > MAX_CSV_COLUMNS {
            return Err(too_many_columns(name, index + 1, row.len()));
        }
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
            budget.spend(key.len() + value.len() + 3, name)?;
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
    let mut budget = RenderBudget::for_input(bytes.len());
    for value in &values {
        let mut lines = Vec::new();
        flatten("", value, &mut lines, &mut budget, name)?;
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
    if e.to_string().contains("recursion limit exceeded") {
        return Error::new(
            ErrorCode::TooLarge,
            format!(
                "{name}: JSON nested deeper than {JSON_MAX_DEPTH} levels at line {}, column {} \
                 (the parser's limit)",
                e.line() + line_offset,
                e.column()
            ),
        );
    }
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

/// `prefix.key` (or `key` at the top), charged to `budget`.
fn join_path(prefix: &str, key: &str, budget: &mut RenderBudget, name: &str) -> Result<String> {
    budget.spend(prefix.len() + key.len() + 1, name)?;
    Ok(if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    })
}

/// Renders `value` as `key.path: value` lines. Recursion is bounded by serde_json's
/// depth limit; every key path built and line rendered is charged to `budget`.
fn flatten(
    prefix: &str,
    value: &Value,
    out: &mut Vec<String>,
    budget: &mut RenderBudget,
    name: &str,
) -> Result<()> {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let path = join_path(prefix, key, budget, name)?;
                flatten(&path, v, out, budget, name)?;
            }
        }
        Value::Array(items) if items.iter().all(|v| !v.is_array() && !v.is_object()) => {
            let joined: Vec<String> = items.iter().filter_map(scalar).collect();
            if !joined.is_empty() {
                let text = line(prefix, joined.join(", "));
                budget.spend(text.len(), name)?;
                out.push(text);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let path = join_path(prefix, &i.to_string(), budget, name)?;
                flatten(&path, v, out, budget, name)?;
            }
        }
        other => {
            if let Some(s) = scalar(other) {
                let text = line(prefix, s);
                budget.spend(text.len(), name)?;
                out.push(text);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flatten_nested() {
        let v: Value =
            serde_json::json!({"a": {"b": 1, "c": null}, "t": ["x", "y"], "o": [{"k": true}]});
        let mut out = Vec::new();
        let mut budget = RenderBudget::for_input(0);
        flatten("", &v, &mut out, &mut budget, "t.json").unwrap();
        out.sort();
        assert_eq!(out, ["a.b: 1", "o.0.k: true", "t: x, y"]);
    }

    #[test]
    fn tsv_by_content() {
        let doc = parse_csv(b"name\tage\nAda\t36\n", "people.txt").unwrap();
        assert_eq!(doc.blocks[0].text, "name: Ada\nage: 36");
    }
}

#[cfg(test)]
mod limit_tests {
    use super::*;

    #[test]
    fn budget_refuses_past_its_limit() {
        let mut budget = RenderBudget::for_input(0);
        assert!(budget.spend(RENDER_FLOOR, "x").is_ok());
        let err = budget.spend(1, "x").unwrap_err();
        assert_eq!(err.code, ErrorCode::TooLarge);
        assert_eq!(RenderBudget::for_input(100 << 20).limit, 800 << 20);
    }
}
