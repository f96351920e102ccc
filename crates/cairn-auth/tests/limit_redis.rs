//! The Redis rate limiter against a real `redis-server`: the in-memory limiter's
//! semantics (all-or-nothing, refill, debt, refunds, unusable rates), buckets shared by
//! several limiter instances (several servers), atomic under concurrent callers, full
//! buckets expiring from Redis, and a Redis that stops answering admitting requests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use cairn_auth::testing::RedisServer;
use cairn_auth::{Ask, Rate, RateLimiter, RedisLimiter, Verdict};
use std::sync::Arc;
use std::time::Duration;

fn redis() -> RedisServer {
    RedisServer::start().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn acquire_is_all_or_nothing_and_names_the_limiting_bucket() {
    let server = redis();
    let l = RedisLimiter::connect(&server.url).unwrap();
    let small = Rate::per_minute(2.0);
    let big = Rate::per_minute(100.0);
    for _ in 0..2 {
        assert_eq!(
            l.acquire(&[Ask::new("k", small, 1.0), Ask::new("t", big, 1.0)]),
            Verdict::Allowed
        );
    }
    let v = l.acquire(&[Ask::new("k", small, 1.0), Ask::new("t", big, 1.0)]);
    match &v {
        Verdict::Limited { key, retry_after } => {
            assert_eq!(key, "k");
            assert!(
                *retry_after > Duration::from_secs(20) && *retry_after <= Duration::from_secs(30),
                "one token at 2/min is ~30 s away: {retry_after:?}"
            );
        }
        Verdict::Allowed => panic!("the small bucket is empty"),
    }
    assert_eq!(v.retry_after_secs().map(|s| s <= 30), Some(true));
    // Nothing was taken from the big bucket by the refused request.
    let left = l.remaining("t", big).unwrap();
    assert!((97.9..=98.1).contains(&left), "{left}");
    // Repeated keys add up: 2 asks of 1 on a fresh bucket of 1 do not both fit.
    let one = Rate::per_minute(1.0);
    assert!(
        !l.acquire(&[Ask::new("dup", one, 1.0), Ask::new("dup", one, 1.0)])
            .is_allowed()
    );
    assert_eq!(l.remaining("dup", one), Some(1.0), "and nothing was taken");
    // An unusable rate denies for a minute; a key never seen is full.
    let v = l.acquire(&[Ask::new("z", Rate::per_minute(0.0), 1.0)]);
    assert_eq!(v.retry_after_secs(), Some(60));
    assert_eq!(l.remaining("never", big), Some(100.0));
}

#[test]
fn buckets_refill_go_into_debt_and_take_refunds() {
    let server = redis();
    let l = RedisLimiter::connect(&server.url).unwrap();
    // 600/min = 10 per second, capacity 5.
    let fast = Rate::per_minute(600.0).with_burst(5.0);
    for _ in 0..5 {
        assert!(l.acquire(&[Ask::new("f", fast, 1.0)]).is_allowed());
    }
    assert!(!l.acquire(&[Ask::new("f", fast, 1.0)]).is_allowed());
    std::thread::sleep(Duration::from_millis(250));
    assert!(
        l.acquire(&[Ask::new("f", fast, 1.0)]).is_allowed(),
        "refilled ~2.5"
    );
    // Charged after the fact: debt refuses even cost-0 requests until it refills.
    let tokens = Rate::per_minute(60.0);
    assert!(l.acquire(&[Ask::new("tok", tokens, 0.0)]).is_allowed());
    l.charge("tok", tokens, 90.0);
    let debt = l.remaining("tok", tokens).unwrap();
    assert!((-30.5..=-29.0).contains(&debt), "{debt}");
    let v = l.acquire(&[Ask::new("tok", tokens, 0.0)]);
    let wait = v.retry_after_secs().unwrap();
    assert!((29..=31).contains(&wait), "{wait}");
    // A refund never lifts a bucket past its capacity.
    l.charge("tok", tokens, -1_000.0);
    assert_eq!(l.remaining("tok", tokens), Some(60.0));
    // A cost above the capacity is admitted only from a full bucket.
    let cap = Rate::per_minute(10.0);
    assert!(l.acquire(&[Ask::new("c", cap, 25.0)]).is_allowed());
    assert!(
        !l.acquire(&[Ask::new("c", cap, 0.0)]).is_allowed(),
        "in debt"
    );
}

#[test]
fn several_servers_share_one_set_of_buckets_atomically() {
    let server = redis();
    let nodes: Vec<Arc<RedisLimiter>> = (0..2)
        .map(|_| Arc::new(RedisLimiter::connect(&server.url).unwrap()))
        .collect();
    // A burst of 60 refilling at 6 per minute: over the seconds this may take on a busy
    // machine, at most one more token comes back.
    let rate = Rate::per_minute(6.0).with_burst(60.0);
    let admitted: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let node = nodes[i % 2].clone();
                s.spawn(move || {
                    (0..40)
                        .filter(|_| {
                            node.acquire(&[
                                Ask::new("tenant:acme:rpm", rate, 1.0),
                                Ask::new(format!("key:{i}:rpm"), Rate::per_minute(1000.0), 1.0),
                            ])
                            .is_allowed()
                        })
                        .count()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert!(
        (60..=61).contains(&admitted),
        "320 attempts on a bucket of 60 shared by two nodes admitted {admitted}"
    );
}

#[test]
fn full_buckets_leave_redis() {
    let server = redis();
    let l = RedisLimiter::connect(&server.url).unwrap();
    let rate = Rate::per_minute(6000.0).with_burst(1.0);
    assert!(l.acquire(&[Ask::new("brief", rate, 1.0)]).is_allowed());
    let client = redis::Client::open(server.url.as_str()).unwrap();
    let mut c = client.get_connection().unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg("cairn:rl:brief")
        .query(&mut c)
        .unwrap();
    assert!(
        ttl > 0 && ttl <= 1_100,
        "expires once refilled (+1 s): {ttl}"
    );
    std::thread::sleep(Duration::from_millis(1_300));
    let exists: i64 = redis::cmd("EXISTS")
        .arg("cairn:rl:brief")
        .query(&mut c)
        .unwrap();
    assert_eq!(exists, 0);
}

#[test]
fn an_unreachable_redis_admits_and_a_bad_url_is_refused() {
    let mut server = redis();
    let l = RedisLimiter::connect(&server.url).unwrap();
    server.stop();
    let rate = Rate::per_minute(1.0);
    for _ in 0..3 {
        assert!(l.acquire(&[Ask::new("k", rate, 1.0)]).is_allowed());
    }
    assert_eq!(l.remaining("k", rate), None);
    l.charge("k", rate, 5.0);
    let err = RedisLimiter::connect("http://nope").unwrap_err();
    assert!(err.to_string().contains("redis.url"), "{err}");
    let err = RedisLimiter::connect(&server.url).unwrap_err();
    assert!(err.to_string().contains("cannot reach Redis"), "{err}");
}
