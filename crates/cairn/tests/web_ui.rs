//! The web application in a real browser: Debian's chromium driven by playwright
//! (tests/python/web_ui.py) against a real `cairn serve` whose generator is a loopback
//! OpenAI-compatible upstream, so the answer text is known: sign in, a streamed answer
//! whose citation opens its source, feedback, script payloads in a document and in an
//! answer that run nowhere, a stop that ends the generation upstream, copy, regenerate,
//! a stored conversation reopened and deleted, sign out, a viewer's narrower page, and
//! single sign-on through a small OpenID provider (tests/common/oidc.rs); and one answer
//! from a real local model (SmolLM2-135M) streamed into the page.
//!
//! Needs `/usr/bin/chromium` (scripts/bootstrap.sh with `CAIRN_NEED_BROWSER=1`) and the
//! project's Python with playwright (scripts/python-env.sh); fails saying so otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use common::server::Server;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A document whose text carries the payloads a source panel must show as text.
const PAYLOADS: &str = "# Festival notes\n\n\
The Harbor Lights festival is in March. <img src=x onerror=\"window.__xss='img'\"> \
<script>window.__xss='script'</script> [a link](javascript:window.__xss='link') \
<svg onload=\"window.__xss='svg'\"></svg> <a href=\"javascript:window.__xss='a'\">here</a>\n";

/// One request off `stream`: its JSON body.
fn read_body(stream: &TcpStream) -> Value {
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return Value::Null;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    serde_json::from_slice(&body).unwrap_or(Value::Null)
}

fn chunk(text: &str, logprobs: Value) -> String {
    let c = json!({"choices": [{"index": 0, "delta": {"content": text}, "logprobs": logprobs, "finish_reason": null}]});
    format!("data: {c}\n\n")
}

/// The generator: a judge's one-token question gets "Yes"; a question asking for it
/// slowly streams for a minute unless the reader goes away (recorded in `stopped`);
/// the festival question gets an answer carrying script payloads; anything else the
/// terrace price, citing source 1. (Questions are told apart by their own words in the
/// last message: the prompt also carries the sources, and a conversation's history.) A
/// follow-up to condense is answered with itself.
fn upstream(stopped: Arc<AtomicBool>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let stopped = stopped.clone();
            std::thread::spawn(move || {
                let body = read_body(&stream);
                let messages = body["messages"].as_array().cloned().unwrap_or_default();
                let text_of = |m: Option<&Value>| {
                    m.and_then(|m| m["content"].as_str())
                        .unwrap_or("")
                        .to_owned()
                };
                let system = text_of(messages.first());
                // The turn being answered (earlier turns of a conversation are history).
                let prompt = text_of(messages.last());
                let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";
                let _ = stream.write_all(head.as_bytes());
                if system.starts_with("Given the conversation so far") {
                    // Condensing a follow-up: the question stands alone already.
                    let question = prompt.rsplit("Last question:").next().unwrap_or("").trim();
                    let _ = stream.write_all(chunk(question, Value::Null).as_bytes());
                } else if system.starts_with("Summarize this conversation") {
                    let _ = stream
                        .write_all(chunk("Questions about the harbor.", Value::Null).as_bytes());
                } else if body["max_tokens"] == 1 {
                    let lp = json!({"content": [{"token": "Yes", "logprob": -0.1,
                        "top_logprobs": [{"token": "Yes", "logprob": -0.1}, {"token": "No", "logprob": -3.0}]}]});
                    let _ = stream.write_all(chunk("Yes", lp).as_bytes());
                } else if prompt.contains("When is the Harbor Lights festival") {
                    let text = "The Harbor Lights festival takes place on the first Saturday of \
                        March [1]. <img src=x onerror=\"window.__xss='answer-img'\"> \
                        <script>window.__xss='answer-script'</script> \
                        [see more](javascript:window.__xss='answer-link')";
                    let _ = stream.write_all(chunk(text, Value::Null).as_bytes());
                } else if system.contains("Reply in capitals.") {
                    // An assistant's instructions reached the system prompt.
                    let text = "SEATS ON THE LIGHTHOUSE TERRACE COST 12 EUROS [1].";
                    let _ = stream.write_all(chunk(text, Value::Null).as_bytes());
                } else if prompt.contains("slowly") {
                    // A finished Markdown block first (rendered while the rest streams).
                    let _ = stream.write_all(chunk("**Tide report**\n\n", Value::Null).as_bytes());
                    for _ in 0..600 {
                        if stream
                            .write_all(chunk("The harbor is calm. ", Value::Null).as_bytes())
                            .and_then(|()| stream.flush())
                            .is_err()
                        {
                            stopped.store(true, Ordering::SeqCst);
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                } else {
                    let text = "Seats on the lighthouse terrace cost 12 euros [1].";
                    for word in text.split_inclusive(' ') {
                        let _ = stream.write_all(chunk(word, Value::Null).as_bytes());
                    }
                }
                let end = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 50, "completion_tokens": 12}});
                let _ = stream.write_all(format!("data: {end}\n\ndata: [DONE]\n\n").as_bytes());
            });
        }
    });
    base
}

