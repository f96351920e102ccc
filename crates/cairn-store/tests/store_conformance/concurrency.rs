//! Several nodes on one database: four handles on the same store (four connections to
//! one SQLite file, four connection pools on one PostgreSQL database), one thread each,
//! doing at once what servers and workers do at once. Nothing may be lost, doubled or
//! left with a gap: each queued job is claimed once, the audit chain verifies, usage
//! counters add up exactly, a conversation's message numbers run 1..n, and one
//! idempotency key yields one document.

use crate::jobs::claim_race;
use crate::support::{Fixture, c, doc, plain, t};
use cairn_auth::audit::{GENESIS_HASH, entry_hash, verify_chain};
use cairn_store::{AuditDraft, Error, IdempotencyRecord, ModelUsage, RouteUsage, Store, Usage};
use cairn_types::{Conversation, ConversationId, MessageRole};
use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};

/// How many nodes each test simulates.
const NODES: usize = 4;

/// The fixture's own store and `NODES - 1` more handles on the same data.
fn nodes(s: &Fixture) -> Vec<Arc<dyn Store>> {
    std::iter::once(s.handle())
        .chain((1..NODES).map(|_| s.another_handle()))
        .collect()
}

/// Runs `work(node, store)` on one thread per node, all started together; returns what
/// each returned, in node order.
fn on_every_node<T: Send>(
    stores: &[Arc<dyn Store>],
    work: impl Fn(usize, &dyn Store) -> T + Sync,
) -> Vec<T> {
    let start = Barrier::new(stores.len());
    std::thread::scope(|scope| {
        let threads: Vec<_> = stores
            .iter()
            .enumerate()
            .map(|(node, store)| {
                let (start, work) = (&start, &work);
                scope.spawn(move || {
                    start.wait();
                    work(node, &**store)
                })
            })
            .collect();
        threads.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

both!(four_handles_claim_each_of_200_jobs_exactly_once);
fn four_handles_claim_each_of_200_jobs_exactly_once(s: Fixture) {
    claim_race(&nodes(&s));
}

/// The chain's real hash (as `cairn-engine` seals it), so `verify_chain` can check it.
fn seal(seq: i64, prev: &str, d: &AuditDraft) -> String {
    entry_hash(
        prev, seq, d.at, &d.tenant, &d.actor, &d.action, &d.target, &d.outcome, &d.detail,
    )
}

both!(four_handles_append_to_one_audit_chain_without_gaps);
fn four_handles_append_to_one_audit_chain_without_gaps(s: Fixture) {
    const EACH: usize = 25;
    let appended = on_every_node(&nodes(&s), |node, store| {
        (0..EACH)
            .map(|i| {
                let draft = AuditDraft {
                    at: 1_000 + i64::try_from(i).unwrap(),
                    tenant: if node % 2 == 0 { "a" } else { "b" }.into(),
                    actor: format!("node{node}"),
                    action: format!("node{node}.event{i}"),
                    target: "t".into(),
                    outcome: "ok".into(),
                    detail: serde_json::json!({"node": node, "i": i}),
                };
                store.append_audit(&draft, GENESIS_HASH, &seal).unwrap()
            })
            .collect::<Vec<_>>()
    });
    let total = NODES * EACH;
    let mut seqs: Vec<i64> = appended.iter().flatten().map(|r| r.seq).collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=i64::try_from(total).unwrap()).collect::<Vec<_>>(),
        "every append got its own seq, none skipped"
    );
    for rows in &appended {
        assert!(
            rows.windows(2).all(|w| w[0].seq < w[1].seq),
            "one node's appends are chained in the order it made them"
        );
    }
    let rows = s.audit_rows(0, 0).unwrap();
    assert_eq!(rows.len(), total);
    let actions: BTreeSet<&str> = rows.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions.len(), total, "each event stored once");
    let head = s.audit_head().unwrap().unwrap();
    assert_eq!(head, (rows[total - 1].seq, rows[total - 1].hash.clone()));
    let report = verify_chain(rows, Some((head.0, &head.1)));
    assert!(report.is_intact(), "{:?}", report.broken);
    assert_eq!(report.checked, total);
}

