//! The job queue: dedup, claim order and filters, leases, failure and retry, reclaim,
//! and concurrent claimers.

use crate::support::{Fixture, c, new_job, new_job_in, t};
use cairn_store::{Error, JobFilter, NewJob, Store};
use cairn_types::{ErrorCode, JobId, JobState};
use std::sync::Arc;

both!(enqueue_skips_jobs_equal_to_a_queued_or_running_one);
fn enqueue_skips_jobs_equal_to_a_queued_or_running_one(s: Fixture) {
    let a = t("a");
    let ids = s
        .enqueue(&a, &[new_job("/1"), new_job("/2"), new_job("/1")], 100)
        .unwrap();
    assert_eq!(ids.len(), 2, "duplicate within one call skipped");
    assert!(
        s.enqueue(&a, &[new_job_in("other", "/1")], 101)
            .unwrap()
            .is_empty(),
        "batch is not part of the key"
    );
    assert_eq!(
        s.enqueue(&t("b"), &[new_job("/1")], 101).unwrap().len(),
        1,
        "other tenant"
    );
    let j = s.claim("w", 1_000, None, 200).unwrap().unwrap();
    assert!(
        s.enqueue(&a, &[new_job("/1")], 201).unwrap().is_empty(),
        "running duplicate skipped"
    );
    s.complete_job(&a, &j.id, 300).unwrap();
    assert_eq!(
        s.enqueue(&a, &[new_job("/1")], 301).unwrap().len(),
        1,
        "finished jobs do not block"
    );
    let fresh = s.get_job(&a, &ids[1]).unwrap();
    assert_eq!(
        (
            fresh.state,
            fresh.attempts,
            fresh.max_attempts,
            fresh.run_after
        ),
        (JobState::Queued, 0, 2, 100)
    );
    let err = s
        .enqueue(
            &a,
            &[NewJob {
                collection: c("ghost"),
                ..new_job("/g")
            }],
            1,
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { what } if what.contains("ghost")),
        "{err}"
    );
}

both!(jobs_with_long_kinds_are_deduplicated_too);
fn jobs_with_long_kinds_are_deduplicated_too(s: Fixture) {
    // Metadata makes the (collection, kind) key far longer than a b-tree entry holds.
    let long = |note: &str| {
        let mut job = new_job("/long");
        let cairn_types::JobKind::IngestFile { metadata, .. } = &mut job.kind else {
            unreachable!("new_job makes file jobs")
        };
        metadata.insert("note".into(), note.repeat(4_000).into());
        job
    };
    let a = t("a");
    let ids = s
        .enqueue(&a, &[long("x"), long("x"), long("y")], 1)
        .unwrap();
    assert_eq!(ids.len(), 2, "the twin is skipped, the other kind is not");
    assert!(s.enqueue(&a, &[long("x")], 2).unwrap().is_empty());
    let job = s.get_job(&a, &ids[0]).unwrap();
    let cairn_types::JobKind::IngestFile { metadata, .. } = &job.kind else {
        panic!("a file job came back as {:?}", job.kind)
    };
    assert_eq!(metadata["note"].as_str().map(str::len), Some(4_000));
}

both!(claim_takes_the_oldest_runnable_job_and_honours_the_batch);
fn claim_takes_the_oldest_runnable_job_and_honours_the_batch(s: Fixture) {
    let a = t("a");
    let first = s
        .enqueue(&a, &[new_job_in("b1", "/1")], 10)
        .unwrap()
        .remove(0);
    let second = s
        .enqueue(&a, &[new_job_in("b2", "/2")], 20)
        .unwrap()
        .remove(0);
    let third = s
        .enqueue(&t("b"), &[new_job_in("b1", "/3")], 30)
        .unwrap()
        .remove(0);
    assert!(
        s.claim("w", 1_000, None, 5).unwrap().is_none(),
        "nothing runnable before run_after"
    );
    let j = s.claim("w", 1_000, Some("b2"), 100).unwrap().unwrap();
    assert_eq!(j.id, second);
    assert_eq!((j.state, j.attempts), (JobState::Running, 1));
    let j = s.claim("w", 1_000, None, 100).unwrap().unwrap();
    assert_eq!(j.id, first, "oldest first");
    let j = s.claim("w", 1_000, Some("b1"), 100).unwrap().unwrap();
    assert_eq!((j.id, j.tenant), (third, t("b")), "claims span tenants");
    assert!(s.claim("w", 1_000, None, 100).unwrap().is_none());
    assert_eq!(s.running_owners().unwrap(), ["w"]);
}

