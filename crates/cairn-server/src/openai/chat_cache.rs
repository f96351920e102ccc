//! The exact cache of chat completions (`[cache] exact`): a deterministic request
//! (temperature 0 or a fixed seed, one choice) asked again by the same tenant and ACL
//! view, with the same messages, model and parameters under the same guard policy, is
//! answered with the stored completion, streamed or not. Keys never cross tenants or
//! views. A hit says so in `cairn.cache` (`{"hit": "exact", "answer_id": <the
//! completion's id>}`) and costs no model tokens.

use super::types::ChatRequest;
use crate::auth::Identity;
use crate::settings::TenantSettings;
use cairn_config::CacheSection;
use cairn_engine::answer::exact_store::ExactStore;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Completions by request key, in this process or (with `[redis] url`) in Redis, shared
/// by every server.
pub struct ChatCache(ExactStore<Value>);

impl ChatCache {
    /// A cache as `[cache]` says (empty when `exact` is off), in Redis when `redis_url`
    /// is set.
    pub fn new(c: &CacheSection, redis_url: &str) -> Self {
        let entries = if c.exact { c.max_entries } else { 0 };
        Self(ExactStore::new(
            "chat",
            entries,
            Duration::from_secs(c.ttl_secs),
            redis_url,
        ))
    }

    /// The stored completion of `tenant` for `key`, marked as a hit.
    pub fn get(&self, tenant: &str, key: &str) -> Option<Value> {
        let mut body = self.0.get(tenant, key)?;
        let id = body["id"].clone();
        body["cairn"]["cache"] = json!({"hit": "exact", "answer_id": id});
        // The stored body names the first request's trace; this one has its own.
        body["cairn"]["trace_id"] = json!(cairn_telemetry::layer::current_trace_id());
        Some(body)
    }

    /// Keeps a finished completion (not one cut short by a client or an error).
    pub fn put(&self, tenant: &str, key: &str, body: &Value) {
        self.0.put(tenant, key, body);
    }
}

/// The cache key of `req` for `who`, or `None` when it must not be cached.
pub fn key(who: &Identity, settings: &TenantSettings, req: &ChatRequest) -> Option<String> {
    let deterministic = req.temperature == Some(0.0) || req.seed.is_some();
    if !deterministic || req.n.is_some_and(|n| n != 1) || req.model.starts_with(super::RAG_PREFIX) {
        return None;
    }
    let mut request = serde_json::to_value(req).ok()?;
    // A streamed and a whole request share their answer.
    if let Some(o) = request.as_object_mut() {
        o.remove("stream");
        o.remove("stream_options");
    }
    let p = &who.principal;
    let mut groups = p.groups.clone();
    groups.sort();
    let material = json!({
        "tenant": who.tenant.as_str(),
        "view": {"user": p.user, "groups": groups, "all": p.all_documents},
        "request": request,
        "guard": settings.guard.policy(),
    });
    let digest = Sha256::digest(serde_json::to_vec(&material).ok()?);
    Some(digest.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_types::TenantId;

    fn request(temperature: Option<f32>) -> ChatRequest {
        let mut v = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        if let Some(t) = temperature {
            v["temperature"] = json!(t);
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn keys_separate_tenants_and_views_and_skip_sampling() {
        let config = cairn_config::load_from_str("", "t", &[]).unwrap().0;
        let settings = crate::settings::effective(&config, None).unwrap();
        let a = Identity::operator(TenantId::new("a"));
        let b = Identity::operator(TenantId::new("b"));
        let mut narrow = a.clone();
        narrow.principal.all_documents = false;
        narrow.principal.groups = vec!["eng".into()];
        let req = request(Some(0.0));
        let ka = key(&a, &settings, &req).unwrap();
        assert_eq!(key(&a, &settings, &req).as_ref(), Some(&ka), "stable");
        assert_ne!(key(&b, &settings, &req).unwrap(), ka, "tenants never share");
        assert_ne!(key(&narrow, &settings, &req).unwrap(), ka, "nor ACL views");
        let mut streamed = req.clone();
        streamed.stream = true;
        assert_eq!(
            key(&a, &settings, &streamed).unwrap(),
            ka,
            "stream or not, one answer"
        );
        assert_eq!(key(&a, &settings, &request(None)), None, "default sampling");
        assert_eq!(key(&a, &settings, &request(Some(0.7))), None);
    }
}
