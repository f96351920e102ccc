//! The answer pipeline end to end with real models (MiniLM embedder, SmolLM2-135M
//! generator): sources, citations resolving to real spans, the grounding report,
//! abstention without generation, conversations with memory, cancellation, feedback,
//! and tenant scoping of everything recorded. One test runs the default chat model
//! (Qwen2.5-Coder-1.5B, `scripts/fetch-models.sh qwen-coder`) through the same pipeline
//! and holds it to a grounded, cited answer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use cairn_engine::answer::{ABSTAIN_TEXT, AbstainReason, AnswerEvent, PROMPT_VERSION};
use cairn_engine::{AskRequest, Engine};
use cairn_types::{CollectionId, ErrorCode, MessageRole, TenantId};

const CONFIG: &str = "[ingest.quality]\nmin_chars = 10\n[models]\ngenerator = \"smollm2-135m-instruct\"\n[answer]\nmax_answer_tokens = 48\n";

const DEADLOCK: &str = "# Deadlock errors\n\nWhen two transactions wait on each other's locks, \
PostgreSQL aborts one of them with SQLSTATE 40P01 deadlock_detected. Retry the aborted \
transaction. The deadlock_timeout setting controls how long the server waits on a lock \
before checking for a deadlock; the default is one second.";

const VACUUM: &str = "# VACUUM\n\nVACUUM reclaims storage occupied by dead tuples. VACUUM FULL \
rewrites the entire table into a new disk file and needs an ACCESS EXCLUSIVE lock on the \
table while it runs.";

fn setup(dir: &std::path::Path) -> Engine {
    let e = common::engine(dir, CONFIG);
    for (name, text) in [("deadlocks.md", DEADLOCK), ("vacuum.md", VACUUM)] {
        common::upload(&e, "a", "kb", name, text);
    }
    e
}

fn ask(q: &str) -> AskRequest {
    let mut r = AskRequest::new(CollectionId::new("kb"), q);
    r.top_k = Some(2);
    r
}

#[test]
fn an_answer_streams_and_cites_real_spans() {
    let dir = tempfile::tempdir().unwrap();
    let e = setup(dir.path());
    let a = TenantId::new("a");
    let mut events = Vec::new();
    let answer = e
        .ask_streaming(
            &a,
            &ask("Which SQLSTATE code does a deadlock abort with?"),
            &mut |ev| {
                events.push(ev);
                true
            },
        )
        .unwrap();
    eprintln!("answer: {}", answer.answer);

    // Sources come first, then the text, and the text is the answer.
    let AnswerEvent::Sources(sources) = &events[0] else {
        panic!("first event: {:?}", events[0])
    };
    assert_eq!(sources[0].source, "upload:deadlocks.md");
    assert_eq!(sources[0].n, 1);
    let streamed: String = events[1..]
        .iter()
        .map(|ev| match ev {
            AnswerEvent::Delta(t) => t.as_str(),
            AnswerEvent::Sources(_) => panic!("sources twice"),
        })
        .collect();
    // What streamed is the answer, or the draft a grounding check withheld.
    assert_eq!(
        streamed.trim(),
        answer.draft.as_deref().unwrap_or(&answer.answer).trim()
    );
    assert_eq!(answer.prompt_version, PROMPT_VERSION);
    assert_eq!(answer.model, "smollm2-135m-instruct");
    assert!(answer.usage.prompt_tokens > 50 && answer.usage.completion_tokens > 0);
    assert!(answer.timings.first_token_ms.is_some());
    assert!((0.0..=1.0).contains(&answer.confidence));

    // Every citation resolves to its source's chunk and quotes a real span of it.
    for c in &answer.citations {
        let s = answer.sources.iter().find(|s| s.n == c.n).unwrap();
        assert_eq!(c.chunk_id, s.chunk_id);
        assert_eq!(&s.text[c.quote_start..c.quote_end], c.quote);
        assert!(!c.quote.is_empty());
    }
    // The claims partition the answer's sentences, and flagged ones are listed.
    if !answer.abstained {
        assert!(!answer.claims.is_empty());
        for c in &answer.claims {
            assert!(c.end <= answer.answer.len() && c.start < c.end);
            assert!((0.0..=1.0).contains(&c.support));
            assert_eq!(c.supported, c.support >= 0.5 && c.unverified.is_empty());
        }
        let flagged = answer.claims.iter().filter(|c| !c.supported).count();
        assert_eq!(answer.unsupported.len(), flagged);
    }

    // The answer is recorded with its prompt version; feedback attaches to it.
    let stored = e.recorded_answer(&a, None, &answer.id).unwrap();
    assert_eq!(stored.prompt_version, PROMPT_VERSION);
    assert_eq!(
        stored.record["citations"].as_array().unwrap().len(),
        answer.citations.len()
    );
    e.add_feedback(&a, None, &answer.id, -1, "wrong page")
        .unwrap();
    assert_eq!(
        e.feedback(&a, None, &answer.id).unwrap()[0].comment,
        "wrong page"
    );
    let bad = e.add_feedback(&a, None, &answer.id, 5, "").unwrap_err();
    assert_eq!(bad.code, ErrorCode::InvalidInput);

    // Another tenant can neither read it nor comment on it.
    let b = TenantId::new("b");
    assert_eq!(
        e.recorded_answer(&b, None, &answer.id).unwrap_err().code,
        ErrorCode::NotFound
    );
    assert_eq!(
        e.add_feedback(&b, None, &answer.id, 1, "x")
            .unwrap_err()
            .code,
        ErrorCode::NotFound
    );
    assert_eq!(
        e.ask(&b, &ask("deadlock SQLSTATE?")).unwrap_err().code,
        ErrorCode::NotFound
    );
}

