#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]
//! The OpenAI-compatible remote provider and the hub client against a real HTTP server
//! on loopback (hand-written HTTP/1.1 in a thread), which records what the client sent
//! and answers with scripted bytes: SSE streams cut mid-character, errors, cut streams.

use cairn_models::hub::HubClient;
use cairn_models::{
    ChatMessage, Embedder, FinishReason, GenerateRequest, Generator, OutputConstraint,
    RemoteConfig, RemoteEmbedder, RemoteGenerator, SamplingParams, StreamEvent,
};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A server answering each connection with `reply(request)`: a list of byte pieces,
/// written with a pause between them so the client sees them separately.
fn serve(
    reply: impl Fn(&Seen) -> Vec<Vec<u8>> + Send + 'static,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.expect("the fake upstream accepts connections");
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut parts = line.split_whitespace();
            let method = parts.next().unwrap_or("").to_string();
            let path = parts.next().unwrap_or("").to_string();
            let mut headers = Vec::new();
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                let (k, v) = h.split_once(':').unwrap();
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
            let len = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .map_or(0, |(_, v)| v.parse().unwrap());
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let request = Seen {
                method,
                path,
                headers,
                body,
            };
            let pieces = reply(&request);
            log.lock().unwrap().push(request);
            for piece in pieces {
                if stream.write_all(&piece).is_err() {
                    break;
                }
                stream.flush().unwrap();
                std::thread::sleep(Duration::from_millis(15));
            }
        }
    });
    (format!("http://{addr}/v1"), seen)
}

fn head(status: &str, content_type: &str) -> Vec<u8> {
    format!("HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nConnection: close\r\n\r\n")
        .into_bytes()
}

fn json_reply(status: &str, body: &Value) -> Vec<Vec<u8>> {
    let text = body.to_string();
    vec![
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
            text.len()
        )
        .into_bytes(),
    ]
}

fn sse(data: &Value) -> Vec<u8> {
    format!("data: {data}\n\n").into_bytes()
}

fn chat_stream() -> Vec<Vec<u8>> {
    let delta = |s: &str| {
        json!({"choices": [{"index": 0, "delta": {"content": s}, "finish_reason": null,
        "logprobs": {"content": [{"token": s, "logprob": -0.25, "top_logprobs": [{"token": s, "logprob": -0.25}, {"token": "x", "logprob": -2.0}]}]}}]})
    };
    let cafe = sse(&delta("café"));
    // Split the two bytes of "é" across TCP writes.
    let cut = cafe.iter().position(|b| *b == 0xc3).unwrap() + 1;
    vec![
        head("200 OK", "text/event-stream"),
        b": keep-alive\n\n".to_vec(),
        sse(
            &json!({"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": null}]}),
        ),
        sse(&delta("Hello, ")),
        cafe[..cut].to_vec(),
        cafe[cut..].to_vec(),
        sse(&json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]})),
        sse(
            &json!({"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": 8}}}),
        ),
        b"data: [DONE]\n\n".to_vec(),
    ]
}

fn generator(base: &str, key: Option<&str>) -> RemoteGenerator {
    RemoteGenerator::new(RemoteConfig::new(base, "served-model", key.map(str::to_string)).unwrap())
}

