//! Every model role on remote models through the gateway, with the real embedder and a
//! fake OpenAI-compatible upstream on loopback: a grounded answer from a route whose
//! first target fails (fallback), query rewriting by `models.rewriter`, LLM reranking
//! and the grounding judge by `models.judge` (P(yes) from the provider's top
//! log-probabilities), PII redacted before any of it leaves, and the breaker state.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use cairn_engine::search::{RerankKind, Transform};
use cairn_engine::{AskRequest, Engine};
use cairn_models::gateway::BreakerState;
use cairn_types::{CollectionId, TenantId};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

const DEADLOCK: &str = "# Deadlock errors\n\nWhen two transactions wait on each other's locks, \
PostgreSQL aborts one of them with SQLSTATE 40P01 deadlock_detected. Retry the aborted \
transaction. Questions about deadlocks go to jane.roe@example.com.";
const VACUUM: &str = "# VACUUM\n\nVACUUM reclaims storage occupied by dead tuples. VACUUM FULL \
rewrites the entire table into a new disk file.";

type Seen = Arc<Mutex<Vec<Value>>>;

/// One request off `stream`: its path and JSON body.
fn read_request(stream: &std::net::TcpStream) -> (String, Value) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let (mut len, mut path) = (0, String::new());
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        let h = h.trim_end().to_owned();
        if h.is_empty() {
            break;
        }
        if path.is_empty() {
            path = h.split(' ').nth(1).unwrap_or("").to_owned();
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    (path, serde_json::from_slice(&body).unwrap())
}

/// An upstream that records each request body and answers by what is asked: a judge
/// call (one token with log-probabilities) gets "Yes", a rewrite gets a query, anything
/// else the answer. With `fail`, every request gets a 500.
fn upstream(fail: bool) -> (String, Seen) {
    answering(
        fail,
        "A deadlock aborts with SQLSTATE 40P01 deadlock_detected [1].",
    )
}

/// A loopback upstream that records each request's JSON body (with its `path`) and
/// writes back what `reply` makes of it (a whole HTTP response).
fn fake_upstream(reply: impl Fn(&Value) -> String + Send + 'static) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.expect("the fake upstream accepts connections");
            let (path, mut body) = read_request(&stream);
            body["path"] = json!(path);
            log.lock().unwrap().push(body.clone());
            let _ = stream.write_all(reply(&body).as_bytes());
        }
    });
    (base, seen)
}

/// A whole JSON response.
fn json_response(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// [`upstream`] with `answer` as its answer text.
fn answering(fail: bool, answer: &'static str) -> (String, Seen) {
    fake_upstream(move |body| {
        if fail {
            return json_response(
                "500 Internal Server Error",
                r#"{"error":{"message":"down for maintenance"}}"#,
            );
        }
        let system = body["messages"][0]["content"].as_str().unwrap_or("");
        let (text, logprobs) = if body["max_tokens"] == 1 {
            (
                "Yes",
                json!({"content": [{"token": "Yes", "logprob": -0.1,
                    "top_logprobs": [{"token": "Yes", "logprob": -0.1}, {"token": "No", "logprob": -3.0}]}]}),
            )
        } else if system.starts_with("Rewrite the user's") {
            ("SQLSTATE code of a deadlock abort", Value::Null)
        } else {
            (answer, Value::Null)
        };
        let chunk = json!({"choices": [{"index": 0, "delta": {"content": text}, "logprobs": logprobs, "finish_reason": null}]});
        let end = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 12}});
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\ndata: {chunk}\n\ndata: {end}\n\ndata: [DONE]\n\n"
        )
    })
}

fn setup(dir: &std::path::Path, down: &str, up: &str) -> Engine {
    let config = format!(
        "[ingest.quality]\nmin_chars = 10\n[models]\ngenerator = \"main\"\njudge = \"good\"\n\
         rewriter = \"good\"\n\
         [[models.remote]]\nname = \"flaky\"\nbase_url = \"{down}\"\nmax_retries = 1\n\
         [[models.remote]]\nname = \"good\"\nbase_url = \"{up}\"\nmodel = \"served-good\"\n\
         [[models.routes]]\nname = \"main\"\nstrategy = \"fallback\"\ntargets = [\"flaky\", \"good\"]\n\
         [models.circuit_breaker]\nconsecutive_failures = 2\n"
    );
    let e = common::engine(dir, &config);
    for (name, text) in [("deadlocks.md", DEADLOCK), ("vacuum.md", VACUUM)] {
        common::upload(&e, "a", "kb", name, text);
    }
    e
}

