//! Token buckets on a fake clock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use cairn_auth::{Ask, MemoryLimiter, Rate, RateLimiter, Verdict};

/// A clock that only moves when told to.
#[derive(Clone)]
struct FakeClock(Arc<Mutex<Instant>>);

impl FakeClock {
    fn new() -> FakeClock {
        FakeClock(Arc::new(Mutex::new(Instant::now())))
    }

    fn advance(&self, d: Duration) {
        *self.0.lock().unwrap() += d;
    }

    fn limiter(&self) -> MemoryLimiter {
        let clock = Arc::clone(&self.0);
        MemoryLimiter::with_clock(Arc::new(move || *clock.lock().unwrap()))
    }
}

fn one(key: &str, rate: Rate, cost: f64) -> Vec<Ask> {
    vec![Ask::new(key, rate, cost)]
}

#[track_caller]
fn limited(v: Verdict) -> (Duration, String) {
    match v {
        Verdict::Limited { retry_after, key } => (retry_after, key),
        Verdict::Allowed => panic!("expected Limited, got Allowed"),
    }
}

#[track_caller]
fn assert_close(d: Duration, secs: f64) {
    assert!(
        (d.as_secs_f64() - secs).abs() < 1e-3,
        "expected ~{secs}s, got {d:?}"
    );
}

#[test]
fn burst_then_limited_with_retry_after() {
    let clock = FakeClock::new();
    let limiter = clock.limiter();
    let rate = Rate::per_minute(60.0).with_burst(5.0); // 1 token/s, 5 capacity
    for _ in 0..5 {
        assert_eq!(limiter.acquire(&one("k", rate, 1.0)), Verdict::Allowed);
    }
    let (retry, key) = limited(limiter.acquire(&one("k", rate, 1.0)));
    assert_close(retry, 1.0);
    assert_eq!(key, "k");
    let (retry, _) = limited(limiter.acquire(&one("k", rate, 3.0)));
    assert_close(retry, 3.0);
    assert_eq!(
        limited(limiter.acquire(&one("k", rate, 3.0))).0,
        retry,
        "a refused request takes nothing"
    );
    assert_eq!(
        Verdict::Limited {
            retry_after: Duration::from_millis(1500),
            key: "k".into()
        }
        .retry_after_secs(),
        Some(2)
    );
    assert_eq!(Verdict::Allowed.retry_after_secs(), None);
}

#[test]
fn burst_defaults_to_per_minute() {
    let clock = FakeClock::new();
    let limiter = clock.limiter();
    let rate = Rate::per_minute(30.0);
    assert_eq!(rate.capacity(), 30.0);
    for _ in 0..30 {
        assert!(limiter.acquire(&one("k", rate, 1.0)).is_allowed());
    }
    let (retry, _) = limited(limiter.acquire(&one("k", rate, 1.0)));
    assert_close(retry, 2.0); // 0.5 tokens/s
}

#[test]
fn refills_over_time_up_to_capacity() {
    let clock = FakeClock::new();
    let limiter = clock.limiter();
    let rate = Rate::per_minute(60.0).with_burst(10.0);
    assert!(limiter.acquire(&one("k", rate, 10.0)).is_allowed());
    assert_eq!(limiter.remaining("k", rate), Some(0.0));

    clock.advance(Duration::from_secs(2));
    assert!((limiter.remaining("k", rate).unwrap() - 2.0).abs() < 1e-9);
    assert!(limiter.acquire(&one("k", rate, 1.0)).is_allowed());
    assert!(limiter.acquire(&one("k", rate, 1.0)).is_allowed());
    assert!(!limiter.acquire(&one("k", rate, 1.0)).is_allowed());

    clock.advance(Duration::from_millis(500));
    let (retry, _) = limited(limiter.acquire(&one("k", rate, 1.0)));
    assert_close(retry, 0.5);

    clock.advance(Duration::from_secs(3600));
    assert_eq!(
        limiter.remaining("k", rate),
        Some(10.0),
        "capped at capacity"
    );
    assert!(limiter.acquire(&one("k", rate, 10.0)).is_allowed());
    assert!(!limiter.acquire(&one("k", rate, 1.0)).is_allowed());
}

