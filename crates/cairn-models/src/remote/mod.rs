//! An OpenAI-compatible remote provider (vLLM, llama.cpp server, LiteLLM, OpenAI…)
//! implementing the same [`crate::Generator`] and [`crate::Embedder`] traits as the local
//! models: chat over `POST /chat/completions` with SSE streaming, raw text over
//! `POST /completions`, vectors over `POST /embeddings`. Synchronous HTTP (ureq), so a
//! stream is read as it is consumed and dropping it closes the connection.

mod chat;
mod deadline;
mod embed;
mod rerank;
mod sse;

pub use chat::RemoteGenerator;
pub use embed::RemoteEmbedder;
pub use rerank::RemoteReranker;
/// The HTTP client of remote calls (a connection pool; clones share it).
pub use ureq::Agent as HttpClient;

use crate::{Error, Result};
use std::time::Duration;

/// Idle connections kept per remote model for reuse.
const IDLE_CONNECTIONS: usize = 256;

/// Where and how to reach the provider.
#[derive(Clone, Debug)]
pub struct RemoteConfig {
    /// Base URL including the version prefix, e.g. `http://localhost:8000/v1`.
    pub base_url: String,
    /// Sent as `Authorization: Bearer <key>` when set.
    pub api_key: Option<String>,
    /// The provider's model name.
    pub model: String,
    /// Whole-request limit (a stream included).
    pub timeout: Duration,
    /// Connection limit.
    pub connect_timeout: Duration,
    /// The model's context window, for callers that budget prompts.
    pub context_length: usize,
    /// Limit until the first streamed event (the response headers and the first
    /// chunk); `None`: only `timeout` applies.
    pub first_token_timeout: Option<Duration>,
    /// Extra headers sent with every request.
    pub headers: Vec<(String, String)>,
}

impl RemoteConfig {
    /// A configuration with default timeouts (10 s connect, 10 min total) and an 8k
    /// context; the URL must be `http(s)://…`.
    pub fn new(base_url: &str, model: &str, api_key: Option<String>) -> Result<Self> {
        let base = base_url.trim().trim_end_matches('/');
        let rest = base
            .strip_prefix("http://")
            .or_else(|| base.strip_prefix("https://"));
        if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
            return Err(Error::InvalidRequest(format!(
                "remote base URL must be http(s)://host[:port][/path], got `{base_url}`"
            )));
        }
        if model.trim().is_empty() {
            return Err(Error::InvalidRequest("remote model name is empty".into()));
        }
        Ok(Self {
            base_url: base.to_string(),
            api_key: api_key.filter(|k| !k.is_empty()),
            model: model.to_string(),
            timeout: Duration::from_secs(600),
            connect_timeout: Duration::from_secs(10),
            context_length: 8192,
            first_token_timeout: None,
            headers: Vec::new(),
        })
    }

    /// An HTTP client with this configuration's timeouts. It keeps connections alive
    /// between calls: share one per provider (clones share the pool) so calls skip the
    /// TCP and TLS handshakes.
    pub fn agent(&self) -> ureq::Agent {
        ureq::Agent::config_builder()
            .timeout_global(Some(self.timeout))
            .timeout_connect(Some(self.connect_timeout))
            // Keep as many connections as requests run at once, not ureq's default 3.
            .max_idle_connections(IDLE_CONNECTIONS)
            .max_idle_connections_per_host(IDLE_CONNECTIONS)
            .http_status_as_error(false)
            .build()
            .into()
    }

    /// POSTs JSON; a non-2xx answer becomes [`Error::Upstream`] with the server's message.
    /// `traceparent` (the caller's span, taken on the caller's thread: the call itself may
    /// run on a reader thread) lets the provider's spans join the trace.
    fn post(
        &self,
        agent: &ureq::Agent,
        path: &str,
        body: &serde_json::Value,
        traceparent: Option<&str>,
    ) -> Result<ureq::http::Response<ureq::Body>> {
        let url = format!("{}/{path}", self.base_url);
        let mut request = agent
            .post(&url)
            .header("Accept", "application/json, text/event-stream");
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        if let Some(key) = &self.api_key {
            request = request.header("Authorization", &format!("Bearer {key}"));
        }
        if let Some(tp) = traceparent {
            request = request.header("traceparent", tp);
        }
        let mut response = request.send_json(body).map_err(|e| match e {
            ureq::Error::Timeout(t) => Error::Timeout(format!("{url}: {t:?} limit reached")),
            e => Error::Upstream {
                status: None,
                message: format!("{url}: {e}"),
            },
        })?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(retry_after);
            let text = response.body_mut().read_to_string().unwrap_or_default();
            let message = error_message(&text);
            if status == 429 {
                return Err(Error::RateLimited {
                    message,
                    retry_after,
                });
            }
            return Err(Error::Upstream {
                status: Some(status),
                message,
            });
        }
        Ok(response)
    }
}

/// A `Retry-After` value in seconds (the HTTP-date form is not used by model APIs).
fn retry_after(value: &str) -> Option<Duration> {
    let secs: f64 = value.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
}

impl RemoteConfig {
    /// POSTs JSON and reads a whole JSON answer (at most 512 MiB); `what` names it in
    /// errors.
    fn post_json(
        &self,
        agent: &ureq::Agent,
        path: &str,
        body: &serde_json::Value,
        what: &str,
    ) -> Result<serde_json::Value> {
        let traceparent = cairn_telemetry::current_traceparent();
        let mut response = self.post(agent, path, body, traceparent.as_deref())?;
        let text = response
            .body_mut()
            .with_config()
            .limit(512 << 20)
            .read_to_string()
            .map_err(|e| Error::Upstream {
                status: None,
                message: format!("reading the {what} response: {e}"),
            })?;
        serde_json::from_str(&text).map_err(|e| Error::Upstream {
            status: None,
            message: format!("malformed {what} response: {e}"),
        })
    }
}

/// The `error.message` of an OpenAI-style error body, else the body (shortened).
fn error_message(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    if let Some(message) = parsed.as_ref().and_then(|v| {
        v.pointer("/error/message")
            .or_else(|| v.get("error"))
            .or_else(|| v.get("message"))
            .and_then(serde_json::Value::as_str)
    }) {
        return message.to_string();
    }
    let trimmed = body.trim();
    match trimmed.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &trimmed[..cut]),
        None if trimmed.is_empty() => "empty response body".into(),
        None => trimmed.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_normalized() {
        let c = RemoteConfig::new("http://localhost:8000/v1/", "m", Some(String::new())).unwrap();
        assert_eq!(c.base_url, "http://localhost:8000/v1");
        assert_eq!(c.api_key, None);
        for bad in ["localhost:8000", "ftp://x", "http://", "http:///v1"] {
            assert!(RemoteConfig::new(bad, "m", None).is_err(), "{bad}");
        }
        assert!(RemoteConfig::new("http://x", " ", None).is_err());
    }

    #[test]
    fn retry_after_takes_seconds() {
        assert_eq!(retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(retry_after(" 0.5 "), Some(Duration::from_millis(500)));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(retry_after("-1"), None);
    }

    #[test]
    fn error_messages_come_from_the_body() {
        assert_eq!(
            error_message(r#"{"error":{"message":"bad key","type":"auth"}}"#),
            "bad key"
        );
        assert_eq!(error_message(r#"{"error":"overloaded"}"#), "overloaded");
        assert_eq!(error_message("  plain text "), "plain text");
        assert_eq!(error_message(""), "empty response body");
        assert!(error_message(&"x".repeat(1000)).ends_with('…'));
    }
}