both!(heartbeat_extends_only_the_owners_lease);
fn heartbeat_extends_only_the_owners_lease(s: Fixture) {
    let a = t("a");
    let id = s.enqueue(&a, &[new_job("/1")], 0).unwrap().remove(0);
    s.claim("w1", 1_000, None, 0).unwrap().unwrap();
    s.heartbeat(&a, &id, "w1", 1_000, 900).unwrap();
    assert_eq!(
        s.reclaim(&[], 1_500).unwrap(),
        0,
        "renewed lease runs to 1900"
    );
    let err = s.heartbeat(&a, &id, "intruder", 1_000, 950).unwrap_err();
    assert!(
        matches!(&err, Error::Conflict(m) if m.contains("running")),
        "{err}"
    );
    assert_eq!(s.reclaim(&[], 1_901).unwrap(), 1);
    let err = s.heartbeat(&a, &id, "w1", 1_000, 2_000).unwrap_err();
    assert!(
        matches!(&err, Error::Conflict(m) if m.contains("queued")),
        "lost lease: {err}"
    );
    assert!(matches!(
        s.heartbeat(&a, &JobId::generate(), "w1", 1, 1),
        Err(Error::NotFound { .. })
    ));
}

both!(failures_retry_with_backoff_then_go_dead_and_can_be_retried);
fn failures_retry_with_backoff_then_go_dead_and_can_be_retried(s: Fixture) {
    let a = t("a");
    let ids = s.enqueue(&a, &[new_job("/1"), new_job("/2")], 100).unwrap();
    let j1 = s.claim("w1", 1_000, None, 200).unwrap().unwrap();
    assert_eq!(j1.id, ids[0]);
    let st = s
        .fail_job(&a, &j1.id, ErrorCode::Transient, "busy", Some(5_000), 400)
        .unwrap();
    assert_eq!(st, JobState::Queued);
    let queued = s.get_job(&a, &j1.id).unwrap();
    assert_eq!(
        (queued.run_after, queued.attempts, queued.error_code),
        (5_000, 1, Some(ErrorCode::Transient))
    );
    let j2 = s.claim("w1", 1_000, None, 500).unwrap().unwrap();
    assert_eq!(j2.id, ids[1], "the failed job waits for its backoff");
    s.complete_job(&a, &j2.id, 600).unwrap();
    assert!(s.claim("w1", 1_000, None, 600).unwrap().is_none());

    let again = s.claim("w1", 1_000, None, 5_000).unwrap().unwrap();
    assert_eq!((again.id.clone(), again.attempts), (ids[0].clone(), 2));
    let st = s
        .fail_job(
            &a,
            &again.id,
            ErrorCode::Transient,
            "busy again",
            Some(9_000),
            5_100,
        )
        .unwrap();
    assert_eq!(st, JobState::Dead, "attempts used up");
    let dead = s.get_job(&a, &ids[0]).unwrap();
    assert_eq!(
        (dead.state, dead.error_code, dead.last_error.as_deref()),
        (
            JobState::Dead,
            Some(ErrorCode::Transient),
            Some("busy again")
        )
    );
    assert_eq!(
        s.fail_job(&a, &ids[0], ErrorCode::Internal, "late", None, 5_150)
            .unwrap(),
        JobState::Dead
    );
    assert_eq!(
        s.get_job(&a, &ids[0]).unwrap().last_error.as_deref(),
        Some("busy again")
    );

    let err = s.retry_job(&a, &ids[1], 5_200).unwrap_err();
    assert!(
        matches!(&err, Error::Conflict(m) if m.contains("succeeded")),
        "{err}"
    );
    s.retry_job(&a, &ids[0], 5_200).unwrap();
    let revived = s.claim("w2", 1_000, None, 5_300).unwrap().unwrap();
    assert_eq!((revived.id.clone(), revived.attempts), (ids[0].clone(), 1));
    let counts = s.batch_counts(&a, "b1").unwrap();
    assert_eq!(counts, [(JobState::Running, 1), (JobState::Succeeded, 1)]);
    assert!(matches!(
        s.retry_job(&a, &JobId::generate(), 1),
        Err(Error::NotFound { .. })
    ));
}

