//! The model registry: what a model name means (a route, a remote model or a local
//! model) and the checks that make every name resolve.

use crate::validate::Config;
use crate::{Error, ModelsSection, RemoteModelSection};
use serde::Serialize;

/// How a route picks its first target (the rest are fallbacks).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteStrategy {
    /// The targets in their order.
    Fallback,
    /// The first choice rotates over the targets request by request.
    RoundRobin,
    /// The target with the fewest requests in flight first.
    LeastBusy,
    /// Grounded answers escalate to the next target when the confidence is low.
    Cascade,
}

impl RouteStrategy {
    /// Parses a strategy's configuration name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "fallback" => Some(Self::Fallback),
            "round_robin" => Some(Self::RoundRobin),
            "least_busy" => Some(Self::LeastBusy),
            "cascade" => Some(Self::Cascade),
            _ => None,
        }
    }
}

/// A validated `[[models.routes]]`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Route {
    pub name: String,
    pub strategy: RouteStrategy,
    /// Model names, each a remote model or a local one.
    pub targets: Vec<String>,
    /// `cascade`: the confidence under which the next target answers again.
    pub escalate_below: f32,
}

/// What a model name stands for.
#[derive(Clone, Copy, Debug)]
pub enum ModelRef<'a> {
    Route(&'a Route),
    Remote(&'a RemoteModelSection),
    /// A local model (a directory name under `models.dir` or a path); whether it exists
    /// is found out when it loads.
    Local,
}

fn invalid(key: &str, message: impl Into<String>) -> Error {
    Error::Invalid {
        key: key.to_owned(),
        message: message.into(),
    }
}

/// Checks `[[models.remote]]` and `[[models.routes]]`; fills defaults (`model` from
/// `name`).
pub(crate) fn validate(
    models: &ModelsSection,
) -> crate::Result<(Vec<RemoteModelSection>, Vec<Route>)> {
    let mut remotes: Vec<RemoteModelSection> = Vec::new();
    for (i, r) in models.remote.iter().enumerate() {
        let key = format!("models.remote[{i}]");
        if r.name.trim().is_empty() || r.name.starts_with("cairn-rag:") {
            return Err(invalid(
                &key,
                "needs a `name` (not starting with cairn-rag:)",
            ));
        }
        if remotes.iter().any(|m| m.name == r.name) {
            return Err(invalid(
                &key,
                format!("the name `{}` is already taken", r.name),
            ));
        }
        if !(r.base_url.starts_with("http://") || r.base_url.starts_with("https://")) {
            return Err(invalid(
                &format!("{key}.base_url"),
                format!("`{}` is not http(s)://…", r.base_url),
            ));
        }
        for (field, v) in [
            ("connect_timeout_ms", r.connect_timeout_ms),
            ("first_token_timeout_ms", r.first_token_timeout_ms),
            ("timeout_ms", r.timeout_ms),
        ] {
            if v == 0 {
                return Err(invalid(&format!("{key}.{field}"), "must be at least 1"));
            }
        }
        for (field, v) in [
            ("input_price_per_mtok", r.input_price_per_mtok),
            ("output_price_per_mtok", r.output_price_per_mtok),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(invalid(
                    &format!("{key}.{field}"),
                    "must be a price of 0 or more",
                ));
            }
        }
        for name in r.headers.keys() {
            let token = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
            if !token || name.eq_ignore_ascii_case("authorization") {
                return Err(invalid(
                    &format!("{key}.headers"),
                    format!(
                        "`{name}` is not a header name Cairn sends (letters, digits, - and _; \
                         the key goes in api_key_secret or api_key_env)"
                    ),
                ));
            }
        }
        if !["chat", "rerank", "embeddings"].contains(&r.api.as_str()) {
            return Err(invalid(
                &format!("{key}.api"),
                format!("`{}` is not one of chat, rerank, embeddings", r.api),
            ));
        }
        if (r.api == "embeddings") != (r.dimension > 0) {
            return Err(invalid(
                &format!("{key}.dimension"),
                if r.api == "embeddings" {
                    "an embeddings model needs its vector size (e.g. dimension = 1536)"
                } else {
                    "only an embeddings model has a dimension"
                },
            ));
        }
        let mut r = r.clone();
        if r.model.is_empty() {
            r.model = r.name.clone();
        }
        if r.context_length == 0 {
            r.context_length = 8192;
        }
        remotes.push(r);
    }
    let mut routes: Vec<Route> = Vec::new();
    for (i, r) in models.routes.iter().enumerate() {
        let key = format!("models.routes[{i}]");
        if r.name.trim().is_empty() || r.name.starts_with("cairn-rag:") {
            return Err(invalid(
                &key,
                "needs a `name` (not starting with cairn-rag:)",
            ));
        }
        if remotes.iter().any(|m| m.name == r.name) || routes.iter().any(|m| m.name == r.name) {
            return Err(invalid(
                &key,
                format!("the name `{}` is already taken", r.name),
            ));
        }
        let strategy = RouteStrategy::parse(&r.strategy).ok_or_else(|| {
            invalid(
                &format!("{key}.strategy"),
                format!(
                    "`{}` is not one of fallback, round_robin, least_busy, cascade",
                    r.strategy
                ),
            )
        })?;
        if r.targets.is_empty() {
            return Err(invalid(&format!("{key}.targets"), "names no model"));
        }
        for t in &r.targets {
            if let Some(m) = remotes.iter().find(|m| &m.name == t && m.api != "chat") {
                return Err(invalid(
                    &format!("{key}.targets"),
                    format!("`{t}` serves `{}`, not chat", m.api),
                ));
            }
            let known = remotes.iter().any(|m| &m.name == t)
                || (t == &models.generator && !models.routes.iter().any(|x| &x.name == t))
                || t.contains('/');
            if !known {
                return Err(invalid(
                    &format!("{key}.targets"),
                    format!(
                        "`{t}` is neither a [[models.remote]] name nor the local generator \
                         (routes do not nest; name other local models by path)"
                    ),
                ));
            }
        }
        if !(r.escalate_below > 0.0 && r.escalate_below <= 1.0) {
            return Err(invalid(
                &format!("{key}.escalate_below"),
                "must be in (0, 1]",
            ));
        }
        routes.push(Route {
            name: r.name.clone(),
            strategy,
            targets: r.targets.clone(),
            escalate_below: r.escalate_below,
        });
    }
    for (key, name) in [
        ("models.generator", &models.generator),
        ("models.judge", &models.judge),
        ("models.rewriter", &models.rewriter),
    ] {
        if let Some(m) = remotes.iter().find(|m| &m.name == name && m.api != "chat") {
            return Err(invalid(
                key,
                format!("`{name}` serves `{}`; this role needs a chat model", m.api),
            ));
        }
    }
    if let Some(m) = remotes
        .iter()
        .find(|m| m.name == models.reranker && m.api != "rerank")
    {
        return Err(invalid(
            "models.reranker",
            format!(
                "`{}` serves `{}`; a reranker needs api = \"rerank\"",
                m.name, m.api
            ),
        ));
    }
    if let Some(m) = remotes
        .iter()
        .find(|m| m.name == models.embedder && m.api != "embeddings")
    {
        return Err(invalid(
            "models.embedder",
            format!(
                "`{}` serves `{}`; an embedder needs api = \"embeddings\"",
                m.name, m.api
            ),
        ));
    }
    if routes.iter().any(|r| r.name == models.embedder) {
        return Err(invalid(
            "models.embedder",
            "names a route; a collection's vectors come from one model",
        ));
    }
    if routes.iter().any(|r| r.name == models.reranker) {
        return Err(invalid(
            "models.reranker",
            "names a route; a reranker is one model",
        ));
    }
    let b = &models.circuit_breaker;
    if b.consecutive_failures == 0 {
        return Err(invalid(
            "models.circuit_breaker.consecutive_failures",
            "must be at least 1",
        ));
    }
    if !(b.error_rate > 0.0 && b.error_rate <= 1.0) {
        return Err(invalid(
            "models.circuit_breaker.error_rate",
            "must be in (0, 1]",
        ));
    }
    if b.window == 0 || b.cooldown_ms == 0 {
        return Err(invalid(
            "models.circuit_breaker",
            "window and cooldown_ms must be at least 1",
        ));
    }
    Ok((remotes, routes))
}

