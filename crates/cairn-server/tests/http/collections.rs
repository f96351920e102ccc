//! Answers over several collections: assistants saved over several, searches naming
//! several, and files attached to a conversation (its private collection).

use super::*;

const OFFICE: &str = "# Lisbon office\n\nThe Lisbon office opens at 08:30 on weekdays; \
visitors sign in at the front desk on the second floor.";

const TRIP: &str = "# Offsite\n\nThe spring offsite is booked in Porto at the Hotel Infante \
for the 14th of March; the agenda follows next week.";

fn body_of(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(b)))
}

fn collections_of(v: &Value, list: &str) -> Vec<String> {
    v[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list}: {v}"))
        .iter()
        .map(|h| h["collection"].as_str().unwrap_or("").to_owned())
        .collect()
}

fn attach_req(conversation: &str, name: &str, content: &[u8]) -> Request<Body> {
    let (ct, body) = multipart(name, content, &[]);
    Request::builder()
        .method("POST")
        .uri(format!("/api/v1/conversations/{conversation}/attachments"))
        .header(header::CONTENT_TYPE, ct)
        .body(Body::from(body))
        .unwrap()
}

#[tokio::test]
async fn assistants_and_searches_span_several_collections() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = app(dir.path(), "");
    for (coll, name, text) in [
        ("kb", "deadlocks.md", DEADLOCK),
        ("office", "lisbon.md", OFFICE),
    ] {
        let (s, _, b) = send(&app, upload_req(coll, name, text.as_bytes(), None)).await;
        assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b));
    }
    // One search over both: each hit names its collection, the best from either.
    for (query, best) in [
        ("When does the Lisbon office open for visitors?", "office"),
        ("deadlock_detected SQLSTATE 40P01", "kb"),
    ] {
        let body = json!({"collection": "kb", "collections": ["office"], "query": query});
        let (s, _, b) = send(&app, json_req("POST", "/api/v1/search", &body.to_string())).await;
        assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
        let found = collections_of(&body_of(&b), "hits");
        assert_eq!(
            found.first().map(String::as_str),
            Some(best),
            "{query}: {found:?}"
        );
        assert!(
            found.contains(&"kb".into()) && found.contains(&"office".into()),
            "{found:?}"
        );
    }
    // An assistant over both.
    let bot = json!({"name": "Everything", "collections": ["kb", "office"]});
    let (s, _, b) = send(
        &app,
        json_req("PUT", "/api/v1/assistants/all", &bot.to_string()),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let saved = body_of(&b);
    assert_eq!(saved["collection"], "kb", "{saved}");
    assert_eq!(saved["collections"], json!(["office"]), "{saved}");
    let ask = json!({"assistant": "all", "collection": "kb",
                     "question": "When does the Lisbon office open?"});
    let (s, _, b) = send(&app, json_req("POST", "/api/v1/ask", &ask.to_string())).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let answer = body_of(&b);
    assert!(
        collections_of(&answer, "sources").contains(&"office".into()),
        "{answer}"
    );
    // Refused: no collection, too many, one that does not exist, an attachment one.
    let nine: Vec<String> = (0..9).map(|i| format!("c{i}")).collect();
    for (body, want) in [
        (json!({"name": "x"}), ("invalid_input", "collections")),
        (
            json!({"name": "x", "collections": nine}),
            ("invalid_input", "collections"),
        ),
        (
            json!({"name": "x", "collection": "kb", "collections": ["nope"]}),
            ("not_found", "collections"),
        ),
        (
            json!({"name": "x", "collections": ["conv-0123"]}),
            ("invalid_input", "collections"),
        ),
    ] {
        let (s, _, b) = send(
            &app,
            json_req("PUT", "/api/v1/assistants/x", &body.to_string()),
        )
        .await;
        assert!(s.is_client_error(), "{body}: {s}");
        let e = body_of(&b);
        assert_eq!(
            (e["error"]["code"].as_str(), e["error"]["param"].as_str()),
            (Some(want.0), Some(want.1)),
            "{e}"
        );
    }
    // Deleting a further collection takes it off the assistant.
    let (s, _, _) = send(&app, json_req("DELETE", "/api/v1/collections/office", "")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, _, b) = send(&app, get("/api/v1/assistants/all")).await;
    assert_eq!(body_of(&b)["collections"], json!([]));
}

