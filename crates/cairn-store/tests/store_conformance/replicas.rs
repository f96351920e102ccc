//! Index replicas and change log pruning: the log is pruned only through what every live
//! replica has applied, replicas gone quiet stop holding it back, the floor only rises,
//! the head never goes back below it, and nothing crosses tenants or collections.

use crate::support::{Fixture, c, commit, doc, t};
use cairn_store::Error;

both!(the_change_log_is_pruned_through_what_every_live_replica_applied);
fn the_change_log_is_pruned_through_what_every_live_replica_applied(s: Fixture) {
    let (a, b, coll) = (t("a"), t("b"), c("c"));
    for i in 0..4 {
        commit(&s, doc("a", &format!("{i}.md"), &format!("h{i}")), &["x"]);
        commit(&s, doc("b", &format!("{i}.md"), &format!("h{i}")), &["y"]);
    }
    let seqs: Vec<i64> = s
        .index_changes(&a, &coll, 0, 100)
        .unwrap()
        .iter()
        .map(|ch| ch.seq)
        .collect();
    assert_eq!(seqs.len(), 4);
    let head = s.index_head(&a, &coll).unwrap();
    assert_eq!(head, seqs[3]);
    // No replica reports: nothing is pruned, whatever the cutoff.
    assert_eq!(s.prune_index_changes(i64::MAX).unwrap().changes, 0);
    assert_eq!(s.index_log_floor(&a, &coll).unwrap(), 0);
    // Two replicas of a's collection: the slower one holds the log back.
    s.report_replica(&a, &coll, "node-1", seqs[3], 1_000)
        .unwrap();
    s.report_replica(&a, &coll, "node-2", seqs[1], 1_000)
        .unwrap();
    let r = s.prune_index_changes(500).unwrap();
    assert_eq!((r.changes, r.replicas_forgotten), (2, 0));
    assert_eq!(s.index_log_floor(&a, &coll).unwrap(), seqs[1]);
    let left: Vec<i64> = s
        .index_changes(&a, &coll, 0, 100)
        .unwrap()
        .iter()
        .map(|ch| ch.seq)
        .collect();
    assert_eq!(left, seqs[2..]);
    // Tenant b's log is untouched: no replica of it reported.
    assert_eq!(s.index_changes(&b, &coll, 0, 100).unwrap().len(), 4);
    assert_eq!(s.index_log_floor(&b, &coll).unwrap(), 0);
    // node-2 goes quiet; once it is past the cutoff it no longer holds the log back.
    s.report_replica(&a, &coll, "node-1", seqs[3], 5_000)
        .unwrap();
    let r = s.prune_index_changes(2_000).unwrap();
    assert_eq!((r.changes, r.replicas_forgotten), (2, 1));
    assert_eq!(s.index_log_floor(&a, &coll).unwrap(), seqs[3]);
    assert!(s.index_changes(&a, &coll, 0, 100).unwrap().is_empty());
    // The head stays where it was with the whole log gone, and the next change follows.
    assert_eq!(s.index_head(&a, &coll).unwrap(), head);
    let next = commit(&s, doc("a", "late.md", "h9"), &["z"]);
    let changes = s.index_changes(&a, &coll, head, 10).unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].document, next.id);
    assert!(s.index_head(&a, &coll).unwrap() > head);
    // A replica reporting an older position never lowers the floor.
    s.report_replica(&a, &coll, "node-1", seqs[0], 6_000)
        .unwrap();
    s.prune_index_changes(2_000).unwrap();
    assert_eq!(s.index_log_floor(&a, &coll).unwrap(), seqs[3]);
    assert_eq!(s.index_changes(&a, &coll, head, 10).unwrap().len(), 1);
    // Another tenant cannot report on a's collection names it does not have.
    let err = s
        .report_replica(&b, &c("missing"), "node-1", 1, 1)
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

both!(deleting_a_collection_forgets_its_replicas_and_floor);
fn deleting_a_collection_forgets_its_replicas_and_floor(s: Fixture) {
    let (a, coll) = (t("a"), c("c"));
    commit(&s, doc("a", "1.md", "h1"), &["x"]);
    let head = s.index_head(&a, &coll).unwrap();
    s.report_replica(&a, &coll, "node-1", head, 1_000).unwrap();
    s.prune_index_changes(0).unwrap();
    assert_eq!(s.index_log_floor(&a, &coll).unwrap(), head);
    s.delete_collection(&a, &coll).unwrap();
    s.create_collection(&a, &coll, "", &Default::default(), 2)
        .unwrap();
    assert_eq!(s.index_log_floor(&a, &coll).unwrap(), 0);
    assert_eq!(s.prune_index_changes(0).unwrap().replicas_forgotten, 0);
}
