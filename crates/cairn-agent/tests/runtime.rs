//! The agent loop's logic, pinned with a scripted model (the real-model run is in the
//! server's tests and the benchmark): tool calls and answers, each limit, the loop
//! detector, approval and denial, resuming after a crash without repeating a call that
//! has side effects, cancellation, delegation with a shared budget, plan-and-execute
//! with a re-plan, per-tool roles, schema checks on remote calls, the text protocol,
//! screening of tool outputs, and who may see a run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cairn_agent::{AgentEvent, Caller, Runtime, StartRequest};
use cairn_auth::Role;
use cairn_store::{AgentRun, AgentStep, RunState};
use cairn_types::TenantId;
use common::*;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[test]
fn a_run_calls_tools_then_answers() {
    let f = fixture();
    let script = Script::new(vec![
        call("calculator", json!({"expression": "128 * 1024 / 8"})),
        answer("16384"),
    ]);
    let rt = runtime(&f, &script);
    let ann = caller("acme", "ann", Role::Member);
    let (run, events) = start(&rt, "calc", "What is 128 MB in 8 kB pages?", &ann);
    assert_eq!(run.state, RunState::Succeeded, "{run:?}");
    assert_eq!(run.output.as_deref(), Some("16384"));
    assert_eq!(
        names(&events),
        [
            "run_started",
            "step_started",
            "delta",
            "tool_call",
            "tool_result",
            "step_started",
            "delta",
            "final"
        ]
    );
    let journal = steps(&f, &run);
    assert_eq!(
        journal
            .iter()
            .map(|s| (s.kind.as_str(), s.status.as_str()))
            .collect::<Vec<_>>(),
        [("model", "done"), ("tool", "done"), ("model", "done")]
    );
    assert_eq!(journal[1].payload["output"], "128 * 1024 / 8 = 16384");
    // The second turn saw the first call's result.
    assert!(
        script
            .prompt(1)
            .contains("Result of calculator:\n128 * 1024 / 8 = 16384")
    );
    assert_eq!(run.usage["steps"], 2);
    assert_eq!(run.usage["tool_calls"], 1);
    assert_eq!(run.usage["prompt_tokens"], 200);
    assert!(run.usage["cost_usd"].as_f64().unwrap() > 0.0);
    assert_eq!(run.owner, "ann");
    assert_eq!(run.lease_owner, None);
    // Every call is audited.
    let audit = f.engine.tenant_audit(&TenantId::new("acme"), 10).unwrap();
    assert!(audit.iter().any(|a| a.action == "agents.tool_call"
        && a.target == "calculator"
        && a.actor == "user:ann"));
}

#[test]
fn each_limit_ends_the_run_with_its_reason_and_what_it_had() {
    let f = fixture();
    // max_steps = 4 for `calc`: four different calls, no answer; then one last turn
    // with the tools put away, which answers (the second time, it writes no answer).
    let mut replies: Vec<Reply> = (1..=4)
        .map(|i| call("calculator", json!({"expression": format!("{i} + 1")})))
        .collect();
    replies.push(answer("4, from 3 + 1"));
    let script = Script::new(replies);
    let mut calc = runtime(&f, &script);
    let ann = caller("acme", "ann", Role::Member);
    let (run, _) = start(&calc, "calc", "count", &ann);
    assert_eq!(run.state, RunState::LimitReached);
    // The fourth call is past max_tool_calls = 3, so tool calls run out first.
    assert!(
        run.reason
            .as_deref()
            .unwrap()
            .starts_with("max_tool_calls:"),
        "{:?}",
        run.reason
    );
    assert!(
        run.reason
            .as_deref()
            .unwrap()
            .ends_with("it answered from what it had")
    );
    assert_eq!(run.output.as_deref(), Some("4, from 3 + 1"));
    // The wrap-up turn offered no tools and showed what the calls found.
    assert!(
        script
            .prompt(4)
            .contains("- calculator {\"expression\":\"3 + 1\"}: 3 + 1 = 4"),
        "{}",
        script.prompt(4)
    );
    assert!(
        script
            .prompt(4)
            .contains("You cannot call tools any more (max_tool_calls)")
    );
    let mut replies: Vec<Reply> = (1..=4)
        .map(|i| call("calculator", json!({"expression": format!("{i} + 2")})))
        .collect();
    replies.push(call("calculator", json!({"expression": "9"})));
    let script = Script::new(replies);
    calc = runtime(&f, &script);
    let (run, _) = start(&calc, "calc", "count", &ann);
    let had = run.output.unwrap();
    assert!(
        had.contains("No final answer") && had.contains("3 + 2 = 5"),
        "{had}"
    );

    // Tokens: `boss` has 500; each scripted turn uses 110.
    let script = Script::new(
        (1..=9)
            .map(|i| call("calculator", json!({"expression": format!("{i} * 2")})))
            .collect(),
    );
    calc = runtime(&f, &script);
    let (run, _) = start(&calc, "boss", "count", &ann);
    assert_eq!(run.state, RunState::LimitReached);
    assert!(
        run.reason.as_deref().unwrap().starts_with("max_tokens:"),
        "{:?}",
        run.reason
    );
    assert_eq!(script.calls(), 5);
}

