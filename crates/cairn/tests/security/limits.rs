//! Rate limits and quotas under concurrent load, set per tenant at run time.

use super::world::*;
use crate::common;
use crate::common::server::{Server, call};
use serde_json::json;

#[test]
fn rate_limits_and_quotas_hold_under_concurrency() {
    let w = world("");
    let s = Server::start(w.home.path());
    // A tenant-wide limit set by the tenant's owner, over two keys.
    let owner = common::new_key(w.home.path(), "acme", "owner", None);
    let r = call(
        "PUT",
        &format!("{}/api/v1/tenant/settings", s.url),
        Some(&owner),
        Some(&json!({"limits": {"key_rpm": 12, "tenant_rpm": 20, "key_tpm": 0, "tenant_tpm": 0}})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    // The owner's PUT itself was admitted under the old limits; from now on, 20 a minute.
    let statuses = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for t in 0..8 {
            let key = if t % 2 == 0 { &w.alice } else { &w.bob };
            let (s, statuses) = (&s, &statuses);
            scope.spawn(move || {
                for _ in 0..10 {
                    let r = get(s, "/api/v1/collections", key);
                    if r.status == 429 {
                        let secs: u64 = r.retry_after.as_deref().unwrap().parse().unwrap();
                        assert!((1..=60).contains(&secs), "Retry-After {secs}");
                        assert_eq!(code(&r), "rate_limited");
                    }
                    statuses.lock().unwrap().push((t % 2, r.status));
                }
            });
        }
    });
    let statuses = statuses.into_inner().unwrap();
    let allowed = |who: usize| {
        statuses
            .iter()
            .filter(|(w, s)| *w == who && *s == 200)
            .count()
    };
    let (a, b) = (allowed(0), allowed(1));
    assert!(statuses.iter().all(|(_, s)| *s == 200 || *s == 429));
    // 80 requests in well under a second: each key gets at most its 12 (+1 for refill
    // during the run), both together at most the tenant's 20 (+1).
    assert!(a <= 13 && b <= 13, "per key: alice {a}, bob {b}");
    assert!((19..=21).contains(&(a + b)), "tenant total {}", a + b);
    // Another tenant is not affected.
    assert_eq!(get(&s, "/api/v1/collections", &w.gina).status, 200);

    // Token quotas: a daily token quota refuses once used up, with a Retry-After.
    let r = call(
        "PUT",
        &format!("{}/api/v1/tenant/settings", s.url),
        Some(&w.gina),
        Some(&json!({"limits": {"daily_tokens": 5}})),
    );
    assert_eq!(
        r.status, 403,
        "an admin may not change tenant settings: {}",
        r.text
    );
    let gowner = common::new_key(w.home.path(), "globex", "owner", None);
    let r = call(
        "PUT",
        &format!("{}/api/v1/tenant/settings", s.url),
        Some(&gowner),
        Some(&json!({"limits": {"daily_tokens": 5}})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let embed = json!({"model": "all-minilm-l6-v2", "input": "the merger board meets on the first tuesday"});
    let r = post(&s, "/v1/embeddings", &w.gina, embed.clone());
    assert_eq!(r.status, 200, "{}", r.text);
    let r = post(&s, "/v1/embeddings", &w.gina, embed);
    assert_eq!((r.status, code(&r)), (429, "quota_exceeded"), "{}", r.text);
    assert!(r.retry_after.is_some());
    let usage = get(&s, "/api/v1/tenant/usage", &w.gina);
    assert!(
        usage.body["day"]["tokens"].as_i64().unwrap() >= 5,
        "{}",
        usage.text
    );
    // Bad settings are refused and change nothing.
    let r = call(
        "PUT",
        &format!("{}/api/v1/tenant/settings", s.url),
        Some(&gowner),
        Some(&json!({"limits": {"key_rpm": -3}})),
    );
    assert_eq!(r.status, 400, "{}", r.text);
    let cur = get(&s, "/api/v1/tenant/settings", &gowner);
    assert_eq!(cur.body["stored"]["limits"]["daily_tokens"], 5);
}
