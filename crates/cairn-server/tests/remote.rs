//! Remote models through the server: the provider (a loopback OpenAI-compatible upstream
//! that records what it receives) never sees the caller's PII, only placeholders; the
//! placeholders it answers with come back to the caller as the originals, split across
//! stream pieces or not; its API key comes from a sealed tenant secret.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use cairn_engine::Engine;
use cairn_server::{AppState, router};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

/// The upstream: records each request (headers, body) and streams back a reply that
/// repeats the first placeholder of the prompt, cut in the middle.
/// What the upstream received: (Authorization header or request line, JSON body) per
/// request.
type Seen = Arc<Mutex<Vec<(String, Value)>>>;

/// One request read off `stream`: (request line, Authorization header, JSON body).
fn read_request(stream: &std::net::TcpStream) -> (String, String, Value) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let (mut len, mut auth) = (0, String::new());
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        let h = h.trim_end().to_owned();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap();
        if k.eq_ignore_ascii_case("content-length") {
            len = v.trim().parse().unwrap();
        }
        if k.eq_ignore_ascii_case("authorization") {
            auth = v.trim().to_owned();
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    (
        line.trim().to_owned(),
        auth,
        serde_json::from_slice(&body).unwrap(),
    )
}

/// A server over the config text `toml`, its default tenant created.
fn app_from(toml: &str) -> axum::Router {
    let (config, _) = cairn_config::load_from_str(toml, "test", &[]).unwrap();
    let engine = Arc::new(Engine::open(config).unwrap());
    engine
        .ensure_tenant(&cairn_types::TenantId::new("default"))
        .unwrap();
    router(AppState::new(engine).unwrap())
}

fn upstream() -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.expect("the fake upstream accepts connections");
            let (_, auth, body) = read_request(&stream);
            let prompt = body["messages"].to_string();
            let ph = prompt
                .find("[EMAIL_")
                .map(|i| prompt[i..].split(']').next().unwrap().to_owned() + "]")
                .unwrap_or_else(|| "[none]".into());
            log.lock().unwrap().push((auth, body));
            let (a, b) = ph.split_at(4);
            let delta = |s: &str| {
                format!(
                    "data: {}\n\n",
                    json!({"choices": [{"index": 0, "delta": {"content": s}, "finish_reason": null}]})
                )
            };
            let pieces = [
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
                    .to_owned(),
                delta("I will write to "),
                delta(a),
                delta(b),
                delta(" today."),
                format!(
                    "data: {}\n\n",
                    json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                ),
                format!(
                    "data: {}\n\n",
                    json!({"choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": 6}})
                ),
                "data: [DONE]\n\n".to_owned(),
            ];
            for p in pieces {
                if stream.write_all(p.as_bytes()).is_err() {
                    break;
                }
                stream.flush().unwrap();
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    });
    (format!("http://{addr}/v1"), seen)
}