both!(a_permanent_failure_goes_dead_at_once);
fn a_permanent_failure_goes_dead_at_once(s: Fixture) {
    let a = t("a");
    let id = s.enqueue(&a, &[new_job("/1")], 0).unwrap().remove(0);
    s.claim("w", 1_000, None, 0).unwrap().unwrap();
    let st = s
        .fail_job(&a, &id, ErrorCode::CorruptFile, "bad pdf", None, 1)
        .unwrap();
    assert_eq!(st, JobState::Dead);
    let j = s.get_job(&a, &id).unwrap();
    assert_eq!(
        (j.error_code, j.attempts),
        (Some(ErrorCode::CorruptFile), 1)
    );
    assert!(s.running_owners().unwrap().is_empty());
    // Counted across tenants by state (for metrics).
    s.enqueue(&t("b"), &[new_job("/2")], 0).unwrap();
    assert_eq!(
        s.job_state_counts().unwrap(),
        [("dead".to_owned(), 1), ("queued".to_owned(), 1)]
    );
}

both!(reclaim_requeues_expired_leases_and_dead_owners_keeping_attempts);
fn reclaim_requeues_expired_leases_and_dead_owners_keeping_attempts(s: Fixture) {
    let a = t("a");
    s.enqueue(&a, &[new_job("/1"), new_job("/2"), new_job("/3")], 0)
        .unwrap();
    let j1 = s.claim("alive", 10_000, None, 0).unwrap().unwrap();
    let j2 = s.claim("dead-worker", 10_000, None, 0).unwrap().unwrap();
    let j3 = s.claim("slow", 100, None, 0).unwrap().unwrap();
    assert_eq!(
        s.running_owners().unwrap(),
        ["alive", "dead-worker", "slow"]
    );
    assert_eq!(
        s.reclaim(&[], 100).unwrap(),
        0,
        "a lease ending now is still valid"
    );
    assert_eq!(
        s.reclaim(&["dead-worker".into(), "gone".into()], 101)
            .unwrap(),
        2
    );
    let get = |id: &JobId| s.get_job(&a, id).unwrap();
    assert_eq!(
        (get(&j1.id).state, get(&j2.id).state, get(&j3.id).state),
        (JobState::Running, JobState::Queued, JobState::Queued)
    );
    assert_eq!(get(&j2.id).attempts, 1, "attempts unchanged by reclaim");
    let again = s.claim("alive", 10_000, None, 200).unwrap().unwrap();
    assert_eq!(again.attempts, 2);
    assert_eq!(s.running_owners().unwrap(), ["alive"]);
}

both!(list_jobs_filters_and_limits_newest_first);
fn list_jobs_filters_and_limits_newest_first(s: Fixture) {
    let a = t("a");
    for i in 0..5 {
        s.enqueue(
            &a,
            &[new_job_in(
                if i % 2 == 0 { "even" } else { "odd" },
                &format!("/{i}"),
            )],
            i,
        )
        .unwrap();
    }
    s.claim("w", 1_000, Some("odd"), 10).unwrap().unwrap();
    let all = s.list_jobs(&a, &JobFilter::default()).unwrap();
    assert_eq!(all.len(), 5, "limit 0 means no limit");
    assert!(
        all.windows(2).all(|w| w[0].created_at >= w[1].created_at),
        "newest first"
    );
    let f = JobFilter {
        batch: Some("even".into()),
        limit: 2,
        ..JobFilter::default()
    };
    assert_eq!(s.list_jobs(&a, &f).unwrap().len(), 2);
    let f = JobFilter {
        state: Some(JobState::Running),
        collection: Some(c("c")),
        ..JobFilter::default()
    };
    let running = s.list_jobs(&a, &f).unwrap();
    assert_eq!((running.len(), running[0].batch.as_str()), (1, "odd"));
    let f = JobFilter {
        collection: Some(c("none")),
        ..JobFilter::default()
    };
    assert!(s.list_jobs(&a, &f).unwrap().is_empty());
}

