//! Agents through `cairn serve`.
//!
//! - With the real default model (Qwen2.5-Coder-1.5B): an agent answers a question from
//!   a CSV table with the `sql` tool, as JSON, as server-sent events and as the chat model
//!   `cairn-agent:<name>`; its run and trajectory are visible to its owner only.
//! - With a scripted OpenAI-compatible upstream (the run's model calls tools natively):
//!   a tool that needs approval pauses the run (also through the chat model, which says
//!   so and names the run) until its owner approves; a server killed while a tool call
//!   with side effects is in flight is restarted, and the run is resumed by the new
//!   server's executor without making that call again; cancelling a waiting run; an
//!   OpenAPI tool source and an agent both saved through the API, the call carrying the
//!   tenant's sealed key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use common::server::{Server, call};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SERVERS_CSV: &str = "name,region,max_connections\n\
    db-1,eu,100\ndb-2,us,200\ndb-3,eu,300\ndb-4,ap,150\ndb-5,eu,250\ndb-6,us,120\n";

/// A key of a new user `user` of tenant `default` with `role`.
fn user_key(home: &Path, user: &str, role: &str) -> String {
    let out = common::cairn(home, &["users", "add", user, "--role", role]);
    assert!(out.status.success());
    common::new_key(home, "default", role, Some(user))
}

fn post(s: &Server, path: &str, key: &str, body: Value) -> common::server::Reply {
    call("POST", &format!("{}{path}", s.url), Some(key), Some(&body))
}

fn get(s: &Server, path: &str, key: &str) -> common::server::Reply {
    call("GET", &format!("{}{path}", s.url), Some(key), None)
}

/// The `event:` names of an SSE body, in order.
fn event_names(sse: &str) -> Vec<String> {
    sse.lines()
        .filter_map(|l| {
            l.strip_prefix("event: ")
                .or_else(|| l.strip_prefix("event:"))
        })
        .map(|n| n.trim().to_owned())
        .collect()
}