fn chat(stream: bool) -> Request<Body> {
    let body = json!({
        "model": "upstream-llm",
        "stream": stream,
        "messages": [{"role": "user", "content":
            "Draft a note to jane.roe@example.com about card 4111 1111 1111 1111."}],
    });
    Request::builder()
        .method("POST")
        .uri("/v1/chat/completions")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

/// A server with the remote model `upstream-llm` at `base`, its key sealed in the store,
/// and `guard` as the `[guard]` policy.
fn app(dir: &std::path::Path, base: &str, guard: &str) -> (axum::Router, Arc<Engine>) {
    let key_file = dir.join("master.key");
    std::fs::write(&key_file, cairn_auth::SecretBox::generate_key_text()).unwrap();
    let toml = format!(
        "data_dir = \"{}\"\n[auth]\nmode = \"off\"\nmaster_key_file = \"{}\"\n\
         [[models.remote]]\nname = \"upstream-llm\"\nbase_url = \"{base}\"\nmodel = \"served\"\n\
         api_key_secret = \"upstream-key\"\n[guard]\n{guard}\n",
        dir.join("data").display(),
        key_file.display()
    );
    let (config, _) = cairn_config::load_from_str(&toml, "test", &[]).unwrap();
    let engine = Arc::new(Engine::open(config).unwrap());
    let t = cairn_types::TenantId::new("default");
    engine
        .put_secret(&t, "upstream-key", "sk-provider-123")
        .unwrap();
    (router(AppState::new(engine.clone()).unwrap()), engine)
}

/// The content of a whole (non-streamed) answer.
async fn content(app: &axum::Router) -> String {
    let res = app.clone().oneshot(chat(false)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_output_policy_of_redact_keeps_pii_out_of_answers_too() {
    let dir = tempfile::tempdir().unwrap();
    let (base, _) = upstream();
    let (app, _) = app(dir.path(), &base, "pii_output = \"redact\"");
    let text = content(&app).await;
    assert!(!text.contains("jane.roe@example.com"), "{text}");
    assert!(text.starts_with("I will write to [EMAIL"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn remote_models_see_placeholders_and_callers_get_their_data_back() {
    let dir = tempfile::tempdir().unwrap();
    let (base, seen) = upstream();
    let (app, engine) = app(dir.path(), &base, "");
    let t = cairn_types::TenantId::new("default");
    // The store holds only ciphertext.
    let (sealed, _) = engine
        .store()
        .get_secret(&t, "upstream-key")
        .unwrap()
        .unwrap();
    assert!(!sealed.contains("sk-provider-123"));

    assert_eq!(
        content(&app).await,
        "I will write to jane.roe@example.com today."
    );

    let res = app.clone().oneshot(chat(true)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let text = String::from_utf8(
        axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    let streamed: String = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(
        streamed, "I will write to jane.roe@example.com today.",
        "{text}"
    );

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    for (auth, body) in seen.iter() {
        assert_eq!(auth, "Bearer sk-provider-123", "the sealed key is sent");
        let sent = body["messages"].to_string();
        assert!(
            !sent.contains("jane.roe@example.com") && !sent.contains("4111"),
            "{sent}"
        );
        assert!(
            sent.contains("[EMAIL_1]") && sent.contains("[CARD_1]"),
            "{sent}"
        );
        assert_eq!(body["model"], "served");
    }
    // The redactions are on the audit trail, without the values.
    let audit = engine.tenant_audit(&t, 100).unwrap();
    let redactions: Vec<_> = audit
        .iter()
        .filter(|r| r.action == "guardrail.redact")
        .collect();
    assert!(!redactions.is_empty());
    assert!(
        redactions
            .iter()
            .all(|r| !r.detail.to_string().contains("jane.roe"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_route_answers_from_its_first_healthy_target_and_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let (base, seen) = upstream();
    // A port nothing listens on: every call is refused at once.
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/v1", l.local_addr().unwrap())
    };
    let toml = format!(
        "data_dir = \"{}\"\n[auth]\nmode = \"off\"\n\
         [[models.remote]]\nname = \"down\"\nbase_url = \"{dead}\"\nmax_retries = 0\n\
         [[models.remote]]\nname = \"upstream-llm\"\nbase_url = \"{base}\"\nmodel = \"served\"\n\
         input_price_per_mtok = 2.0\noutput_price_per_mtok = 10.0\n\
         [[models.routes]]\nname = \"main\"\nstrategy = \"fallback\"\ntargets = [\"down\", \"upstream-llm\"]\n",
        dir.path().join("data").display()
    );
    let app = app_from(&toml);
    let get = |uri: &str| Request::builder().uri(uri).body(Body::empty()).unwrap();
    let json_of = |bytes: &[u8]| serde_json::from_slice::<Value>(bytes).unwrap();

    let mut req = chat(false);
    let body = json!({"model": "main", "messages": [{"role": "user", "content": "Hello"}]});
    *req.body_mut() = Body::from(body.to_string());
    let res = app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body = json_of(
        &axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap(),
    );
    assert_eq!(body["model"], "main");
    assert_eq!(body["cairn"]["model"], "upstream-llm", "{body}");
    assert!(
        body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .starts_with("I will write")
    );
    assert_eq!(seen.lock().unwrap().len(), 1);

    let res = app.clone().oneshot(get("/v1/models")).await.unwrap();
    let models = json_of(
        &axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap(),
    );
    assert!(
        models["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "main" && m["owned_by"] == "route"),
        "{models}"
    );

    let res = app.clone().oneshot(get("/readyz")).await.unwrap();
    let ready = json_of(
        &axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap(),
    );
    let down = ready["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == "down")
        .unwrap_or_else(|| panic!("{ready}"))
        .clone();
    assert_eq!(down["breaker"], "closed", "one failure does not open it");
    assert_eq!(down["in_flight"], 0);

    // The call is charged to the model that answered, at its own prices: 20 input
    // tokens at $2 and 6 output tokens at $10 per million.
    let res = app
        .clone()
        .oneshot(get("/api/v1/tenant/usage"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let usage = json_of(
        &axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap(),
    );
    let row = &usage["models"][0];
    assert_eq!(row["model"], "upstream-llm", "{usage}");
    assert_eq!(
        (
            row["requests"].as_i64(),
            row["input_tokens"].as_i64(),
            row["output_tokens"].as_i64()
        ),
        (Some(1), Some(20), Some(6))
    );
    assert!(
        (row["cost_usd"].as_f64().unwrap() - 100e-6).abs() < 1e-12,
        "{usage}"
    );
    assert!((usage["day"]["cost_usd"].as_f64().unwrap() - 100e-6).abs() < 1e-12);
    assert_eq!(usage["by_day"].as_array().unwrap().len(), 1);
    let res = app
        .clone()
        .oneshot(get("/api/v1/tenant/usage?days=0"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // An unknown model is still a 404 naming it.
    let mut req = chat(false);
    let body = json!({"model": "nope", "messages": [{"role": "user", "content": "Hello"}]});
    *req.body_mut() = Body::from(body.to_string());
    let res = app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

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

/// An upstream answering the n-th request with the n-th list of SSE chunks (then
/// `[DONE]`), recording every request body.
fn scripted(replies: Vec<Vec<Value>>) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        let mut replies = replies.into_iter();
        for stream in listener.incoming() {
            let mut stream = stream.expect("the fake upstream accepts connections");
            let (_, _, body) = read_request(&stream);
            log.lock().unwrap().push((String::new(), body));
            let mut out = String::from(
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n",
            );
            for c in replies.next().unwrap_or_default() {
                out.push_str(&format!("data: {c}\n\n"));
            }
            out.push_str("data: [DONE]\n\n");
            let _ = stream.write_all(out.as_bytes());
        }
    });
    (format!("http://{addr}/v1"), seen)
}

fn text_reply(text: &str) -> Vec<Value> {
    vec![
        json!({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]}),
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
               "usage": {"prompt_tokens": 10, "completion_tokens": 5}}),
    ]
}

fn remote_app(dir: &std::path::Path, base: &str) -> axum::Router {
    let toml = format!(
        "data_dir = \"{}\"\n[auth]\nmode = \"off\"\n\
         [[models.remote]]\nname = \"upstream-llm\"\nbase_url = \"{base}\"\nmodel = \"served\"\n",
        dir.join("data").display()
    );
    app_from(&toml)
}

async fn post_chat(app: &axum::Router, body: Value) -> (StatusCode, Vec<u8>) {
    let req = Request::builder()
        .method("POST")
        .uri("/v1/chat/completions")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    (
        status,
        axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn tools_pass_through_to_a_remote_model_and_calls_come_back_in_openai_shape() {
    let dir = tempfile::tempdir().unwrap();
    let call = |piece: Value| json!({"choices": [{"index": 0, "delta": {"tool_calls": [piece]}, "finish_reason": null}]});
    let calls = vec![
        call(
            json!({"index": 0, "id": "call_9", "type": "function", "function": {"name": "get_weather", "arguments": ""}}),
        ),
        call(json!({"index": 0, "function": {"arguments": "{\"city\": "}})),
        call(json!({"index": 0, "function": {"arguments": "\"Paris\"}"}})),
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
    ];
    let (base, seen) = scripted(vec![
        calls.clone(),
        text_reply("It is sunny in Paris."),
        calls,
    ]);
    let app = remote_app(dir.path(), &base);
    let tools = json!([{"type": "function", "function": {"name": "get_weather",
        "description": "Current weather", "parameters": {"type": "object",
        "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]);
    let ask =
        json!({"role": "user", "content": "Weather in Paris? Then mail jane.roe@example.com"});

    let (s, b) = post_chat(
        &app,
        json!({"model": "upstream-llm", "tools": tools, "messages": [ask]}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let body: Value = serde_json::from_slice(&b).unwrap();
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{body}");
    let tc = &choice["message"]["tool_calls"][0];
    assert_eq!(
        (tc["id"].as_str(), tc["type"].as_str()),
        (Some("call_9"), Some("function"))
    );
    assert_eq!(tc["function"]["name"], "get_weather");
    let args: Value = serde_json::from_str(tc["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"city": "Paris"}));

    // The result goes back as a tool message; the provider sees OpenAI's own shapes.
    let turn = json!({"model": "upstream-llm", "tools": tools, "messages": [ask,
        {"role": "assistant", "content": null, "tool_calls": [tc]},
        {"role": "tool", "tool_call_id": "call_9", "content": "sunny, 21 C"}]});
    let (s, b) = post_chat(&app, turn).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let body: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "It is sunny in Paris."
    );

    // Streamed: the call arrives as one tool_calls delta, then finish_reason.
    let (s, b) = post_chat(
        &app,
        json!({"model": "upstream-llm", "stream": true, "tools": tools, "messages": [ask]}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let text = String::from_utf8(b).unwrap();
    let chunks: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect();
    assert!(
        chunks.iter().any(
            |c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["name"] == "get_weather"
        ),
        "{text}"
    );
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "tool_calls"),
        "{text}"
    );

    let seen = seen.lock().unwrap();
    let first = &seen[0].1;
    assert_eq!(first["tools"][0]["function"]["name"], "get_weather");
    assert_eq!(
        first["messages"][0]["role"], "user",
        "no tool prompt injected: {first}"
    );
    assert!(!first.to_string().contains("jane.roe"), "redacted: {first}");
    let second = &seen[1].1;
    assert_eq!(
        second["messages"][1]["tool_calls"][0]["id"], "call_9",
        "{second}"
    );
    assert_eq!(second["messages"][2]["role"], "tool");
    assert_eq!(second["messages"][2]["tool_call_id"], "call_9");
    assert_eq!(second["messages"][2]["content"], "sunny, 21 C");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_remote_json_answer_is_checked_against_the_schema_and_repaired_once() {
    let dir = tempfile::tempdir().unwrap();
    let (base, seen) = scripted(vec![
        text_reply("{\"age\": \"old\"}"),
        text_reply("{\"age\": 42}"),
        text_reply("not json"),
        text_reply("{\"age\": -1.5}"),
        text_reply("{\"age\": 7}"),
    ]);
    let app = remote_app(dir.path(), &base);
    let format = json!({"type": "json_schema", "json_schema": {"name": "person", "strict": true,
        "schema": {"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"]}}});
    let req = |stream: bool| {
        json!({"model": "upstream-llm", "stream": stream, "response_format": format,
        "messages": [{"role": "user", "content": "How old?"}]})
    };

    let (s, b) = post_chat(&app, req(false)).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let body: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "{\"age\": 42}");
    assert_eq!(
        body["usage"]["completion_tokens"], 10,
        "both calls are counted"
    );

    // Wrong twice: an error, never an invalid body.
    let (s, b) = post_chat(&app, req(false)).await;
    assert_eq!(
        s,
        StatusCode::BAD_GATEWAY,
        "{}",
        String::from_utf8_lossy(&b)
    );
    let e: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(e["error"]["code"], "upstream_error");

    // Streamed: checked first, then sent.
    let (s, b) = post_chat(&app, req(true)).await;
    assert_eq!(s, StatusCode::OK);
    let text = String::from_utf8(b).unwrap();
    assert!(text.contains("{\\\"age\\\": 7}"), "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"));

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 5);
    assert_eq!(seen[0].1["response_format"]["type"], "json_schema");
    let repair = seen[1].1["messages"].as_array().unwrap();
    assert_eq!(
        repair.len(),
        3,
        "the question, the bad reply, what is wrong with it"
    );
    assert!(
        repair[2]["content"]
            .as_str()
            .unwrap()
            .contains("does not match"),
        "{repair:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenants_allow_list_decides_which_models_its_callers_see_and_use() {
    let dir = tempfile::tempdir().unwrap();
    let (base, seen) = scripted(vec![text_reply("hello")]);
    let app = remote_app(dir.path(), &base);
    let put = |body: Value| {
        Request::builder()
            .method("PUT")
            .uri("/api/v1/tenant/settings")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let res = app
        .clone()
        .oneshot(put(json!({"models": {"allow": "upstream-llm"}})))
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::BAD_REQUEST,
        "a malformed allow-list is refused"
    );
    let res = app
        .clone()
        .oneshot(put(
            json!({"models": {"allow": ["upstream-llm", "cairn-rag:*"]}}),
        ))
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());

    let res = app
        .clone()
        .oneshot(
            Request::builder()
                .uri("/v1/models")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let models: Value = serde_json::from_slice(
        &axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap(),
    )
    .unwrap();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["upstream-llm"],
        "only what the tenant allows: {models}"
    );

    let chat =
        |model: &str| json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    let (s, b) = post_chat(&app, chat("qwen2.5-coder-1.5b-instruct")).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{}", String::from_utf8_lossy(&b));
    let e: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(
        (e["error"]["code"].as_str(), e["error"]["param"].as_str()),
        (Some("forbidden"), Some("model"))
    );
    let (s, _) = post_chat(&app, chat("upstream-llm")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(seen.lock().unwrap().len(), 1);
    let rerank = Request::builder()
        .method("POST")
        .uri("/v1/rerank")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"model": "maxsim", "query": "q", "documents": ["a"]}).to_string(),
        ))
        .unwrap();
    assert_eq!(
        app.clone().oneshot(rerank).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_budget_in_dollars_stops_the_key_once_spent() {
    let dir = tempfile::tempdir().unwrap();
    let (base, seen) = scripted(vec![text_reply("one"), text_reply("two")]);
    let toml = format!(
        "data_dir = \"{}\"\n[auth]\nmode = \"off\"\n[limits]\nkey_daily_cost_usd = 0.00005\n\
         [[models.remote]]\nname = \"upstream-llm\"\nbase_url = \"{base}\"\n\
         input_price_per_mtok = 2.0\noutput_price_per_mtok = 10.0\n",
        dir.path().join("data").display()
    );
    let app = app_from(&toml);
    let chat = json!({"model": "upstream-llm", "messages": [{"role": "user", "content": "hi"}]});
    // 10 input tokens at $2 and 5 output tokens at $10 per million: $0.00007, over the
    // $0.00005 budget, which is checked before each call.
    let (s, _) = post_chat(&app, chat.clone()).await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = post_chat(&app, chat).await;
    assert_eq!(
        s,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        String::from_utf8_lossy(&b)
    );
    let e: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(e["error"]["code"], "quota_exceeded");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("daily budget"),
        "{e}"
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "the refused call never reached the provider"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_exact_cache_answers_a_repeated_deterministic_chat_without_the_provider() {
    let dir = tempfile::tempdir().unwrap();
    let (base, seen) = scripted(vec![text_reply("cached words"), text_reply("sampled")]);
    let toml = format!(
        "data_dir = \"{}\"\n[auth]\nmode = \"off\"\n[cache]\nexact = true\n\
         [[models.remote]]\nname = \"upstream-llm\"\nbase_url = \"{base}\"\n",
        dir.path().join("data").display()
    );
    let app = app_from(&toml);
    let req = |stream: bool, temperature: f64| {
        json!({"model": "upstream-llm", "stream": stream,
        "temperature": temperature, "messages": [{"role": "user", "content": "hi"}]})
    };

    // Computed streamed first: the whole completion is kept all the same.
    let (s, b) = post_chat(&app, req(true, 0.0)).await;
    assert_eq!(s, StatusCode::OK);
    let streamed = String::from_utf8(b).unwrap();
    assert!(
        streamed.contains("cached words") && streamed.contains("\"hit\":null"),
        "{streamed}"
    );
    let first_id = streamed
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .and_then(|d| serde_json::from_str::<Value>(d).ok())
        .map(|c| c["id"].clone())
        .unwrap();
    let (_, b) = post_chat(&app, req(false, 0.0)).await;
    let again: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(again["cairn"]["cache"]["hit"], "exact", "{again}");
    assert_eq!(again["cairn"]["cache"]["answer_id"], first_id);
    assert_eq!(again["choices"][0]["message"]["content"], "cached words");
    // Streamed, the same answer comes back as chunks.
    let (s, b) = post_chat(&app, req(true, 0.0)).await;
    assert_eq!(s, StatusCode::OK);
    let text = String::from_utf8(b).unwrap();
    assert!(
        text.contains("cached words") && text.contains("\"hit\":\"exact\""),
        "{text}"
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "one provider call for three answers"
    );
    // Sampling without a seed is never cached.
    let (_, b) = post_chat(&app, req(false, 0.9)).await;
    let sampled: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(sampled["choices"][0]["message"]["content"], "sampled");
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_remote_model_has_its_own_fair_queue_bounded_by_its_max_concurrent() {
    let dir = tempfile::tempdir().unwrap();
    let (base, seen) = upstream();
    let toml = format!(
        "data_dir = \"{}\"\n[auth]\nmode = \"off\"\n[models]\nmax_queued = 0\n\
         [[models.remote]]\nname = \"upstream-llm\"\nbase_url = \"{base}\"\nmax_concurrent = 1\n",
        dir.path().join("data").display()
    );
    let app = app_from(&toml);
    // The upstream takes ~80 ms per answer: the second request finds the one slot
    // taken and no room to wait.
    let (a, b) = tokio::join!(
        app.clone().oneshot(chat(false)),
        app.clone().oneshot(chat(false))
    );
    let mut statuses = [a.unwrap(), b.unwrap()].map(|r| {
        let retry = r.headers().get(header::RETRY_AFTER).is_some();
        (r.status(), retry)
    });
    statuses.sort_by_key(|(s, _)| s.as_u16());
    assert_eq!(statuses[0], (StatusCode::OK, false));
    assert_eq!(
        statuses[1],
        (StatusCode::SERVICE_UNAVAILABLE, true),
        "overloaded, with Retry-After"
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
    let res = app
        .clone()
        .oneshot(
            Request::builder()
                .uri("/readyz")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let ready: Value = serde_json::from_slice(
        &axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap(),
    )
    .unwrap();
    let queue = ready["generation"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["model"] == "upstream-llm")
        .unwrap_or_else(|| panic!("{ready}"))
        .clone();
    assert_eq!(queue["max_concurrent"], 1, "{queue}");
}

async fn send(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_adds_a_model_and_a_route_at_run_time_and_removes_them() {
    let dir = tempfile::tempdir().unwrap();
    let (file_base, _) = scripted(vec![]);
    let (base, seen) = scripted(vec![
        text_reply("from the tenant's model"),
        text_reply("via the route"),
    ]);
    let toml = format!(
        "data_dir = \"{}\"\n[auth]\nmode = \"off\"\n\
         [[models.remote]]\nname = \"upstream-llm\"\nbase_url = \"{file_base}\"\n",
        dir.path().join("data").display()
    );
    let (config, _) = cairn_config::load_from_str(&toml, "test", &[]).unwrap();
    let engine = Arc::new(Engine::open(config).unwrap());
    let default = cairn_types::TenantId::new("default");
    engine.ensure_tenant(&default).unwrap();
    let app = router(AppState::new(engine.clone()).unwrap());
    let chat =
        |model: &str| json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});

    // Unknown before it is added.
    let (s, _) = post_chat(&app, chat("my-llm")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Bad entries are refused with the key at fault, and nothing is stored.
    let (s, e) = send(
        &app,
        "PUT",
        "/api/v1/models/my-llm",
        Some(json!({"base_url": "ftp://x"})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("base_url"),
        "{e}"
    );
    let (s, e) = send(
        &app,
        "PUT",
        "/api/v1/models/my-llm",
        Some(json!({"base_url": base, "colour": "red"})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let (s, e) = send(
        &app,
        "PUT",
        "/api/v1/models/upstream-llm",
        Some(json!({"base_url": base})),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "the file's names are not the tenant's: {e}"
    );

    // Added: usable at once, listed, priced and queued as its own.
    let (s, created) = send(
        &app,
        "PUT",
        "/api/v1/models/my-llm",
        Some(json!({"base_url": base, "model": "served-mine", "input_price_per_mtok": 1.0})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let (s, b) = post_chat(&app, chat("my-llm")).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    assert!(String::from_utf8_lossy(&b).contains("from the tenant's model"));
    assert_eq!(seen.lock().unwrap()[0].1["model"], "served-mine");

    // A route of the tenant's over its own model and the file's.
    let (s, e) = send(
        &app,
        "PUT",
        "/api/v1/models/mine-first",
        Some(json!({"strategy": "fallback", "targets": ["my-llm", "upstream-llm"]})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    let (s, b) = post_chat(&app, chat("mine-first")).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    assert!(String::from_utf8_lossy(&b).contains("via the route"));

    let (_, listed) = send(&app, "GET", "/api/v1/models", None).await;
    let row = |name: &str| {
        listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(
        (
            row("my-llm")["kind"].as_str(),
            row("my-llm")["source"].as_str()
        ),
        (Some("remote"), Some("tenant"))
    );
    assert_eq!(row("mine-first")["kind"], "route");
    assert_eq!(row("upstream-llm")["source"], "config");
    let (_, openai) = send(&app, "GET", "/v1/models", None).await;
    assert!(openai.to_string().contains("\"mine-first\""), "{openai}");

    // Another tenant's registry does not have them.
    let other = engine
        .registry(&cairn_types::TenantId::new("other"))
        .unwrap();
    assert!(other.is_local("my-llm") && other.is_local("mine-first"));

    // The route still names the model: it cannot go first.
    let (s, e) = send(&app, "DELETE", "/api/v1/models/my-llm", None).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("my-llm"),
        "{e}"
    );
    let (s, _) = send(&app, "DELETE", "/api/v1/models/mine-first", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = send(&app, "DELETE", "/api/v1/models/my-llm", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = send(&app, "DELETE", "/api/v1/models/my-llm", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = send(&app, "DELETE", "/api/v1/models/upstream-llm", None).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = post_chat(&app, chat("my-llm")).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "gone without a restart");
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

#[tokio::test(flavor = "multi_thread")]
async fn a_route_queues_callers_while_its_targets_are_at_their_limits() {
    let dir = tempfile::tempdir().unwrap();
    let (base, seen) = upstream();
    let toml = format!(
        "data_dir = \"{}\"\n[auth]\nmode = \"off\"\n[models]\nmax_queued = 4\n\
         [[models.remote]]\nname = \"upstream-llm\"\nbase_url = \"{base}\"\nmax_concurrent = 1\n\
         [[models.routes]]\nname = \"r\"\nstrategy = \"fallback\"\ntargets = [\"upstream-llm\"]\n",
        dir.path().join("data").display()
    );
    let app = app_from(&toml);
    let body = json!({"model": "r", "messages": [{"role": "user", "content": "hello"}]});
    // The upstream takes ~80 ms; the route's one slot (its target's max_concurrent) is
    // taken by the first request, so the second waits in the route's queue instead of
    // finding every target full.
    let (a, b) = tokio::join!(post_chat(&app, body.clone()), post_chat(&app, body));
    assert_eq!(a.0, StatusCode::OK, "{}", String::from_utf8_lossy(&a.1));
    assert_eq!(b.0, StatusCode::OK, "{}", String::from_utf8_lossy(&b.1));
    assert_eq!(seen.lock().unwrap().len(), 2);
}