#[test]
fn streamed_chat_is_collected_with_logprobs_usage_and_the_sent_parameters() {
    let (base, seen) = serve(|_| chat_stream());
    let request = GenerateRequest {
        sampling: SamplingParams {
            temperature: 0.3,
            stop: vec!["END".into()],
            seed: Some(9),
            max_tokens: Some(3),
            ..SamplingParams::default()
        },
        constraint: Some(OutputConstraint::JsonSchema(json!({"type": "object"}))),
        logprobs: Some(2),
        ..GenerateRequest::chat(vec![
            ChatMessage::system("Be brief."),
            ChatMessage::user("Hi"),
        ])
    };
    let out = generator(&base, Some("sk-test")).complete(request).unwrap();
    assert_eq!(out.text, "Hello, café");
    assert_eq!(out.finish.reason, FinishReason::Length);
    assert_eq!(out.finish.usage.prompt_tokens, 12);
    assert_eq!(out.finish.usage.completion_tokens, 3);
    assert_eq!(out.finish.usage.cached_prompt_tokens, 8);
    assert_eq!(out.tokens[0].logprob, Some(-0.25));
    assert_eq!(out.tokens[0].top_logprobs[1].token, "x");

    let r = seen.lock().unwrap()[0].clone();
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(r.header("authorization"), Some("Bearer sk-test"));
    let body = r.json();
    assert_eq!(body["model"], "served-model");
    assert_eq!(body["stream"], true);
    assert_eq!(
        body["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    assert_eq!(body["messages"][1]["role"], "user");
    assert!((body["temperature"].as_f64().unwrap() - 0.3).abs() < 1e-6);
    assert_eq!(body["stop"], json!(["END"]));
    assert_eq!(body["seed"], 9);
    assert_eq!(body["max_tokens"], 3);
    assert_eq!(body["logprobs"], true);
    assert_eq!(body["top_logprobs"], 2);
    assert_eq!(body["response_format"]["type"], "json_schema");
    assert_eq!(
        body["response_format"]["json_schema"]["schema"],
        json!({"type": "object"})
    );
}

#[test]
fn raw_text_uses_the_completions_endpoint() {
    let (base, seen) = serve(|_| {
        vec![
            head("200 OK", "text/event-stream"),
            sse(&json!({"choices": [{"index": 0, "text": " Paris", "finish_reason": "stop"}]})),
            b"data: [DONE]\n\n".to_vec(),
        ]
    });
    let out = generator(&base, None)
        .complete(GenerateRequest::text("The capital of France is"))
        .unwrap();
    assert_eq!(out.text, " Paris");
    assert_eq!(out.finish.reason, FinishReason::Stop);
    let r = seen.lock().unwrap()[0].clone();
    assert_eq!(r.path, "/v1/completions");
    assert_eq!(r.header("authorization"), None);
    assert_eq!(r.json()["prompt"], "The capital of France is");
}

#[test]
fn http_errors_carry_the_status_and_the_servers_message() {
    let (base, _) = serve(|_| {
        json_reply(
            "401 Unauthorized",
            &json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}),
        )
    });
    let err = generator(&base, Some("wrong"))
        .generate(GenerateRequest::chat(vec![ChatMessage::user("hi")]))
        .err()
        .unwrap();
    assert_eq!(err.code().as_str(), "upstream_error");
    let text = err.to_string();
    assert!(
        text.contains("401") && text.contains("Incorrect API key"),
        "{text}"
    );
}

#[test]
fn an_error_event_mid_stream_and_a_cut_stream_are_errors() {
    let (base, _) = serve(|_| {
        vec![
            head("200 OK", "text/event-stream"),
            sse(&json!({"choices": [{"index": 0, "delta": {"content": "partial"}}]})),
            sse(&json!({"error": {"message": "model overloaded"}})),
        ]
    });
    let events: Vec<_> = generator(&base, None)
        .generate(GenerateRequest::chat(vec![ChatMessage::user("hi")]))
        .unwrap()
        .collect();
    assert!(matches!(&events[0], Ok(StreamEvent::Token(d)) if d.text == "partial"));
    let err = events[1].as_ref().err().unwrap();
    assert!(err.to_string().contains("model overloaded"), "{err}");
    assert_eq!(events.len(), 2);

    let (base, _) = serve(|_| {
        vec![
            head("200 OK", "text/event-stream"),
            sse(&json!({"choices": [{"index": 0, "delta": {"content": "half an ans"}}]})),
        ]
    });
    let err = generator(&base, None)
        .complete(GenerateRequest::chat(vec![ChatMessage::user("hi")]))
        .err()
        .unwrap();
    assert!(err.to_string().contains("without [DONE]"), "{err}");
}

