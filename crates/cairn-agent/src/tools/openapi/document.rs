//! An OpenAPI 3.0 / 3.1 document read into operations an agent can call: each
//! operation's parameters (path, query, header) and JSON request body become one JSON
//! Schema of arguments, with local `$ref`s resolved (a cycle ends in an open schema)
//! and OpenAPI 3.0's dialect (`nullable`, boolean `exclusiveMinimum`) translated.

use crate::{Error, Result};
use cairn_types::ErrorCode;
use serde_json::{Map, Value, json};

/// Largest document read, in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;
/// Deepest `$ref` chain followed.
const MAX_REF_DEPTH: usize = 32;
/// HTTP methods an operation may have (`trace` is left out).
const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options"];

/// Where a parameter goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    Path,
    Query,
    Header,
}

/// One parameter of an operation.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: String,
    pub location: Location,
    pub required: bool,
}

/// One operation, ready to be a tool.
#[derive(Clone, Debug, PartialEq)]
pub struct Operation {
    /// The `operationId` (or `<method>_<path>` when it has none).
    pub id: String,
    /// Upper case.
    pub method: String,
    /// The path template, e.g. `/orders/{id}`.
    pub path: String,
    pub description: String,
    pub params: Vec<Param>,
    /// The argument carrying the JSON request body, if the operation takes one.
    pub body_arg: Option<String>,
    /// The JSON Schema of the tool's arguments.
    pub schema: Value,
}

impl Operation {
    /// Whether calling it only reads (GET, HEAD, OPTIONS).
    pub fn read_only(&self) -> bool {
        matches!(self.method.as_str(), "GET" | "HEAD" | "OPTIONS")
    }
}

/// A parsed document.
#[derive(Clone, Debug)]
pub struct Document {
    pub title: String,
    /// The first absolute `servers` URL (variables replaced by their defaults).
    pub server: Option<String>,
    pub operations: Vec<Operation>,
    /// Operations left out, with why (e.g. a body that is not JSON).
    pub skipped: Vec<String>,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::InvalidInput, message)
}

/// Reads JSON or YAML text into a JSON value.
pub fn parse_text(text: &str) -> Result<Value> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(invalid(format!(
            "the OpenAPI document has {} bytes; the limit is {MAX_DOCUMENT_BYTES}",
            text.len()
        )));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(v) => Ok(v),
        Err(json_err) if text.trim_start().starts_with('{') => Err(invalid(format!(
            "the OpenAPI document is not valid JSON: {json_err}"
        ))),
        Err(_) => serde_norway::from_str::<Value>(text).map_err(|e| {
            invalid(format!(
                "the OpenAPI document is neither JSON nor YAML: {e}"
            ))
        }),
    }
}

