//! The HTTP API in-process (the router driven with `tower::ServiceExt::oneshot`, real
//! SQLite, real MiniLM and SmolLM2): every rejection is a clear 4xx in the one envelope
//! and leaves the store as it was; uploads are idempotent; SSE answers stream; the
//! OpenAPI document covers the routes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use cairn_engine::Engine;
use cairn_server::{AppState, router};
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

#[path = "http/collections.rs"]
mod collections;
#[path = "http/eval_runs.rs"]
mod eval_runs;

fn app(dir: &std::path::Path, extra: &str) -> (Router, Arc<Engine>) {
    let toml = format!(
        "data_dir = \"{}\"\n[ingest.quality]\nmin_chars = 10\n[models]\ngenerator = \"smollm2-135m-instruct\"\n\
         [answer]\nmax_answer_tokens = 32\n{extra}\n{auth}",
        dir.join("data").display(),
        // These tests are about the API's own behaviour; authentication has its own
        // tests below and end to end in crates/cairn/tests/security.rs.
        auth = if extra.contains("[auth]") {
            ""
        } else {
            "[auth]\nmode = \"off\""
        },
    );
    let (config, _) = cairn_config::load_from_str(&toml, "test", &[]).unwrap();
    let engine = Arc::new(Engine::open(config).unwrap());
    (router(AppState::new(engine.clone()).unwrap()), engine)
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, headers, body.to_vec())
}

fn json_req(method: &str, uri: &str, body: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

fn get(uri: &str) -> Request<Body> {
    Request::builder().uri(uri).body(Body::empty()).unwrap()
}

/// Asserts the error envelope and returns its `error` object.
fn envelope(
    status: StatusCode,
    headers: &axum::http::HeaderMap,
    body: &[u8],
    want: StatusCode,
    code: &str,
) -> Value {
    let v: Value = serde_json::from_slice(body)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(body)));
    assert_eq!(status, want, "{v}");
    let e = &v["error"];
    assert_eq!(e["code"], code, "{v}");
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    let rid = headers.get("x-request-id").unwrap().to_str().unwrap();
    assert_eq!(e["request_id"], rid, "the envelope names the request");
    e.clone()
}

fn multipart(name: &str, content: &[u8], extra: &[(&str, &str)]) -> (String, Vec<u8>) {
    let boundary = "cairnboundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (k, v) in extra {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
    );
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn upload_req(coll: &str, name: &str, content: &[u8], key: Option<&str>) -> Request<Body> {
    let (ct, body) = multipart(name, content, &[("metadata", "{\"tags\": [\"ops\"]}")]);
    let mut b = Request::builder()
        .method("POST")
        .uri(format!("/api/v1/collections/{coll}/documents"))
        .header(header::CONTENT_TYPE, ct);
    if let Some(k) = key {
        b = b.header("idempotency-key", k);
    }
    b.body(Body::from(body)).unwrap()
}

const DEADLOCK: &str = "# Deadlock errors\n\nWhen two transactions wait on each other's locks, \
PostgreSQL aborts one of them with SQLSTATE 40P01 deadlock_detected. Retry the aborted transaction.";

fn doc_count(e: &Engine) -> usize {
    e.store()
        .list_documents(&cairn_types::TenantId::new("default"), None, 1000, 0)
        .unwrap()
        .len()
}