#[test]
fn requests_a_remote_provider_cannot_honour_are_refused_locally() {
    let g = generator("http://127.0.0.1:9/v1", None);
    let regex = GenerateRequest {
        constraint: Some(OutputConstraint::Regex("[0-9]+".into())),
        ..GenerateRequest::chat(vec![ChatMessage::user("hi")])
    };
    assert_eq!(
        g.generate(regex).err().unwrap().code().as_str(),
        "invalid_input"
    );
    assert_eq!(
        g.generate(GenerateRequest::chat(vec![]))
            .err()
            .unwrap()
            .code()
            .as_str(),
        "invalid_input"
    );
    // Nothing listens on port 9: a connection error, not a hang.
    let err = g
        .generate(GenerateRequest::chat(vec![ChatMessage::user("hi")]))
        .err()
        .unwrap();
    assert_eq!(err.code().as_str(), "upstream_error", "{err}");
}

#[test]
fn embeddings_are_reordered_by_index_normalized_and_checked() {
    let (base, seen) = serve(|r| {
        let inputs = r.json()["input"].as_array().unwrap().len();
        if inputs == 1 {
            return json_reply(
                "200 OK",
                &json!({"data": [{"index": 0, "embedding": [1.0, 2.0]}]}),
            );
        }
        json_reply(
            "200 OK",
            &json!({"data": [
            {"index": 1, "embedding": [0.0, 3.0, 4.0]},
            {"index": 0, "embedding": [2.0, 0.0, 0.0]}
        ], "usage": {"prompt_tokens": 10}}),
        )
    });
    let config = RemoteConfig::new(&base, "embed-model", Some("k".into())).unwrap();
    let e = RemoteEmbedder::new(config, 3, 512);
    let out = e.embed(&["first", "second"]).unwrap();
    assert_eq!(out.vectors, vec![vec![1.0, 0.0, 0.0], vec![0.0, 0.6, 0.8]]);
    assert_eq!(out.truncation[0].kept_tokens, 5);
    let r = seen.lock().unwrap()[0].clone();
    assert_eq!(r.path, "/v1/embeddings");
    assert_eq!(r.json()["input"], json!(["first", "second"]));
    let err = e.embed(&["one"]).err().unwrap();
    assert!(err.to_string().contains("3-dimensional"), "{err}");
}

#[test]
fn hub_downloads_a_file_atomically_and_refuses_escapes() {
    let (base, seen) = serve(|r| {
        if r.path.ends_with("/config.json") {
            json_reply("200 OK", &json!({"hidden_size": 384}))
        } else {
            json_reply("404 Not Found", &json!({"error": "Entry not found"}))
        }
    });
    let endpoint = base.trim_end_matches("/v1");
    let hub = HubClient::new(endpoint, Some("hf_x".into()), Duration::from_secs(5));
    let dir = tempfile::tempdir().unwrap();
    let path = hub
        .download(
            "sentence-transformers/all-MiniLM-L6-v2",
            "main",
            "config.json",
            dir.path(),
        )
        .unwrap();
    let got: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(got["hidden_size"], 384);
    let r = seen.lock().unwrap()[0].clone();
    assert_eq!(
        r.path,
        "/sentence-transformers/all-MiniLM-L6-v2/resolve/main/config.json"
    );
    assert_eq!(r.header("authorization"), Some("Bearer hf_x"));
    let err = hub
        .download("org/model", "main", "missing.bin", dir.path())
        .unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
    assert!(!dir.path().join("missing.bin").exists());
    assert!(!dir.path().join("missing.part").exists());
    assert!(
        hub.download("org/model", "main", "../escape", dir.path())
            .is_err()
    );
}

#[test]
fn the_public_hub_is_requested_at_the_right_url() {
    // No internet on CI machines: the request must fail with an error naming the URL.
    // Where the hub is reachable, the file must arrive instead.
    let hub = HubClient::new("https://huggingface.co", None, Duration::from_secs(5));
    let dir = tempfile::tempdir().unwrap();
    match hub.download(
        "sentence-transformers/all-MiniLM-L6-v2",
        "main",
        "config.json",
        dir.path(),
    ) {
        Ok(path) => assert!(
            std::fs::read_to_string(path)
                .unwrap()
                .contains("hidden_size")
        ),
        Err(err) => {
            let text = err.to_string();
            eprintln!("{text}");
            assert!(
                text.contains("https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2/resolve/main/config.json"),
                "{text}"
            );
        }
    }
}