#[test]
fn a_grounded_answer_with_every_role_on_remote_models() {
    let dir = tempfile::tempdir().unwrap();
    let (down, down_seen) = upstream(true);
    let (up, seen) = upstream(false);
    let e = setup(dir.path(), &down, &up);
    let a = TenantId::new("a");
    let mut req = AskRequest::new(
        CollectionId::new("kb"),
        "Which SQLSTATE code does a deadlock abort with?",
    );
    req.top_k = Some(2);
    req.transforms = vec![Transform::Rewrite];
    req.rerank = Some(RerankKind::Llm);
    let answer = e.ask(&a, &req).unwrap();
    eprintln!("{}", answer.answer);

    assert!(!answer.abstained, "{answer:?}");
    assert!(answer.answer.contains("40P01"), "{}", answer.answer);
    assert_eq!(answer.model, "good", "the route's fallback answered");
    assert_eq!(answer.usage.completion_tokens, 12);
    let cited = &answer.citations[0];
    assert!(
        answer
            .sources
            .iter()
            .any(|s| s.chunk_id == cited.chunk_id && s.text.contains("40P01")),
        "{:?}",
        answer.citations
    );

    let seen = seen.lock().unwrap();
    let system = |b: &Value| {
        b["messages"][0]["content"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };
    // The rewriter, the judge (once per reranked candidate) and the generator, all on
    // the provider's model name.
    assert!(seen.iter().all(|b| b["model"] == "served-good"));
    assert!(
        seen.iter()
            .any(|b| system(b).starts_with("Rewrite the user's"))
    );
    let judged: Vec<&Value> = seen.iter().filter(|b| b["max_tokens"] == 1).collect();
    assert_eq!(judged.len(), 2, "two candidates reranked");
    assert!(
        judged
            .iter()
            .all(|b| b["logprobs"] == true && b["top_logprobs"] == 5)
    );
    let answer_call = seen.last().unwrap();
    assert!(answer_call["messages"].to_string().contains("40P01"));
    // PII in the sources never left the machine, on any call; the answer prompt
    // carried a placeholder instead.
    for b in seen.iter().chain(down_seen.lock().unwrap().iter()) {
        assert!(!b.to_string().contains("jane.roe@example.com"), "{b}");
    }
    assert!(answer_call["messages"].to_string().contains("[EMAIL_1]"));
    assert!(
        answer
            .guardrails
            .iter()
            .any(|d| d.category.contains("email")),
        "{:?}",
        answer.guardrails
    );

    // The failing target was tried (with its retry) until its breaker opened, then
    // skipped.
    let tried = down_seen.lock().unwrap().len();
    assert_eq!(
        tried, 2,
        "two failures open the breaker (consecutive_failures = 2)"
    );
    let status = e.gateway_status();
    let flaky = status.iter().find(|s| s.model == "flaky").unwrap();
    assert_eq!(flaky.breaker, BreakerState::Open);
    assert_eq!(flaky.in_flight, 0);
}

#[test]
fn the_grounding_judge_reads_a_remote_models_log_probabilities() {
    let dir = tempfile::tempdir().unwrap();
    let (down, _) = upstream(true);
    let (up, seen) = upstream(false);
    let e = setup(dir.path(), &down, &up);
    let p = e
        .entailment_of(
            &TenantId::new("a"),
            DEADLOCK,
            "Which code?",
            "It aborts with 40P01.",
        )
        .unwrap();
    let expected = 1.0 / (1.0 + (-2.9f32).exp());
    assert!((p - expected).abs() < 1e-4, "{p} vs {expected}");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["temperature"], 0.0);
}