#[tokio::test]
async fn malformed_json_wrong_type_and_unknown_routes_get_enveloped_4xx() {
    let dir = tempfile::tempdir().unwrap();
    let (app, engine) = app(dir.path(), "");
    let (s, h, b) = send(
        &app,
        json_req(
            "POST",
            "/v1/chat/completions",
            "{\"model\": \"x\", \"messages\": [",
        ),
    )
    .await;
    let e = envelope(s, &h, &b, StatusCode::BAD_REQUEST, "invalid_input");
    assert!(
        e["message"].as_str().unwrap().contains("malformed JSON"),
        "{e}"
    );
    assert_eq!(e["type"], "invalid_request_error");

    let (s, h, b) = send(&app, json_req("POST", "/api/v1/collections", "{\"id\": 7}")).await;
    envelope(s, &h, &b, StatusCode::BAD_REQUEST, "invalid_input");
    let (s, h, b) = send(
        &app,
        json_req("POST", "/api/v1/collections", "{\"id\": \"Bad Slug!\"}"),
    )
    .await;
    envelope(s, &h, &b, StatusCode::BAD_REQUEST, "invalid_input");

    let text = Request::builder()
        .method("POST")
        .uri("/api/v1/collections")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("{\"id\": \"kb\"}"))
        .unwrap();
    let (s, h, b) = send(&app, text).await;
    envelope(
        s,
        &h,
        &b,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    let (s, h, b) = send(
        &app,
        json_req("POST", "/api/v1/collections/kb/documents", "{}"),
    )
    .await;
    envelope(
        s,
        &h,
        &b,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );

    let (s, h, b) = send(&app, get("/api/v1/nothing-here")).await;
    envelope(s, &h, &b, StatusCode::NOT_FOUND, "not_found");
    let (s, h, b) = send(&app, json_req("PUT", "/api/v1/ask", "{}")).await;
    envelope(
        s,
        &h,
        &b,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );

    // The client's request id is echoed.
    let mut r = get("/api/v1/documents/does-not-exist");
    r.headers_mut()
        .insert("x-request-id", "trace-123".parse().unwrap());
    let (s, h, b) = send(&app, r).await;
    let e = envelope(s, &h, &b, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(e["request_id"], "trace-123");

    assert!(
        engine
            .store()
            .list_collections(&cairn_types::TenantId::new("default"))
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn unknown_models_are_404_model_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = app(dir.path(), "");
    let body =
        json!({"model": "gpt-17", "messages": [{"role": "user", "content": "hi"}]}).to_string();
    let (s, h, b) = send(&app, json_req("POST", "/v1/chat/completions", &body)).await;
    let e = envelope(s, &h, &b, StatusCode::NOT_FOUND, "model_not_found");
    assert_eq!(e["param"], "model");
    let body = json!({"model": "gpt-17", "input": "hi"}).to_string();
    let (s, h, b) = send(&app, json_req("POST", "/v1/embeddings", &body)).await;
    envelope(s, &h, &b, StatusCode::NOT_FOUND, "model_not_found");
    let (s, h, b) = send(&app, get("/v1/models/gpt-17")).await;
    envelope(s, &h, &b, StatusCode::NOT_FOUND, "model_not_found");
    // A RAG assistant over a collection that does not exist.
    let body = json!({"model": "cairn-rag:nope", "messages": [{"role": "user", "content": "hi"}]})
        .to_string();
    let (s, h, b) = send(&app, json_req("POST", "/v1/chat/completions", &body)).await;
    envelope(s, &h, &b, StatusCode::NOT_FOUND, "not_found");
    // Bad parameters are named.
    let body = json!({"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "hi"}], "temperature": 9}).to_string();
    let (s, h, b) = send(&app, json_req("POST", "/v1/chat/completions", &body)).await;
    let e = envelope(s, &h, &b, StatusCode::BAD_REQUEST, "invalid_input");
    assert!(
        e["message"].as_str().unwrap().contains("temperature"),
        "{e}"
    );
    let body = json!({"model": "smollm2-135m-instruct", "messages": []}).to_string();
    let (s, h, b) = send(&app, json_req("POST", "/v1/chat/completions", &body)).await;
    envelope(s, &h, &b, StatusCode::BAD_REQUEST, "invalid_input");
}

#[tokio::test]
async fn oversized_bodies_are_413_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (app, engine) = app(
        dir.path(),
        "[server]\nmax_body_bytes = 2048\nmax_upload_bytes = 4096\n",
    );
    let (s, _, _) = send(
        &app,
        upload_req("kb", "small.md", DEADLOCK.as_bytes(), None),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let before = doc_count(&engine);

    let big = "word ".repeat(2_000);
    let (s, h, b) = send(&app, upload_req("kb", "big.md", big.as_bytes(), None)).await;
    envelope(s, &h, &b, StatusCode::PAYLOAD_TOO_LARGE, "too_large");
    let body =
        json!({"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": big}]})
            .to_string();
    let (s, h, b) = send(&app, json_req("POST", "/v1/chat/completions", &body)).await;
    envelope(s, &h, &b, StatusCode::PAYLOAD_TOO_LARGE, "too_large");
    let body = json!({"id": "kb2", "description": big}).to_string();
    let (s, h, b) = send(&app, json_req("POST", "/api/v1/collections", &body)).await;
    envelope(s, &h, &b, StatusCode::PAYLOAD_TOO_LARGE, "too_large");

    assert_eq!(doc_count(&engine), before);
    let ids: Vec<String> = engine
        .store()
        .list_collections(&cairn_types::TenantId::new("default"))
        .unwrap()
        .into_iter()
        .map(|c| c.id.to_string())
        .collect();
    assert_eq!(ids, ["kb"]);
}

#[tokio::test]
async fn uploads_are_idempotent_and_bad_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (app, engine) = app(dir.path(), "");
    let (s, _, b) = send(
        &app,
        upload_req("kb", "deadlocks.md", DEADLOCK.as_bytes(), Some("k1")),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b));
    let first: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(first["metadata"]["tags"][0], "ops");
    let (s, _, b) = send(
        &app,
        upload_req("kb", "deadlocks.md", DEADLOCK.as_bytes(), Some("k1")),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let again: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(
        again["id"], first["id"],
        "a retry returns the stored document"
    );
    let (s, h, b) = send(
        &app,
        upload_req(
            "kb",
            "other.md",
            b"# Other\n\nsomething else entirely here",
            Some("k1"),
        ),
    )
    .await;
    envelope(s, &h, &b, StatusCode::CONFLICT, "conflict");
    let (s, h, b) = send(
        &app,
        upload_req(
            "kb",
            "broken.pdf",
            b"%PDF-1.7 this is not really a pdf",
            None,
        ),
    )
    .await;
    let e: Value = serde_json::from_slice(&b).unwrap();
    assert!(s.is_client_error(), "{s} {e}");
    assert!(h.get("x-request-id").is_some());
    assert_eq!(doc_count(&engine), 1);

    let (s, _, b) = send(&app, get("/api/v1/collections/kb/documents")).await;
    assert_eq!(s, StatusCode::OK);
    let list: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    let id = first["id"].as_str().unwrap();
    let (s, _, _) = send(&app, get(&format!("/api/v1/documents/{id}"))).await;
    assert_eq!(s, StatusCode::OK);
    let del = Request::builder()
        .method("DELETE")
        .uri(format!("/api/v1/documents/{id}"))
        .body(Body::empty())
        .unwrap();
    let (s, _, _) = send(&app, del).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, h, b) = send(&app, get(&format!("/api/v1/documents/{id}"))).await;
    envelope(s, &h, &b, StatusCode::NOT_FOUND, "not_found");
}