/// Claims until the queue is empty; returns what this claimer got.
fn drain(s: &dyn Store, owner: &str) -> Vec<JobId> {
    let mut got = Vec::new();
    loop {
        match s.claim(owner, 60_000, None, 10) {
            Ok(Some(j)) => got.push(j.id),
            Ok(None) => return got,
            Err(Error::Busy(_)) => {}
            Err(e) => panic!("claim failed: {e}"),
        }
    }
}

/// Enqueues 200 jobs through `stores[0]`, lets 4 threads (round-robin over `stores`)
/// drain the queue, and asserts every job was claimed exactly once and is now running.
pub fn claim_race(stores: &[Arc<dyn Store>]) {
    let jobs: Vec<NewJob> = (0..200).map(|i| new_job(&format!("/f{i}"))).collect();
    let mut enqueued = stores[0].enqueue(&t("a"), &jobs, 1).unwrap();
    assert_eq!(enqueued.len(), 200);
    let handles: Vec<_> = (0..4)
        .map(|w| {
            let s = Arc::clone(&stores[w % stores.len()]);
            std::thread::spawn(move || drain(&*s, &format!("w{w}")))
        })
        .collect();
    let mut all: Vec<_> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort();
    enqueued.sort();
    assert_eq!(all, enqueued, "each job claimed exactly once");
    let running = JobFilter {
        state: Some(JobState::Running),
        ..JobFilter::default()
    };
    assert_eq!(stores[0].list_jobs(&t("a"), &running).unwrap().len(), 200);
}

both!(concurrent_claims_never_hand_out_a_job_twice);
fn concurrent_claims_never_hand_out_a_job_twice(s: Fixture) {
    claim_race(&[s.handle()]);
}

both!(concurrent_claims_across_connections_never_hand_out_a_job_twice);
fn concurrent_claims_across_connections_never_hand_out_a_job_twice(s: Fixture) {
    let first = s.handle();
    let second = s.another_handle();
    claim_race(&[first, second]);
}

both!(reclaim_dead_letters_a_job_whose_worker_died_on_every_attempt);
fn reclaim_dead_letters_a_job_whose_worker_died_on_every_attempt(s: Fixture) {
    let a = t("a");
    let id = s.enqueue(&a, &[new_job("/poison")], 0).unwrap().remove(0);
    let max = s.get_job(&a, &id).unwrap().max_attempts;
    for attempt in 1..=max {
        let j = s.claim("w", 10_000, None, 0).unwrap().unwrap();
        assert_eq!((j.id.clone(), j.attempts), (id.clone(), attempt));
        assert_eq!(s.reclaim(&["w".into()], 1).unwrap(), 1);
    }
    let j = s.get_job(&a, &id).unwrap();
    assert_eq!(j.state, JobState::Dead);
    assert_eq!(j.error_code, Some(ErrorCode::Internal));
    assert!(j.last_error.unwrap().contains("worker died"));
    assert!(s.claim("w", 10_000, None, 2).unwrap().is_none());
}

both!(pending_count_covers_queued_and_running_of_one_collection_and_tenant);
fn pending_count_covers_queued_and_running_of_one_collection_and_tenant(s: Fixture) {
    let a = t("a");
    let ids = s
        .enqueue(&a, &[new_job("/1"), new_job("/2"), new_job("/3")], 0)
        .unwrap();
    assert_eq!(s.pending_count(&a, &c("c")).unwrap(), 3);
    let j = s.claim("w", 1_000, None, 0).unwrap().unwrap();
    assert_eq!(s.pending_count(&a, &c("c")).unwrap(), 3, "running counts");
    s.complete_job(&a, &j.id, 1).unwrap();
    s.fail_job(&a, &ids[1], ErrorCode::CorruptFile, "bad", None, 2)
        .unwrap();
    assert_eq!(s.pending_count(&a, &c("c")).unwrap(), 1);
    assert_eq!(
        s.pending_count(&t("b"), &c("c")).unwrap(),
        0,
        "other tenant"
    );
    assert_eq!(s.pending_count(&a, &c("other")).unwrap(), 0);
}
