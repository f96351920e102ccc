//! Stored eval runs over the API: listed, read as JSON or as a report page that can run
//! nothing, compared.

use super::*;

fn stored(id: &str, mrr: f64) -> cairn_store::EvalRun {
    cairn_store::EvalRun {
        tenant: cairn_types::TenantId::new("default"),
        id: id.into(),
        kind: "retrieval".into(),
        label: format!("<b>{id}</b>"),
        dataset: "dev.jsonl".into(),
        dataset_hash: "aa".into(),
        config: json!({"retrieval": {"mode": "hybrid"}}),
        summary: json!([]),
        results: json!([
            {"config": "hybrid", "id": "q1", "kind": "fact", "ms": 5.0,
             "metrics": {"recall_5": 1.0, "mrr_10": mrr}},
            {"config": "hybrid", "id": "q2", "kind": "fact", "ms": 6.0,
             "metrics": {"recall_5": 0.0, "mrr_10": 0.0}}
        ]),
        created_at: 1_000,
    }
}

#[tokio::test]
async fn eval_runs_are_listed_read_reported_and_compared() {
    let dir = tempfile::tempdir().unwrap();
    let (app, engine) = app(dir.path(), "");
    // The tenant row exists once anything was stored for it.
    let (s, _, _) = send(
        &app,
        upload_req("kb", "deadlocks.md", DEADLOCK.as_bytes(), None),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    engine.store().put_eval_run(&stored("r1", 0.5)).unwrap();
    engine.store().put_eval_run(&stored("r2", 1.0)).unwrap();
    let (s, _, b) = send(&app, get("/api/v1/eval-runs")).await;
    assert_eq!(s, StatusCode::OK);
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 2, "{v}");
    let (s, h, b) = send(&app, get("/api/v1/eval-runs/r1?format=html")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    let page = String::from_utf8_lossy(&b);
    assert!(page.contains("&lt;b&gt;r1&lt;/b&gt;") && !page.contains("<b>r1"));
    let (s, _, b) = send(&app, get("/api/v1/eval-runs/r1/compare/r2")).await;
    assert_eq!(s, StatusCode::OK);
    let c: Value = serde_json::from_slice(&b).unwrap();
    let mrr = c["deltas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["metric"] == "mrr_10")
        .unwrap();
    assert_eq!(mrr["delta"], 0.25, "{c}");
    let (s, h, b) = send(&app, get("/api/v1/eval-runs/r1?format=pdf")).await;
    envelope(s, &h, &b, StatusCode::BAD_REQUEST, "invalid_input");
    let (s, h, b) = send(&app, get("/api/v1/eval-runs/nope/compare/r2")).await;
    envelope(s, &h, &b, StatusCode::NOT_FOUND, "not_found");
}