#[test]
fn the_exact_cache_serves_a_repeat_only_to_the_same_view_of_the_same_data() {
    let dir = tempfile::tempdir().unwrap();
    let (down, _) = upstream(true);
    let (up, seen) = upstream(false);
    let config = format!(
        "[ingest.quality]\nmin_chars = 10\n[models]\ngenerator = \"good\"\n\
         [[models.remote]]\nname = \"flaky\"\nbase_url = \"{down}\"\n\
         [[models.remote]]\nname = \"good\"\nbase_url = \"{up}\"\n[cache]\nexact = true\n"
    );
    let e = common::engine(dir.path(), &config);
    for t in ["a", "b"] {
        common::upload(&e, t, "kb", "deadlocks.md", DEADLOCK);
    }
    let a = TenantId::new("a");
    let mut req = AskRequest::new(
        CollectionId::new("kb"),
        "Which SQLSTATE code does a deadlock abort with?",
    );
    req.top_k = Some(1);
    let calls = || seen.lock().unwrap().len();

    let first = e.ask(&a, &req).unwrap();
    assert!(first.answer.contains("40P01"), "{first:?}");
    assert_eq!(first.cache.hit, None);
    assert_eq!(calls(), 1);
    let mut events = Vec::new();
    let again = e
        .ask_streaming(&a, &req, &mut |ev| {
            events.push(ev);
            true
        })
        .unwrap();
    assert_eq!(calls(), 1, "served from the cache");
    assert_eq!(again.cache.hit, Some(cairn_engine::answer::CacheHit::Exact));
    assert_eq!(again.cache.answer_id.as_ref(), Some(&first.id));
    assert_ne!(again.id, first.id, "recorded as the caller's own answer");
    assert_eq!(
        (again.answer.as_str(), &again.citations),
        (first.answer.as_str(), &first.citations)
    );
    assert_eq!(events.len(), 2, "sources, then the text");
    assert!(e.recorded_answer(&a, None, &again.id).is_ok());

    // Another tenant, another ACL view, a sampled request: computed afresh.
    e.ask(&TenantId::new("b"), &req).unwrap();
    assert_eq!(calls(), 2);
    let mut viewer = req.clone();
    viewer.principal = Some(cairn_types::Principal {
        owner: Some("u1".into()),
        user: Some("u1".into()),
        groups: vec!["eng".into()],
        all_documents: false,
    });
    e.ask(&a, &viewer).unwrap();
    assert_eq!(calls(), 3);
    e.ask(&a, &viewer).unwrap();
    assert_eq!(calls(), 3, "the same view hits its own entry");
    let mut sampled = req.clone();
    sampled.temperature = Some(0.7);
    e.ask(&a, &sampled).unwrap();
    e.ask(&a, &sampled).unwrap();
    assert_eq!(calls(), 5, "sampling without a seed is never cached");

    // Any write to the collection invalidates.
    common::upload(&e, "a", "kb", "vacuum.md", VACUUM);
    let after = e.ask(&a, &req).unwrap();
    assert_eq!(after.cache.hit, None);
    assert_eq!(calls(), 6);
}

