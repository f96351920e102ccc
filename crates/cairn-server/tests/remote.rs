//! Remote models through the server: the provider (a loopback OpenAI-compatible upstream
//! that records what it receives) never sees the caller's PII, only placeholders; the
//! placeholders it answers with come back to the caller as the originals, split across
//! stream pieces or not; its API key comes from a sealed tenant secret.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use cairn_engine::Engine;
use cairn_server::{AppState, router};
use serde_json::{Value, json};
use std::net::TcpListener;
use std::sync::Arc;
use support::*;
use tower::ServiceExt;

/// A server with the remote model `upstream-llm` at `base`, its key sealed in the store,
/// and `guard` as the `[guard]` policy.
fn app(dir: &std::path::Path, base: &str, guard: &str) -> (axum::Router, Arc<Engine>) {
    let key_file = dir.join("master.key");
    std::fs::write(&key_file, cairn_auth::SecretBox::generate_key_text()).unwrap();
    let toml = format!(
        "data_dir = \"{}\"\n[auth]\nmode = \"off\"\nmaster_key_file = \"{}\"\n\
         [[models.remote]]\nname = \"upstream-llm\"\nbase_url = \"{base}\"\nmodel = \"served\"\n\
         api_key_secret = \"upstream-key\"\n[guard]\n{guard}\n",
        dir.join("data").display(),
        key_file.display()
    );
    let (config, _) = cairn_config::load_from_str(&toml, "test", &[]).unwrap();
    let engine = Arc::new(Engine::open(config).unwrap());
    let t = cairn_types::TenantId::new("default");
    engine
        .put_secret(&t, "upstream-key", "sk-provider-123")
        .unwrap();
    (router(AppState::new(engine.clone()).unwrap()), engine)
}

/// The content of a whole (non-streamed) answer.
async fn content(app: &axum::Router) -> String {
    let res = app.clone().oneshot(chat(false)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_output_policy_of_redact_keeps_pii_out_of_answers_too() {
    let dir = tempfile::tempdir().unwrap();
    let (base, _) = upstream();
    let (app, _) = app(dir.path(), &base, "pii_output = \"redact\"");
    let text = content(&app).await;
    assert!(!text.contains("jane.roe@example.com"), "{text}");
    assert!(text.starts_with("I will write to [EMAIL"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn remote_models_see_placeholders_and_callers_get_their_data_back() {
    let dir = tempfile::tempdir().unwrap();
    let (base, seen) = upstream();
    let (app, engine) = app(dir.path(), &base, "");
    let t = cairn_types::TenantId::new("default");
    // The store holds only ciphertext.
    let (sealed, _) = engine
        .store()
        .get_secret(&t, "upstream-key")
        .unwrap()
        .unwrap();
    assert!(!sealed.contains("sk-provider-123"));

    assert_eq!(
        content(&app).await,
        "I will write to jane.roe@example.com today."
    );

    let res = app.clone().oneshot(chat(true)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let text = String::from_utf8(
        axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    let streamed: String = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(
        streamed, "I will write to jane.roe@example.com today.",
        "{text}"
    );

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    for (auth, body) in seen.iter() {
        assert_eq!(auth, "Bearer sk-provider-123", "the sealed key is sent");
        let sent = body["messages"].to_string();
        assert!(
            !sent.contains("jane.roe@example.com") && !sent.contains("4111"),
            "{sent}"
        );
        assert!(
            sent.contains("[EMAIL_1]") && sent.contains("[CARD_1]"),
            "{sent}"
        );
        assert_eq!(body["model"], "served");
    }
    // The redactions are on the audit trail, without the values.
    let audit = engine.tenant_audit(&t, 100).unwrap();
    let redactions: Vec<_> = audit
        .iter()
        .filter(|r| r.action == "guardrail.redact")
        .collect();
    assert!(!redactions.is_empty());
    assert!(
        redactions
            .iter()
            .all(|r| !r.detail.to_string().contains("jane.roe"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_route_answers_from_its_first_healthy_target_and_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let (base, seen) = upstream();
    // A port nothing listens on: every call is refused at once.
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/v1", l.local_addr().unwrap())
    };
    let toml = format!(
        "data_dir = \"{}\"\n[auth]\nmode = \"off\"\n\
         [[models.remote]]\nname = \"down\"\nbase_url = \"{dead}\"\nmax_retries = 0\n\
         [[models.remote]]\nname = \"upstream-llm\"\nbase_url = \"{base}\"\nmodel = \"served\"\n\
         input_price_per_mtok = 2.0\noutput_price_per_mtok = 10.0\n\
         [[models.routes]]\nname = \"main\"\nstrategy = \"fallback\"\ntargets = [\"down\", \"upstream-llm\"]\n",
        dir.path().join("data").display()
    );
    let app = app_from(&toml);
    let get = |uri: &str| Request::builder().uri(uri).body(Body::empty()).unwrap();
    let json_of = |bytes: &[u8]| serde_json::from_slice::<Value>(bytes).unwrap();

    let mut req = chat(false);
    let body = json!({"model": "main", "messages": [{"role": "user", "content": "Hello"}]});
    *req.body_mut() = Body::from(body.to_string());
    let res = app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body = json_of(
        &axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap(),
    );
    assert_eq!(body["model"], "main");
    assert_eq!(body["cairn"]["model"], "upstream-llm", "{body}");
    assert!(
        body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .starts_with("I will write")
    );
    assert_eq!(seen.lock().unwrap().len(), 1);

    let res = app.clone().oneshot(get("/v1/models")).await.unwrap();
    let models = json_of(
        &axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap(),
    );
    assert!(
        models["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "main" && m["owned_by"] == "route"),
        "{models}"
    );

    let res = app.clone().oneshot(get("/readyz")).await.unwrap();
    let ready = json_of(
        &axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap(),
    );
    let down = ready["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == "down")
        .unwrap_or_else(|| panic!("{ready}"))
        .clone();
    assert_eq!(down["breaker"], "closed", "one failure does not open it");
    assert_eq!(down["in_flight"], 0);

    // The call is charged to the model that answered, at its own prices: 20 input
    // tokens at $2 and 6 output tokens at $10 per million.
    let res = app
        .clone()
        .oneshot(get("/api/v1/tenant/usage"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let usage = json_of(
        &axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap(),
    );
    let row = &usage["models"][0];
    assert_eq!(row["model"], "upstream-llm", "{usage}");
    assert_eq!(
        (
            row["requests"].as_i64(),
            row["input_tokens"].as_i64(),
            row["output_tokens"].as_i64()
        ),
        (Some(1), Some(20), Some(6))
    );
    assert!(
        (row["cost_usd"].as_f64().unwrap() - 100e-6).abs() < 1e-12,
        "{usage}"
    );
    assert!((usage["day"]["cost_usd"].as_f64().unwrap() - 100e-6).abs() < 1e-12);
    assert_eq!(usage["by_day"].as_array().unwrap().len(), 1);
    let res = app
        .clone()
        .oneshot(get("/api/v1/tenant/usage?days=0"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // An unknown model is still a 404 naming it.
    let mut req = chat(false);
    let body = json!({"model": "nope", "messages": [{"role": "user", "content": "Hello"}]});
    *req.body_mut() = Body::from(body.to_string());
    let res = app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}
