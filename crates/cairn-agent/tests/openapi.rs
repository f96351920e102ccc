//! OpenAPI tools and tenants' own tool sources, against a real API: FastAPI
//! (`openapi_server.py`) writes its OpenAPI 3.1 document and serves it on uvicorn.
//! Operations become tools with the document's schemas, calls carry the tenant's sealed
//! key, a write waits for approval and is made once, redirects are not followed, and a
//! tenant's own source (OpenAPI or MCP) reaches no private address unless the operator
//! allows it, and no other tenant.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cairn_agent::sources::{self, SourceBody};
use cairn_auth::Role;
use cairn_config::AgentSpec;
use cairn_store::RunState;
use cairn_types::{ErrorCode, TenantId};
use common::*;
use serde_json::{Value, json};

fn script_path(name: &str) -> String {
    format!("{}/tests/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The inventory API on a free port, wanting `key`, logging orders to `log`.
fn inventory(key: &str, log: &std::path::Path) -> (Killed, u16) {
    let log = log.display().to_string();
    python_server(|port| {
        vec![
            script_path("openapi_server.py"),
            port.to_string(),
            key.into(),
            log,
        ]
    })
}

/// FastAPI's own document.
fn document(port: u16) -> Value {
    let text = ureq::get(&format!("http://127.0.0.1:{port}/openapi.json"))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The tool steps of a run: (status, output).
fn tool_steps(f: &Fixture, run: &cairn_store::AgentRun) -> Vec<(String, String)> {
    steps(f, run)
        .iter()
        .filter(|s| s.kind == "tool")
        .map(|s| {
            (
                s.status.clone(),
                s.payload["output"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_configured_documents_operations_are_called_with_the_tenants_key() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let (_api, port) = inventory("k-acme", log.path());
    let doc_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(doc_file.path(), document(port).to_string()).unwrap();
    let toml = format!(
        "[[openapi_tools]]\nname = \"inv\"\ndocument = \"{}\"\n\
         base_url = \"http://127.0.0.1:{port}\"\nauth = \"header\"\nauth_name = \"X-Api-Key\"\n\
         auth_secret = \"inventory-key\"\nallow_private = true\n\n\
         [[agents]]\nname = \"stock\"\ntools = [\"openapi:inv\"]\n\
         requires_approval = [\"openapi:inv.create_order\"]\n",
        doc_file.path().display()
    );
    let f = fixture_with(&toml);
    f.engine
        .put_secret(&TenantId::new("acme"), "inventory-key", "k-acme")
        .unwrap();
    f.engine
        .put_secret(&TenantId::new("globex"), "inventory-key", "k-wrong")
        .unwrap();
    let script = Script::new(vec![
        call("inv__get_item", json!({"item_id": 7, "verbose": true})),
        call(
            "inv__create_order",
            json!({"body": {"item": 7, "quantity": 0}}),
        ),
        call("inv__moved", json!({})),
        call(
            "inv__create_order",
            json!({"body": {"item": 7, "quantity": 3}}),
        ),
        answer("ordered 3 torque wrenches"),
    ]);
    let rt = runtime(&f, &script);
    let ann = caller("acme", "ann", Role::Member);
    let (run, _) = start(&rt, "stock", "order 3 of item 7", &ann);
    assert_eq!(run.state, RunState::WaitingApproval, "{run:?}");
    let outs = tool_steps(&f, &run);
    assert_eq!(outs[0].0, "done", "{outs:?}");
    assert!(
        outs[0].1.contains("torque wrench") && outs[0].1.contains("B-14"),
        "{outs:?}"
    );
    // FastAPI's `gt=0` is in the schema: refused before any call.
    assert_eq!(outs[1].0, "rejected", "{outs:?}");
    assert!(outs[1].1.contains("do not match its schema"), "{outs:?}");
    // A redirect (here to the metadata address) is reported, never followed.
    assert_eq!(outs[2].0, "failed", "{outs:?}");
    assert!(
        outs[2].1.contains("307") && outs[2].1.contains("not followed"),
        "{outs:?}"
    );
    assert_eq!(outs[3].0, "waiting_approval");
    assert_eq!(std::fs::read_to_string(log.path()).unwrap(), "");
    rt.decide(&ann, &run.id, true).unwrap();
    let done = rt
        .drive(rt.claim(&ann, &run.id).unwrap(), &mut |_| {})
        .unwrap();
    assert_eq!(done.state, RunState::Succeeded, "{done:?}");
    let orders = std::fs::read_to_string(log.path()).unwrap();
    assert_eq!(orders.lines().count(), 1, "{orders}");
    assert!(orders.contains("\"quantity\": 3"), "{orders}");
    // The model saw the operations with FastAPI's summaries and schemas.
    let prompt = script.prompt(0);
    assert!(
        prompt.contains("inv__create_order") && prompt.contains("Orders more of an item"),
        "{prompt}"
    );

    // Globex's own key is not the API's: the API refuses it, and the model is told.
    let script = Script::new(vec![
        call("inv__get_item", json!({"item_id": 7})),
        answer("no access"),
    ]);
    let rt = runtime(&f, &script);
    let (run, _) = start(
        &rt,
        "stock",
        "item 7?",
        &caller("globex", "gus", Role::Member),
    );
    let outs = tool_steps(&f, &run);
    assert_eq!(outs[0].0, "failed", "{outs:?}");
    assert!(
        outs[0].1.contains("403") && outs[0].1.contains("bad API key"),
        "{outs:?}"
    );
}

fn openapi_body(doc: Value, port: u16) -> SourceBody {
    SourceBody {
        kind: "openapi".into(),
        document: doc,
        base_url: format!("http://127.0.0.1:{port}"),
        auth: "header".into(),
        auth_name: "X-Api-Key".into(),
        auth_secret: "inventory-key".into(),
        operations: vec!["get_item".into()],
        ..SourceBody::default()
    }
}

#[test]
fn a_tenants_own_sources_stay_off_private_addresses_unless_allowed() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let (_api, port) = inventory("k-acme", log.path());
    let doc = document(port);
    let acme = TenantId::new("acme");

    // The default: a tenant's source cannot point at the server's own network.
    let f = fixture_with("");
    f.engine
        .put_secret(&acme, "inventory-key", "k-acme")
        .unwrap();
    let e = sources::save(
        &f.engine,
        &acme,
        "inv",
        &openapi_body(doc.clone(), port),
        "ann",
        1,
    )
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::Forbidden, "{}", e.message);
    assert!(
        e.message.contains("tool_sources_allow_private"),
        "{}",
        e.message
    );
    let mcp = SourceBody {
        kind: "mcp".into(),
        url: "http://[::1]:9/mcp".into(),
        ..SourceBody::default()
    };
    assert_eq!(
        sources::save(&f.engine, &acme, "ops", &mcp, "ann", 1)
            .unwrap_err()
            .code,
        ErrorCode::Forbidden
    );
    let stdio = SourceBody {
        kind: "mcp".into(),
        command: "/bin/sh".into(),
        ..SourceBody::default()
    };
    let e = sources::save(&f.engine, &acme, "sh", &stdio, "ann", 1).unwrap_err();
    assert_eq!(e.code, ErrorCode::Forbidden);
    assert!(e.message.contains("configuration file"), "{}", e.message);

    // Allowed by the operator: saved, listed, and called with the tenant's key.
    let (_mcp, mcp_port) = python_server(|p| {
        vec![
            script_path("mcp_server.py"),
            "http".into(),
            p.to_string(),
            "mcp-token".into(),
        ]
    });
    let f = fixture_with("[server]\ntool_sources_allow_private = true\n");
    f.engine
        .put_secret(&acme, "inventory-key", "k-acme")
        .unwrap();
    f.engine
        .put_secret(&acme, "ops-token", "mcp-token")
        .unwrap();
    let mut missing_secret = openapi_body(doc.clone(), port);
    missing_secret.auth_secret = "nope".into();
    let e = sources::save(&f.engine, &acme, "inv", &missing_secret, "ann", 1).unwrap_err();
    assert!(e.message.contains("no secret `nope`"), "{}", e.message);
    // YAML text is read as well as JSON.
    let yaml = serde_norway::to_string(&doc).unwrap();
    let saved = sources::save(
        &f.engine,
        &acme,
        "inv",
        &openapi_body(Value::String(yaml), port),
        "ann",
        2,
    )
    .unwrap();
    assert_eq!((saved.kind, saved.origin), ("openapi", "api"));
    let ops = SourceBody {
        kind: "mcp".into(),
        url: format!("http://127.0.0.1:{mcp_port}/mcp"),
        bearer_secret: "ops-token".into(),
        ..SourceBody::default()
    };
    sources::save(&f.engine, &acme, "ops", &ops, "ann", 3).unwrap();
    let names: Vec<String> = sources::list(&f.engine, &acme)
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["inv", "ops"]);
    // Only the listed operation is offered.
    let offered = sources::offered(&f.engine, &acme, "inv").unwrap();
    assert_eq!(offered.len(), 1);
    assert_eq!(offered[0].name, "inv__get_item");
    assert!(
        sources::offered(&f.engine, &acme, "ops")
            .unwrap()
            .iter()
            .any(|t| t.name == "ops__add")
    );

    let agent = AgentSpec {
        name: "clerk".into(),
        tools: vec!["openapi:inv".into(), "mcp:ops.add".into()],
        ..AgentSpec::default()
    };
    cairn_agent::registry::save(&f.engine, &acme, &agent, "ann", 4).unwrap();
    let script = Script::new(vec![
        call("inv__get_item", json!({"item_id": 7})),
        call("ops__add", json!({"a": 12, "b": 30})),
        answer("12 in stock"),
    ]);
    let rt = runtime(&f, &script);
    let (run, _) = start(
        &rt,
        "clerk",
        "stock of item 7",
        &caller("acme", "ann", Role::Member),
    );
    assert_eq!(run.state, RunState::Succeeded, "{run:?}");
    let outs = tool_steps(&f, &run);
    assert_eq!(outs[0].0, "done", "{outs:?}");
    assert!(outs[0].1.contains("\"stock\":12"), "{outs:?}");
    assert_eq!(outs[1], ("done".into(), "42".into()), "{outs:?}");

    // A source is named by its kind: `mcp:inv` is not the OpenAPI source `inv`.
    let wrong = AgentSpec {
        name: "confused".into(),
        tools: vec!["mcp:inv".into()],
        ..AgentSpec::default()
    };
    let e = cairn_agent::registry::save(&f.engine, &acme, &wrong, "ann", 5).unwrap_err();
    assert!(e.message.contains("name it `openapi:inv`"), "{}", e.message);

    // Globex has neither source: it cannot save an agent naming them, nor see them.
    let globex = TenantId::new("globex");
    let e = cairn_agent::registry::save(&f.engine, &globex, &agent, "gus", 5).unwrap_err();
    assert!(e.message.contains("no tool source `inv`"), "{}", e.message);
    assert!(sources::list(&f.engine, &globex).unwrap().is_empty());
    assert_eq!(
        sources::offered(&f.engine, &globex, "inv")
            .unwrap_err()
            .code,
        ErrorCode::NotFound
    );
    sources::delete(&f.engine, &acme, "inv").unwrap();
    assert_eq!(
        sources::delete(&f.engine, &acme, "inv").unwrap_err().code,
        ErrorCode::NotFound
    );
}