#[test]
fn a_cascade_escalates_a_failed_and_a_made_up_answer_and_keeps_the_grounded_one() {
    let dir = tempfile::tempdir().unwrap();
    let (bad, bad_seen) = answering(false, "A deadlock aborts with SQLSTATE 99999 [1].");
    let (good, good_seen) = upstream(false);
    let (down, _) = upstream(true);
    let config = format!(
        "[ingest.quality]\nmin_chars = 10\n[models]\ngenerator = \"cheap-first\"\n\
         [[models.remote]]\nname = \"small\"\nbase_url = \"{bad}\"\n\
         [[models.remote]]\nname = \"big\"\nbase_url = \"{good}\"\n\
         [[models.remote]]\nname = \"down\"\nbase_url = \"{down}\"\nmax_retries = 0\n\
         [[models.routes]]\nname = \"cheap-first\"\nstrategy = \"cascade\"\n\
         targets = [\"down\", \"small\", \"big\"]\nescalate_below = 0.2\n"
    );
    let e = common::engine(dir.path(), &config);
    common::upload(&e, "a", "kb", "deadlocks.md", DEADLOCK);
    let a = TenantId::new("a");
    let mut req = AskRequest::new(
        CollectionId::new("kb"),
        "Which SQLSTATE code does a deadlock abort with?",
    );
    req.top_k = Some(1);
    let mut deltas = String::new();
    let answer = e
        .ask_streaming(&a, &req, &mut |ev| {
            if let cairn_engine::AnswerEvent::Delta(t) = ev {
                deltas.push_str(&t);
            }
            true
        })
        .unwrap();
    // `down` failed, `small` stated a code no source has, `big` answered from the source.
    assert_eq!(answer.model, "big", "{answer:?}");
    assert!(
        answer.answer.contains("40P01") && !answer.abstained,
        "{answer:?}"
    );
    let tried: Vec<(&str, &str)> = answer
        .escalations
        .iter()
        .map(|x| (x.model.as_str(), x.reason.as_str()))
        .collect();
    assert_eq!(tried.len(), 2, "{tried:?}");
    assert!(
        tried[0].0 == "down" && tried[0].1.starts_with("failed"),
        "{tried:?}"
    );
    assert_eq!(tried[1], ("small", "unverified"));
    assert_eq!(deltas, answer.answer, "only the kept answer was streamed");
    assert!(!deltas.contains("99999"));
    assert_eq!(
        (
            bad_seen.lock().unwrap().len(),
            good_seen.lock().unwrap().len()
        ),
        (1, 1)
    );
    // Recorded once, with its escalations.
    let stored = e.recorded_answer(&a, None, &answer.id).unwrap();
    assert!(
        stored.record["escalations"][1]["model"] == "small",
        "{}",
        stored.record
    );
}

/// A keep-alive upstream: answers every request on a connection until the client closes
/// it; returns (base URL, connections accepted, requests answered).
fn keep_alive_upstream() -> (String, Arc<Mutex<(usize, usize)>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    let counts: Arc<Mutex<(usize, usize)>> = Arc::default();
    let seen = counts.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.expect("the fake upstream accepts connections");
            seen.lock().unwrap().0 += 1;
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let mut len = 0;
                    let mut first = true;
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap_or(0) == 0 {
                            return;
                        }
                        let h = h.trim_end().to_owned();
                        if h.is_empty() && !first {
                            break;
                        }
                        first = false;
                        if let Some((k, v)) = h.split_once(':')
                            && k.eq_ignore_ascii_case("content-length")
                        {
                            len = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; len];
                    reader.read_exact(&mut body).unwrap();
                    seen.lock().unwrap().1 += 1;
                    let chunk = json!({"choices": [{"index": 0, "delta": {"content": "pong"}, "finish_reason": "stop"}]});
                    let sse = format!("data: {chunk}\n\ndata: [DONE]\n\n");
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: {}\r\n\r\n{sse}",
                        sse.len()
                    );
                }
            });
        }
    });
    (base, counts)
}

#[test]
fn calls_to_a_remote_model_reuse_its_connection() {
    let dir = tempfile::tempdir().unwrap();
    let (base, counts) = keep_alive_upstream();
    let e = common::engine(
        dir.path(),
        &format!("[[models.remote]]\nname = \"kept\"\nbase_url = \"{base}\"\n"),
    );
    let t = TenantId::new("a");
    let redaction = e.default_redaction().unwrap();
    for _ in 0..3 {
        // A new generator per request, as the server builds them.
        let g = e.chat_model(&t, "kept", &redaction).unwrap();
        let req =
            cairn_models::GenerateRequest::chat(vec![cairn_models::ChatMessage::user("ping")]);
        assert_eq!(g.complete(req).unwrap().text, "pong");
    }
    let (connections, requests) = *counts.lock().unwrap();
    assert_eq!(requests, 3);
    assert_eq!(connections, 1, "one kept-alive connection for three calls");
}