#[test]
fn all_or_nothing_across_buckets() {
    let clock = FakeClock::new();
    let limiter = clock.limiter();
    let small = Rate::per_minute(60.0).with_burst(2.0);
    let big = Rate::per_minute(600.0);
    assert!(limiter.acquire(&one("key", small, 1.0)).is_allowed());

    let asks = vec![Ask::new("tenant", big, 2.0), Ask::new("key", small, 2.0)];
    let (retry, key) = limited(limiter.acquire(&asks));
    assert_eq!(key, "key");
    assert_close(retry, 1.0);
    assert_eq!(limiter.remaining("tenant", big), Some(600.0), "untouched");
    assert_eq!(limiter.remaining("key", small), Some(1.0));

    clock.advance(Duration::from_secs(1));
    assert!(limiter.acquire(&asks).is_allowed());
    assert_eq!(limiter.remaining("tenant", big), Some(598.0));
    assert!(limiter.remaining("key", small).unwrap().abs() < 1e-9);
}

#[test]
fn limited_names_the_longest_wait() {
    let clock = FakeClock::new();
    let limiter = clock.limiter();
    let fast = Rate::per_minute(600.0).with_burst(1.0); // 10/s
    let slow = Rate::per_minute(6.0).with_burst(1.0); // 0.1/s
    let asks = vec![Ask::new("fast", fast, 1.0), Ask::new("slow", slow, 1.0)];
    assert!(limiter.acquire(&asks).is_allowed());
    let (retry, key) = limited(limiter.acquire(&asks));
    assert_eq!(key, "slow");
    assert_close(retry, 10.0);
}

#[test]
fn repeated_keys_in_one_acquire_add_up() {
    let clock = FakeClock::new();
    let limiter = clock.limiter();
    let rate = Rate::per_minute(60.0).with_burst(3.0);
    let asks = vec![Ask::new("k", rate, 2.0), Ask::new("k", rate, 2.0)];
    let (retry, _) = limited(limiter.acquire(&asks));
    assert_close(retry, 1.0);
    assert_eq!(limiter.remaining("k", rate), Some(3.0));
}

#[test]
fn debt_from_charge_delays_later_requests() {
    let clock = FakeClock::new();
    let limiter = clock.limiter();
    let tokens = Rate::per_minute(600.0); // 10/s, capacity 600
    // Admit if not in debt, then charge what the generation actually used.
    assert!(limiter.acquire(&one("t", tokens, 0.0)).is_allowed());
    assert_eq!(
        limiter.remaining("t", tokens),
        Some(600.0),
        "cost 0 takes nothing"
    );
    limiter.charge("t", tokens, 700.0);
    assert_eq!(limiter.remaining("t", tokens), Some(-100.0));

    let (retry, _) = limited(limiter.acquire(&one("t", tokens, 0.0)));
    assert_close(retry, 10.0);
    let (retry, _) = limited(limiter.acquire(&one("t", tokens, 50.0)));
    assert_close(retry, 15.0);

    clock.advance(Duration::from_secs(10));
    let (retry, _) = limited(limiter.acquire(&one("t", tokens, 0.0)));
    assert!(
        retry <= Duration::from_millis(1),
        "at exactly zero: {retry:?}"
    );
    clock.advance(Duration::from_millis(100));
    assert!(limiter.acquire(&one("t", tokens, 0.0)).is_allowed());

    // Refunds go back in, up to capacity.
    limiter.charge("t", tokens, -10_000.0);
    assert_eq!(limiter.remaining("t", tokens), Some(600.0));
    // Non-finite charges are ignored.
    limiter.charge("t", tokens, f64::NAN);
    limiter.charge("t", tokens, f64::INFINITY);
    assert_eq!(limiter.remaining("t", tokens), Some(600.0));
}

