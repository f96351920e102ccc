//! `/mcp` driven by the official MCP Python SDK (PyPI `mcp`, tests/python/mcp_client.py)
//! against a real `cairn serve`: tools listed and called (`list_collections`, `search`,
//! `ask`, `get_document`, and the configured agent `agent_keeper`), documents listed and read as resources, another tenant's key
//! seeing none of it, a connection without a key refused, and a `Host` header naming
//! another site refused (DNS-rebinding protection).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use common::server::Server;
use std::path::Path;
use std::process::Command;

#[test]
fn the_mcp_python_sdk_uses_tools_and_resources_under_the_callers_identity() {
    let home = tempfile::tempdir().unwrap();
    common::smollm_kb(
        home.path(),
        "[[agents]]\nname = \"keeper\"\ndescription = \"does sums\"\ntools = [\"calculator\"]\nmax_steps = 3\n",
    );
    let key = common::new_key(home.path(), "default", "owner", None);
    let other = common::new_key(home.path(), "globex", "owner", None);
    let server = Server::start(home.path());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/mcp_client.py");
    let out = Command::new(common::python("the mcp SDK"))
        .arg(&script)
        .args([&server.url, &key, &other])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!(
        "--- python stdout\n{stdout}--- python stderr\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the MCP client's checks failed");
    let seen: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(seen["server"], "cairn");
    assert_eq!(
        seen["tools"],
        serde_json::json!([
            "agent_keeper",
            "ask",
            "get_document",
            "list_collections",
            "search"
        ])
    );
    // The configured agent ran as the caller, through the agents route.
    let run = &seen["agent_run"];
    assert_eq!(run[0], "keeper", "{seen}");
    assert!(
        ["succeeded", "limit_reached"].contains(&run[1].as_str().unwrap()),
        "{seen}"
    );
    assert_eq!(run[2], serde_json::json!(["model"]), "{seen}");
    assert_eq!(seen["collections"], serde_json::json!(["kb"]));
    assert!(
        seen["search_top"].as_str().unwrap().contains("lighthouse"),
        "{seen}"
    );
    assert!(
        seen["ask_sources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s.as_str().unwrap().contains("Harbor Lights")),
        "the answer cites the harbor page: {seen}"
    );
    assert_eq!(seen["missing_collection_error"], true, "{seen}");
    assert_eq!(seen["bad_id_error"], true);
    let resources = seen["resources"].as_array().unwrap();
    assert_eq!(resources.len(), 1, "{seen}");
    assert!(
        resources[0][0]
            .as_str()
            .unwrap()
            .starts_with("cairn://documents/")
    );
    assert!(
        seen["resource_text"]
            .as_str()
            .unwrap()
            .contains("Vardøhavn")
    );
    assert_eq!(seen["resource_text"], seen["document_text"]);
    // The other tenant: its own (empty) world, and nothing of this one.
    assert_eq!(seen["other_collections"], serde_json::json!([]));
    assert_eq!(seen["other_search_error"], true, "{seen}");
    assert_eq!(seen["other_document_error"], true, "{seen}");
    assert_eq!(seen["other_resources"], serde_json::json!([]));
    assert_eq!(seen["other_read_refused"], true, "{seen}");
    assert_eq!(seen["anonymous_refused"], true, "{seen}");

    // DNS rebinding: a page on another site making the browser call this server sends
    // that site's name as Host; /mcp refuses it (the API routes do not serve browsers'
    // cross-site requests anyway).
    let port = server.url.rsplit(':').next().unwrap();
    let mut stream = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    let request = format!(
        "POST /mcp HTTP/1.1\r\nHost: attacker.example:{port}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
         MCP-Protocol-Version: 2025-11-25\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    use std::io::{Read, Write};
    stream.write_all(request.as_bytes()).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 403"), "{reply}");
}
