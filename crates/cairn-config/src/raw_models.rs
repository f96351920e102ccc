//! `[[models.remote]]`, `[[models.routes]]` and `[models.circuit_breaker]`: the model
//! registry beyond the local models.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `[[models.remote]]`: one model behind an OpenAI-compatible API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteModelSection {
    /// The name Cairn knows it by (in roles, routes and requests' `model`).
    pub name: String,
    /// e.g. `https://api.openai.com/v1` or `http://127.0.0.1:8000/v1`.
    pub base_url: String,
    /// The provider's model name (default: `name`).
    pub model: String,
    /// The tenant secret holding the provider's API key (`cairn secrets set NAME`).
    pub api_key_secret: String,
    /// An environment variable holding the API key, read when the model is called
    /// (used when `api_key_secret` is empty). Empty with both: no key is sent.
    pub api_key_env: String,
    /// Extra HTTP headers sent with every request (e.g. an organization id).
    pub headers: BTreeMap<String, String>,
    /// What the model serves: `chat` (default; `POST /chat/completions`), `rerank`
    /// (`POST /rerank` as vLLM, Text Embeddings Inference, Cohere and Jina serve it) or
    /// `embeddings` (`POST /embeddings`).
    pub api: String,
    /// The model's context window. Default: 8192.
    pub context_length: usize,
    /// Vector size of an `embeddings` model (required there: a collection records it,
    /// and an answer of any other size is refused).
    pub dimension: usize,
    /// Connection limit, in milliseconds. Default: 10000.
    pub connect_timeout_ms: u64,
    /// Limit until the first token (or the first byte of a non-streamed answer), in
    /// milliseconds; past it the call fails and a route tries its next target.
    /// Default: 60000.
    pub first_token_timeout_ms: u64,
    /// Limit on the whole request, stream included, in milliseconds. Default: 600000.
    pub timeout_ms: u64,
    /// Requests in flight to this model at once, across the process; 0: no limit. The
    /// server queues callers of this model fairly between tenants (`models.max_queued`
    /// waiting, then `503 overloaded`); a route passes over a target at its limit.
    pub max_concurrent: usize,
    /// Retries of one call on a connection error, a timeout, 429 (after its
    /// `Retry-After`) or 5xx, with jittered exponential backoff. Default: 2.
    pub max_retries: u32,
    /// Price in dollars per million input tokens (cost accounting). Default: 0.
    pub input_price_per_mtok: f64,
    /// Price in dollars per million output tokens. Default: 0.
    pub output_price_per_mtok: f64,
}

impl Default for RemoteModelSection {
    fn default() -> Self {
        Self {
            name: String::new(),
            base_url: String::new(),
            model: String::new(),
            api_key_secret: String::new(),
            api_key_env: String::new(),
            headers: BTreeMap::new(),
            api: "chat".into(),
            dimension: 0,
            context_length: 8192,
            connect_timeout_ms: 10_000,
            first_token_timeout_ms: 60_000,
            timeout_ms: 600_000,
            max_concurrent: 0,
            max_retries: 2,
            input_price_per_mtok: 0.0,
            output_price_per_mtok: 0.0,
        }
    }
}

/// `[[models.routes]]`: several models behind one name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouteSection {
    /// The name callers use, like a model's.
    pub name: String,
    /// `fallback` (in order, the next when one fails), `round_robin` (rotate the
    /// first choice), `least_busy` (fewest requests in flight first), `cascade` (for
    /// grounded answers: the first target answers, and the next answers again when the
    /// answer's confidence is below `escalate_below`; elsewhere like `fallback`). Every
    /// strategy falls back to the others when its choice fails before its first token.
    pub strategy: String,
    /// Model names (local or `[[models.remote]]`), in order.
    pub targets: Vec<String>,
    /// `cascade`: the answer confidence under which the next target answers again.
    /// Default: 0.5.
    pub escalate_below: f32,
}

impl Default for RouteSection {
    fn default() -> Self {
        Self {
            name: String::new(),
            strategy: String::new(),
            targets: Vec::new(),
            escalate_below: 0.5,
        }
    }
}

/// `[models.circuit_breaker]`: a remote model that keeps failing is skipped for a while.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CircuitBreakerSection {
    /// Consecutive failures that open the breaker. Default: 5.
    pub consecutive_failures: u32,
    /// Failure share over the last `window` calls that opens it. Default: 0.5.
    pub error_rate: f32,
    /// Calls the error rate is measured over (and the fewest it needs). Default: 20.
    pub window: usize,
    /// Time an open breaker waits before letting one probe through, in milliseconds.
    /// Default: 30000.
    pub cooldown_ms: u64,
}

impl Default for CircuitBreakerSection {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            error_rate: 0.5,
            window: 20,
            cooldown_ms: 30_000,
        }
    }
}