#[test]
fn a_question_naming_what_no_source_mentions_abstains_without_generating() {
    let dir = tempfile::tempdir().unwrap();
    let e = setup(dir.path());
    let a = TenantId::new("a");
    // Close to the deadlock page in every word but the setting it names.
    let answer = e
        .ask(
            &a,
            &ask("What does the deadlock_retry_limit setting control when a deadlock aborts a transaction?"),
        )
        .unwrap();
    assert!(answer.abstained, "{answer:?}");
    assert_eq!(answer.abstain_reason, Some(AbstainReason::MissingTerms));
    assert_eq!(answer.missing_terms, ["deadlock_retry_limit"]);
    assert_eq!(answer.usage.completion_tokens, 0, "nothing was generated");
    // The same question about a setting the page names goes on to generation.
    let mut r = ask("What does the deadlock_timeout setting control?");
    r.stop_before_generation = true;
    let answer = e.ask(&a, &r).unwrap();
    assert!(!answer.abstained, "{answer:?}");
    assert!(answer.missing_terms.is_empty());
    // The gate can be turned off.
    drop(e);
    let off = common::engine(
        dir.path(),
        &format!("{CONFIG}require_named_terms = false\n"),
    );
    let mut r = ask("What does the deadlock_retry_limit setting control?");
    r.stop_before_generation = true;
    assert!(!off.ask(&a, &r).unwrap().abstained);
}

#[test]
fn an_off_topic_question_abstains_without_generating() {
    let dir = tempfile::tempdir().unwrap();
    let e = setup(dir.path());
    let answer = e
        .ask(
            &TenantId::new("a"),
            &ask("What is the best temperature to bake sourdough bread?"),
        )
        .unwrap();
    assert!(answer.abstained, "{answer:?}");
    assert_eq!(answer.abstain_reason, Some(AbstainReason::WeakEvidence));
    assert_eq!(answer.answer, ABSTAIN_TEXT);
    assert_eq!(answer.confidence, 0.0);
    assert!(answer.citations.is_empty());
    assert_eq!(answer.usage.completion_tokens, 0, "nothing was generated");
    assert!(!answer.sources.is_empty(), "the closest sources are shown");
}