#[test]
fn the_semantic_cache_serves_a_paraphrase_to_the_same_view_until_a_cited_document_changes() {
    use cairn_engine::answer::CacheHit;
    let dir = tempfile::tempdir().unwrap();
    let (up, seen) = upstream(false);
    // A low threshold: this test is about scope, verification and invalidation, not
    // about where the embedder puts these two questions.
    let config = format!(
        "[ingest.quality]\nmin_chars = 10\n[models]\ngenerator = \"good\"\n\
         [[models.remote]]\nname = \"good\"\nbase_url = \"{up}\"\n\
         [cache]\nsemantic = true\nsemantic_threshold = 0.5\n"
    );
    let e = common::engine(dir.path(), &config);
    for t in ["a", "b"] {
        common::upload(&e, t, "kb", "deadlocks.md", DEADLOCK);
    }
    let a = TenantId::new("a");
    let ask = |tenant: &TenantId, q: &str, principal: Option<cairn_types::Principal>| {
        let mut req = AskRequest::new(CollectionId::new("kb"), q);
        req.top_k = Some(1);
        req.principal = principal;
        e.ask(tenant, &req).unwrap()
    };
    let calls = || seen.lock().unwrap().len();
    let question = "Which SQLSTATE code does a deadlock abort with?";
    let paraphrase = "What error code do I get back, in SQLSTATE terms, when the server kills one side of a deadlock?";

    let first = ask(&a, question, None);
    assert!(!first.citations.is_empty(), "{first:?}");
    assert_eq!((first.cache.hit, calls()), (None, 1));

    let mut events = 0;
    let mut req = AskRequest::new(CollectionId::new("kb"), paraphrase);
    req.top_k = Some(1);
    let hit = e
        .ask_streaming(&a, &req, &mut |_| {
            events += 1;
            true
        })
        .unwrap();
    assert_eq!(calls(), 1, "served from the semantic cache");
    assert_eq!(hit.cache.hit, Some(CacheHit::Semantic));
    assert_eq!(hit.cache.answer_id.as_ref(), Some(&first.id));
    assert_eq!(hit.question, paraphrase);
    assert_eq!(
        (hit.answer.as_str(), &hit.citations),
        (first.answer.as_str(), &first.citations)
    );
    assert_eq!(events, 2, "sources, then the text");
    assert!(e.recorded_answer(&a, None, &hit.id).is_ok());

    // Near-misses are verified away however close their vectors: a negation, another
    // code, the opposite side.
    for near in [
        "Which SQLSTATE code does a deadlock not abort with?",
        "Which SQLSTATE code does a deadlock abort with in PostgreSQL 9?",
        "Which SQLSTATE code does a serialization failure abort with?",
    ] {
        let before = calls();
        let got = ask(&a, near, None);
        assert_eq!(got.cache.hit, None, "{near}");
        assert_eq!(calls(), before + 1, "{near}");
    }

    // Another tenant and another ACL view have their own entries.
    let before = calls();
    assert_eq!(ask(&TenantId::new("b"), paraphrase, None).cache.hit, None);
    let viewer = cairn_types::Principal {
        owner: Some("u1".into()),
        user: Some("u1".into()),
        groups: vec!["eng".into()],
        all_documents: false,
    };
    assert_eq!(ask(&a, paraphrase, Some(viewer.clone())).cache.hit, None);
    assert_eq!(calls(), before + 2);
    assert_eq!(
        ask(&a, question, Some(viewer)).cache.hit,
        Some(CacheHit::Semantic),
        "the viewer's own entry serves the viewer"
    );

    // A write to another document keeps the entry; a change to the cited one drops it.
    common::upload(&e, "a", "kb", "vacuum.md", VACUUM);
    assert_eq!(
        ask(&a, paraphrase, None).cache.hit,
        Some(CacheHit::Semantic)
    );
    let before = calls();
    common::upload(
        &e,
        "a",
        "kb",
        "deadlocks.md",
        &DEADLOCK.replace("Retry the aborted", "Always retry the aborted"),
    );
    let after = ask(&a, paraphrase, None);
    assert_eq!(after.cache.hit, None, "the cited document changed");
    assert_eq!(calls(), before + 1);
}