both!(four_handles_add_usage_with_exact_totals);
fn four_handles_add_usage_with_exact_totals(s: Fixture) {
    const EACH: i64 = 50;
    let a = t("a");
    on_every_node(&nodes(&s), |node, store| {
        let model = if node % 2 == 0 { "gpt" } else { "qwen" };
        for _ in 0..EACH {
            let request = Usage {
                requests: 1,
                tokens: 10,
                cost_micros: 3,
            };
            store
                .add_usage(&a, &["d:2026-12-02", "m:2026-12"], &request)
                .unwrap();
            let call = ModelUsage {
                requests: 1,
                input_tokens: 30,
                output_tokens: 5,
                cost_micros: 110,
            };
            store
                .add_model_usage(&a, &["m:2026-12"], "2026-12-02", model, &call)
                .unwrap();
            store
                .add_route_usage(
                    &a,
                    "2026-12-02",
                    "/v1/search",
                    model,
                    &RouteUsage::one(200, 12.0),
                )
                .unwrap();
        }
    });
    let n = i64::try_from(NODES).unwrap() * EACH;
    assert_eq!(
        s.usage(&a, "d:2026-12-02").unwrap(),
        Usage {
            requests: n,
            tokens: 10 * n,
            cost_micros: 3 * n
        }
    );
    assert_eq!(
        s.usage(&a, "m:2026-12").unwrap(),
        Usage {
            requests: 2 * n,
            tokens: 10 * n + 35 * n,
            cost_micros: 3 * n + 110 * n
        },
        "the requests' and the model calls' counters"
    );
    let per_model: Vec<(String, i64, i64, i64, i64)> = s
        .model_usage(&a, "2026-12-01")
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.model,
                r.usage.requests,
                r.usage.input_tokens,
                r.usage.output_tokens,
                r.usage.cost_micros,
            )
        })
        .collect();
    let half = n / 2;
    assert_eq!(
        per_model,
        [
            ("gpt".to_owned(), half, 30 * half, 5 * half, 110 * half),
            ("qwen".to_owned(), half, 30 * half, 5 * half, 110 * half)
        ]
    );
    let per_route: Vec<(String, i64, i64)> = s
        .route_usage(&a, "2026-12-01")
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.model,
                r.usage.requests,
                r.usage.latency_buckets.iter().sum(),
            )
        })
        .collect();
    assert_eq!(
        per_route,
        [
            ("gpt".to_owned(), half, half),
            ("qwen".to_owned(), half, half)
        ]
    );
    assert_eq!(s.usage(&t("b"), "m:2026-12").unwrap(), Usage::default());
}

both!(four_handles_append_messages_to_one_conversation);
fn four_handles_append_messages_to_one_conversation(s: Fixture) {
    const EACH: usize = 25;
    let a = t("a");
    let cv = Conversation {
        tenant: a.clone(),
        id: ConversationId::generate(),
        collection: None,
        title: "busy".into(),
        summary: String::new(),
        summarized_through: 0,
        owner: None,
        created_at: 1,
        updated_at: 1,
    };
    s.create_conversation(&cv).unwrap();
    let turns = on_every_node(&nodes(&s), |node, store| {
        (0..EACH)
            .map(|i| {
                let turn = [
                    (MessageRole::User, format!("node{node} q{i}"), None),
                    (MessageRole::Assistant, format!("node{node} a{i}"), None),
                ];
                let stored = store.append_messages(&a, &cv.id, &turn, 10).unwrap();
                assert_eq!(stored.len(), 2);
                assert_eq!(
                    stored[1].seq,
                    stored[0].seq + 1,
                    "one call's messages are numbered together"
                );
                (stored[0].seq, turn[0].1.clone(), turn[1].1.clone())
            })
            .collect::<Vec<_>>()
    });
    let total = NODES * EACH * 2;
    let listed = s.list_messages(&a, &cv.id).unwrap();
    assert_eq!(
        listed.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (1..=i64::try_from(total).unwrap()).collect::<Vec<_>>(),
        "no message lost, no seq given twice"
    );
    for node_turns in &turns {
        assert!(
            node_turns.windows(2).all(|w| w[0].0 < w[1].0),
            "one node's turns keep their order"
        );
        for (seq, question, answer) in node_turns {
            let at = usize::try_from(*seq - 1).unwrap();
            assert_eq!(
                (&listed[at].content, &listed[at + 1].content),
                (question, answer)
            );
        }
    }
}