#[test]
fn a_conversation_remembers_and_rewrites_follow_ups() {
    let dir = tempfile::tempdir().unwrap();
    let e = setup(dir.path());
    let a = TenantId::new("a");
    let conv = e
        .create_conversation(&a, None, Some(&CollectionId::new("kb")), "locks")
        .unwrap();
    let mut first = ask("What does VACUUM FULL need?");
    first.conversation = Some(conv.id.clone());
    let one = e.ask(&a, &first).unwrap();
    assert_eq!(one.standalone_query, "What does VACUUM FULL need?");
    let mut second = ask("And how long does it hold it?");
    second.conversation = Some(conv.id.clone());
    let two = e.ask(&a, &second).unwrap();
    assert!(!two.standalone_query.is_empty());
    eprintln!("standalone: {}", two.standalone_query);

    let (_, messages) = e.conversation(&a, None, &conv.id).unwrap();
    let roles: Vec<MessageRole> = messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [
            MessageRole::User,
            MessageRole::Assistant,
            MessageRole::User,
            MessageRole::Assistant
        ]
    );
    assert_eq!(messages[1].answer.as_ref(), Some(&one.id));
    assert_eq!(messages[3].answer.as_ref(), Some(&two.id));
    // Another tenant cannot continue or read it.
    let b = TenantId::new("b");
    assert_eq!(
        e.conversation(&b, None, &conv.id).unwrap_err().code,
        ErrorCode::NotFound
    );
}

#[test]
fn a_client_that_goes_away_stops_generation_and_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let e = setup(dir.path());
    let a = TenantId::new("a");
    let conv = e.create_conversation(&a, None, None, "").unwrap();
    let mut req = ask("Which SQLSTATE code does a deadlock abort with?");
    req.conversation = Some(conv.id.clone());
    let mut deltas = 0;
    let err = e
        .ask_streaming(&a, &req, &mut |ev| match ev {
            AnswerEvent::Sources(_) => true,
            AnswerEvent::Delta(_) => {
                deltas += 1;
                false
            }
        })
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Cancelled);
    assert_eq!(deltas, 1, "generation stopped at the first refused delta");
    assert!(e.conversation(&a, None, &conv.id).unwrap().1.is_empty());
}

#[test]
fn bad_questions_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let e = setup(dir.path());
    let a = TenantId::new("a");
    for q in ["", "   ", &"x".repeat(9_000)] {
        assert_eq!(
            e.ask(&a, &ask(q)).unwrap_err().code,
            ErrorCode::InvalidInput
        );
    }
    let mut r = ask("deadlock?");
    r.max_tokens = Some(0);
    assert_eq!(e.ask(&a, &r).unwrap_err().code, ErrorCode::InvalidInput);
    let mut r = ask("deadlock?");
    r.conversation = Some(cairn_types::ConversationId::generate());
    assert_eq!(e.ask(&a, &r).unwrap_err().code, ErrorCode::NotFound);
}

/// A fact no model knows from pretraining, so a right answer must come from the source.
const BACKUPS: &str = "# Backups\n\nThe nightly backup of the ledger database starts at \
03:40 UTC and keeps 9 snapshots.";