/// A fake `POST /embeddings`: each input becomes words hashed into `dim` buckets (so
/// texts sharing words are close), or vectors one short with `wrong_dim`.
fn embeddings_upstream(dim: usize, wrong_dim: bool) -> (String, Seen) {
    fake_upstream(move |body| {
        let size = if wrong_dim { dim - 1 } else { dim };
        let data: Vec<Value> = body["input"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let mut v = vec![0.01f32; size];
                for w in t
                    .as_str()
                    .unwrap()
                    .to_lowercase()
                    .split(|c: char| !c.is_alphanumeric())
                {
                    if w.len() > 3 {
                        let h = w
                            .bytes()
                            .fold(7usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
                        v[h % size] += 1.0;
                    }
                }
                json!({"index": i, "embedding": v})
            })
            .collect();
        let out = json!({"data": data, "model": body["model"], "usage": {"prompt_tokens": 10}});
        json_response("200 OK", &out.to_string())
    })
}

#[test]
fn a_remote_embedder_embeds_documents_and_queries_and_a_wrong_dimension_is_refused() {
    use cairn_engine::search::{SearchMode, SearchRequest};
    let dir = tempfile::tempdir().unwrap();
    let remote = |base: &str| {
        format!(
            "[ingest.quality]\nmin_chars = 10\n[models]\nembedder = \"vectors\"\n\
             [[models.remote]]\nname = \"vectors\"\nbase_url = \"{base}\"\nmodel = \"served-vectors\"\n\
             api = \"embeddings\"\ndimension = 64\nmax_retries = 0\n"
        )
    };
    let (up, seen) = embeddings_upstream(64, false);
    let a = TenantId::new("a");
    {
        let e = common::engine(dir.path(), &remote(&up));
        assert_eq!(e.embedder().unwrap().dim(), 64);
        common::upload(&e, "a", "kb", "deadlocks.md", DEADLOCK);
        common::upload(&e, "a", "kb", "vacuum.md", VACUUM);
        let mut req = SearchRequest::new(CollectionId::new("kb"), "deadlock transactions retry");
        req.mode = Some(SearchMode::Dense);
        let found = e.search(&a, &req).unwrap();
        assert!(found.hits[0].text.contains("40P01"), "{:?}", found.hits);
        let seen = seen.lock().unwrap();
        assert!(
            seen.iter()
                .all(|b| b["path"] == "/v1/embeddings" && b["model"] == "served-vectors")
        );
        assert!(
            seen.len() >= 3,
            "two documents and the query: {}",
            seen.len()
        );
        // MaxSim needs token vectors, which a remote embedder does not give.
        let err = e.bert().err().unwrap();
        assert!(
            err.message.contains("remote model `vectors`"),
            "{}",
            err.message
        );
    }

    // The same collection through an upstream answering the wrong size: refused with
    // a clear error, nothing stored is lost.
    let (bad, _) = embeddings_upstream(64, true);
    let e = common::engine(dir.path(), &remote(&bad));
    let req = cairn_engine::UploadRequest {
        name: "more.md",
        bytes: b"# More\n\nAutovacuum runs VACUUM and ANALYZE automatically in the background.",
        ..Default::default()
    };
    let err = e
        .ingest_bytes(&a, &CollectionId::new("kb"), &req)
        .err()
        .map(|e| e.message)
        .unwrap_or_default();
    let docs = e
        .store()
        .list_documents(&a, Some(&CollectionId::new("kb")), 10, 0)
        .unwrap();
    assert!(
        docs.iter().any(|d| d.source.ends_with("deadlocks.md")),
        "{docs:?}"
    );
    let mut req = SearchRequest::new(CollectionId::new("kb"), "SQLSTATE 40P01");
    req.mode = Some(SearchMode::Lexical);
    let found = e.search(&a, &req).unwrap();
    assert!(
        found.hits[0].text.contains("40P01"),
        "the earlier documents survive"
    );
    assert!(
        err.contains("expected 64-dimensional vectors, got 63"),
        "{err}"
    );
}

