//! Tools of external MCP servers, served by the official Python SDK (`mcp_server.py`):
//! a stdio server started with nothing of Cairn's environment, its tools' schemas and
//! read-only hints taken from the server, a call with side effects held for approval
//! and made once; a streamable-HTTP server reached with the tenant's sealed secret as
//! its bearer token, and not offered to a tenant it does not serve.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cairn_auth::Role;
use cairn_store::RunState;
use cairn_types::TenantId;
use common::*;
use serde_json::json;

fn server_script() -> String {
    format!("{}/tests/mcp_server.py", env!("CARGO_MANIFEST_DIR"))
}

/// The HTTP server on a free port, requiring `token`.
fn http_server(token: &str) -> (Killed, u16) {
    python_server(|port| {
        vec![
            server_script(),
            "http".into(),
            port.to_string(),
            token.into(),
        ]
    })
}

#[test]
fn a_stdio_servers_tools_run_with_its_schemas_approvals_and_a_clean_environment() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let toml = format!(
        "[[mcp_servers]]\nname = \"ops\"\ncommand = \"{}\"\nargs = [\"{}\", \"stdio\"]\n\
         env = {{ RECORD_LOG = \"{}\" }}\n\n\
         [[agents]]\nname = \"operator\"\ntools = [\"mcp:ops\", \"calculator\"]\n\
         requires_approval = [\"mcp:ops.record\"]\n",
        python().display(),
        server_script(),
        log.path().display()
    );
    let f = fixture_with(&toml);
    let script = Script::new(vec![
        call("ops__add", json!({"a": 2, "b": "three"})),
        call("ops__add", json!({"a": 2, "b": 3})),
        call("ops__environment", json!({})),
        call("ops__record", json!({"note": "restarted db-2"})),
        answer("done"),
    ]);
    let rt = runtime(&f, &script);
    let ann = caller("acme", "ann", Role::Member);
    let (run, _) = start(&rt, "operator", "add and record", &ann);
    assert_eq!(run.state, RunState::WaitingApproval, "{run:?}");
    let outs: Vec<(String, String)> = steps(&f, &run)
        .iter()
        .filter(|s| s.kind == "tool")
        .map(|s| {
            (
                s.status.clone(),
                s.payload["output"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    // The server's schema refused a string for a number before any call.
    assert_eq!(outs[0].0, "rejected");
    assert!(outs[0].1.contains("do not match its schema"), "{outs:?}");
    assert_eq!(outs[1], ("done".into(), "5".into()));
    // Nothing of Cairn's environment (or the test's) reaches the server.
    let env: Vec<&str> = outs[2].1.split(',').collect();
    assert!(
        env.contains(&"PATH") && env.contains(&"RECORD_LOG"),
        "{env:?}"
    );
    assert!(
        !env.iter()
            .any(|v| v.starts_with("CARGO") || v.starts_with("CAIRN") || *v == "HOME"),
        "{env:?}"
    );
    // The write waits for approval, then happens once.
    assert_eq!(outs[3].0, "waiting_approval");
    assert_eq!(std::fs::read_to_string(log.path()).unwrap(), "");
    rt.decide(&ann, &run.id, true).unwrap();
    let done = rt
        .drive(rt.claim(&ann, &run.id).unwrap(), &mut |_| {})
        .unwrap();
    assert_eq!(done.state, RunState::Succeeded);
    assert_eq!(
        std::fs::read_to_string(log.path()).unwrap(),
        "restarted db-2\n"
    );
    // The model saw the server's tools with their descriptions and schemas.
    let prompt = script.prompt(0);
    assert!(
        prompt.contains("ops__record") && prompt.contains("Records a note"),
        "{prompt}"
    );
}

#[test]
fn an_http_server_is_reached_with_the_tenants_secret_and_only_by_its_tenants() {
    let (_server, port) = http_server("s3cret-token");
    let toml = format!(
        "[[mcp_servers]]\nname = \"remote\"\nurl = \"http://127.0.0.1:{port}/mcp\"\n\
         bearer_secret = \"remote-token\"\ntenants = [\"acme\"]\n\n\
         [[agents]]\nname = \"adder\"\ntools = [\"mcp:remote.add\"]\n"
    );
    let f = fixture_with(&toml);
    f.engine
        .put_secret(&TenantId::new("acme"), "remote-token", "s3cret-token")
        .unwrap();
    let script = Script::new(vec![
        call("remote__add", json!({"a": 40, "b": 2})),
        answer("42"),
    ]);
    let rt = runtime(&f, &script);
    let (run, _) = start(&rt, "adder", "40 + 2", &caller("acme", "ann", Role::Member));
    let tool = steps(&f, &run)
        .into_iter()
        .find(|s| s.kind == "tool")
        .unwrap();
    assert_eq!(
        (tool.status.as_str(), tool.payload["output"].as_str()),
        ("done", Some("42")),
        "{tool:?}"
    );
    // Only `add` was asked for, so only `add` is offered.
    assert!(!script.prompt(0).contains("remote__record"));
    // Globex is not among the server's tenants: the tool does not exist for its runs.
    let script = Script::new(vec![
        call("remote__add", json!({"a": 1, "b": 1})),
        answer("?"),
    ]);
    let rt = runtime(&f, &script);
    let (run, _) = start(
        &rt,
        "adder",
        "1 + 1",
        &caller("globex", "gus", Role::Member),
    );
    let tool = steps(&f, &run)
        .into_iter()
        .find(|s| s.kind == "tool")
        .unwrap();
    assert_eq!(tool.status, "rejected");
    assert!(
        tool.payload["output"]
            .as_str()
            .unwrap()
            .contains("There is no tool `remote__add`")
    );
}
