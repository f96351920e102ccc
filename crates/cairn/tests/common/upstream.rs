//! A loopback OpenAI-compatible upstream for remote models (`[[models.remote]]`): it
//! records the API key each request carries, so a test sees which sealed secret a server
//! opened for it.

use super::server::{Server, call};
use serde_json::json;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// The `[[models.remote]]` entry of model `upstream-llm` at `base`, its API key the
/// tenant's secret `upstream-key`.
pub fn remote_model_toml(base: &str) -> String {
    format!(
        "[[models.remote]]\nname = \"upstream-llm\"\nbase_url = \"{base}\"\n\
         model = \"served\"\napi_key_secret = \"upstream-key\"\n"
    )
}

/// Reads one HTTP request from `stream`: its Authorization header and its body.
pub fn read_request(stream: &std::net::TcpStream) -> (String, Vec<u8>) {
    let (headers, body) = read_request_headers(stream);
    (header(&headers, "authorization"), body)
}

/// Reads one HTTP request from `stream`: its headers (names lower-cased) and its body.
pub fn read_request_headers(stream: &std::net::TcpStream) -> (Vec<(String, String)>, Vec<u8>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap();
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    let len = header(&headers, "content-length").parse().unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    (headers, body)
}

/// The value of header `name` (lower case), or "".
pub fn header(headers: &[(String, String)], name: &str) -> String {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// A loopback OpenAI-compatible upstream that records each request's Authorization
/// header and streams back "ok".
pub fn upstream() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let (auth, _body) = read_request(&stream);
            log.lock().unwrap().push(auth);
            let event = |v: serde_json::Value| format!("data: {v}\n\n");
            let reply = [
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
                    .to_owned(),
                event(
                    json!({"choices": [{"index": 0, "delta": {"content": "ok"}, "finish_reason": null}]}),
                ),
                event(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})),
                "data: [DONE]\n\n".to_owned(),
            ];
            for piece in reply {
                if stream.write_all(piece.as_bytes()).is_err() {
                    break;
                }
            }
        }
    });
    (format!("http://{addr}/v1"), seen)
}

/// The model a tenant's caller reaches sends that tenant's API key upstream.
pub fn upstream_sees(server: &Server, key: &str, seen: &Mutex<Vec<String>>) -> String {
    let r = call(
        "POST",
        &format!("{}/v1/chat/completions", server.url),
        Some(key),
        Some(&json!({
            "model": "upstream-llm",
            "messages": [{"role": "user", "content": "Say ok."}],
        })),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    seen.lock().unwrap().last().cloned().unwrap_or_default()
}
