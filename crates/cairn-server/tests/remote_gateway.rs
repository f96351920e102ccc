//! The gateway around remote chat models: tools and JSON schemas passed through, per-tenant
//! allow-lists and budgets, the exact cache, per-model and per-route queues, and models
//! and routes a tenant adds at run time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use support::*;
use tower::ServiceExt;

#[tokio::test(flavor = "multi_thread")]
async fn tools_pass_through_to_a_remote_model_and_calls_come_back_in_openai_shape() {
    let dir = tempfile::tempdir().unwrap();
    let call = |piece: Value| json!({"choices": [{"index": 0, "delta": {"tool_calls": [piece]}, "finish_reason": null}]});
    let calls = vec![
        call(
            json!({"index": 0, "id": "call_9", "type": "function", "function": {"name": "get_weather", "arguments": ""}}),
        ),
        call(json!({"index": 0, "function": {"arguments": "{\"city\": "}})),
        call(json!({"index": 0, "function": {"arguments": "\"Paris\"}"}})),
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
    ];
    let (base, seen) = scripted(vec![
        calls.clone(),
        text_reply("It is sunny in Paris."),
        calls,
    ]);
    let app = remote_app(dir.path(), &base);
    let tools = json!([{"type": "function", "function": {"name": "get_weather",
        "description": "Current weather", "parameters": {"type": "object",
        "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]);
    let ask =
        json!({"role": "user", "content": "Weather in Paris? Then mail jane.roe@example.com"});

    let (s, b) = post_chat(
        &app,
        json!({"model": "upstream-llm", "tools": tools, "messages": [ask]}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let body: Value = serde_json::from_slice(&b).unwrap();
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{body}");
    let tc = &choice["message"]["tool_calls"][0];
    assert_eq!(
        (tc["id"].as_str(), tc["type"].as_str()),
        (Some("call_9"), Some("function"))
    );
    assert_eq!(tc["function"]["name"], "get_weather");
    let args: Value = serde_json::from_str(tc["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"city": "Paris"}));

    // The result goes back as a tool message; the provider sees OpenAI's own shapes.
    let turn = json!({"model": "upstream-llm", "tools": tools, "messages": [ask,
        {"role": "assistant", "content": null, "tool_calls": [tc]},
        {"role": "tool", "tool_call_id": "call_9", "content": "sunny, 21 C"}]});
    let (s, b) = post_chat(&app, turn).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let body: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "It is sunny in Paris."
    );

    // Streamed: the call arrives as one tool_calls delta, then finish_reason.
    let (s, b) = post_chat(
        &app,
        json!({"model": "upstream-llm", "stream": true, "tools": tools, "messages": [ask]}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let text = String::from_utf8(b).unwrap();
    let chunks: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect();
    assert!(
        chunks.iter().any(
            |c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["name"] == "get_weather"
        ),
        "{text}"
    );
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "tool_calls"),
        "{text}"
    );

    let seen = seen.lock().unwrap();
    let first = &seen[0].1;
    assert_eq!(first["tools"][0]["function"]["name"], "get_weather");
    assert_eq!(
        first["messages"][0]["role"], "user",
        "no tool prompt injected: {first}"
    );
    assert!(!first.to_string().contains("jane.roe"), "redacted: {first}");
    let second = &seen[1].1;
    assert_eq!(
        second["messages"][1]["tool_calls"][0]["id"], "call_9",
        "{second}"
    );
    assert_eq!(second["messages"][2]["role"], "tool");
    assert_eq!(second["messages"][2]["tool_call_id"], "call_9");
    assert_eq!(second["messages"][2]["content"], "sunny, 21 C");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_remote_json_answer_is_checked_against_the_schema_and_repaired_once() {
    let dir = tempfile::tempdir().unwrap();
    let (base, seen) = scripted(vec![
        text_reply("{\"age\": \"old\"}"),
        text_reply("{\"age\": 42}"),
        text_reply("not json"),
        text_reply("{\"age\": -1.5}"),
        text_reply("{\"age\": 7}"),
    ]);
    let app = remote_app(dir.path(), &base);
    let format = json!({"type": "json_schema", "json_schema": {"name": "person", "strict": true,
        "schema": {"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"]}}});
    let req = |stream: bool| {
        json!({"model": "upstream-llm", "stream": stream, "response_format": format,
        "messages": [{"role": "user", "content": "How old?"}]})
    };

    let (s, b) = post_chat(&app, req(false)).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let body: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "{\"age\": 42}");
    assert_eq!(
        body["usage"]["completion_tokens"], 10,
        "both calls are counted"
    );

    // Wrong twice: an error, never an invalid body.
    let (s, b) = post_chat(&app, req(false)).await;
    assert_eq!(
        s,
        StatusCode::BAD_GATEWAY,
        "{}",
        String::from_utf8_lossy(&b)
    );
    let e: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(e["error"]["code"], "upstream_error");

    // Streamed: checked first, then sent.
    let (s, b) = post_chat(&app, req(true)).await;
    assert_eq!(s, StatusCode::OK);
    let text = String::from_utf8(b).unwrap();
    assert!(text.contains("{\\\"age\\\": 7}"), "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"));

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 5);
    assert_eq!(seen[0].1["response_format"]["type"], "json_schema");
    let repair = seen[1].1["messages"].as_array().unwrap();
    assert_eq!(
        repair.len(),
        3,
        "the question, the bad reply, what is wrong with it"
    );
    assert!(
        repair[2]["content"]
            .as_str()
            .unwrap()
            .contains("does not match"),
        "{repair:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenants_allow_list_decides_which_models_its_callers_see_and_use() {
    let dir = tempfile::tempdir().unwrap();
    let (base, seen) = scripted(vec![text_reply("hello")]);
    let app = remote_app(dir.path(), &base);
    let put = |body: Value| {
        Request::builder()
            .method("PUT")
            .uri("/api/v1/tenant/settings")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let res = app
        .clone()
        .oneshot(put(json!({"models": {"allow": "upstream-llm"}})))
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::BAD_REQUEST,
        "a malformed allow-list is refused"
    );
    let res = app
        .clone()
        .oneshot(put(
            json!({"models": {"allow": ["upstream-llm", "cairn-rag:*"]}}),
        ))
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());

    let (_, models) = send(&app, "GET", "/v1/models", None).await;
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["upstream-llm"],
        "only what the tenant allows: {models}"
    );

    let chat =
        |model: &str| json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    let (s, b) = post_chat(&app, chat("qwen2.5-coder-1.5b-instruct")).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{}", String::from_utf8_lossy(&b));
    let e: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(
        (e["error"]["code"].as_str(), e["error"]["param"].as_str()),
        (Some("forbidden"), Some("model"))
    );
    let (s, _) = post_chat(&app, chat("upstream-llm")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(seen.lock().unwrap().len(), 1);
    let rerank = Request::builder()
        .method("POST")
        .uri("/v1/rerank")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"model": "maxsim", "query": "q", "documents": ["a"]}).to_string(),
        ))
        .unwrap();
    assert_eq!(
        app.clone().oneshot(rerank).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_budget_in_dollars_stops_the_key_once_spent() {
    let dir = tempfile::tempdir().unwrap();
    let (base, seen) = scripted(vec![text_reply("one"), text_reply("two")]);
    let toml = format!(
        "data_dir = \"{}\"\n[auth]\nmode = \"off\"\n[limits]\nkey_daily_cost_usd = 0.00005\n\
         [[models.remote]]\nname = \"upstream-llm\"\nbase_url = \"{base}\"\n\
         input_price_per_mtok = 2.0\noutput_price_per_mtok = 10.0\n",
        dir.path().join("data").display()
    );
    let app = app_from(&toml);
    let chat = json!({"model": "upstream-llm", "messages": [{"role": "user", "content": "hi"}]});
    // 10 input tokens at $2 and 5 output tokens at $10 per million: $0.00007, over the
    // $0.00005 budget, which is checked before each call.
    let (s, _) = post_chat(&app, chat.clone()).await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = post_chat(&app, chat).await;
    assert_eq!(
        s,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        String::from_utf8_lossy(&b)
    );
    let e: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(e["error"]["code"], "quota_exceeded");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("daily budget"),
        "{e}"
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "the refused call never reached the provider"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_exact_cache_answers_a_repeated_deterministic_chat_without_the_provider() {
    let dir = tempfile::tempdir().unwrap();
    let (base, seen) = scripted(vec![text_reply("cached words"), text_reply("sampled")]);
    let toml = format!(
        "data_dir = \"{}\"\n[auth]\nmode = \"off\"\n[cache]\nexact = true\n\
         [[models.remote]]\nname = \"upstream-llm\"\nbase_url = \"{base}\"\n",
        dir.path().join("data").display()
    );
    let app = app_from(&toml);
    let req = |stream: bool, temperature: f64| {
        json!({"model": "upstream-llm", "stream": stream,
        "temperature": temperature, "messages": [{"role": "user", "content": "hi"}]})
    };

    // Computed streamed first: the whole completion is kept all the same.
    let (s, b) = post_chat(&app, req(true, 0.0)).await;
    assert_eq!(s, StatusCode::OK);
    let streamed = String::from_utf8(b).unwrap();
    assert!(
        streamed.contains("cached words") && streamed.contains("\"hit\":null"),
        "{streamed}"
    );
    let first_id = streamed
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .and_then(|d| serde_json::from_str::<Value>(d).ok())
        .map(|c| c["id"].clone())
        .unwrap();
    let (_, b) = post_chat(&app, req(false, 0.0)).await;
    let again: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(again["cairn"]["cache"]["hit"], "exact", "{again}");
    assert_eq!(again["cairn"]["cache"]["answer_id"], first_id);
    assert_eq!(again["choices"][0]["message"]["content"], "cached words");
    // Streamed, the same answer comes back as chunks.
    let (s, b) = post_chat(&app, req(true, 0.0)).await;
    assert_eq!(s, StatusCode::OK);
    let text = String::from_utf8(b).unwrap();
    assert!(
        text.contains("cached words") && text.contains("\"hit\":\"exact\""),
        "{text}"
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "one provider call for three answers"
    );
    // Sampling without a seed is never cached.
    let (_, b) = post_chat(&app, req(false, 0.9)).await;
    let sampled: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(sampled["choices"][0]["message"]["content"], "sampled");
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_remote_model_has_its_own_fair_queue_bounded_by_its_max_concurrent() {
    let dir = tempfile::tempdir().unwrap();
    let (base, seen) = upstream();
    let toml = format!(
        "data_dir = \"{}\"\n[auth]\nmode = \"off\"\n[models]\nmax_queued = 0\n\
         [[models.remote]]\nname = \"upstream-llm\"\nbase_url = \"{base}\"\nmax_concurrent = 1\n",
        dir.path().join("data").display()
    );
    let app = app_from(&toml);
    // The upstream takes ~80 ms per answer: the second request finds the one slot
    // taken and no room to wait.
    let (a, b) = tokio::join!(
        app.clone().oneshot(chat(false)),
        app.clone().oneshot(chat(false))
    );
    let mut statuses = [a.unwrap(), b.unwrap()].map(|r| {
        let retry = r.headers().get(header::RETRY_AFTER).is_some();
        (r.status(), retry)
    });
    statuses.sort_by_key(|(s, _)| s.as_u16());
    assert_eq!(statuses[0], (StatusCode::OK, false));
    assert_eq!(
        statuses[1],
        (StatusCode::SERVICE_UNAVAILABLE, true),
        "overloaded, with Retry-After"
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
    let res = app
        .clone()
        .oneshot(
            Request::builder()
                .uri("/readyz")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let ready: Value = serde_json::from_slice(
        &axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap(),
    )
    .unwrap();
    let queue = ready["generation"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["model"] == "upstream-llm")
        .unwrap_or_else(|| panic!("{ready}"))
        .clone();
    assert_eq!(queue["max_concurrent"], 1, "{queue}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_points_its_roles_at_its_own_model_through_its_settings() {
    let dir = tempfile::tempdir().unwrap();
    let (base, _) = scripted(vec![]);
    let toml = format!(
        "data_dir = \"{}\"\n[auth]\nmode = \"off\"\n",
        dir.path().join("data").display()
    );
    let (app, engine) = app_with_engine(&toml);
    let file_generator = engine.config().generator.clone();
    let roles = |listed: &Value| listed["roles"].clone();
    let (_, listed) = send(&app, "GET", "/api/v1/models", None).await;
    assert_eq!(roles(&listed)["generator"], file_generator.as_str());

    let settings = |generator: Value| {
        json!({"models": {"remote": [{"name": "our-vllm", "base_url": base}],
            "generator": generator, "judge": "our-vllm"}})
    };
    // A role naming nothing in the registry, or a file on disk, is refused.
    for bad in ["nowhere", "/srv/models/other.gguf"] {
        let (s, e) = send(
            &app,
            "PUT",
            "/api/v1/tenant/settings",
            Some(settings(json!(bad))),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
        assert!(e.to_string().contains("models.generator"), "{e}");
    }
    let (s, e) = send(
        &app,
        "PUT",
        "/api/v1/tenant/settings",
        Some(settings(json!("our-vllm"))),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{e}");
    let (_, listed) = send(&app, "GET", "/api/v1/models", None).await;
    assert_eq!(
        roles(&listed),
        json!({"generator": "our-vllm", "judge": "our-vllm", "rewriter": "our-vllm"})
    );
    // While a role names it, the model cannot be removed.
    let (s, e) = send(&app, "DELETE", "/api/v1/models/our-vllm", None).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert!(e.to_string().contains("models.generator"), "{e}");
    // Another tenant keeps the file's roles.
    let other = cairn_types::TenantId::new("other");
    assert_eq!(
        engine
            .tenant_role_model(&other, cairn_engine::ModelRole::Generator)
            .unwrap(),
        file_generator
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_adds_a_model_and_a_route_at_run_time_and_removes_them() {
    let dir = tempfile::tempdir().unwrap();
    let (file_base, _) = scripted(vec![]);
    let (base, seen) = scripted(vec![
        text_reply("from the tenant's model"),
        text_reply("via the route"),
    ]);
    let toml = format!(
        "data_dir = \"{}\"\n[auth]\nmode = \"off\"\n\
         [[models.remote]]\nname = \"upstream-llm\"\nbase_url = \"{file_base}\"\n",
        dir.path().join("data").display()
    );
    let (app, engine) = app_with_engine(&toml);
    let chat =
        |model: &str| json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});

    // Unknown before it is added.
    let (s, _) = post_chat(&app, chat("my-llm")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Bad entries are refused with the key at fault, and nothing is stored.
    let (s, e) = send(
        &app,
        "PUT",
        "/api/v1/models/my-llm",
        Some(json!({"base_url": "ftp://x"})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("base_url"),
        "{e}"
    );
    let (s, e) = send(
        &app,
        "PUT",
        "/api/v1/models/my-llm",
        Some(json!({"base_url": base, "colour": "red"})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let (s, e) = send(
        &app,
        "PUT",
        "/api/v1/models/upstream-llm",
        Some(json!({"base_url": base})),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "the file's names are not the tenant's: {e}"
    );

    // Added: usable at once, listed, priced and queued as its own.
    let (s, created) = send(
        &app,
        "PUT",
        "/api/v1/models/my-llm",
        Some(json!({"base_url": base, "model": "served-mine", "input_price_per_mtok": 1.0})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let (s, b) = post_chat(&app, chat("my-llm")).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    assert!(String::from_utf8_lossy(&b).contains("from the tenant's model"));
    assert_eq!(seen.lock().unwrap()[0].1["model"], "served-mine");

    // A route of the tenant's over its own model and the file's.
    let (s, e) = send(
        &app,
        "PUT",
        "/api/v1/models/mine-first",
        Some(json!({"strategy": "fallback", "targets": ["my-llm", "upstream-llm"]})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    let (s, b) = post_chat(&app, chat("mine-first")).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    assert!(String::from_utf8_lossy(&b).contains("via the route"));

    let (_, listed) = send(&app, "GET", "/api/v1/models", None).await;
    let row = |name: &str| {
        listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(
        (
            row("my-llm")["kind"].as_str(),
            row("my-llm")["source"].as_str()
        ),
        (Some("remote"), Some("tenant"))
    );
    assert_eq!(row("mine-first")["kind"], "route");
    assert_eq!(row("upstream-llm")["source"], "config");
    assert_eq!(
        row("my-llm")["health"],
        json!({"breaker": "closed", "in_flight": 0})
    );

    // A tenant's own model that fails: its breaker opens, and the tenant sees it.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/v1", closed.local_addr().unwrap());
    drop(closed);
    let (s, e) = send(
        &app,
        "PUT",
        "/api/v1/models/broken",
        Some(json!({"base_url": dead, "max_retries": 0})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    for _ in 0..5 {
        let (s, _) = post_chat(&app, chat("broken")).await;
        assert!(s.is_server_error(), "{s}");
    }
    let (_, listed) = send(&app, "GET", "/api/v1/models", None).await;
    let broken = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "broken")
        .cloned()
        .unwrap();
    assert_eq!(broken["health"]["breaker"], "open", "{listed}");
    assert_eq!(row("upstream-llm")["health"]["breaker"], "closed");
    let (s, _) = send(&app, "DELETE", "/api/v1/models/broken", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, openai) = send(&app, "GET", "/v1/models", None).await;
    assert!(openai.to_string().contains("\"mine-first\""), "{openai}");

    // Another tenant's registry does not have them.
    let other = engine
        .registry(&cairn_types::TenantId::new("other"))
        .unwrap();
    assert!(other.is_local("my-llm") && other.is_local("mine-first"));

    // The route still names the model: it cannot go first.
    let (s, e) = send(&app, "DELETE", "/api/v1/models/my-llm", None).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("my-llm"),
        "{e}"
    );
    let (s, _) = send(&app, "DELETE", "/api/v1/models/mine-first", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = send(&app, "DELETE", "/api/v1/models/my-llm", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = send(&app, "DELETE", "/api/v1/models/my-llm", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = send(&app, "DELETE", "/api/v1/models/upstream-llm", None).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = post_chat(&app, chat("my-llm")).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "gone without a restart");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_route_queues_callers_while_its_targets_are_at_their_limits() {
    let dir = tempfile::tempdir().unwrap();
    let (base, seen) = upstream();
    let toml = format!(
        "data_dir = \"{}\"\n[auth]\nmode = \"off\"\n[models]\nmax_queued = 4\n\
         [[models.remote]]\nname = \"upstream-llm\"\nbase_url = \"{base}\"\nmax_concurrent = 1\n\
         [[models.routes]]\nname = \"r\"\nstrategy = \"fallback\"\ntargets = [\"upstream-llm\"]\n",
        dir.path().join("data").display()
    );
    let app = app_from(&toml);
    let body = json!({"model": "r", "messages": [{"role": "user", "content": "hello"}]});
    // The upstream takes ~80 ms; the route's one slot (its target's max_concurrent) is
    // taken by the first request, so the second waits in the route's queue instead of
    // finding every target full.
    let (a, b) = tokio::join!(post_chat(&app, body.clone()), post_chat(&app, body));
    assert_eq!(a.0, StatusCode::OK, "{}", String::from_utf8_lossy(&a.1));
    assert_eq!(b.0, StatusCode::OK, "{}", String::from_utf8_lossy(&b.1));
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn routes_that_share_a_target_wait_for_its_slot_instead_of_failing() {
    let dir = tempfile::tempdir().unwrap();
    let (base, seen) = upstream();
    let toml = format!(
        "data_dir = \"{}\"\n[auth]\nmode = \"off\"\n\
         [[models.remote]]\nname = \"upstream-llm\"\nbase_url = \"{base}\"\nmax_concurrent = 1\n\
         [[models.routes]]\nname = \"r1\"\nstrategy = \"fallback\"\ntargets = [\"upstream-llm\"]\n\
         [[models.routes]]\nname = \"r2\"\nstrategy = \"fallback\"\ntargets = [\"upstream-llm\"]\n",
        dir.path().join("data").display()
    );
    let app = app_from(&toml);
    let body =
        |model: &str| json!({"model": model, "messages": [{"role": "user", "content": "hello"}]});
    // Each route's queue admits one request, so both reach the target at once; the one
    // that finds its slot taken waits for it.
    let (a, b, c) = tokio::join!(
        post_chat(&app, body("r1")),
        post_chat(&app, body("r2")),
        post_chat(&app, body("upstream-llm"))
    );
    for r in [a, b, c] {
        assert_eq!(r.0, StatusCode::OK, "{}", String::from_utf8_lossy(&r.1));
    }
    assert_eq!(seen.lock().unwrap().len(), 3);
}