/// The default chat model (no `[models] generator` in the config), one short generation
/// over a two-document corpus: the answer states the fact, cites `[n]` the source that
/// holds it (written by the model, not inferred), and the grounding check marks that
/// sentence supported.
#[test]
fn the_default_model_gives_a_grounded_cited_answer() {
    let models = std::env::var_os("CAIRN_MODELS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/cairn/models")
        });
    let qwen = models.join("qwen2.5-coder-1.5b-instruct");
    assert!(
        qwen.join("manifest.json").is_file(),
        "the default chat model is not installed in {}: run scripts/fetch-models.sh qwen-coder",
        qwen.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let e = common::engine(
        dir.path(),
        "[ingest.quality]\nmin_chars = 10\n[answer]\nmax_answer_tokens = 40\n",
    );
    let a = TenantId::new("a");
    for (name, text) in [("backups.md", BACKUPS), ("vacuum.md", VACUUM)] {
        common::upload(&e, "a", "kb", name, text);
    }
    let answer = e
        .ask(
            &a,
            &ask("At what time does the nightly ledger backup start?"),
        )
        .unwrap();
    eprintln!(
        "answer ({} prompt + {} completion tokens, generation {} ms): {}",
        answer.usage.prompt_tokens,
        answer.usage.completion_tokens,
        answer.timings.generation_ms,
        answer.answer
    );
    assert_eq!(answer.model, "qwen2.5-coder-1.5b-instruct");
    assert!(!answer.abstained, "{answer:#?}");
    assert!(answer.answer.contains("03:40"), "{answer:#?}");

    // The sentence with the fact cites, by the model's own marker, the source holding it,
    // and the grounding check finds that source supports it.
    let holds = |n: usize| {
        answer
            .sources
            .iter()
            .any(|s| s.n == n && s.source == "upload:backups.md" && s.text.contains("03:40"))
    };
    let claim = answer
        .claims
        .iter()
        .find(|c| c.text.contains("03:40"))
        .unwrap_or_else(|| panic!("no claim states the fact: {answer:#?}"));
    assert!(
        claim.cites.iter().any(|&n| holds(n)),
        "the claim does not cite the backups source: {answer:#?}"
    );
    assert!(claim.supported, "{claim:#?}");
    assert!(claim.best_source.is_some_and(holds), "{claim:#?}");
    let citation = answer
        .citations
        .iter()
        .find(|c| holds(c.n))
        .unwrap_or_else(|| panic!("no citation of the backups source: {answer:#?}"));
    assert!(
        !citation.inferred,
        "the model wrote the marker: {citation:#?}"
    );
    assert!(citation.quote.contains("03:40"), "{citation:#?}");
    assert!(answer.unsupported.is_empty(), "{answer:#?}");
}

/// Ratings become datasets: an answer rated up is an SFT example with the chat the
/// model saw, preferred (DPO) over one rated down to the same question; an answer rated
/// down is an eval case to review. Another tenant's answers never appear. (Pairs from
/// regenerations in a conversation: the unit tests of `eval::feedback`.)
#[test]
fn feedback_becomes_sft_dpo_and_eval_datasets() {
    use cairn_engine::eval::feedback::DatasetKind;
    let dir = tempfile::tempdir().unwrap();
    let e = setup(dir.path());
    let a = TenantId::new("a");
    let q = "Which SQLSTATE code does a deadlock abort with?";
    let asked = |tenant: &TenantId, max: usize| {
        let mut r = ask(q);
        r.max_tokens = Some(max);
        e.ask(tenant, &r).unwrap()
    };
    let good = asked(&a, 48);
    assert!(!good.abstained, "{}", good.answer);
    e.add_feedback(&a, None, &good.id, 1, "right code").unwrap();
    let cut = asked(&a, 4);
    e.add_feedback(&a, None, &cut.id, -1, "cut off").unwrap();
    // Another tenant's rated answer.
    let b = TenantId::new("b");
    common::upload(&e, "b", "kb", "deadlocks.md", DEADLOCK);
    let theirs = asked(&b, 48);
    e.add_feedback(&b, None, &theirs.id, 1, "").unwrap();

    let sft = e.export_dataset(&a, DatasetKind::Sft, 0).unwrap();
    assert_eq!(sft.len(), 1, "{sft:?}");
    let messages = sft[0]["messages"].as_array().unwrap();
    assert_eq!(messages[0]["role"], "system");
    let user = messages[1]["content"].as_str().unwrap();
    assert!(
        user.contains("Sources:") && user.contains("40P01") && user.ends_with(q),
        "{user}"
    );
    assert_eq!(messages[2]["content"], good.answer.as_str());
    assert_eq!(sft[0]["meta"]["answer_id"], good.id.as_str());
    assert_eq!(sft[0]["meta"]["prompt_version"], PROMPT_VERSION);

    let dpo = e.export_dataset(&a, DatasetKind::Dpo, 0).unwrap();
    assert_eq!(dpo.len(), usize::from(good.answer != cut.answer), "{dpo:?}");
    for p in &dpo {
        assert_eq!(p["chosen"], good.answer.as_str());
        assert_eq!(p["rejected"], cut.answer.as_str());
        assert_eq!(p["why"], "rated_down");
        assert_eq!(
            p["prompt"],
            serde_json::Value::Array(sft[0]["messages"].as_array().unwrap()[..2].to_vec())
        );
    }

    let cases = e.export_dataset(&a, DatasetKind::Eval, 0).unwrap();
    assert_eq!(cases.len(), 1, "{cases:?}");
    assert_eq!(cases[0]["question"], q);
    assert_eq!(cases[0]["kind"], "feedback");
    assert_eq!(
        cases[0]["review"]["comments"],
        serde_json::json!(["cut off"])
    );
    // The window: nothing recorded after now.
    let later = e
        .export_dataset(&a, DatasetKind::Sft, i64::MAX / 2)
        .unwrap();
    assert!(later.is_empty());
    let all = serde_json::to_string(&(sft, dpo, cases)).unwrap();
    assert!(!all.contains(theirs.id.as_str()), "another tenant's answer");
}