both!(one_idempotency_key_from_two_handles_at_once_gives_one_document);
fn one_idempotency_key_from_two_handles_at_once_gives_one_document(s: Fixture) {
    const ROUNDS: usize = 10;
    let a = t("a");
    let stores = [s.handle(), s.another_handle()];
    let upload = |key: &str, source: &str, request: &str| {
        let mut up = plain(doc("a", source, request), &["text"]);
        up.idempotency = Some(IdempotencyRecord {
            key: key.into(),
            request_hash: request.into(),
            document: up.doc.id.clone(),
        });
        up
    };
    for round in 0..ROUNDS {
        // The same request twice (a client's retry racing its first try): both succeed
        // with one document.
        let key = format!("same-{round}");
        let source = format!("upload:same-{round}.md");
        let got = on_every_node(&stores, |_, store| {
            store.commit_document(&a, upload(&key, &source, "r"), 5)
        });
        let ids: Vec<_> = got.into_iter().map(|r| r.unwrap().id).collect();
        assert_eq!(ids[0], ids[1], "one document for one key");
        let rec = s.get_idempotency(&a, &key).unwrap().unwrap();
        assert_eq!((rec.request_hash.as_str(), &rec.document), ("r", &ids[0]));

        // Two different requests under one key: one wins, the other is refused whole.
        let key = format!("diff-{round}");
        let got = on_every_node(&stores, |node, store| {
            let source = format!("upload:diff-{round}-node{node}.md");
            store.commit_document(&a, upload(&key, &source, &format!("r{node}")), 5)
        });
        let winners: Vec<usize> = (0..2).filter(|n| got[*n].is_ok()).collect();
        assert_eq!(winners.len(), 1, "exactly one commit wins: {got:?}");
        let (winner, loser) = (winners[0], 1 - winners[0]);
        let err = got[loser].as_ref().unwrap_err();
        assert!(
            matches!(err, Error::Conflict(m) if m.contains(&format!("`{key}`"))),
            "{err}"
        );
        let rec = s.get_idempotency(&a, &key).unwrap().unwrap();
        assert_eq!(rec.request_hash, format!("r{winner}"));
        assert_eq!(&rec.document, &got[winner].as_ref().unwrap().id);
        let lost = format!("upload:diff-{round}-node{loser}.md");
        assert!(
            s.find_by_source(&a, &c("c"), &lost).unwrap().is_none(),
            "nothing of the refused commit stays"
        );
    }
    assert_eq!(
        s.list_documents(&a, None, 1_000, 0).unwrap().len(),
        2 * ROUNDS
    );
    assert_eq!(s.count_chunks(&a, None).unwrap(), 2 * ROUNDS);
}

both!(a_singleton_duty_runs_on_one_node_at_a_time);
fn a_singleton_duty_runs_on_one_node_at_a_time(s: Fixture) {
    use crate::support::Backend;
    let other = s.another_handle();
    let mut inner = None;
    let mut other_duty = None;
    let ran = s
        .run_exclusive("retention-sweep", &mut || {
            // While this node runs the duty, another node asks for the same one and for
            // a different one.
            inner = Some(other.run_exclusive("retention-sweep", &mut || {}).unwrap());
            other_duty = Some(other.run_exclusive("log-pruning", &mut || {}).unwrap());
        })
        .unwrap();
    assert!(ran);
    assert_eq!(other_duty, Some(true), "another duty is not blocked");
    match s.backend() {
        // PostgreSQL: several servers share the database; the second is skipped.
        Backend::Postgres => assert_eq!(inner, Some(false)),
        // SQLite: one host; every duty runs.
        Backend::Sqlite => assert_eq!(inner, Some(true)),
    }
    // Released after the run.
    assert!(other.run_exclusive("retention-sweep", &mut || {}).unwrap());
}