#[test]
fn the_web_ui_in_chromium_signs_in_asks_cites_stops_and_runs_no_payload() {
    assert!(
        std::path::Path::new("/usr/bin/chromium").is_file(),
        "no /usr/bin/chromium: run `CAIRN_NEED_BROWSER=1 scripts/bootstrap.sh` (apt chromium)"
    );
    let python = common::python("playwright (scripts/python-env.sh)");
    let stopped = Arc::new(AtomicBool::new(false));
    let base = upstream(stopped.clone());
    let idp = common::oidc::Provider::start(&[("sso-ada", "default", &["cairn-admins"])]);
    let sso = idp.config("[auth.oidc.group_roles]\n\"cairn-admins\" = \"admin\"\n");
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    std::fs::write(
        h.join("cairn.toml"),
        format!(
            "[models]\ngenerator = \"fake\"\n\n[[models.remote]]\nname = \"fake\"\n\
             base_url = \"{base}\"\nmax_retries = 0\n\n[[models.remote]]\nname = \"fake-b\"\n\
             base_url = \"{base}\"\nmax_retries = 0\n\n[ingest.quality]\nmin_chars = 10\n\n{sso}"
        ),
    )
    .unwrap();
    let kb = h.join("kb");
    std::fs::create_dir(&kb).unwrap();
    std::fs::write(kb.join("harbor.md"), common::HARBOR).unwrap();
    std::fs::write(kb.join("festival-notes.md"), PAYLOADS).unwrap();
    let out = common::cairn(h, &["ingest", "kb", "-c", "kb"]);
    assert!(out.status.success());
    let key = common::new_key(h, "default", "owner", None);
    let viewer = common::new_key(h, "default", "viewer", None);
    let server = Server::start(h);

    // A second server whose generator is a real local model (the smallest, SmolLM2-135M).
    let local_home = tempfile::tempdir().unwrap();
    let l = local_home.path();
    std::fs::write(
        l.join("cairn.toml"),
        "[models]\ngenerator = \"smollm2-135m-instruct\"\n\n[ingest.quality]\nmin_chars = 10\n",
    )
    .unwrap();
    let lkb = l.join("kb");
    std::fs::create_dir(&lkb).unwrap();
    std::fs::write(lkb.join("harbor.md"), common::HARBOR).unwrap();
    assert!(
        common::cairn(l, &["ingest", "kb", "-c", "kb"])
            .status
            .success()
    );
    let local_key = common::new_key(l, "default", "owner", None);
    let local = Server::start(l);

    let shots = h.join("screenshots");
    std::fs::create_dir(&shots).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/web_ui.py");
    let status = Command::new(&python)
        .args([
            script,
            &server.url,
            &key,
            &viewer,
            shots.to_str().unwrap(),
            &local.url,
            &local_key,
        ])
        .status()
        .unwrap();
    assert!(status.success(), "the browser flows failed (output above)");

    // The stop reached the provider: Cairn closed the upstream stream it was reading.
    for _ in 0..100 {
        if stopped.load(Ordering::SeqCst) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        stopped.load(Ordering::SeqCst),
        "the stopped answer kept generating upstream"
    );
    for shot in ["desktop-light", "desktop-dark", "phone-light", "phone-dark"] {
        assert!(shots.join(format!("{shot}.png")).is_file(), "{shot}");
    }
    // Kept for docs/ui.md when asked for.
    if let Some(dir) = std::env::var_os("WEB_UI_SCREENSHOTS") {
        for entry in std::fs::read_dir(&shots).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(
                entry.path(),
                std::path::Path::new(&dir).join(entry.file_name()),
            )
            .unwrap();
        }
    }
}