#[test]
fn the_same_call_twice_is_refused_and_a_third_time_ends_the_run() {
    let f = fixture();
    let same = call("calculator", json!({"expression": "2 + 2"}));
    let script = Script::new(vec![same.clone(), same.clone(), same, answer("4")]);
    let rt = runtime(&f, &script);
    let (run, _) = start(&rt, "calc", "loop", &caller("acme", "ann", Role::Member));
    assert_eq!(run.state, RunState::LimitReached);
    assert!(
        run.reason.as_deref().unwrap().starts_with("loop_detected:"),
        "{:?}",
        run.reason
    );
    let journal = steps(&f, &run);
    let tools: Vec<&str> = journal
        .iter()
        .filter(|s| s.kind == "tool")
        .map(|s| s.status.as_str())
        .collect();
    assert_eq!(tools, ["done", "rejected"]);
    assert_eq!(
        run.output.as_deref(),
        Some("4"),
        "answered in the wrap-up turn"
    );
    assert!(
        script
            .prompt(2)
            .contains("You already called `calculator` with these arguments")
    );
}

/// A loopback HTTP server that counts the requests it answers.
fn counting_server() -> (u16, Arc<AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            counted.fetch_add(1, Ordering::SeqCst);
            let body = "deploy ok";
            let _ = s.write_all(
                format!("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
                    .as_bytes(),
            );
        }
    });
    (port, hits)
}

#[test]
fn a_call_that_needs_approval_waits_and_runs_once_approved() {
    let f = fixture();
    let (port, hits) = counting_server();
    let url = format!("http://127.0.0.1:{port}/deploy");
    let script = Script::new(vec![
        call("http_get", json!({"url": url})),
        answer("deployed"),
    ]);
    let rt = runtime(&f, &script);
    // http_get needs an editor.
    let ed = caller("acme", "ed", Role::Editor);
    let (run, events) = start(&rt, "fetcher", "deploy", &ed);
    assert_eq!(run.state, RunState::WaitingApproval, "{run:?}");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, AgentEvent::ApprovalNeeded { name, .. } if name == "http_get"))
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "nothing ran before the approval"
    );

    // Someone else of the tenant cannot see it, let alone approve it.
    let eve = caller("acme", "eve", Role::Editor);
    assert_eq!(
        rt.decide(&eve, &run.id, true).unwrap_err().code,
        cairn_types::ErrorCode::NotFound
    );
    let queued = rt.decide(&ed, &run.id, true).unwrap();
    assert_eq!(queued.state, RunState::Queued);
    assert_eq!(
        rt.decide(&ed, &run.id, true).unwrap_err().code,
        cairn_types::ErrorCode::Conflict
    );
    let held = rt.claim(&ed, &run.id).unwrap();
    let done = rt.drive(held, &mut |_| {}).unwrap();
    assert_eq!(done.state, RunState::Succeeded);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    let tool = steps(&f, &done)
        .into_iter()
        .find(|s| s.kind == "tool")
        .unwrap();
    assert_eq!(
        (tool.status.as_str(), tool.payload["decided_by"].as_str()),
        ("done", Some("user:ed"))
    );
    assert!(
        tool.payload["output"]
            .as_str()
            .unwrap()
            .contains("deploy ok")
    );
}

#[test]
fn a_denied_call_never_runs_and_the_model_is_told() {
    let f = fixture();
    let (port, hits) = counting_server();
    let script = Script::new(vec![
        call(
            "http_get",
            json!({"url": format!("http://127.0.0.1:{port}/x")}),
        ),
        answer("not deployed"),
    ]);
    let rt = runtime(&f, &script);
    let ed = caller("acme", "ed", Role::Editor);
    let (run, _) = start(&rt, "fetcher", "deploy", &ed);
    rt.decide(&ed, &run.id, false).unwrap();
    let done = rt
        .drive(rt.claim(&ed, &run.id).unwrap(), &mut |_| {})
        .unwrap();
    assert_eq!(done.state, RunState::Succeeded);
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    assert!(script.prompt(1).contains("denied"), "{}", script.prompt(1));
}

