//! OpenAPI tools: each operation of an OpenAPI 3 document (`[[openapi_tools]]`, or a
//! tenant's tool source saved through the API) is a tool `<source>__<operationId>`
//! whose arguments are the operation's parameters and JSON body.
//!
//! A call goes only to the source's base URL, authenticated with the tenant's sealed
//! secret (bearer, a header, a query parameter, or basic), without following redirects,
//! within the source's time limit and a 2 MB response cap, and (unless the source
//! allows it) never to a loopback, private or link-local address, checked on the
//! resolved addresses. GET, HEAD and OPTIONS calls count as reads; every other method
//! has side effects, so a resumed run never repeats it. A status outside 2xx is an
//! error the model sees, with the start of the response body.

pub mod document;

use super::http::{guarded_agent, refusal};
use super::{Tool, ToolCtx, ToolSpec};
use crate::{Error, Result};
use base64::Engine as _;
use cairn_config::OpenApiToolsSpec;
use cairn_types::ErrorCode;
use document::{Location, Operation};
use serde_json::Value;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

/// Bytes read from a response.
const MAX_RESPONSE_BYTES: u64 = 2 * 1024 * 1024;
/// Characters of an error response shown.
const ERROR_BODY_CHARS: usize = 500;

/// Where a source's calls go and how they authenticate.
#[derive(Debug)]
struct Endpoint {
    source: String,
    base_url: String,
    auth: String,
    auth_name: String,
    /// The tenant's secret, when `auth` is not `none`.
    credential: Option<String>,
    timeout: Duration,
    allow_private: bool,
}

/// One operation of a source, as the model sees it.
pub struct OpenApiTool {
    endpoint: Arc<Endpoint>,
    op: Operation,
    exposed: String,
}

/// The tools of `settings` (only the operations `only` names, when given) over `doc`, calling with
/// `credential` (the tenant's secret) when the source authenticates.
pub fn source_tools(
    settings: &OpenApiToolsSpec,
    doc: &Value,
    credential: Option<String>,
    only: Option<&[&str]>,
) -> Result<Vec<OpenApiTool>> {
    let parsed = document::read(doc)?;
    let base_url = if settings.base_url.is_empty() {
        parsed.server.clone().ok_or_else(|| {
            Error::new(
                ErrorCode::InvalidInput,
                format!(
                    "OpenAPI source `{}`: no `base_url`, and the document has no absolute \
                     `servers` URL",
                    settings.name
                ),
            )
        })?
    } else {
        settings.base_url.clone()
    };
    for wanted in &settings.operations {
        if !parsed.operations.iter().any(|o| &o.id == wanted) {
            return Err(Error::new(
                ErrorCode::InvalidInput,
                format!(
                    "OpenAPI source `{}`: the document has no operation `{wanted}`",
                    settings.name
                ),
            ));
        }
    }
    let endpoint = Arc::new(Endpoint {
        source: settings.name.clone(),
        base_url: base_url.trim_end_matches('/').to_owned(),
        auth: settings.auth.clone(),
        auth_name: settings.auth_name.clone(),
        credential,
        timeout: Duration::from_millis(settings.timeout_ms),
        allow_private: settings.allow_private,
    });
    Ok(parsed
        .operations
        .into_iter()
        .filter(|o| settings.operations.is_empty() || settings.operations.contains(&o.id))
        .filter(|o| only.is_none_or(|x| x.contains(&o.id.as_str())))
        .map(|op| OpenApiTool {
            exposed: super::exposed_name(&settings.name, &op.id),
            endpoint: endpoint.clone(),
            op,
        })
        .collect())
}