#[test]
fn cost_above_capacity_is_admitted_only_when_full() {
    let clock = FakeClock::new();
    let limiter = clock.limiter();
    let rate = Rate::per_minute(60.0).with_burst(10.0);
    assert!(limiter.acquire(&one("k", rate, 1.0)).is_allowed());
    let (retry, _) = limited(limiter.acquire(&one("k", rate, 25.0)));
    assert_close(retry, 1.0); // until full, not until 25 tokens (never)
    clock.advance(Duration::from_secs(1));
    assert!(limiter.acquire(&one("k", rate, 25.0)).is_allowed());
    assert_eq!(limiter.remaining("k", rate), Some(-15.0));
    let (retry, _) = limited(limiter.acquire(&one("k", rate, 1.0)));
    assert_close(retry, 16.0);
}

#[test]
fn unusable_rates_deny_and_unseen_keys_are_full() {
    let limiter = MemoryLimiter::new();
    for rate in [
        Rate::per_minute(0.0),
        Rate::per_minute(-5.0),
        Rate::per_minute(f64::NAN),
        Rate::per_minute(f64::INFINITY),
    ] {
        assert!(!rate.is_usable());
        assert!(
            !limiter.acquire(&one("k", rate, 1.0)).is_allowed(),
            "{rate:?}"
        );
    }
    let rate = Rate::per_minute(10.0);
    assert_eq!(limiter.remaining("never-seen", rate), Some(10.0));
    assert!(limiter.is_empty(), "remaining does not create buckets");
    assert!(limiter.acquire(&[]).is_allowed());
}

#[test]
fn full_buckets_are_evicted() {
    let clock = FakeClock::new();
    let limiter = clock.limiter();
    let rate = Rate::per_minute(60.0);
    for i in 0..5000 {
        assert!(
            limiter
                .acquire(&one(&format!("ip:{i}"), rate, 1.0))
                .is_allowed()
        );
    }
    assert!(limiter.len() > 1000);
    clock.advance(Duration::from_secs(2));
    // Periodic sweeps drop buckets that refilled; a few live keys keep their state.
    for _ in 0..5000 {
        assert!(limiter.acquire(&one("busy", rate, 0.0)).is_allowed());
    }
    assert!(limiter.acquire(&one("busy", rate, 30.0)).is_allowed());
    assert!(limiter.len() <= 2, "len {}", limiter.len());
    assert_eq!(limiter.sweep(), 1, "the busy bucket is not full");
    assert_eq!(limiter.remaining("busy", rate), Some(30.0));
    clock.advance(Duration::from_secs(60));
    assert_eq!(limiter.sweep(), 0);
}

#[test]
fn concurrent_acquires_never_overshoot() {
    let clock = FakeClock::new(); // frozen: nothing refills during the test
    let limiter = Arc::new(clock.limiter());
    let rate = Rate::per_minute(50.0);
    let barrier = Arc::new(Barrier::new(16));
    let handles: Vec<_> = (0..16)
        .map(|_| {
            let limiter = Arc::clone(&limiter);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                (0..100)
                    .filter(|_| limiter.acquire(&one("shared", rate, 1.0)).is_allowed())
                    .count()
            })
        })
        .collect();
    let allowed: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(allowed, 50);
}

#[test]
fn limiter_works_as_a_trait_object() {
    let limiter: Arc<dyn RateLimiter> = Arc::new(MemoryLimiter::default());
    let rate = Rate::per_minute(1.0);
    assert!(limiter.acquire(&one("k", rate, 1.0)).is_allowed());
    let (retry, _) = limited(limiter.acquire(&one("k", rate, 1.0)));
    assert!(retry > Duration::from_secs(59) && retry <= Duration::from_secs(60));
}
