//! Agents and their runs: definitions and tool sources per tenant, runs claimed by one executor at a
//! time (even from several handles at once), saves guarded by the lease and the
//! `running` state (a cancel wins over a running executor), the step journal, approval
//! decisions in one transaction, tenant isolation, and erasure by owner.

use super::support::{Fixture, t};
use cairn_store::{AgentDefinition, AgentRun, AgentStep, Error, RunState, ToolSource};
use serde_json::json;
use std::collections::BTreeSet;

fn run(tenant: &str, id: &str, owner: &str, at: i64) -> AgentRun {
    AgentRun {
        tenant: t(tenant),
        id: id.into(),
        agent: "helper".into(),
        parent: None,
        owner: owner.into(),
        task: "compare two defaults".into(),
        state: RunState::Queued,
        context: json!({"principal": {"user": owner}}),
        output: None,
        reason: None,
        usage: json!({"steps": 0}),
        lease_owner: None,
        lease_until: 0,
        created_at: at,
        updated_at: at,
    }
}

fn step(kind: &str, status: &str, payload: serde_json::Value) -> AgentStep {
    AgentStep {
        seq: 0,
        kind: kind.into(),
        status: status.into(),
        payload,
        created_at: 5,
        updated_at: 5,
    }
}

fn conflict(e: Error) -> String {
    match e {
        Error::Conflict(m) => m,
        other => panic!("expected a conflict, got {other}"),
    }
}

fn definitions_are_per_tenant(s: Fixture) {
    let def = |tenant: &str, name: &str, at: i64| AgentDefinition {
        tenant: t(tenant),
        name: name.into(),
        spec: json!({"instructions": format!("{name} in {tenant}")}),
        updated_by: "user:ann".into(),
        created_at: at,
        updated_at: at,
    };
    s.put_agent(&def("a", "triage", 1)).unwrap();
    s.put_agent(&def("a", "analyst", 2)).unwrap();
    s.put_agent(&def("b", "triage", 3)).unwrap();
    // A second save keeps the first save's time.
    let again = s.put_agent(&def("a", "triage", 9)).unwrap();
    assert_eq!((again.created_at, again.updated_at), (1, 9));
    let names: Vec<String> = s
        .list_agents(&t("a"))
        .unwrap()
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(names, ["analyst", "triage"]);
    assert_eq!(
        s.get_agent(&t("b"), "triage").unwrap().spec["instructions"],
        "triage in b"
    );
    assert!(matches!(
        s.get_agent(&t("b"), "analyst"),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        s.delete_agent(&t("b"), "analyst"),
        Err(Error::NotFound { .. })
    ));
    s.delete_agent(&t("a"), "analyst").unwrap();
    assert_eq!(s.list_agents(&t("a")).unwrap().len(), 1);
}
both!(definitions_are_per_tenant);

fn tool_sources_are_per_tenant_and_apart_from_agents(s: Fixture) {
    let source = |tenant: &str, name: &str, at: i64| ToolSource {
        tenant: t(tenant),
        name: name.into(),
        spec: json!({"kind": "openapi", "base_url": format!("https://{tenant}.example")}),
        updated_by: "user:ann".into(),
        created_at: at,
        updated_at: at,
    };
    s.put_tool_source(&source("a", "billing", 1)).unwrap();
    s.put_tool_source(&source("b", "billing", 2)).unwrap();
    let again = s.put_tool_source(&source("a", "billing", 7)).unwrap();
    assert_eq!((again.created_at, again.updated_at), (1, 7));
    assert_eq!(
        s.get_tool_source(&t("b"), "billing").unwrap().spec["base_url"],
        "https://b.example"
    );
    // Agents and tool sources are separate names.
    assert!(s.list_agents(&t("a")).unwrap().is_empty());
    assert!(matches!(
        s.get_agent(&t("a"), "billing"),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        s.delete_tool_source(&t("c"), "billing"),
        Err(Error::NotFound { .. })
    ));
    s.delete_tool_source(&t("a"), "billing").unwrap();
    assert!(s.list_tool_sources(&t("a")).unwrap().is_empty());
    assert_eq!(s.list_tool_sources(&t("b")).unwrap().len(), 1);
}
both!(tool_sources_are_per_tenant_and_apart_from_agents);