/// Reads a document into its operations.
pub fn read(doc: &Value) -> Result<Document> {
    let version = doc.get("openapi").and_then(Value::as_str).unwrap_or("");
    if !version.starts_with("3.") {
        let swagger = doc.get("swagger").and_then(Value::as_str);
        return Err(invalid(match swagger {
            Some(v) => format!(
                "Swagger {v} documents are not supported: convert it to OpenAPI 3 (e.g. with \
                 swagger2openapi)"
            ),
            None => "not an OpenAPI 3 document (no `openapi: 3.x` field)".to_owned(),
        }));
    }
    let paths = doc
        .get("paths")
        .and_then(Value::as_object)
        .ok_or_else(|| invalid("the OpenAPI document has no `paths`"))?;
    let mut operations = Vec::new();
    let mut skipped = Vec::new();
    for (path, item) in paths {
        let item = resolve_ref(doc, item, 0)?;
        let shared = item.get("parameters").cloned().unwrap_or(json!([]));
        for method in METHODS {
            let Some(op) = item.get(*method) else {
                continue;
            };
            match operation(doc, method, path, op, &shared) {
                Ok(o) => operations.push(o),
                Err(e) => skipped.push(format!("{} {path}: {}", method.to_uppercase(), e.message)),
            }
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for o in &operations {
        if !seen.insert(o.id.as_str()) {
            return Err(invalid(format!(
                "the OpenAPI document has two operations named `{}`",
                o.id
            )));
        }
    }
    Ok(Document {
        title: doc
            .pointer("/info/title")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        server: first_server(doc),
        operations,
        skipped,
    })
}

fn first_server(doc: &Value) -> Option<String> {
    let servers = doc.get("servers")?.as_array()?;
    servers.iter().find_map(|s| {
        let mut url = s.get("url")?.as_str()?.to_owned();
        if let Some(vars) = s.get("variables").and_then(Value::as_object) {
            for (name, v) in vars {
                let default = v.get("default").and_then(Value::as_str).unwrap_or("");
                url = url.replace(&format!("{{{name}}}"), default);
            }
        }
        (url.starts_with("http://") || url.starts_with("https://")).then_some(url)
    })
}

/// A name for an operation without an `operationId`: `get_orders_id`.
fn derived_id(method: &str, path: &str) -> String {
    let mut id = method.to_owned();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        id.push('_');
        id.extend(
            part.chars()
                .filter(|c| !matches!(c, '{' | '}'))
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
        );
    }
    id
}

fn operation(
    doc: &Value,
    method: &str,
    path: &str,
    op: &Value,
    shared: &Value,
) -> Result<Operation> {
    let id = op
        .get("operationId")
        .and_then(Value::as_str)
        .map_or_else(|| derived_id(method, path), str::to_owned);
    let text = |k: &str| {
        op.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_owned()
    };
    let description = match (text("summary"), text("description")) {
        (s, d) if s.is_empty() => d,
        (s, d) if d.is_empty() => s,
        (s, d) => format!("{s}. {d}"),
    };
    // Operation parameters override the path item's of the same name and place.
    let mut declared: Vec<Value> = Vec::new();
    for p in shared.as_array().into_iter().flatten().chain(
        op.get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten(),
    ) {
        let p = resolve_ref(doc, p, 0)?;
        let key = |v: &Value| (v.get("name").cloned(), v.get("in").cloned());
        declared.retain(|d| key(d) != key(&p));
        declared.push(p);
    }
    let mut properties = Map::new();
    let mut required = Vec::new();
    let mut params = Vec::new();
    for p in declared {
        let name = p
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let location = match p.get("in").and_then(Value::as_str) {
            Some("path") => Location::Path,
            Some("query") => Location::Query,
            Some("header") => Location::Header,
            // Cookies are not sent.
            Some("cookie") => continue,
            other => return Err(invalid(format!("parameter `{name}` is `in: {other:?}`"))),
        };
        // OpenAPI ignores these as parameters: the call sets them.
        if location == Location::Header
            && ["accept", "content-type", "authorization"]
                .contains(&name.to_ascii_lowercase().as_str())
        {
            continue;
        }
        if name.is_empty() {
            return Err(invalid("a parameter without a name"));
        }
        let required_here = location == Location::Path
            || p.get("required").and_then(Value::as_bool).unwrap_or(false);
        let mut schema = match p.get("schema") {
            Some(s) => schema_of(doc, s)?,
            None => json!({"type": "string"}),
        };
        let about = p.get("description").and_then(Value::as_str).unwrap_or("");
        if !about.is_empty()
            && let Some(o) = schema.as_object_mut()
        {
            o.entry("description").or_insert_with(|| json!(about));
        }
        properties.insert(name.clone(), schema);
        if required_here {
            required.push(json!(name));
        }
        params.push(Param {
            name,
            location,
            required: required_here,
        });
    }
    let mut body_arg = None;
    if let Some(body) = op.get("requestBody") {
        let body = resolve_ref(doc, body, 0)?;
        let content = body.get("content").and_then(Value::as_object);
        let json_media = content.and_then(|c| {
            c.iter()
                .find(|(k, _)| {
                    let k = k.to_ascii_lowercase();
                    k == "application/json"
                        || k.ends_with("+json")
                        || k.starts_with("application/json;")
                })
                .map(|(_, v)| v)
        });
        match json_media {
            Some(media) => {
                let name = if properties.contains_key("body") {
                    "request_body"
                } else {
                    "body"
                };
                let mut schema = match media.get("schema") {
                    Some(s) => schema_of(doc, s)?,
                    None => json!({}),
                };
                let about = body
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if !about.is_empty()
                    && let Some(o) = schema.as_object_mut()
                {
                    o.entry("description").or_insert_with(|| json!(about));
                }
                properties.insert(name.to_owned(), schema);
                if body
                    .get("required")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
                {
                    required.push(json!(name));
                }
                body_arg = Some(name.to_owned());
            }
            None => {
                let kinds: Vec<&String> = content.map(|c| c.keys().collect()).unwrap_or_default();
                let needed = body
                    .get("required")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                if needed {
                    return Err(invalid(format!("its request body is {kinds:?}, not JSON")));
                }
            }
        }
    }
    Ok(Operation {
        id,
        method: method.to_uppercase(),
        path: path.to_owned(),
        description,
        params,
        body_arg,
        schema: json!({
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": false,
        }),
    })
}

/// The object a local `$ref` points at (followed until it is not a reference).
fn resolve_ref(doc: &Value, v: &Value, depth: usize) -> Result<Value> {
    let Some(r) = v.get("$ref").and_then(Value::as_str) else {
        return Ok(v.clone());
    };
    if depth > MAX_REF_DEPTH {
        return Err(invalid(format!("`$ref` chain too deep at `{r}`")));
    }
    let target = local_target(doc, r)?;
    resolve_ref(doc, target, depth + 1)
}

fn local_target<'a>(doc: &'a Value, r: &str) -> Result<&'a Value> {
    let pointer = r.strip_prefix('#').ok_or_else(|| {
        invalid(format!(
            "`$ref: {r}`: only references inside the document are followed"
        ))
    })?;
    doc.pointer(pointer)
        .ok_or_else(|| invalid(format!("`$ref: {r}` points at nothing")))
}