fn sse_events(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut event = String::new();
        let mut data = String::new();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                event = v.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.strip_prefix(' ').unwrap_or(v));
            }
        }
        if !data.is_empty() {
            out.push((event, data));
        }
    }
    out
}

#[tokio::test]
async fn ask_streams_sources_deltas_and_the_answer_then_takes_feedback() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = app(dir.path(), "");
    let (s, _, _) = send(
        &app,
        upload_req("kb", "deadlocks.md", DEADLOCK.as_bytes(), None),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _, b) = send(
        &app,
        json_req(
            "POST",
            "/api/v1/conversations",
            "{\"collection\": \"kb\", \"title\": \"t\"}",
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let conv: Value = serde_json::from_slice(&b).unwrap();

    let body = json!({"collection": "kb", "question": "Which SQLSTATE does a deadlock raise?",
                      "conversation": conv["id"], "stream": true, "top_k": 2})
    .to_string();
    let (s, h, b) = send(&app, json_req("POST", "/api/v1/ask", &body)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        h.get(header::CONTENT_TYPE)
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let events = sse_events(&b);
    assert_eq!(events.first().unwrap().0, "sources");
    let (last, data) = events.last().unwrap();
    assert_eq!(last, "answer");
    let answer: Value = serde_json::from_str(data).unwrap();
    let streamed: String = events
        .iter()
        .filter(|(e, _)| e == "delta")
        .map(|(_, d)| {
            serde_json::from_str::<Value>(d).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    // What streamed is the answer, or the draft a grounding check withheld.
    let shown = answer["draft"]
        .as_str()
        .or(answer["answer"].as_str())
        .unwrap();
    assert_eq!(streamed.trim(), shown);
    assert_eq!(answer["prompt_version"], "rag-v2");
    let sources = &serde_json::from_str::<Value>(&events[0].1).unwrap();
    assert_eq!(sources[0]["source"], "upload:deadlocks.md");

    let id = answer["id"].as_str().unwrap();
    let fb = json!({"rating": "down", "comment": "too short"}).to_string();
    let (s, _, _) = send(
        &app,
        json_req("POST", &format!("/api/v1/answers/{id}/feedback"), &fb),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, h, b) = send(
        &app,
        json_req(
            "POST",
            &format!("/api/v1/answers/{id}/feedback"),
            "{\"rating\": 3}",
        ),
    )
    .await;
    envelope(s, &h, &b, StatusCode::BAD_REQUEST, "invalid_input");
    let (s, h, b) = send(
        &app,
        json_req("POST", "/api/v1/answers/nope/feedback", "{\"rating\": 1}"),
    )
    .await;
    envelope(s, &h, &b, StatusCode::NOT_FOUND, "not_found");
    let (_, _, b) = send(&app, get(&format!("/api/v1/answers/{id}"))).await;
    let stored: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(stored["feedback"][0]["rating"], -1);
    let (_, _, b) = send(
        &app,
        get(&format!(
            "/api/v1/conversations/{}",
            conv["id"].as_str().unwrap()
        )),
    )
    .await;
    let c: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(c["messages"].as_array().unwrap().len(), 2);

    // Errors before the first event are plain HTTP errors, not a broken stream.
    let body = json!({"collection": "missing", "question": "q", "stream": true}).to_string();
    let (s, h, b) = send(&app, json_req("POST", "/api/v1/ask", &body)).await;
    envelope(s, &h, &b, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn models_embeddings_health_and_the_openapi_document() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = app(dir.path(), "");
    send(
        &app,
        json_req("POST", "/api/v1/collections", "{\"id\": \"kb\"}"),
    )
    .await;
    let (_, _, b) = send(&app, get("/v1/models")).await;
    let v: Value = serde_json::from_slice(&b).unwrap();
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "smollm2-135m-instruct",
            "all-minilm-l6-v2",
            "maxsim",
            "llm",
            "cairn-rag:kb"
        ]
    );

    // The built-in late-interaction reranker over the real embedder.
    let body = json!({"model": "maxsim", "query": "what happens on a deadlock?",
        "documents": ["Spring weather is mild in the valley.",
                      "A deadlock aborts one of the waiting transactions."]})
    .to_string();
    let (s, _, b) = send(&app, json_req("POST", "/v1/rerank", &body)).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["results"][0]["index"], 1, "{v}");
    assert_eq!(v["results"].as_array().unwrap().len(), 2);
    assert!(v["results"][0].get("document").is_none());

    let body =
        json!({"model": "all-minilm-l6-v2", "input": ["deadlock detected", "a lock wait cycle"]})
            .to_string();
    let (s, _, b) = send(&app, json_req("POST", "/v1/embeddings", &body)).await;
    assert_eq!(s, StatusCode::OK);
    let v: Value = serde_json::from_slice(&b).unwrap();
    let e0: Vec<f64> = serde_json::from_value(v["data"][0]["embedding"].clone()).unwrap();
    assert_eq!(e0.len(), 384);
    assert!((e0.iter().map(|x| x * x).sum::<f64>() - 1.0).abs() < 1e-3);
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 4);
    let body =
        json!({"model": "all-minilm-l6-v2", "input": "x", "encoding_format": "base64"}).to_string();
    let (_, _, b) = send(&app, json_req("POST", "/v1/embeddings", &body)).await;
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(
        v["data"][0]["embedding"].as_str().unwrap().len(),
        2048,
        "384 f32 in base64"
    );

    let (s, _, _) = send(&app, get("/healthz")).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, b) = send(&app, get("/readyz")).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let (_, _, b) = send(&app, get("/openapi.json")).await;
    let spec: Value = serde_json::from_slice(&b).unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    for p in [
        "/v1/chat/completions",
        "/v1/embeddings",
        "/v1/rerank",
        "/v1/models",
        "/api/v1/ask",
        "/api/v1/search",
        "/api/v1/collections/{collection}/documents",
        "/api/v1/jobs/{job}",
        "/api/v1/answers/{answer}/feedback",
    ] {
        assert!(spec["paths"][p].is_object(), "{p} missing from the spec");
    }
    let (s, _, b) = send(&app, get("/docs")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(String::from_utf8_lossy(&b).contains("/v1/chat/completions"));
}

#[tokio::test]
async fn without_credentials_every_route_but_the_public_ones_is_401() {
    let dir = tempfile::tempdir().unwrap();
    let (app, engine) = app(dir.path(), "[auth]\nmode = \"required\"");
    for uri in [
        "/v1/models",
        "/api/v1/collections",
        "/api/v1/me",
        "/nowhere",
    ] {
        let (status, headers, body) = send(&app, get(uri)).await;
        envelope(
            status,
            &headers,
            &body,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        );
        assert!(headers.get(header::WWW_AUTHENTICATE).is_some());
    }
    let bad = Request::builder()
        .uri("/api/v1/me")
        .header(header::AUTHORIZATION, "Basic dXNlcjpwYXNz")
        .body(Body::empty())
        .unwrap();
    let (status, headers, body) = send(&app, bad).await;
    let e = envelope(
        status,
        &headers,
        &body,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    assert!(e["message"].as_str().unwrap().contains("Bearer"));
    for uri in ["/healthz", "/openapi.json", "/docs"] {
        let (status, _, _) = send(&app, get(uri)).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
    }
    // A viewer key: 403 (not 401) for what its role does not allow.
    let t = cairn_types::TenantId::new("default");
    let spec = cairn_engine::security::KeySpec {
        name: "v".into(),
        role: Some(cairn_auth::Role::Viewer),
        ..Default::default()
    };
    let k = engine.create_key(&t, &spec, None).unwrap();
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/collections")
        .header(header::AUTHORIZATION, format!("Bearer {}", k.token))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"id": "x"}"#))
        .unwrap();
    let (status, headers, body) = send(&app, req).await;
    envelope(status, &headers, &body, StatusCode::FORBIDDEN, "forbidden");
    assert!(engine.store().list_collections(&t).unwrap().is_empty());
}

#[tokio::test]
async fn ingest_redacts_pii_when_the_policy_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (app, engine) = app(dir.path(), "[guard]\npii_ingest = \"redact\"");
    let text = b"# Contacts\n\nWrite to jane.roe@example.com or pay with card 4111 1111 1111 1111 \
before Friday; the office is at the harbour.";
    let (status, _, body) = send(&app, upload_req("kb", "contacts.md", text, None)).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let doc: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["metadata"]["pii"]["pii:email"], 1, "{doc}");
    assert_eq!(doc["metadata"]["pii"]["pii:credit_card"], 1, "{doc}");
    let t = cairn_types::TenantId::new("default");
    let id = cairn_types::DocumentId::new(doc["id"].as_str().unwrap());
    let chunks = engine.store().list_chunks(&t, &id).unwrap();
    let all: String = chunks.iter().map(|c| c.text.as_str()).collect();
    assert!(
        !all.contains("jane.roe@example.com") && !all.contains("4111"),
        "{all}"
    );
    assert!(
        all.contains("[EMAIL_1]") && all.contains("harbour"),
        "{all}"
    );
}