/// Journals the state a crash mid-call leaves: the model's call and the tool step
/// `started` under a holder that is gone.
fn crashed_mid_call(
    f: &Fixture,
    rt: &Runtime,
    agent: &str,
    tool: &str,
    args: Value,
    who: &Caller,
) -> AgentRun {
    let run = rt
        .create(
            StartRequest {
                agent: agent.into(),
                task: "t".into(),
                caller: who.clone(),
                history: Vec::new(),
            },
            false,
        )
        .unwrap();
    let store = f.engine.store();
    // A server that is gone claimed it...
    let dead = "gone-host:1:1";
    let claimed = store.claim_agent_runs(dead, &[], 0, 1, 10).unwrap();
    assert_eq!(claimed.len(), 1);
    let step = |kind: &str, status: &str, payload: Value| AgentStep {
        seq: 0,
        kind: kind.into(),
        status: status.into(),
        payload,
        created_at: 0,
        updated_at: 0,
    };
    store
        .append_agent_step(&run.tenant, &run.id, &step("model", "done",
            json!({"phase": "react", "decision": {"thought": "", "tool": tool, "arguments": args}})))
        .unwrap();
    store
        .append_agent_step(
            &run.tenant,
            &run.id,
            &step(
                "tool",
                "started",
                json!({"phase": "react", "name": tool, "arguments": args}),
            ),
        )
        .unwrap();
    run
}

#[test]
fn a_resumed_run_never_repeats_a_call_with_side_effects() {
    let f = fixture();
    let (port, hits) = counting_server();
    let script = Script::new(vec![answer("could not confirm the deploy")]);
    let rt = runtime(&f, &script);
    let ed = caller("acme", "ed", Role::Editor);
    let _run = crashed_mid_call(
        &f,
        &rt,
        "fetcher",
        "http_get",
        json!({"url": format!("http://127.0.0.1:{port}/d")}),
        &ed,
    );
    // Its lease expired long ago: another executor takes it over and goes on.
    let taken = f
        .engine
        .store()
        .claim_agent_runs(rt.holder(), &[], 10_000, 60_000, 10)
        .unwrap();
    assert_eq!(taken.len(), 1);
    let done = rt
        .drive(taken.into_iter().next().unwrap(), &mut |_| {})
        .unwrap();
    assert_eq!(done.state, RunState::Succeeded);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the interrupted call was not made again"
    );
    let tool = steps(&f, &done)
        .into_iter()
        .find(|s| s.kind == "tool")
        .unwrap();
    assert_eq!(tool.status, "unknown");
    assert!(script.prompt(0).contains("outcome is unknown"));
}

#[test]
fn a_resumed_run_repeats_an_interrupted_read_only_call() {
    let f = fixture();
    let script = Script::new(vec![answer("4")]);
    let rt = runtime(&f, &script);
    let ann = caller("acme", "ann", Role::Member);
    let run = crashed_mid_call(
        &f,
        &rt,
        "calc",
        "calculator",
        json!({"expression": "2 + 2"}),
        &ann,
    );
    let dead = vec!["gone-host:1:1".to_owned()];
    // A dead holder on this host is taken over at once (no need to wait for the lease).
    let _ = run;
    let taken = f
        .engine
        .store()
        .claim_agent_runs(rt.holder(), &dead, 1, 60_000, 10)
        .unwrap();
    let done = rt
        .drive(taken.into_iter().next().unwrap(), &mut |_| {})
        .unwrap();
    assert_eq!(done.state, RunState::Succeeded);
    let tool = steps(&f, &done)
        .into_iter()
        .find(|s| s.kind == "tool")
        .unwrap();
    assert_eq!(
        (tool.status.as_str(), tool.payload["output"].as_str()),
        ("done", Some("2 + 2 = 4"))
    );
}