/// A schema with its references inlined and OpenAPI 3.0's dialect translated.
fn schema_of(doc: &Value, s: &Value) -> Result<Value> {
    let mut stack = Vec::new();
    inline(doc, s, &mut stack)
}

fn inline(doc: &Value, s: &Value, stack: &mut Vec<String>) -> Result<Value> {
    match s {
        Value::Object(o) => {
            if let Some(r) = o.get("$ref").and_then(Value::as_str) {
                if stack.iter().any(|x| x == r) || stack.len() > MAX_REF_DEPTH {
                    // A recursive type: its inner levels are left open.
                    return Ok(json!({}));
                }
                let target = local_target(doc, r)?;
                stack.push(r.to_owned());
                let out = inline(doc, target, stack);
                stack.pop();
                return out;
            }
            let mut out = Map::new();
            for (k, v) in o {
                out.insert(k.clone(), inline(doc, v, stack)?);
            }
            translate_30(&mut out);
            Ok(Value::Object(out))
        }
        Value::Array(a) => Ok(Value::Array(
            a.iter()
                .map(|v| inline(doc, v, stack))
                .collect::<Result<_>>()?,
        )),
        other => Ok(other.clone()),
    }
}

/// OpenAPI 3.0 schema keywords in JSON Schema 2020-12's terms.
fn translate_30(o: &mut Map<String, Value>) {
    if o.remove("nullable") == Some(Value::Bool(true)) {
        match o.get("type").cloned() {
            Some(Value::String(t)) => {
                o.insert("type".into(), json!([t, "null"]));
            }
            Some(Value::Array(mut ts)) if !ts.contains(&json!("null")) => {
                ts.push(json!("null"));
                o.insert("type".into(), Value::Array(ts));
            }
            _ => {}
        }
    }
    for (flag, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        match o.get(flag) {
            Some(Value::Bool(true)) => {
                if let Some(b) = o.remove(bound) {
                    o.insert(flag.into(), b);
                } else {
                    o.remove(flag);
                }
            }
            Some(Value::Bool(false)) => {
                o.remove(flag);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    const DOC: &str = r##"
openapi: 3.0.3
info: {title: Orders, version: "1"}
servers:
  - url: "https://{region}.orders.example/v1"
    variables: {region: {default: eu}}
paths:
  /orders/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer, minimum: 1}}
    get:
      operationId: getOrder
      summary: One order
      parameters:
        - {name: expand, in: query, schema: {type: boolean}}
        - {name: Accept, in: header, schema: {type: string}}
    delete:
      summary: Cancel an order
  /orders:
    post:
      operationId: createOrder
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Order"}
  /upload:
    post:
      operationId: upload
      requestBody:
        required: true
        content: {application/octet-stream: {}}
components:
  schemas:
    Order:
      type: object
      required: [item]
      properties:
        item: {type: string}
        note: {type: string, nullable: true}
        price: {type: number, minimum: 0, exclusiveMinimum: true}
        parts: {type: array, items: {$ref: "#/components/schemas/Order"}}
"##;

    #[test]
    fn operations_become_argument_schemas() {
        let doc = read(&parse_text(DOC).unwrap()).unwrap();
        assert_eq!(doc.title, "Orders");
        assert_eq!(doc.server.as_deref(), Some("https://eu.orders.example/v1"));
        let mut ids: Vec<&str> = doc.operations.iter().map(|o| o.id.as_str()).collect();
        ids.sort_unstable();
        assert_eq!(ids, ["createOrder", "delete_orders_id", "getOrder"]);
        let op = |id: &str| doc.operations.iter().find(|o| o.id == id).unwrap();
        assert_eq!(doc.skipped.len(), 1, "{:?}", doc.skipped);
        assert!(doc.skipped[0].contains("not JSON"), "{:?}", doc.skipped);

        let get = op("getOrder");
        assert!(get.read_only());
        assert_eq!(get.description, "One order");
        assert_eq!(get.schema["required"], json!(["id"]));
        assert_eq!(get.schema["properties"]["id"]["minimum"], 1);
        // Accept is the call's business, not the model's.
        assert!(get.schema["properties"].get("Accept").is_none());
        assert_eq!(get.params.len(), 2);

        let create = op("createOrder");
        assert!(!create.read_only());
        assert_eq!(create.body_arg.as_deref(), Some("body"));
        let order = &create.schema["properties"]["body"];
        assert_eq!(
            order["properties"]["note"]["type"],
            json!(["string", "null"])
        );
        assert_eq!(order["properties"]["price"]["exclusiveMinimum"], 0);
        assert!(order["properties"]["price"].get("minimum").is_none());
        // The recursive reference ends in an open schema.
        assert_eq!(order["properties"]["parts"]["items"], json!({}));
        let v = jsonschema::validator_for(&create.schema).unwrap();
        assert!(v.is_valid(&json!({"body": {"item": "pen", "note": null, "price": 2.5}})));
        assert!(!v.is_valid(&json!({"body": {"item": "pen", "price": 0}})));
        assert!(!v.is_valid(&json!({})));
    }

    #[test]
    fn bad_documents_say_why() {
        let e = read(&json!({"swagger": "2.0", "paths": {}})).unwrap_err();
        assert!(e.message.contains("Swagger 2.0"), "{}", e.message);
        let e = read(&json!({"openapi": "3.1.0"})).unwrap_err();
        assert!(e.message.contains("no `paths`"), "{}", e.message);
        let e = parse_text("{not json").unwrap_err();
        assert!(e.message.contains("not valid JSON"), "{}", e.message);
        let remote = json!({"openapi": "3.1.0", "paths": {"/a": {"get": {
            "parameters": [{"$ref": "https://evil.example/p.json"}]}}}});
        let d = read(&remote).unwrap();
        assert!(d.operations.is_empty());
        assert!(
            d.skipped[0].contains("only references inside"),
            "{:?}",
            d.skipped
        );
        let twice = json!({"openapi": "3.1.0", "paths": {
            "/a": {"get": {"operationId": "x"}}, "/b": {"get": {"operationId": "x"}}}});
        assert!(read(&twice).unwrap_err().message.contains("two operations"));
    }
}