/// `s` with every byte but the unreserved ones percent-encoded.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A scalar argument as text (arrays joined with commas, objects as JSON).
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(text_of).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// What a call sends.
#[derive(Debug, PartialEq)]
struct Prepared {
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

impl OpenApiTool {
    fn prepare(&self, args: &Value) -> Result<Prepared> {
        let ep = &self.endpoint;
        let mut path = self.op.path.clone();
        let mut query: Vec<(String, String)> = Vec::new();
        let mut headers: Vec<(String, String)> = Vec::new();
        for p in &self.op.params {
            let Some(v) = args.get(&p.name).filter(|v| !v.is_null()) else {
                if p.required {
                    return Err(Error::new(
                        ErrorCode::InvalidInput,
                        format!("missing argument `{}`", p.name),
                    ));
                }
                continue;
            };
            match p.location {
                Location::Path => {
                    let value = text_of(v);
                    // A dot segment would climb out of the operation's path once the
                    // server normalizes it (`/` itself is percent-encoded).
                    if value.is_empty() || value == "." || value == ".." {
                        return Err(Error::new(
                            ErrorCode::InvalidInput,
                            format!("path argument `{}` may not be `{value}`", p.name),
                        ));
                    }
                    path = path.replace(&format!("{{{}}}", p.name), &encode(&value));
                }
                Location::Query => match v {
                    Value::Array(items) => {
                        query.extend(items.iter().map(|i| (p.name.clone(), text_of(i))));
                    }
                    other => query.push((p.name.clone(), text_of(other))),
                },
                Location::Header => {
                    let value = text_of(v);
                    if value.contains(['\r', '\n']) {
                        return Err(Error::new(
                            ErrorCode::InvalidInput,
                            format!("header argument `{}` contains a line break", p.name),
                        ));
                    }
                    headers.push((p.name.clone(), value));
                }
            }
        }
        match (ep.auth.as_str(), ep.credential.as_deref()) {
            ("bearer", Some(c)) => headers.push(("Authorization".into(), format!("Bearer {c}"))),
            ("header", Some(c)) => headers.push((ep.auth_name.clone(), c.to_owned())),
            ("query", Some(c)) => query.push((ep.auth_name.clone(), c.to_owned())),
            ("basic", Some(c)) => headers.push((
                "Authorization".into(),
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(c)
                ),
            )),
            _ => {}
        }
        let mut url = format!("{}{path}", ep.base_url);
        if !query.is_empty() {
            let q: Vec<String> = query
                .iter()
                .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                .collect();
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&q.join("&"));
        }
        let body = match self.op.body_arg.as_deref().and_then(|b| args.get(b)) {
            Some(v) => {
                headers.push(("Content-Type".into(), "application/json".into()));
                Some(v.to_string().into_bytes())
            }
            None => None,
        };
        headers.push(("Accept".into(), "application/json, text/*;q=0.9".into()));
        Ok(Prepared { url, headers, body })
    }
}

fn upstream(source: &str, message: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorCode::UpstreamError,
        format!("OpenAPI source `{source}`: {message}"),
    )
}

