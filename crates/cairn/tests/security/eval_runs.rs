//! Stored eval runs are the tenant's and its auditors': another tenant finds none of
//! them (listed, read, compared), and roles without `audit:read` are refused.

use super::coverage::{Attacks, Kind};
use super::matrix::{Targets, forbidden, lacks, not_found};
use super::world::*;
use crate::common;

/// Stores an eval run of acme's `kb` through the CLI; returns its id.
fn acme_run(w: &World, label: &str) -> String {
    let h = w.home.path();
    let set = h.join("eval-dev.jsonl");
    std::fs::write(
        &set,
        "{\"id\": \"e1\", \"kind\": \"fact\", \"question\": \"What is the Zephyrine deployment codeword?\", \"pages\": [\"eng.md\"]}\n",
    )
    .unwrap();
    let out = common::cairn(
        h,
        &[
            "--tenant",
            "acme",
            "--json",
            "eval",
            "retrieval",
            set.to_str().unwrap(),
            "-c",
            "kb",
            "--configs",
            "lexical",
            "--label",
            label,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["run"].as_str().unwrap().to_owned()
}

pub(crate) fn eval_runs(a: &mut Attacks, w: &World, t: &Targets) {
    let s = a.s;
    let (one, two) = (acme_run(w, "one"), acme_run(w, "two"));
    let run = format!("/api/v1/eval-runs/{one}");
    let pair = format!("/api/v1/eval-runs/{one}/compare/{two}");
    // Acme's owner reads them, the report included.
    let listed = get(s, "/api/v1/eval-runs", &t.acme_owner);
    assert!(
        listed.text.contains(&one) && listed.text.contains(&two),
        "{}",
        listed.text
    );
    let report = get(s, &format!("{run}?format=html"), &t.acme_owner);
    assert_eq!(report.status, 200, "{}", report.text);
    assert!(report.text.starts_with("<!doctype html>") && !report.text.contains("<script"));
    let c = get(s, &pair, &t.acme_owner);
    assert_eq!(c.status, 200, "{}", c.text);
    assert!(
        c.body["deltas"].as_array().is_some_and(|d| !d.is_empty()),
        "{}",
        c.text
    );
    assert_eq!(
        get(s, &format!("{run}?format=pdf"), &t.acme_owner).status,
        400
    );

    // Without audit:read: a member, a viewer.
    for key in [&w.alice, &t.viewer] {
        a.run(
            Kind::WrongRole,
            "GET",
            "/api/v1/eval-runs",
            key,
            None,
            forbidden,
        );
        a.run(Kind::WrongRole, "GET", &run, key, None, forbidden);
        a.run(Kind::WrongRole, "GET", &pair, key, None, forbidden);
    }
    // Another tenant's owner: nothing listed, nothing found, the ids guessed or not.
    let g = &t.gx_owner;
    a.run(
        Kind::CrossTenant,
        "GET",
        "/api/v1/eval-runs",
        g,
        None,
        lacks(vec![one.clone(), two.clone(), "Zephyrine".into()]),
    );
    a.run(Kind::CrossTenant, "GET", &run, g, None, not_found);
    a.run(
        Kind::CrossTenant,
        "GET",
        &format!("{run}?format=html"),
        g,
        None,
        not_found,
    );
    a.run(Kind::CrossTenant, "GET", &pair, g, None, not_found);
}