#[tokio::test]
async fn files_attached_to_a_conversation_are_searched_in_it_and_go_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let (app, engine) = app(dir.path(), "");
    let (s, _, _) = send(
        &app,
        upload_req("kb", "deadlocks.md", DEADLOCK.as_bytes(), None),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let new = json!({"collection": "kb", "title": "planning"});
    let (s, _, b) = send(
        &app,
        json_req("POST", "/api/v1/conversations", &new.to_string()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b));
    let conv = body_of(&b)["id"].as_str().unwrap().to_owned();
    let files = format!("/api/v1/conversations/{conv}/attachments");
    let (s, _, b) = send(&app, attach_req(&conv, "offsite.md", TRIP.as_bytes())).await;
    assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b));
    let doc = body_of(&b);
    let private = doc["collection"].as_str().unwrap().to_owned();
    assert!(private.starts_with("conv-"), "{doc}");
    assert_eq!(doc["acl"]["users"], json!(["operator"]), "{doc}");
    let (_, _, b) = send(&app, get(&files)).await;
    let listed = body_of(&b);
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "{listed}");
    // A question in the conversation finds the file; the same question outside does not.
    let q = "Where is the spring offsite booked?";
    let ask = json!({"collection": "kb", "conversation": conv, "question": q});
    let (s, _, b) = send(&app, json_req("POST", "/api/v1/ask", &ask.to_string())).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let answer = body_of(&b);
    assert!(
        collections_of(&answer, "sources").contains(&private),
        "{answer}"
    );
    let outside = json!({"collection": "kb", "question": q});
    let (_, _, b) = send(&app, json_req("POST", "/api/v1/ask", &outside.to_string())).await;
    assert!(!String::from_utf8_lossy(&b).contains("Infante"));
    // The private collection is not listed, not created by hand, not uploaded to.
    let (_, _, b) = send(&app, get("/api/v1/collections")).await;
    assert!(!String::from_utf8_lossy(&b).contains("conv-"));
    let make = json!({"id": "conv-mine"});
    let (s, h, b) = send(
        &app,
        json_req("POST", "/api/v1/collections", &make.to_string()),
    )
    .await;
    envelope(s, &h, &b, StatusCode::BAD_REQUEST, "invalid_input");
    let (s, h, b) = send(
        &app,
        upload_req(&private, "sneaky.md", DEADLOCK.as_bytes(), None),
    )
    .await;
    envelope(s, &h, &b, StatusCode::FORBIDDEN, "forbidden");
    // Not a file, an unknown conversation: clear errors, nothing stored.
    let (s, h, b) = send(&app, attach_req(&conv, "empty.md", b"")).await;
    assert!(s.is_client_error(), "{s}");
    envelope(s, &h, &b, s, body_of(&b)["error"]["code"].as_str().unwrap());
    let (s, h, b) = send(&app, attach_req("nope", "x.md", TRIP.as_bytes())).await;
    envelope(s, &h, &b, StatusCode::NOT_FOUND, "not_found");
    let (_, _, b) = send(&app, get(&files)).await;
    assert_eq!(body_of(&b)["data"].as_array().unwrap().len(), 1);
    // Removing the file; then deleting the conversation takes the collection with it.
    let id = doc["id"].as_str().unwrap();
    let (s, _, _) = send(&app, json_req("DELETE", &format!("{files}/{id}"), "")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, _, b) = send(&app, get(&files)).await;
    assert_eq!(body_of(&b)["data"], json!([]));
    let (s, _, _) = send(&app, attach_req(&conv, "offsite.md", TRIP.as_bytes())).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _, _) = send(
        &app,
        json_req("DELETE", &format!("/api/v1/conversations/{conv}"), ""),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let tenant = cairn_types::TenantId::new("default");
    assert!(
        engine
            .store()
            .get_collection(&tenant, &cairn_types::CollectionId::new(private))
            .is_err(),
        "the attachments went with the conversation"
    );
}