impl Tool for OpenApiTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: self.exposed.clone(),
            description: format!(
                "{} ({} {} of the API `{}`)",
                self.op.description, self.op.method, self.op.path, self.endpoint.source
            ),
            parameters: self.op.schema.clone(),
            side_effects: !self.op.read_only(),
        }
    }

    fn configured_names(&self) -> Vec<String> {
        vec![
            format!("openapi:{}.{}", self.endpoint.source, self.op.id),
            format!("openapi:{}", self.endpoint.source),
        ]
    }

    fn call(&self, ctx: &ToolCtx<'_>, args: &Value) -> Result<String> {
        let ep = &self.endpoint;
        let call = self.prepare(args)?;
        let left = ctx
            .deadline
            .saturating_duration_since(std::time::Instant::now());
        let (agent, refused_why) = guarded_agent(
            ep.allow_private,
            ep.timeout.min(left.max(Duration::from_millis(100))),
        );
        let mut request = ureq::http::Request::builder()
            .method(self.op.method.as_str())
            .uri(&call.url);
        for (k, v) in &call.headers {
            request = request.header(k, v);
        }
        let request = request
            .body(call.body.unwrap_or_default())
            .map_err(|e| Error::new(ErrorCode::InvalidInput, format!("{}: {e}", self.op.id)))?;
        let what = format!("{} {}", self.op.method, self.op.path);
        let response = agent.run(request).map_err(|e| {
            if let Some(why) = refusal(&refused_why) {
                return Error::new(ErrorCode::Forbidden, why);
            }
            let code = match e {
                ureq::Error::Timeout(_) => ErrorCode::Timeout,
                _ => ErrorCode::UpstreamError,
            };
            Error::new(
                code,
                format!("OpenAPI source `{}`: {what} failed: {e}", ep.source),
            )
        })?;
        let status = response.status();
        let mut bytes = Vec::new();
        response
            .into_body()
            .into_reader()
            .take(MAX_RESPONSE_BYTES)
            .read_to_end(&mut bytes)
            .map_err(|e| upstream(&ep.source, format!("reading the answer to {what}: {e}")))?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if status.is_redirection() {
            return Err(upstream(
                &ep.source,
                format!("{what} answered {status}; redirects are not followed"),
            ));
        }
        if !status.is_success() {
            return Err(upstream(
                &ep.source,
                format!(
                    "{what} answered {status}: {}",
                    super::cap(text.trim(), ERROR_BODY_CHARS)
                ),
            ));
        }
        if text.trim().is_empty() {
            return Ok(format!("{what} answered {status} with no content"));
        }
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({"openapi": "3.1.0", "servers": [{"url": "https://api.example/v2/"}],
            "paths": {"/items/{id}": {"get": {"operationId": "getItem", "parameters": [
                {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
                {"name": "tag", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}},
                {"name": "X-Trace", "in": "header", "schema": {"type": "string"}}]}},
              "/items": {"post": {"operationId": "addItem", "requestBody": {"content":
                {"application/json": {"schema": {"type": "object"}}}}}}}})
    }

    fn settings(auth: &str, name: &str) -> OpenApiToolsSpec {
        OpenApiToolsSpec {
            name: "shop".into(),
            auth: auth.into(),
            auth_name: name.into(),
            auth_secret: "s".into(),
            ..OpenApiToolsSpec::default()
        }
    }

    #[test]
    fn calls_are_built_from_the_arguments_and_the_credential() {
        let tools = source_tools(
            &settings("query", "api_key"),
            &doc(),
            Some("k&1".into()),
            None,
        )
        .unwrap();
        let get = tools.iter().find(|t| t.op.id == "getItem").unwrap();
        assert_eq!(get.spec().name, "shop__getItem");
        assert!(!get.spec().side_effects);
        let p = get
            .prepare(&json!({"id": "a/b c", "tag": ["x", "y"], "X-Trace": "t1"}))
            .unwrap();
        assert_eq!(
            p.url,
            "https://api.example/v2/items/a%2Fb%20c?tag=x&tag=y&api_key=k%261"
        );
        assert!(p.headers.contains(&("X-Trace".into(), "t1".into())));
        assert!(p.body.is_none());
        let e = get
            .prepare(&json!({"id": "1", "X-Trace": "a\r\nHost: evil"}))
            .unwrap_err();
        assert!(e.message.contains("line break"), "{}", e.message);
        let e = get.prepare(&json!({"id": ".."})).unwrap_err();
        assert!(e.message.contains("may not be `..`"), "{}", e.message);

        let tools = source_tools(
            &settings("bearer", ""),
            &doc(),
            Some("tok".into()),
            Some(&["addItem"][..]),
        )
        .unwrap();
        assert_eq!(tools.len(), 1);
        assert!(tools[0].spec().side_effects);
        let p = tools[0].prepare(&json!({"body": {"n": 1}})).unwrap();
        assert_eq!(p.url, "https://api.example/v2/items");
        assert!(
            p.headers
                .contains(&("Authorization".into(), "Bearer tok".into()))
        );
        assert_eq!(p.body.as_deref(), Some(&b"{\"n\":1}"[..]));
        assert_eq!(
            tools[0].configured_names(),
            ["openapi:shop.addItem", "openapi:shop"]
        );
    }

    #[test]
    fn a_source_needs_a_base_url_and_its_listed_operations() {
        let mut no_server = doc();
        no_server["servers"] = json!([{"url": "/relative"}]);
        let e = source_tools(&settings("none", ""), &no_server, None, None)
            .err()
            .unwrap();
        assert!(e.message.contains("base_url"), "{}", e.message);
        let mut s = settings("none", "");
        s.operations = vec!["nope".into()];
        let e = source_tools(&s, &doc(), None, None).err().unwrap();
        assert!(e.message.contains("no operation `nope`"), "{}", e.message);
    }
}