fn a_run_is_claimed_once_and_saved_only_by_its_holder(s: Fixture) {
    s.create_agent_run(&run("a", "r1", "alice", 10)).unwrap();
    s.create_agent_run(&run("b", "r2", "bob", 11)).unwrap();
    assert!(matches!(
        s.create_agent_run(&run("a", "r1", "alice", 10)),
        Err(Error::Conflict(_))
    ));
    // Four handles claim at once: each run goes to exactly one.
    let handles: Vec<_> = (0..4).map(|_| s.another_handle()).collect();
    let claimed: Vec<(String, String)> = std::thread::scope(|scope| {
        let joins: Vec<_> = handles
            .iter()
            .enumerate()
            .map(|(i, h)| {
                scope.spawn(move || {
                    h.claim_agent_runs(&format!("node{i}"), &[], 20, 1_000, 10)
                        .unwrap()
                        .into_iter()
                        .map(|r| (r.id, r.lease_owner.unwrap()))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        joins.into_iter().flat_map(|j| j.join().unwrap()).collect()
    });
    let ids: BTreeSet<&str> = claimed.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(claimed.len(), 2, "{claimed:?}");
    assert_eq!(ids, BTreeSet::from(["r1", "r2"]));
    let holder = claimed.iter().find(|(id, _)| id == "r1").unwrap().1.clone();

    // Nothing left to claim while the lease holds.
    assert!(
        s.claim_agent_runs("late", &[], 21, 1_000, 10)
            .unwrap()
            .is_empty()
    );
    let mut r1 = s.get_agent_run(&t("a"), "r1").unwrap();
    assert_eq!(r1.state, RunState::Running);
    r1.usage = json!({"steps": 1});
    r1.updated_at = 30;
    s.save_agent_run(&r1, &holder).unwrap();
    let m = conflict(s.save_agent_run(&r1, "someone-else").unwrap_err());
    assert!(m.contains("not held by `someone-else`"), "{m}");
    assert!(s.renew_agent_run(&t("a"), "r1", &holder, 1_020).unwrap());
    assert!(
        !s.renew_agent_run(&t("a"), "r1", "someone-else", 9_999)
            .unwrap()
    );
    assert!(!s.renew_agent_run(&t("b"), "r1", &holder, 9_999).unwrap());

    // A dead holder's run is taken over; the old holder can no longer save.
    let taken = s
        .claim_agent_runs("node9", std::slice::from_ref(&holder), 31, 1_000, 10)
        .unwrap();
    // (One node may have claimed both runs: then both are taken over.)
    let r1_taken = taken.iter().find(|r| r.id == "r1").expect("r1 taken over");
    assert_eq!(r1_taken.usage, json!({"steps": 1}));
    assert_eq!(r1_taken.lease_owner.as_deref(), Some("node9"));
    assert!(s.save_agent_run(&r1, &holder).is_err());
    // So is one whose lease expired.
    let later = s.claim_agent_runs("node8", &[], 5_000, 1_000, 10).unwrap();
    assert_eq!(later.len(), 2);

    // A cancel wins: the executor's next save is refused and names the state.
    let cancelled = s
        .transition_agent_run(
            &t("a"),
            "r1",
            &[
                RunState::Queued,
                RunState::Running,
                RunState::WaitingApproval,
            ],
            RunState::Cancelled,
            Some("cancelled: by its caller"),
            None,
            6_000,
        )
        .unwrap();
    assert_eq!(cancelled.state, RunState::Cancelled);
    assert_eq!(cancelled.lease_owner, None);
    let mut r1 = s.get_agent_run(&t("a"), "r1").unwrap();
    r1.lease_owner = Some("node8".into());
    let m = conflict(s.save_agent_run(&r1, "node8").unwrap_err());
    assert!(m.contains("cancelled"), "{m}");
    let m = conflict(
        s.transition_agent_run(
            &t("a"),
            "r1",
            &[RunState::Running],
            RunState::Queued,
            None,
            None,
            7,
        )
        .unwrap_err(),
    );
    assert!(m.contains("is cancelled"), "{m}");
    // Another tenant's id is not found.
    assert!(matches!(
        s.get_agent_run(&t("b"), "r1"),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        s.transition_agent_run(
            &t("b"),
            "r1",
            &[RunState::Cancelled],
            RunState::Queued,
            None,
            None,
            7
        ),
        Err(Error::NotFound { .. })
    ));
}
both!(a_run_is_claimed_once_and_saved_only_by_its_holder);

fn the_journal_and_approvals(s: Fixture) {
    s.create_agent_run(&run("a", "r1", "alice", 10)).unwrap();
    let claimed = s.claim_agent_runs("node1", &[], 20, 60_000, 1).unwrap();
    assert_eq!(claimed.len(), 1);
    let one = s
        .append_agent_step(
            &t("a"),
            "r1",
            &step("model", "done", json!({"text": "plan"})),
        )
        .unwrap();
    let two = s
        .append_agent_step(
            &t("a"),
            "r1",
            &step("tool", "waiting_approval", json!({"name": "http_get"})),
        )
        .unwrap();
    assert_eq!((one, two), (1, 2));
    assert!(matches!(
        s.append_agent_step(&t("b"), "r1", &step("model", "done", json!({}))),
        Err(Error::NotFound { .. })
    ));
    // Not waiting yet: no decision.
    let m = conflict(
        s.decide_agent_approval(&t("a"), "r1", 2, true, "ann", 30)
            .unwrap_err(),
    );
    assert!(m.contains("not waiting for approval"), "{m}");
    let mut r = s.get_agent_run(&t("a"), "r1").unwrap();
    r.state = RunState::WaitingApproval;
    r.lease_owner = None;
    s.save_agent_run(&r, "node1").unwrap();
    // Only a step that waits can be decided.
    let m = conflict(
        s.decide_agent_approval(&t("a"), "r1", 1, true, "ann", 31)
            .unwrap_err(),
    );
    assert!(m.contains("step 1"), "{m}");
    let queued = s
        .decide_agent_approval(&t("a"), "r1", 2, false, "ann", 32)
        .unwrap();
    assert_eq!(queued.state, RunState::Queued);
    let steps = s.agent_steps(&t("a"), "r1").unwrap();
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[1].status, "denied");
    assert_eq!(steps[1].payload["decided_by"], "ann");
    assert_eq!(steps[1].payload["name"], "http_get");
    // Decided once.
    assert!(
        s.decide_agent_approval(&t("a"), "r1", 2, true, "ann", 33)
            .is_err()
    );
    s.update_agent_step(&t("a"), "r1", 1, "done", &json!({"text": "new"}), 34)
        .unwrap();
    assert_eq!(
        s.agent_steps(&t("a"), "r1").unwrap()[0].payload["text"],
        "new"
    );
    assert!(matches!(
        s.agent_steps(&t("b"), "r1"),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        s.update_agent_step(&t("a"), "r1", 9, "done", &json!({}), 35),
        Err(Error::NotFound { .. })
    ));
}
both!(the_journal_and_approvals);

fn runs_are_listed_per_owner_and_erased_with_them(s: Fixture) {
    for (i, owner) in ["alice", "bob", "alice"].iter().enumerate() {
        let at = i64::try_from(i).unwrap();
        s.create_agent_run(&run("a", &format!("r{i}"), owner, at))
            .unwrap();
    }
    s.append_agent_step(&t("a"), "r0", &step("model", "done", json!({})))
        .unwrap();
    let ids = |owner: Option<&str>| -> Vec<String> {
        s.list_agent_runs(&t("a"), owner, 10)
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect()
    };
    assert_eq!(ids(None), ["r2", "r1", "r0"]);
    assert_eq!(ids(Some("alice")), ["r2", "r0"]);
    assert!(s.list_agent_runs(&t("b"), None, 10).unwrap().is_empty());
    let report = s.erase_owner(&t("a"), "alice").unwrap();
    assert_eq!(report.agent_runs, 2);
    assert_eq!(ids(None), ["r1"]);
    let purge = s.purge_tenant(&t("a")).unwrap();
    assert_eq!(purge.agent_runs, 1);
}
both!(runs_are_listed_per_owner_and_erased_with_them);
