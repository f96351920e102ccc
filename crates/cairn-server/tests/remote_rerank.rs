//! Remote rerankers through the server: `POST /v1/rerank` in the Cohere shape over a
//! remote `/rerank` model, and the model's retries and circuit breaker.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use std::io::Write;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use support::*;
use tower::ServiceExt;

/// A `/rerank` upstream scoring each document by its length (longer: more relevant),
/// recording the bodies it receives.
fn rerank_upstream() -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.expect("the fake upstream accepts connections");
            let (line, _, body) = read_request(&stream);
            log.lock().unwrap().push((line, body.clone()));
            let results: Vec<Value> = body["documents"]
                .as_array()
                .unwrap()
                .iter()
                .enumerate()
                .map(|(i, d)| json!({"index": i, "relevance_score": d.as_str().unwrap().len() as f64 / 100.0}))
                .collect();
            let text = json!({"results": results}).to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    (format!("http://{addr}/v1"), seen)
}

#[tokio::test(flavor = "multi_thread")]
async fn rerank_proxies_a_remote_reranker_in_the_cohere_shape() {
    let dir = tempfile::tempdir().unwrap();
    let (base, seen) = rerank_upstream();
    let toml = format!(
        "data_dir = \"{}\"\n[auth]\nmode = \"off\"\n[models]\nreranker = \"rr\"\n\
         [[models.remote]]\nname = \"rr\"\nbase_url = \"{base}\"\nmodel = \"bge-reranker\"\napi = \"rerank\"\n",
        dir.path().join("data").display()
    );
    let app = app_from(&toml);
    let post = |body: Value| {
        Request::builder()
            .method("POST")
            .uri("/v1/rerank")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let docs = json!(["short", {"text": "the longest document of the three, write to jane.roe@example.com"}, "a middle one"]);
    // No model: the configured reranker.
    let res = app
        .clone()
        .oneshot(post(
            json!({"query": "which?", "documents": docs, "top_n": 2, "return_documents": true}),
        ))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = serde_json::from_slice(
        &axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(body["model"], "rr");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "top_n");
    assert_eq!(
        (results[0]["index"].as_u64(), results[1]["index"].as_u64()),
        (Some(1), Some(2)),
        "{body}"
    );
    assert!(
        results[0]["relevance_score"].as_f64().unwrap()
            > results[1]["relevance_score"].as_f64().unwrap()
    );
    assert!(
        results[0]["document"]["text"]
            .as_str()
            .unwrap()
            .contains("jane.roe@example.com"),
        "the caller gets its text back"
    );
    assert!(body["usage"]["total_tokens"].as_u64().unwrap() > 0);
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        let (line, sent) = &seen[0];
        assert!(line.starts_with("POST /v1/rerank "), "{line}");
        assert_eq!(sent["model"], "bge-reranker");
        assert_eq!(sent["query"], "which?");
        assert!(
            !sent.to_string().contains("jane.roe"),
            "redacted before it left: {sent}"
        );
    }

    // Refusals: an unknown reranker, a chat-only name, no documents, top_n 0.
    for (body, status) in [
        (
            json!({"model": "nope", "query": "q", "documents": ["a"]}),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({"query": "q", "documents": []}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"query": " ", "documents": ["a"]}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"query": "q", "documents": ["a"], "top_n": 0}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"query": "q", "documents": [""]}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"query": "q", "documents": "a"}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let res = app.clone().oneshot(post(body.clone())).await.unwrap();
        assert_eq!(res.status(), status, "{body}");
    }
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "refusals never reach the provider"
    );
}

/// An upstream that answers every request with a 500 and counts them.
fn failing_upstream() -> (String, Arc<Mutex<usize>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(Mutex::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.expect("the fake upstream accepts connections");
            let _ = read_request(&stream);
            *seen.lock().unwrap() += 1;
            let e = r#"{"error":{"message":"down"}}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{e}",
                e.len()
            );
        }
    });
    (format!("http://{addr}/v1"), count)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_remote_reranker_is_retried_then_its_breaker_opens() {
    let dir = tempfile::tempdir().unwrap();
    let (base, calls) = failing_upstream();
    let toml = format!(
        "data_dir = \"{}\"\n[auth]\nmode = \"off\"\n[models]\nreranker = \"rr\"\n\
         [[models.remote]]\nname = \"rr\"\nbase_url = \"{base}\"\napi = \"rerank\"\nmax_retries = 1\n\
         [models.circuit_breaker]\nconsecutive_failures = 2\ncooldown_ms = 600000\n",
        dir.path().join("data").display()
    );
    let app = app_from(&toml);
    let body = json!({"query": "q", "documents": ["a", "b"]});
    for expected_calls in [2, 4] {
        let (s, e) = send(&app, "POST", "/v1/rerank", Some(body.clone())).await;
        assert!(s.is_server_error(), "{s} {e}");
        assert_eq!(
            *calls.lock().unwrap(),
            expected_calls,
            "one retry per request"
        );
    }
    // Two failed requests in a row: the breaker is open, the provider is spared.
    let (s, e) = send(&app, "POST", "/v1/rerank", Some(body)).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("circuit breaker"),
        "{e}"
    );
    assert_eq!(*calls.lock().unwrap(), 4);
}