#[test]
fn a_cancelled_run_stops_and_cannot_be_resumed() {
    let f = fixture();
    let (port, _) = counting_server();
    let script = Script::new(vec![call(
        "http_get",
        json!({"url": format!("http://127.0.0.1:{port}/")}),
    )]);
    let rt = runtime(&f, &script);
    let ed = caller("acme", "ed", Role::Editor);
    let (run, _) = start(&rt, "fetcher", "deploy", &ed);
    assert_eq!(run.state, RunState::WaitingApproval);
    let cancelled = rt.cancel(&ed, &run.id).unwrap();
    assert_eq!(cancelled.state, RunState::Cancelled);
    assert_eq!(
        rt.decide(&ed, &run.id, true).unwrap_err().code,
        cairn_types::ErrorCode::Conflict
    );
    assert_eq!(
        rt.cancel(&ed, &run.id).unwrap_err().code,
        cairn_types::ErrorCode::Conflict
    );
    // A run cancelled while it runs ends at its next step.
    let script = Script::new(vec![
        call("calculator", json!({"expression": "1+1"})),
        answer("2"),
    ]);
    let rt = runtime(&f, &script);
    let ann = caller("acme", "ann", Role::Member);
    let run = rt
        .create(
            StartRequest {
                agent: "calc".into(),
                task: "t".into(),
                caller: ann.clone(),
                history: Vec::new(),
            },
            true,
        )
        .unwrap();
    let mut events = Vec::new();
    let mut cancelled_once = false;
    let engine = f.engine.clone();
    let ended = rt
        .drive(run.clone(), &mut |e| {
            if matches!(e, AgentEvent::ToolCall { .. }) && !cancelled_once {
                cancelled_once = true;
                engine
                    .store()
                    .transition_agent_run(
                        &run.tenant,
                        &run.id,
                        &[RunState::Running],
                        RunState::Cancelled,
                        Some("cancelled: test"),
                        None,
                        5,
                    )
                    .unwrap();
            }
            events.push(e);
        })
        .unwrap();
    assert_eq!(ended.state, RunState::Cancelled);
    assert_eq!(script.calls(), 1, "no model turn after the cancel");
    assert!(matches!(events.last(), Some(AgentEvent::Final { state, .. }) if state == "cancelled"));
}

#[test]
fn a_supervisor_delegates_and_the_specialist_spends_its_budget() {
    let f = fixture();
    let script = Script::new(vec![
        call("agent_calc", json!({"task": "add 40 and 2"})),
        call("calculator", json!({"expression": "40 + 2"})),
        answer("42"),
        answer("The specialist says 42."),
    ]);
    let rt = runtime(&f, &script);
    let ann = caller("acme", "ann", Role::Member);
    let (run, _) = start(&rt, "boss", "what is 40 + 2?", &ann);
    assert_eq!(run.state, RunState::Succeeded, "{run:?}");
    assert_eq!(
        run.usage["steps"], 4,
        "the child's turns count against the parent"
    );
    assert_eq!(run.usage["tool_calls"], 2);
    let runs = f
        .engine
        .store()
        .list_agent_runs(&run.tenant, None, 10)
        .unwrap();
    let child = runs
        .iter()
        .find(|r| r.parent.as_deref() == Some(run.id.as_str()))
        .unwrap();
    assert_eq!(
        (child.agent.as_str(), child.state, child.output.as_deref()),
        ("calc", RunState::Succeeded, Some("42"))
    );
    let tool = steps(&f, &run)
        .into_iter()
        .find(|s| s.kind == "tool")
        .unwrap();
    assert_eq!(tool.payload["output"], "42");
    assert_eq!(tool.payload["child_run"], child.id.as_str());
}

#[test]
fn plan_and_execute_works_each_step_and_replans_a_failed_one() {
    let f = fixture();
    let script = Script::new(vec![
        Reply::Text(json!({"steps": ["multiply", "add"]}).to_string()),
        // Step 1: a call and its result.
        call("calculator", json!({"expression": "6 * 7"})),
        answer("42"),
        // Step 2 gets max(12 / 3, 2) = 4 turns and finds nothing: a re-plan.
        call("calculator", json!({"expression": "1"})),
        call("calculator", json!({"expression": "2"})),
        call("calculator", json!({"expression": "3"})),
        call("calculator", json!({"expression": "4"})),
        Reply::Text(json!({"steps": ["add one to 42"]}).to_string()),
        answer("43"),
        // Synthesis.
        answer("43"),
    ]);
    let rt = runtime(&f, &script);
    let (run, events) = start(
        &rt,
        "planner",
        "6*7+1",
        &caller("acme", "ann", Role::Member),
    );
    assert_eq!(
        (run.state, run.output.as_deref()),
        (RunState::Succeeded, Some("43")),
        "{run:?}"
    );
    let plans: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::Plan { revision, .. } => Some(*revision),
            _ => None,
        })
        .collect();
    assert_eq!(plans, [0, 1]);
    let journal = steps(&f, &run);
    let done: Vec<&str> = journal
        .iter()
        .filter(|s| s.kind == "step_done")
        .map(|s| s.payload["result"].as_str().unwrap())
        .collect();
    assert_eq!(done, ["42", "43"]);
    assert!(
        script.prompt(7).contains("The previous plan failed"),
        "{}",
        script.prompt(7)
    );
    assert!(
        script.prompt(9).contains("1. 42\n2. 43"),
        "{}",
        script.prompt(9)
    );
}