/// Drift week by week from the questions asked: the same topics and scores stay under
/// the alert, a week of other topics answered from weak sources goes over it.
#[test]
fn a_week_of_other_questions_is_flagged_as_drift() {
    use cairn_engine::eval::drift::PSI_ALERT;
    use cairn_types::{AnswerId, StoredAnswer};
    let dir = tempfile::tempdir().unwrap();
    let e = setup(dir.path());
    let a = TenantId::new("a");
    const WEEK: i64 = 7 * 86_400_000;
    let now = 60 * WEEK;
    let db = [
        "How long does the server wait before checking for a deadlock?",
        "Which SQLSTATE does a deadlock raise?",
        "What does VACUUM FULL lock?",
        "Does VACUUM reclaim dead tuples?",
        "What is deadlock_timeout?",
    ];
    let other = [
        "What is the capital of Australia?",
        "How do I bake sourdough bread?",
        "Which planet has the most moons?",
        "Who painted the Sistine Chapel ceiling?",
        "How tall is Mount Kilimanjaro?",
    ];
    let record = |week: i64, i: usize, q: &str, score: f64| {
        e.store()
            .record_answer(&StoredAnswer {
                tenant: a.clone(),
                id: AnswerId::new(format!("w{week}-{i}")),
                conversation: None,
                collection: Some(CollectionId::new("kb")),
                question: q.into(),
                answer: "x".into(),
                prompt_version: PROMPT_VERSION.into(),
                record: serde_json::json!({"sources": [{"similarity": score}]}),
                owner: None,
                created_at: now - week * WEEK + 1_000,
            })
            .unwrap();
    };
    for (week, questions, score) in [(3, &db, 0.72), (2, &db, 0.7), (1, &other, 0.12)] {
        for round in 0..4 {
            for (i, q) in questions.iter().enumerate() {
                record(week, round * 10 + i, q, score + 0.01 * round as f64);
            }
        }
    }
    let r = e.drift(&a, &CollectionId::new("kb"), 4, now).unwrap();
    assert_eq!(r.weeks.len(), 3, "{r:?}");
    let [first, same, shifted] = [&r.weeks[0], &r.weeks[1], &r.weeks[2]];
    assert!(!first.drifted && first.query_psi.abs() < 1e-9);
    assert!(!same.drifted, "{same:?}");
    assert!(shifted.drifted, "{shifted:?}");
    assert!(
        shifted.score_psi > PSI_ALERT && shifted.mean_score < 0.2,
        "{shifted:?}"
    );
    // Another tenant's collection of the same name holds none of it.
    let err = e
        .drift(&TenantId::new("b"), &CollectionId::new("kb"), 4, now)
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound);
    let err = e.drift(&a, &CollectionId::new("kb"), 1, now).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidInput);
}