#[test]
fn the_default_model_answers_from_a_table_with_sql() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("cairn.toml"),
        "[ingest.quality]\nmin_chars = 10\n\n[[agents]]\nname = \"analyst\"\n\
         description = \"answers from the ops tables\"\ntools = [\"sql\", \"calculator\"]\n\
         collections = [\"tables\"]\nmax_steps = 6\n",
    )
    .unwrap();
    std::fs::create_dir(home.path().join("tables")).unwrap();
    std::fs::write(home.path().join("tables/servers.csv"), SERVERS_CSV).unwrap();
    assert!(
        common::cairn(home.path(), &["ingest", "tables", "-c", "tables"])
            .status
            .success()
    );
    let owner = user_key(home.path(), "olga", "owner");
    let member = user_key(home.path(), "mia", "member");
    let viewer = user_key(home.path(), "vic", "viewer");
    let other = common::new_key(home.path(), "globex", "owner", None);
    let s = Server::start(home.path());
    let task = json!({"task": "How many servers are in region eu? Count them in the servers table with sql."});

    let r = post(&s, "/api/v1/agents/analyst/runs", &owner, task.clone());
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["state"], "succeeded", "{}", r.text);
    assert!(
        r.body["output"].as_str().unwrap().contains('3'),
        "{}",
        r.text
    );
    let steps = r.body["steps"].as_array().unwrap();
    assert!(
        steps.iter().any(|st| st["kind"] == "tool"
            && st["payload"]["name"] == "sql"
            && st["status"] == "done"),
        "{}",
        r.text
    );
    assert!(r.body["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    let id = r.body["id"].as_str().unwrap().to_owned();

    // Its owner reads it back with the trajectory; nobody else sees it.
    let back = get(&s, &format!("/api/v1/agent-runs/{id}"), &owner);
    assert_eq!(
        (back.status, back.body["steps"].as_array().map(Vec::len)),
        (200, Some(steps.len()))
    );
    for key in [&member, &other] {
        assert_eq!(
            get(&s, &format!("/api/v1/agent-runs/{id}"), key).status,
            404
        );
        let mine = get(&s, "/api/v1/agent-runs", key);
        assert_eq!(mine.body["data"], json!([]), "{}", mine.text);
    }
    // A viewer may not run agents (they generate).
    assert_eq!(
        post(&s, "/api/v1/agents/analyst/runs", &viewer, task.clone()).status,
        403
    );
    assert_eq!(
        post(&s, "/api/v1/agents/nobody/runs", &owner, task.clone()).status,
        404
    );

    // Server-sent events, in order.
    let mut streamed = task.clone();
    streamed["stream"] = json!(true);
    let r = post(&s, "/api/v1/agents/analyst/runs", &member, streamed);
    assert_eq!(r.status, 200, "{}", r.text);
    let names = event_names(&r.text);
    assert_eq!(
        names.first().map(String::as_str),
        Some("run_started"),
        "{names:?}"
    );
    assert_eq!(names.last().map(String::as_str), Some("final"), "{names:?}");
    for n in ["step_started", "delta", "tool_call", "tool_result"] {
        assert!(names.iter().any(|x| x == n), "{n} missing: {names:?}");
    }

    // The chat model of the agent.
    let models = get(&s, "/v1/models", &member);
    assert!(
        models.text.contains("cairn-agent:analyst"),
        "{}",
        models.text
    );
    let r = post(
        &s,
        "/v1/chat/completions",
        &member,
        json!({"model": "cairn-agent:analyst", "messages": [{"role": "user", "content": task["task"]}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .contains('3'),
        "{}",
        r.text
    );
    assert_eq!(r.body["cairn"]["state"], "succeeded");
}

/// An OpenAI-compatible upstream answering from a script: each request takes the next
/// reply, `{"tool": name, "arguments": {...}}` (a native tool call) or `{"content": ...}`.
/// The upstream's base URL, and the `traceparent` header of each request it got.
fn scripted_upstream(replies: Vec<Value>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let queue = Arc::new(Mutex::new(VecDeque::from(replies)));
    let traceparents = Arc::new(Mutex::new(Vec::new()));
    let seen = traceparents.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let (headers, _) = common::upstream::read_request_headers(&stream);
            seen.lock()
                .unwrap()
                .push(common::upstream::header(&headers, "traceparent"));
            let reply = queue
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or(json!({"content": "(script exhausted)"}));
            let event = |v: Value| format!("data: {v}\n\n");
            let (delta, finish) = match reply.get("tool") {
                Some(name) => (
                    json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                        "function": {"name": name, "arguments": reply["arguments"].to_string()}}]}),
                    "tool_calls",
                ),
                None => (json!({"content": reply["content"]}), "stop"),
            };
            let out = [
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
                    .to_owned(),
                event(json!({"choices": [{"index": 0, "delta": delta, "finish_reason": null}]})),
                event(
                    json!({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}],
                             "usage": {"prompt_tokens": 50, "completion_tokens": 5}}),
                ),
                "data: [DONE]\n\n".to_owned(),
            ];
            for piece in out {
                if stream.write_all(piece.as_bytes()).is_err() {
                    break;
                }
            }
        }
    });
    (format!("http://{addr}/v1"), traceparents)
}

/// A loopback web server counting requests per path; `/slow` answers after 4 s.
fn counting_site() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(Mutex::new(Vec::new()));
    let log = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let log = log.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let n = s.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = req.split_whitespace().nth(1).unwrap_or("").to_owned();
                log.lock().unwrap().push(path.clone());
                if path == "/slow" {
                    std::thread::sleep(Duration::from_secs(4));
                }
                let body = format!("done {path}");
                let _ = s.write_all(
                    format!("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
                        .as_bytes(),
                );
            });
        }
    });
    (port, hits)
}

fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn run_state(s: &Server, key: &str, id: &str) -> Value {
    get(s, &format!("/api/v1/agent-runs/{id}"), key).body
}

/// The first tool step of a run as the API shows it.
fn first_tool_step(run: &Value) -> Value {
    run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|st| st["kind"] == "tool")
        .cloned()
        .unwrap()
}

fn scripted_home(home: &Path, base: &str) {
    std::fs::write(
        home.join("cairn.toml"),
        format!(
            "[[models.remote]]\nname = \"scripted\"\nbase_url = \"{base}\"\nmax_retries = 0\n\n\
             [[agents]]\nname = \"deployer\"\nmodel = \"scripted\"\ntools = [\"http_get\", \"calculator\"]\n\
             http_allow_hosts = [\"127.0.0.1\"]\nhttp_allow_private = true\nrequires_approval = [\"http_get\"]\n\n\
             [[agents]]\nname = \"fetcher\"\nmodel = \"scripted\"\ntools = [\"http_get\"]\n\
             http_allow_hosts = [\"127.0.0.1\"]\nhttp_allow_private = true\n"
        ),
    )
    .unwrap();
}

#[test]
fn approvals_pause_runs_and_a_restarted_server_resumes_them_without_repeating_calls() {
    let (port, hits) = counting_site();
    let site = format!("http://127.0.0.1:{port}");
    let (base, _script) = scripted_upstream(vec![
        // Run 1: asks to deploy (needs approval), then answers.
        json!({"tool": "http_get", "arguments": {"url": format!("{site}/deploy")}}),
        json!({"content": "Deployed."}),
        // Run 2 (through the chat model): the same pause.
        json!({"tool": "http_get", "arguments": {"url": format!("{site}/other")}}),
        // Run 3: a slow call with side effects, interrupted by a crash.
        json!({"tool": "http_get", "arguments": {"url": format!("{site}/slow")}}),
        json!({"content": "Resumed after the restart; the call's outcome is unknown."}),
    ]);
    let home = tempfile::tempdir().unwrap();
    scripted_home(home.path(), &base);
    let owner = user_key(home.path(), "olga", "owner");
    let admin = user_key(home.path(), "ada", "admin");
    let editor = user_key(home.path(), "ed", "editor");
    let mut s = Server::start(home.path());

    // 1. Approval.
    let r = post(
        &s,
        "/api/v1/agents/deployer/runs",
        &editor,
        json!({"task": "Deploy the site."}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["state"], "waiting_approval", "{}", r.text);
    assert_eq!(r.body["pending_approval"]["tool"], "http_get");
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert!(
        hits.lock().unwrap().is_empty(),
        "nothing ran before the approval"
    );
    // Another editor of the tenant cannot see or approve it; an administrator can.
    let other_editor = user_key(home.path(), "eve", "editor");
    assert_eq!(
        post(
            &s,
            &format!("/api/v1/agent-runs/{id}/approve"),
            &other_editor,
            json!({})
        )
        .status,
        404
    );
    let ok = post(
        &s,
        &format!("/api/v1/agent-runs/{id}/approve"),
        &admin,
        json!({}),
    );
    assert_eq!(ok.status, 200, "{}", ok.text);
    wait_for("the approved run to end", Duration::from_secs(60), || {
        run_state(&s, &editor, &id)["state"] == "succeeded"
    });
    let done = run_state(&s, &editor, &id);
    assert_eq!(done["output"], "Deployed.");
    assert_eq!(*hits.lock().unwrap(), ["/deploy"]);
    assert_eq!(
        post(
            &s,
            &format!("/api/v1/agent-runs/{id}/approve"),
            &editor,
            json!({})
        )
        .status,
        409
    );

    // 2. The chat model does not hold the connection open: it names the run.
    let r = post(
        &s,
        "/v1/chat/completions",
        &editor,
        json!({"model": "cairn-agent:deployer", "messages": [{"role": "user", "content": "Deploy the other site."}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let waiting = r.body["cairn"]["run_id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["cairn"]["state"], "waiting_approval");
    let content = r.body["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(
        content.contains(&format!("/api/v1/agent-runs/{waiting}/approve")),
        "{content}"
    );
    // ... and cancelling it ends it.
    let c = call(
        "DELETE",
        &format!("{}/api/v1/agent-runs/{waiting}", s.url),
        Some(&editor),
        None,
    );
    assert_eq!(
        (c.status, c.body["state"].as_str()),
        (200, Some("cancelled")),
        "{}",
        c.text
    );
    assert_eq!(
        post(
            &s,
            &format!("/api/v1/agent-runs/{waiting}/approve"),
            &editor,
            json!({})
        )
        .status,
        409
    );

    // 3. A crash in the middle of a call with side effects.
    let r = post(
        &s,
        "/api/v1/agents/fetcher/runs",
        &owner,
        json!({"task": "Fetch the slow page.", "wait": false}),
    );
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_owned();
    wait_for("the slow call to start", Duration::from_secs(30), || {
        hits.lock().unwrap().iter().any(|p| p == "/slow")
    });
    let tool = first_tool_step(&run_state(&s, &owner, &id));
    assert_eq!(tool["status"], "started", "journaled before it ran");
    s.child.kill().unwrap();
    s.child.wait().unwrap();
    let s = Server::start(home.path());
    wait_for(
        "the restarted server to finish the run",
        Duration::from_secs(60),
        || run_state(&s, &owner, &id)["state"] == "succeeded",
    );
    let run = run_state(&s, &owner, &id);
    assert_eq!(
        run["output"],
        "Resumed after the restart; the call's outcome is unknown."
    );
    let tool = first_tool_step(&run);
    assert_eq!(tool["status"], "unknown", "{run}");
    std::thread::sleep(Duration::from_secs(5));
    let slow = hits
        .lock()
        .unwrap()
        .iter()
        .filter(|p| *p == "/slow")
        .count();
    assert_eq!(slow, 1, "the interrupted call was not made again");
}

/// An API with one operation, as YAML (what most published OpenAPI documents are).
const STOCK_API: &str = "openapi: 3.0.3
info: {title: Stock, version: '1'}
paths:
  /stock:
    get:
      operationId: stock
      summary: Units in stock of an item
      parameters:
        - {name: item, in: query, required: true, schema: {type: integer}}
";

#[test]
fn a_tool_source_saved_through_the_api_serves_an_agent_saved_through_the_api() {
    let (port, hits) = counting_site();
    let (base, traceparents) = scripted_upstream(vec![
        json!({"tool": "site__stock", "arguments": {"item": 7}}),
        json!({"content": "Item 7 is in stock."}),
    ]);
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("cairn.toml"),
        format!(
            "[server]\ntool_sources_allow_private = true\n\n\
             [[models.remote]]\nname = \"scripted\"\nbase_url = \"{base}\"\nmax_retries = 0\n"
        ),
    )
    .unwrap();
    assert!(
        common::cairn(home.path(), &["secrets", "init-key"])
            .status
            .success()
    );
    let owner = user_key(home.path(), "olga", "owner");
    let s = Server::start(home.path());
    let put = |path: &str, body: Value| {
        call(
            "PUT",
            &format!("{}{path}", s.url),
            Some(&owner),
            Some(&body),
        )
    };
    let sealed = put("/api/v1/secrets/site-key", json!({"value": "K3Y"}));
    assert_eq!(sealed.status, 204, "{}", sealed.text);
    let source = json!({"kind": "openapi", "document": STOCK_API,
        "base_url": format!("http://127.0.0.1:{port}"), "auth": "query", "auth_name": "key",
        "auth_secret": "site-key", "description": "the warehouse"});
    // Bad sources are refused with the reason, and nothing is saved.
    let mut broken = source.clone();
    broken["document"] = json!("openapi: [3.0\n  paths: {");
    let r = put("/api/v1/tool-sources/site", broken);
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("neither JSON nor YAML"), "{}", r.text);
    let r = put(
        "/api/v1/tool-sources/shell",
        json!({"kind": "mcp", "command": "/bin/sh"}),
    );
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(
        get(&s, "/api/v1/tool-sources", &owner).body["data"],
        json!([])
    );

    let r = put("/api/v1/tool-sources/site", source);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["settings"]["auth_secret"], "site-key");
    assert!(
        !r.text.contains("K3Y"),
        "the credential stays sealed: {}",
        r.text
    );
    let tools = get(&s, "/api/v1/tool-sources/site/tools", &owner);
    assert_eq!(
        tools.body["data"][0]["name"], "site__stock",
        "{}",
        tools.text
    );
    assert_eq!(tools.body["data"][0]["side_effects"], false);

    let agent = put(
        "/api/v1/agents/stocker",
        json!({"model": "scripted", "tools": ["openapi:site"]}),
    );
    assert_eq!(agent.status, 200, "{}", agent.text);
    // In the background: the executor runs it, in a trace of its own.
    let r = post(
        &s,
        "/api/v1/agents/stocker/runs",
        &owner,
        json!({"task": "Is item 7 in stock?", "wait": false}),
    );
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_owned();
    wait_for("the run to end", Duration::from_secs(60), || {
        run_state(&s, &owner, &id)["state"] != "queued"
            && run_state(&s, &owner, &id)["state"] != "running"
    });
    let run = run_state(&s, &owner, &id);
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_eq!(*hits.lock().unwrap(), ["/stock?item=7&key=K3Y"]);
    assert_eq!(first_tool_step(&run)["status"], "done", "{run}");
    let mut trace = Value::Null;
    wait_for("the run's trace", Duration::from_secs(30), || {
        let list = get(&s, "/api/v1/traces", &owner);
        trace = list.body["data"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["name"] == "invoke_agent stocker")
            .cloned()
            .unwrap_or(Value::Null);
        !trace.is_null()
    });
    assert_eq!(trace["user"], "olga", "{trace}");
    let tree = get(
        &s,
        &format!("/api/v1/traces/{}", trace["trace_id"].as_str().unwrap()),
        &owner,
    );
    let root = &tree.body["spans"][0];
    assert_eq!(
        root["attributes"]["gen_ai.agent.id"],
        id.as_str(),
        "{}",
        tree.text
    );
    assert_eq!(root["attributes"]["openinference.span.kind"], "AGENT");
    let children: Vec<&Value> = root["children"].as_array().unwrap().iter().collect();
    let tool = children
        .iter()
        .find(|c| c["name"] == "execute_tool site__stock")
        .unwrap_or_else(|| panic!("no tool span: {}", tree.text));
    // The model provider was handed the run's trace (W3C traceparent) on every turn.
    let trace_id = trace["trace_id"].as_str().unwrap();
    let sent = traceparents.lock().unwrap().clone();
    assert_eq!(sent.len(), 2, "{sent:?}");
    for tp in &sent {
        assert!(
            tp.starts_with(&format!("00-{trace_id}-")),
            "{tp} vs {trace_id}"
        );
    }
    let call_id = tool["attributes"]["gen_ai.tool.call.id"].as_str().unwrap();
    assert!(call_id.starts_with(&format!("{id}:")), "{}", tree.text);
    assert!(
        children
            .iter()
            .any(|c| c["name"].as_str().unwrap().starts_with("chat ")),
        "the model turns are in the trace: {}",
        tree.text
    );

    // Deleted: the agent's next run goes without it.
    let d = call(
        "DELETE",
        &format!("{}/api/v1/tool-sources/site", s.url),
        Some(&owner),
        None,
    );
    assert_eq!(d.status, 204, "{}", d.text);
    assert_eq!(get(&s, "/api/v1/tool-sources/site", &owner).status, 404);
}