/// Every request body has a real schema (no bare `Object`), the upload is described as
/// multipart/form-data with its fields, every error response is the envelope, and the
/// bearer scheme covers every route but the public ones.
#[tokio::test]
async fn the_openapi_document_describes_bodies_errors_and_bearer_auth() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = app(dir.path(), "");
    let (_, _, b) = send(&app, get("/openapi.json")).await;
    let spec: Value = serde_json::from_slice(&b).unwrap();
    let schemas = &spec["components"]["schemas"];
    let resolve = |s: &Value| -> Value {
        match s["$ref"].as_str() {
            Some(r) => schemas[r.trim_start_matches("#/components/schemas/")].clone(),
            None => s.clone(),
        }
    };
    assert_eq!(
        spec["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(spec["security"], json!([{"bearer": []}]));
    let mut bodies = 0;
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let public = [
                "/healthz",
                "/readyz",
                "/openapi.json",
                "/docs",
                "/api/v1/auth/config",
                "/api/v1/auth/oidc/login",
                "/api/v1/auth/oidc/callback",
            ]
            .contains(&path.as_str());
            assert_eq!(
                op["security"] == json!([]),
                public,
                "{method} {path}: security"
            );
            if let Some(content) = op["requestBody"]["content"].as_object() {
                for (ct, media) in content {
                    let schema = resolve(&media["schema"]);
                    assert!(
                        schema["properties"].is_object(),
                        "{method} {path}: the {ct} body has no real schema: {schema}"
                    );
                    bodies += 1;
                }
            }
            for (status, r) in op["responses"].as_object().unwrap() {
                if status.starts_with('4') || (status.starts_with('5') && path != "/readyz") {
                    assert_eq!(
                        r["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorEnvelope",
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
    assert!(bodies >= 12, "{bodies} request bodies");
    let upload = &spec["paths"]["/api/v1/collections/{collection}/documents"]["post"];
    let form = resolve(&upload["requestBody"]["content"]["multipart/form-data"]["schema"]);
    assert_eq!(form["properties"]["file"]["format"], "binary", "{form}");
    assert!(form["properties"]["acl"].is_object() && form["properties"]["metadata"].is_object());
    assert_eq!(form["required"], json!(["file"]));
    let search = resolve(
        &spec["paths"]["/api/v1/search"]["post"]["requestBody"]["content"]["application/json"]["schema"],
    );
    assert_eq!(
        search["required"],
        json!(["collection", "query"]),
        "{search}"
    );
}

/// A path or query string of the wrong type is refused in the envelope (axum's own
/// rejections are plain text).
#[tokio::test]
async fn query_and_path_rejections_use_the_envelope() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = app(dir.path(), "");
    for uri in [
        "/api/v1/audit?limit=abc",
        "/api/v1/audit?limit=-1",
        "/api/v1/conversations?limit=1e99",
        "/api/v1/jobs?limit=x",
        "/api/v1/collections/kb/documents?limit=-5",
    ] {
        let (s, h, b) = send(&app, get(uri)).await;
        envelope(s, &h, &b, StatusCode::BAD_REQUEST, "invalid_input");
    }
}

#[tokio::test]
async fn assistants_are_saved_checked_and_picked_models_are_the_tenants_only() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = app(dir.path(), "");
    let (s, _, _) = send(
        &app,
        upload_req("kb", "deadlocks.md", DEADLOCK.as_bytes(), None),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let code = |b: &[u8]| -> (String, String) {
        let v: Value = serde_json::from_slice(b).unwrap();
        (
            v["error"]["code"].as_str().unwrap_or("").to_owned(),
            v["error"]["param"].as_str().unwrap_or("").to_owned(),
        )
    };
    let put = |id: &str, body: Value| {
        json_req(
            "PUT",
            &format!("/api/v1/assistants/{id}"),
            &body.to_string(),
        )
    };
    let good =
        json!({"name": "Database helper", "collection": "kb", "instructions": "Answer in French."});
    let (s, _, b) = send(&app, put("db", good.clone())).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let saved: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(saved["instructions"], "Answer in French.");
    // Refused: a bad id, a missing collection, long instructions, a model that is a path.
    for (id, body, want) in [
        ("Bad%20Id", good.clone(), ("invalid_input", "assistant")),
        (
            "x",
            json!({"name": "x", "collection": "nope"}),
            ("not_found", "collection"),
        ),
        (
            "x",
            json!({"name": "x", "collection": "kb", "instructions": "a".repeat(4_001)}),
            ("invalid_input", "instructions"),
        ),
        (
            "x",
            json!({"name": "x", "collection": "kb", "model": "/etc/passwd"}),
            ("model_not_found", "model"),
        ),
        (
            "x",
            json!({"name": " ", "collection": "kb"}),
            ("invalid_input", "name"),
        ),
    ] {
        let (s, _, b) = send(&app, put(id, body)).await;
        assert!(s.is_client_error(), "{id}: {s}");
        let (c, p) = code(&b);
        assert_eq!(
            (c.as_str(), p.as_str()),
            want,
            "{}",
            String::from_utf8_lossy(&b)
        );
    }
    let (_, _, b) = send(&app, get("/api/v1/assistants")).await;
    let list: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
    // Asking with an unknown assistant or a model the tenant cannot answer with.
    for (extra, want) in [
        (json!({"assistant": "nope"}), ("not_found", "assistant")),
        (
            json!({"model": "/etc/passwd"}),
            ("model_not_found", "model"),
        ),
        (
            json!({"model": "no-such-model"}),
            ("model_not_found", "model"),
        ),
    ] {
        let mut body = json!({"collection": "kb", "question": "Which SQLSTATE?"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (s, _, b) = send(&app, json_req("POST", "/api/v1/ask", &body.to_string())).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{}", String::from_utf8_lossy(&b));
        let (c, p) = code(&b);
        assert_eq!((c.as_str(), p.as_str()), want);
    }
    let (s, _, _) = send(&app, json_req("DELETE", "/api/v1/assistants/db", "")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _) = send(&app, get("/api/v1/assistants/db")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
