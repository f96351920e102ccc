//! Stored evaluation runs: kept whole per tenant (JSON columns round-trip), listed
//! newest first without their per-question results, not found across tenants.

use super::support::{Fixture, t};
use cairn_store::{Error, EvalRun};
use serde_json::json;

fn run(tenant: &str, id: &str, at: i64) -> EvalRun {
    EvalRun {
        tenant: t(tenant),
        id: id.into(),
        kind: "retrieval".into(),
        label: format!("{id} label"),
        dataset: "eval/retrieval/pg-dev.jsonl".into(),
        dataset_hash: "9f86d081".into(),
        config: json!({"retrieval": {"mode": "hybrid", "rrf_k": 60.0}, "version": "0.1.0"}),
        summary: json!([{"config": "hybrid", "kind": "all", "mrr_10": 0.79}]),
        results: json!([{"config": "hybrid", "id": "q1", "metrics": {"mrr_10": 1.0}},
                        {"config": "hybrid", "id": "q2", "metrics": {"mrr_10": 0.5}}]),
        created_at: at,
    }
}

fn eval_runs_are_kept_whole_per_tenant(s: Fixture) {
    s.put_eval_run(&run("a", "r1", 10)).unwrap();
    s.put_eval_run(&run("a", "r2", 20)).unwrap();
    s.put_eval_run(&run("b", "r1", 30)).unwrap();
    assert_eq!(s.get_eval_run(&t("a"), "r2").unwrap(), run("a", "r2", 20));
    let listed = s.list_eval_runs(&t("a"), 10).unwrap();
    let ids: Vec<&str> = listed.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["r2", "r1"], "newest first");
    assert_eq!(listed[0].summary, run("a", "r2", 20).summary);
    assert_eq!(s.list_eval_runs(&t("a"), 1).unwrap().len(), 1);
    // The same id again is a conflict; another tenant's runs are not found.
    assert!(matches!(
        s.put_eval_run(&run("a", "r1", 40)),
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        s.get_eval_run(&t("b"), "r2"),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        s.delete_eval_run(&t("b"), "r2"),
        Err(Error::NotFound { .. })
    ));
    s.delete_eval_run(&t("a"), "r2").unwrap();
    assert_eq!(s.list_eval_runs(&t("a"), 10).unwrap().len(), 1);
    assert_eq!(s.list_eval_runs(&t("b"), 10).unwrap().len(), 1);
}
both!(eval_runs_are_kept_whole_per_tenant);