#[test]
fn roles_and_schemas_guard_every_call() {
    let f = fixture();
    // A viewer may not run agents at all (running one is generation).
    let script = Script::new(vec![]);
    let rt = runtime(&f, &script);
    let err = rt
        .create(
            StartRequest {
                agent: "calc".into(),
                task: "t".into(),
                caller: caller("acme", "v", Role::Viewer),
                history: Vec::new(),
            },
            true,
        )
        .unwrap_err();
    assert_eq!(err.code, cairn_types::ErrorCode::Forbidden);
    // A member may run `fetcher` but not call http_get (editor); the model is told.
    let script = Script::new(vec![
        call("http_get", json!({"url": "http://127.0.0.1:9/"})),
        answer("no access"),
    ]);
    let rt = runtime(&f, &script);
    let (run, _) = start(&rt, "fetcher", "fetch", &caller("acme", "m", Role::Member));
    let tool = steps(&f, &run)
        .into_iter()
        .find(|s| s.kind == "tool")
        .unwrap();
    assert_eq!(tool.status, "rejected");
    assert!(
        tool.payload["output"]
            .as_str()
            .unwrap()
            .contains("needs editor")
    );
    // A remote model's arguments are checked against the schema before any call.
    let script = Script::remote(vec![
        Reply::Tool("calculator".into(), json!({"expression": 7})),
        Reply::Tool("shell".into(), json!({"cmd": "rm -rf /"})),
        Reply::Text("gave up".into()),
    ]);
    let rt = runtime(&f, &script);
    let (run, _) = start(&rt, "calc", "t", &caller("acme", "ann", Role::Member));
    assert_eq!(run.output.as_deref(), Some("gave up"));
    let outs: Vec<String> = steps(&f, &run)
        .into_iter()
        .filter(|s| s.kind == "tool")
        .map(|s| s.payload["output"].as_str().unwrap().to_owned())
        .collect();
    assert!(outs[0].contains("do not match its schema"), "{outs:?}");
    assert!(outs[1].contains("There is no tool `shell`"), "{outs:?}");
    // The remote flavor sent the tools natively and fed results back as tool messages.
    let seen = script.seen.lock().unwrap();
    assert!(matches!(
        seen[0].constraint,
        Some(cairn_models::OutputConstraint::Tools { .. })
    ));
    match &seen[1].prompt {
        cairn_models::Prompt::Chat(m) => {
            assert!(
                m.iter()
                    .any(|m| m.role == cairn_models::Role::Tool && m.tool_call_id.is_some())
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_text_protocol_reads_actions_and_explains_unreadable_replies() {
    let f = fixture();
    let script = Script::new(vec![
        Reply::Text("I should compute this.".into()),
        Reply::Text(
            "Thought: compute\nAction: calculator\nAction Input: {\"expression\": \"3*3\"}".into(),
        ),
        Reply::Text("Thought: done\nFinal Answer: 9".into()),
    ]);
    let rt = runtime(&f, &script);
    let (run, _) = start(
        &rt,
        "texty",
        "3 squared?",
        &caller("acme", "ann", Role::Member),
    );
    assert_eq!(run.output.as_deref(), Some("9"));
    assert!(script.prompt(1).contains("could not be read"));
    assert!(script.prompt(2).contains("Observation: 3*3 = 9"));
    assert!(
        script.seen.lock().unwrap()[0]
            .sampling
            .stop
            .iter()
            .any(|s| s.contains("Observation:"))
    );
}

#[test]
fn runs_are_seen_by_their_owner_and_administrators_only() {
    let f = fixture();
    let script = Script::new(vec![answer("hi")]);
    let rt = runtime(&f, &script);
    let ann = caller("acme", "ann", Role::Member);
    let (run, _) = start(&rt, "calc", "hi", &ann);
    assert!(rt.get(&ann, &run.id).is_ok());
    for other in [
        caller("acme", "bob", Role::Editor),
        caller("globex", "ann", Role::Owner),
    ] {
        assert_eq!(
            rt.get(&other, &run.id).unwrap_err().code,
            cairn_types::ErrorCode::NotFound
        );
        assert_eq!(
            rt.cancel(&other, &run.id).unwrap_err().code,
            cairn_types::ErrorCode::NotFound
        );
        assert!(rt.list(&other, 10).unwrap().is_empty());
    }
    let admin = caller("acme", "root", Role::Admin);
    assert_eq!(rt.get(&admin, &run.id).unwrap().0.id, run.id);
    assert_eq!(rt.list(&admin, 10).unwrap().len(), 1);
    assert_eq!(rt.list(&ann, 10).unwrap().len(), 1);
}