impl Config {
    /// What `name` stands for: a route, then a remote model, else a local model.
    pub fn model_ref(&self, name: &str) -> ModelRef<'_> {
        if let Some(r) = self.routes.iter().find(|r| r.name == name) {
            return ModelRef::Route(r);
        }
        if let Some(m) = self.remote_models.iter().find(|m| m.name == name) {
            return ModelRef::Remote(m);
        }
        ModelRef::Local
    }

    /// The model name of the judge role (`models.judge`, else the generator).
    pub fn judge_model(&self) -> &str {
        if self.judge.is_empty() {
            &self.generator
        } else {
            &self.judge
        }
    }

    /// The model name of the rewriter role (`models.rewriter`, else the generator).
    pub fn rewriter_model(&self) -> &str {
        if self.rewriter.is_empty() {
            &self.generator
        } else {
            &self.rewriter
        }
    }

    /// The reranker role: `models.reranker`, else `retrieval.cross_encoder` (either may
    /// be empty: none configured).
    pub fn reranker_model(&self) -> &str {
        if self.reranker.is_empty() {
            self.retrieval.cross_encoder.trim()
        } else {
            &self.reranker
        }
    }

    /// The remote model `models.embedder` names, if it names one.
    pub fn remote_embedder(&self) -> Option<&RemoteModelSection> {
        match self.model_ref(&self.embedder) {
            ModelRef::Remote(m) => Some(m),
            _ => None,
        }
    }

    /// Whether `name` is served by a model on this machine.
    pub fn is_local(&self, name: &str) -> bool {
        matches!(self.model_ref(name), ModelRef::Local)
    }
}
