//! What the remote-model tests share: loopback OpenAI-compatible upstreams that record
//! what they receive, a server over a config text, and request helpers.
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use cairn_engine::Engine;
use cairn_server::{AppState, router};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

/// What an upstream received: (Authorization header or request line, JSON body) per
/// request.
pub type Seen = Arc<Mutex<Vec<(String, Value)>>>;

/// One request read off `stream`: (request line, Authorization header, JSON body).
pub fn read_request(stream: &std::net::TcpStream) -> (String, String, Value) {
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

/// A server over the config text `toml`, its default tenant created, and its engine.
pub fn app_with_engine(toml: &str) -> (axum::Router, Arc<Engine>) {
    let (config, _) = cairn_config::load_from_str(toml, "test", &[]).unwrap();
    let engine = Arc::new(Engine::open(config).unwrap());
    engine
        .ensure_tenant(&cairn_types::TenantId::new("default"))
        .unwrap();
    (router(AppState::new(engine.clone()).unwrap()), engine)
}

/// A server over the config text `toml`, its default tenant created.
pub fn app_from(toml: &str) -> axum::Router {
    app_with_engine(toml).0
}

/// The upstream of the privacy tests: records each request (headers, body) and streams
/// back a reply that repeats the first placeholder of the prompt, cut in the middle
/// (about 80 ms an answer).
pub fn upstream() -> (String, Seen) {
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

pub fn chat(stream: bool) -> Request<Body> {
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

/// An upstream answering the n-th request with the n-th list of SSE chunks (then
/// `[DONE]`), recording every request body.
pub fn scripted(replies: Vec<Vec<Value>>) -> (String, Seen) {
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

pub fn text_reply(text: &str) -> Vec<Value> {
    vec![
        json!({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]}),
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
               "usage": {"prompt_tokens": 10, "completion_tokens": 5}}),
    ]
}

pub fn remote_app(dir: &std::path::Path, base: &str) -> axum::Router {
    let toml = format!(
        "data_dir = \"{}\"\n[auth]\nmode = \"off\"\n\
         [[models.remote]]\nname = \"upstream-llm\"\nbase_url = \"{base}\"\nmodel = \"served\"\n",
        dir.join("data").display()
    );
    app_from(&toml)
}

pub async fn post_chat(app: &axum::Router, body: Value) -> (StatusCode, Vec<u8>) {
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

pub async fn send(
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