#[test]
fn a_tenants_own_models_keep_their_gateway_state_apart_from_other_tenants() {
    let dir = tempfile::tempdir().unwrap();
    let config = "[[models.remote]]\nname = \"shared\"\nbase_url = \"http://127.0.0.1:9/v1\"\n";
    let e = common::engine(dir.path(), config);
    let (a, b) = (TenantId::new("a"), TenantId::new("b"));
    for t in [&a, &b] {
        e.ensure_tenant(t).unwrap();
        let own = json!({"models": {"remote": [{"name": "mine", "base_url": format!("http://127.0.0.1:9/{t}/v1")}]}});
        e.store().set_tenant_settings(t, &own, 0).unwrap();
    }
    assert_eq!(e.model_state_key(&a, "mine"), "a/mine");
    assert_eq!(e.model_state_key(&b, "mine"), "b/mine");
    // The file's models and the local generator are shared by every tenant.
    assert_eq!(e.model_state_key(&a, "shared"), "shared");
    let local = e.config().generator.clone();
    assert_eq!(e.model_state_key(&a, &local), local);
    // Each tenant's registry resolves its own model to its own upstream.
    let url = |t: &TenantId| match e.registry(t).unwrap().model_ref("mine") {
        cairn_config::ModelRef::Remote(m) => m.base_url.clone(),
        _ => panic!("`mine` is a remote model of {t}"),
    };
    assert!(url(&a).contains("/a/") && url(&b).contains("/b/"));
}

#[test]
fn a_tenant_answers_with_its_own_generator_and_other_tenants_keep_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let (up, seen) = upstream(false);
    let (other_up, other_seen) = upstream(false);
    let e = common::engine(
        dir.path(),
        "[ingest.quality]\nmin_chars = 10\n[cache]\nexact = true\n",
    );
    let (a, b) = (TenantId::new("a"), TenantId::new("b"));
    common::upload(&e, "a", "kb", "deadlocks.md", DEADLOCK);
    let own = |base: &str| {
        json!({"models": {
            "remote": [{"name": "ours", "base_url": base, "model": "served-ours"}],
            "generator": "ours", "judge": "ours", "rewriter": "ours"}})
    };
    e.store().set_tenant_settings(&a, &own(&up), 0).unwrap();
    let file_generator = e.config().generator.clone();
    use cairn_engine::ModelRole::{Generator, Judge, Rewriter};
    for role in [Generator, Judge, Rewriter] {
        assert_eq!(e.tenant_role_model(&a, role).unwrap(), "ours");
    }
    assert_eq!(e.tenant_role_model(&b, Generator).unwrap(), file_generator);

    let mut req = AskRequest::new(
        CollectionId::new("kb"),
        "Which SQLSTATE code does a deadlock abort with?",
    );
    req.top_k = Some(2);
    req.transforms = vec![Transform::Rewrite];
    let answer = e.ask(&a, &req).unwrap();
    assert!(!answer.abstained, "{answer:?}");
    assert_eq!(answer.model, "ours");
    assert!(answer.answer.contains("40P01"), "{}", answer.answer);
    let calls = seen.lock().unwrap().clone();
    assert!(calls.len() >= 2, "the rewrite and the answer: {calls:?}");
    assert!(calls.iter().all(|b| b["model"] == "served-ours"));

    let repeat = e.ask(&a, &req).unwrap();
    assert!(
        repeat.cache.hit.is_some(),
        "a repeat is served from the cache"
    );

    // The same name redefined: the cached answer is not served from the old model.
    e.store()
        .set_tenant_settings(&a, &own(&other_up), 1)
        .unwrap();
    e.forget_registry(&a);
    let again = e.ask(&a, &req).unwrap();
    assert_eq!(again.cache.hit, None, "another model now answers as `ours`");
    assert!(!other_seen.lock().unwrap().is_empty());

    // Roles that name nothing of the tenant's registry, or a path, are refused.
    for bad in [json!("nowhere"), json!("/srv/models/x.gguf"), json!(7)] {
        let settings = json!({"models": {"generator": bad}});
        let err = e.merged_registry(Some(&settings)).unwrap_err();
        assert!(err.message.contains("models.generator"), "{}", err.message);
    }
    let err = e
        .merged_registry(Some(&json!({"models": {"embedder": "ours"}})))
        .unwrap_err();
    assert!(err.message.contains("whole deployment"), "{}", err.message);
}
