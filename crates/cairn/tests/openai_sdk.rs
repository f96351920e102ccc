//! A real `cairn serve` process driven by the official `openai` Python SDK
//! (tests/python/openai_sdk.py: chat, streaming, tool calls, JSON Schema output,
//! embeddings, the `cairn-rag:` assistant, typed errors), and graceful shutdown that
//! finishes an in-flight stream.
//!
//! The interpreter is `$CAIRN_TEST_PYTHON`, else the venv `scripts/python-env.sh` makes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use common::server::Server;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const GENERATOR: &str = "smollm2-135m-instruct";
/// The default embedder.
const EMBEDDER: &str = "all-minilm-l6-v2";

const ROASTING: &str = "# Coffee roasting\n\n\
Light roasts keep more of the bean's acidity. Dark roasts develop bitter, smoky notes \
because the sugars caramelize longer. A roast is dropped from the drum after the first \
or second crack.\n";

/// A scratch home with `cairn.toml` (the small generator, short documents allowed) and
/// the `kb` collection ingested.
fn home_with_kb() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("cairn.toml"),
        format!(
            "[models]\ngenerator = \"{GENERATOR}\"\n\n[ingest.quality]\nmin_chars = 10\n\n\
             [server]\nshutdown_grace_secs = 120\n"
        ),
    )
    .unwrap();
    let kb = home.path().join("kb");
    std::fs::create_dir(&kb).unwrap();
    std::fs::write(kb.join("harbor.md"), common::HARBOR).unwrap();
    std::fs::write(kb.join("roasting.md"), ROASTING).unwrap();
    let out = common::cairn(home.path(), &["ingest", "kb", "-c", "kb"]);
    assert!(out.status.success());
    home
}

#[test]
fn the_openai_python_sdk_drives_a_real_server() {
    let home = home_with_kb();
    let key = common::new_key(home.path(), "default", "owner", None);
    let server = Server::start(home.path());
    let script = Path::new(
        &std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
    )
    .join("tests/python/openai_sdk.py");
    let out = Command::new(common::python("the openai SDK"))
        .arg(&script)
        .env("CAIRN_TEST_URL", &server.url)
        .env("CAIRN_TEST_KEY", &key)
        .env("CAIRN_TEST_GENERATOR", GENERATOR)
        .env("CAIRN_TEST_EMBEDDER", EMBEDDER)
        .output()
        .unwrap();
    eprintln!(
        "--- python stdout\n{}--- python stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the SDK checks failed");
    assert!(String::from_utf8_lossy(&out.stdout).contains("checks passed"));

    // `cairn ask --url` reads the native SSE stream of the same server.
    let out = common::cairn(
        home.path(),
        &[
            "ask",
            "--url",
            &server.url,
            "--api-key",
            &key,
            "-c",
            "kb",
            "When does the Harbor Lights festival take place?",
        ],
    );
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("confidence "), "{text}");
    assert!(text.contains("harbor.md"), "the sources are listed: {text}");
}

/// Reads what is left of a `Connection: close` response.
fn read_all(stream: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).unwrap();
    String::from_utf8_lossy(&buf).into_owned()
}

#[test]
fn sigterm_finishes_the_in_flight_stream_then_exits() {
    let home = home_with_kb();
    let key = common::new_key(home.path(), "default", "member", None);
    let mut server = Server::start(home.path());
    let body = serde_json::json!({
        "model": GENERATOR,
        "messages": [{"role": "user", "content": "Write a short story about a lighthouse keeper."}],
        "temperature": 0,
        "max_tokens": 48,
        "stream": true,
    })
    .to_string();
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(300)))
        .unwrap();
    write!(
        stream,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Authorization: Bearer {key}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        server.addr(),
        body.len()
    )
    .unwrap();
    // Wait for the first content chunk, so the stream is in flight when the signal lands.
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !String::from_utf8_lossy(&seen).contains("\"content\":\"") {
        let n = stream.read(&mut byte).unwrap();
        assert!(
            n == 1,
            "the stream ended early: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.push(byte[0]);
    }
    server.terminate();
    let rest = read_all(&mut stream);
    let all = format!("{}{rest}", String::from_utf8_lossy(&seen));
    assert!(all.starts_with("HTTP/1.1 200"), "{all}");
    assert!(all.contains("data: [DONE]"), "the stream was cut: {all}");
    let chunks = all.matches("\"object\":\"chat.completion.chunk\"").count();
    assert!(chunks > 3, "{all}");
    assert!(
        all.contains("\"finish_reason\":\"length\"") || all.contains("\"finish_reason\":\"stop\"")
    );
    let status = server.wait(Duration::from_secs(60));
    assert!(status.success(), "{status:?}");
    // Nothing listens any more.
    assert!(TcpStream::connect(server.addr()).is_err());
}
