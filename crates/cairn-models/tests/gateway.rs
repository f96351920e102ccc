#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]
//! The gateway's routes against fake OpenAI-compatible upstreams on loopback (real HTTP,
//! one thread per connection), each answering with a scripted fault or a streamed
//! reply: fallback order, retries and their bounds, `Retry-After`, the first-token
//! limit, no fallback once a token was sent, circuit breakers, round-robin, least-busy
//! and concurrency limits.

use cairn_models::gateway::{
    BreakerSettings, BreakerState, RetryPolicy, RoutedGenerator, Strategy, Target, TargetHealth,
};
use cairn_models::{
    ChatMessage, Error, GenerateRequest, Generator, RemoteConfig, RemoteGenerator, StreamEvent,
};
use serde_json::json;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the upstream does with one request.
#[derive(Clone, Debug)]
enum Fault {
    /// Streams this text, word by word, then finishes.
    Reply(&'static str),
    /// Answers with this HTTP status and an OpenAI error body.
    Status(u16),
    /// 429 with `Retry-After` in seconds.
    RateLimited(u64),
    /// Reads the request and never answers.
    Hang,
    /// Sends one token, then closes without finishing.
    CutAfterFirst,
    /// Sends a chunk that is not JSON.
    Malformed,
}

#[derive(Clone)]
struct Upstream {
    base: String,
    script: Arc<Mutex<VecDeque<Fault>>>,
    otherwise: Arc<Mutex<Fault>>,
    hits: Arc<AtomicUsize>,
}

impl Upstream {
    fn start(otherwise: Fault) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let up = Self {
            base: format!("http://{}/v1", listener.local_addr().unwrap()),
            script: Arc::default(),
            otherwise: Arc::new(Mutex::new(otherwise)),
            hits: Arc::default(),
        };
        let shared = up.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let stream = stream.expect("the fake upstream accepts connections");
                let up = shared.clone();
                std::thread::spawn(move || up.answer(stream));
            }
        });
        up
    }

    /// Faults for the next requests, in order; then `otherwise`.
    fn then(&self, faults: &[Fault]) -> &Self {
        self.script.lock().unwrap().extend(faults.iter().cloned());
        self
    }

    fn set(&self, fault: Fault) {
        *self.otherwise.lock().unwrap() = fault;
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn answer(&self, mut stream: TcpStream) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut len = 0;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        self.hits.fetch_add(1, Ordering::SeqCst);
        let fault = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| self.otherwise.lock().unwrap().clone());
        let sse_head =
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";
        let delta = |s: &str| {
            format!(
                "data: {}\n\n",
                json!({"choices": [{"index": 0, "delta": {"content": s}, "finish_reason": null}]})
            )
        };
        let mut send = |s: &str| {
            let _ = stream.write_all(s.as_bytes());
            let _ = stream.flush();
        };
        match fault {
            Fault::Reply(text) => {
                send(sse_head);
                for (i, w) in text.split(' ').enumerate() {
                    send(&delta(&if i == 0 {
                        w.to_owned()
                    } else {
                        format!(" {w}")
                    }));
                }
                send(&format!(
                    "data: {}\n\ndata: {}\n\ndata: [DONE]\n\n",
                    json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
                    json!({"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2}})
                ));
            }
            Fault::Status(code) => {
                let body =
                    json!({"error": {"message": format!("upstream says {code}")}}).to_string();
                send(&format!(
                    "HTTP/1.1 {code} Oops\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                ));
            }
            Fault::RateLimited(secs) => {
                let body = json!({"error": {"message": "slow down"}}).to_string();
                send(&format!(
                    "HTTP/1.1 429 Too Many Requests\r\nRetry-After: {secs}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                ));
            }
            Fault::Hang => std::thread::sleep(Duration::from_secs(20)),
            Fault::CutAfterFirst => {
                send(sse_head);
                send(&delta("Partial"));
                std::thread::sleep(Duration::from_millis(50));
            }
            Fault::Malformed => {
                send(sse_head);
                send("data: {not json\n\n");
            }
        }
    }
}

fn target(name: &str, up: &Upstream, breaker: BreakerSettings, max_concurrent: usize) -> Target {
    let mut config = RemoteConfig::new(&up.base, name, None).unwrap();
    config.first_token_timeout = Some(Duration::from_millis(400));
    config.timeout = Duration::from_secs(30);
    Target {
        name: name.to_owned(),
        generator: Arc::new(RemoteGenerator::new(config)),
        health: Arc::new(TargetHealth::new(breaker, max_concurrent)),
        retry: RetryPolicy {
            max_retries: 1,
            base: Duration::from_millis(10),
            max: Duration::from_secs(3),
        },
    }
}

fn lenient() -> BreakerSettings {
    BreakerSettings {
        consecutive_failures: 100,
        ..BreakerSettings::default()
    }
}

fn route(strategy: Strategy, targets: Vec<Target>) -> RoutedGenerator {
    RoutedGenerator::new("r", strategy, targets, Arc::default()).unwrap()
}

fn ask() -> GenerateRequest {
    GenerateRequest::chat(vec![ChatMessage::new(cairn_models::Role::User, "hi")])
}

/// (text, the model that answered)
fn run(g: &dyn Generator) -> Result<(String, String), Error> {
    let c = g.complete(ask())?;
    Ok((c.text, c.finish.model.unwrap_or_default()))
}

#[test]
fn fallback_tries_the_next_target_after_retries_and_reports_who_answered() {
    let (a, b) = (
        Upstream::start(Fault::Status(500)),
        Upstream::start(Fault::Reply("from b")),
    );
    let r = route(
        Strategy::Fallback,
        vec![target("a", &a, lenient(), 0), target("b", &b, lenient(), 0)],
    );
    assert_eq!(run(&r).unwrap(), ("from b".into(), "b".into()));
    assert_eq!(a.hits(), 2, "one try and one retry");
    assert_eq!(b.hits(), 1);

    // Every target failing is one clear error naming each.
    b.set(Fault::Status(502));
    let e = run(&r).unwrap_err();
    assert!(matches!(e, Error::Unavailable(_)), "{e:?}");
    let m = e.to_string();
    assert!(
        m.contains("a: ") && m.contains("b: ") && m.contains("502"),
        "{m}"
    );
}

#[test]
fn a_retry_waits_for_retry_after_and_a_long_one_moves_on() {
    let a = Upstream::start(Fault::Reply("after the wait"));
    a.then(&[Fault::RateLimited(1)]);
    let r = route(Strategy::Fallback, vec![target("a", &a, lenient(), 0)]);
    let t = Instant::now();
    assert_eq!(run(&r).unwrap().0, "after the wait");
    assert!(t.elapsed() >= Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(a.hits(), 2);

    // Longer than the policy's cap: not waited for; the next target answers.
    let (c, d) = (
        Upstream::start(Fault::RateLimited(60)),
        Upstream::start(Fault::Reply("d")),
    );
    let r = route(
        Strategy::Fallback,
        vec![target("c", &c, lenient(), 0), target("d", &d, lenient(), 0)],
    );
    let t = Instant::now();
    assert_eq!(run(&r).unwrap().1, "d");
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(c.hits(), 1);
}

#[test]
fn a_bad_request_is_the_callers_error_not_a_reason_to_fall_back() {
    let (a, b) = (
        Upstream::start(Fault::Status(400)),
        Upstream::start(Fault::Reply("b")),
    );
    let r = route(
        Strategy::Fallback,
        vec![target("a", &a, lenient(), 0), target("b", &b, lenient(), 0)],
    );
    let e = run(&r).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Upstream {
                status: Some(400),
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!((a.hits(), b.hits()), (1, 0));
}

#[test]
fn a_stream_that_breaks_after_its_first_token_is_not_replayed_elsewhere() {
    let (a, b) = (
        Upstream::start(Fault::CutAfterFirst),
        Upstream::start(Fault::Reply("b")),
    );
    let r = route(
        Strategy::Fallback,
        vec![target("a", &a, lenient(), 0), target("b", &b, lenient(), 0)],
    );
    let mut stream = r.generate(ask()).unwrap();
    match stream.next() {
        Some(Ok(StreamEvent::Token(d))) => assert_eq!(d.text, "Partial"),
        other => panic!("{other:?}"),
    }
    let rest: Vec<_> = stream.collect();
    assert!(
        rest.iter().any(Result::is_err),
        "the cut reaches the caller: {rest:?}"
    );
    assert_eq!(b.hits(), 0, "no second answer after text was sent");
}

#[test]
fn a_silent_target_times_out_at_the_first_token_limit_and_a_malformed_one_is_skipped() {
    let (a, b, c) = (
        Upstream::start(Fault::Hang),
        Upstream::start(Fault::Malformed),
        Upstream::start(Fault::Reply("c answers")),
    );
    let r = route(
        Strategy::Fallback,
        vec![
            target("a", &a, lenient(), 0),
            target("b", &b, lenient(), 0),
            target("c", &c, lenient(), 0),
        ],
    );
    let t = Instant::now();
    assert_eq!(run(&r).unwrap(), ("c answers".into(), "c".into()));
    // A timed-out target is not retried (400 ms limit, once).
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!(a.hits(), 1);
    assert_eq!(b.hits(), 2, "malformed: tried and retried");
}

#[test]
fn the_breaker_opens_skips_the_target_then_a_probe_closes_it() {
    let (a, b) = (
        Upstream::start(Fault::Status(503)),
        Upstream::start(Fault::Reply("b")),
    );
    let settings = BreakerSettings {
        consecutive_failures: 2,
        error_rate: 1.0,
        window: 100,
        cooldown: Duration::from_millis(300),
    };
    let ta = target("a", &a, settings, 0);
    let health = ta.health.clone();
    let r = route(Strategy::Fallback, vec![ta, target("b", &b, lenient(), 0)]);
    // Two failed tries (one call with its retry) open the breaker.
    assert_eq!(run(&r).unwrap().1, "b");
    assert_eq!(a.hits(), 2);
    assert_eq!(health.breaker.state(), BreakerState::Open);
    // Open: the target is not called.
    assert_eq!(run(&r).unwrap().1, "b");
    assert_eq!(a.hits(), 2);
    // After the cooldown one probe goes through; it fails, so the breaker opens again.
    std::thread::sleep(Duration::from_millis(350));
    assert_eq!(health.breaker.state(), BreakerState::HalfOpen);
    assert_eq!(run(&r).unwrap().1, "b");
    assert_eq!(a.hits(), 3, "one probe, no retry");
    assert_eq!(health.breaker.state(), BreakerState::Open);
    // The upstream recovers: the next probe closes the breaker and answers.
    a.set(Fault::Reply("a is back"));
    std::thread::sleep(Duration::from_millis(350));
    assert_eq!(run(&r).unwrap(), ("a is back".into(), "a".into()));
    assert_eq!(health.breaker.state(), BreakerState::Closed);
}

#[test]
fn round_robin_rotates_and_least_busy_avoids_a_target_with_open_streams() {
    let (a, b) = (
        Upstream::start(Fault::Reply("a")),
        Upstream::start(Fault::Reply("b")),
    );
    let r = route(
        Strategy::RoundRobin,
        vec![target("a", &a, lenient(), 0), target("b", &b, lenient(), 0)],
    );
    let order: Vec<String> = (0..4).map(|_| run(&r).unwrap().1).collect();
    assert_eq!(order, ["a", "b", "a", "b"]);

    let r = route(
        Strategy::LeastBusy,
        vec![target("a", &a, lenient(), 0), target("b", &b, lenient(), 0)],
    );
    // An unfinished stream keeps its target busy until it is dropped.
    let held = r.generate(ask()).unwrap();
    assert_eq!(run(&r).unwrap().1, "b");
    drop(held);
    assert_eq!(run(&r).unwrap().1, "a");
}

#[test]
fn a_target_at_its_concurrency_limit_is_passed_over() {
    let (a, b) = (
        Upstream::start(Fault::Reply("a")),
        Upstream::start(Fault::Reply("b")),
    );
    let r = route(
        Strategy::Fallback,
        vec![target("a", &a, lenient(), 1), target("b", &b, lenient(), 1)],
    );
    let first = r.generate(ask()).unwrap();
    let second = r.generate(ask()).unwrap();
    let e = r.generate(ask()).err().unwrap();
    assert!(
        e.to_string().contains("concurrency limit") && matches!(e, Error::Unavailable(_)),
        "{e}"
    );
    assert_eq!(e.code(), cairn_types::ErrorCode::Unavailable);
    drop((first, second));
    assert_eq!(run(&r).unwrap().1, "a");
}

#[test]
fn a_request_waits_for_a_slot_when_every_target_is_busy_and_gets_the_freed_one() {
    let (a, b) = (
        Upstream::start(Fault::Reply("a")),
        Upstream::start(Fault::Reply("b")),
    );
    // Another route (or direct calls) holds both targets' only slots.
    let (ta, tb) = (target("a", &a, lenient(), 1), target("b", &b, lenient(), 1));
    let held = (ta.health.enter().unwrap(), tb.health.enter().unwrap());
    let r = route(Strategy::Fallback, vec![ta, tb]).with_slot_wait(Duration::from_secs(10));
    let started = std::time::Instant::now();
    let waiter = std::thread::spawn(move || run(&r));
    std::thread::sleep(Duration::from_millis(200));
    let (_a_slot, b_slot) = held;
    drop(b_slot);
    let (text, model) = waiter.join().unwrap().unwrap();
    assert_eq!((text.as_str(), model.as_str()), ("b", "b"));
    assert!(started.elapsed() >= Duration::from_millis(200));

    // Without a freed slot, it is refused when the wait is over, saying why.
    let c = Upstream::start(Fault::Reply("c"));
    let tc = target("c", &c, lenient(), 1);
    let _held = tc.health.enter().unwrap();
    let r = route(Strategy::Fallback, vec![tc]).with_slot_wait(Duration::from_millis(150));
    let e = r.generate(ask()).err().unwrap();
    assert!(e.to_string().contains("concurrency limit"), "{e}");
}
