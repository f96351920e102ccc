//! The shared search state on PostgreSQL (`retrieval.dense_backend = "pgvector"`,
//! `retrieval.lexical_backend = "postgres"`): pgvector's recall against exact search,
//! with and without an ACL admitting 1% of the chunks; spaces resetting for a new
//! incarnation; rows following their documents; tenant isolation; full-text search.
//! Needs the test server (`CAIRN_TEST_PG_URL`; scripts/test.sh starts it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use cairn_store::testing::fresh_postgres_database;
use cairn_store::{
    CollectionRepo, DocumentRepo, PostgresStore, SharedChunk, SharedDoc, SharedFilter,
    SharedIndexRepo, SharedSpace, TenantRepo, VectorPlan,
};
use cairn_types::{ChunkingSpec, CollectionId, DocumentId, TenantId};

const DIM: usize = 32;

fn store() -> PostgresStore {
    let url = fresh_postgres_database().unwrap_or_else(|e| panic!("{e}"));
    let s = PostgresStore::open(&url).unwrap();
    for tenant in ["a", "b"] {
        s.ensure_tenant(&TenantId::new(tenant), tenant, 1).unwrap();
        s.create_collection(
            &TenantId::new(tenant),
            &CollectionId::new("c"),
            "",
            &ChunkingSpec::default(),
            1,
        )
        .unwrap();
    }
    s
}

/// Commits `n` one-chunk documents to `tenant`'s collection `c`; returns their ids.
fn documents(s: &PostgresStore, tenant: &str, n: usize) -> Vec<String> {
    let (tenant, coll) = (TenantId::new(tenant), CollectionId::new("c"));
    (0..n)
        .map(|i| {
            let commit = cairn_store::testing::synthetic_document(&tenant, &coll, i);
            let doc = s.commit_document(&tenant, commit, 20).unwrap();
            doc.id.as_str().to_owned()
        })
        .collect()
}

fn space<'a>(
    tenant: &'a TenantId,
    collection: &'a CollectionId,
    generation: i64,
) -> SharedSpace<'a> {
    SharedSpace {
        tenant,
        collection,
        created_at: 1,
        generation,
        vectors: Some(("test-embedder", DIM)),
        lexemes: true,
        hnsw: (16, 64),
    }
}

/// A deterministic generator (xorshift), so the data and queries are the same each run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }

    fn vector(&mut self) -> Vec<f32> {
        (0..DIM).map(|_| self.next()).collect()
    }
}

fn normalized(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
    v.iter_mut().for_each(|x| *x /= n);
    v
}

/// Clustered vectors: a cluster centre plus noise, normalized.
fn clustered(rng: &mut Rng, centres: &[Vec<f32>]) -> Vec<f32> {
    let c = &centres[(rng.0 % centres.len() as u64) as usize];
    normalized(c.iter().map(|x| x + 0.35 * rng.next()).collect())
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn pgvector_recall_at_10_holds_with_and_without_an_acl_admitting_one_percent() {
    let s = store();
    let (tenant, coll) = (TenantId::new("a"), CollectionId::new("c"));
    let sp = space(&tenant, &coll, 0);
    assert_eq!(
        s.shared_position(&sp).unwrap(),
        -1,
        "a new space is unbuilt"
    );
    let ids = documents(&s, "a", 200);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let centres: Vec<Vec<f32>> = (0..40).map(|_| normalized(rng.vector())).collect();
    // 200 documents of 100 chunks: 20,000 vectors; documents 0 and 1 (1%) are alice's.
    let mut all: Vec<(u64, Vec<f32>, bool)> = Vec::new();
    for batch in ids.chunks(20).enumerate() {
        let (b, batch_ids) = batch;
        let docs: Vec<SharedDoc> = batch_ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let n = b * 20 + i;
                let alice = n < 2;
                let chunks = (0..100)
                    .map(|j| {
                        let key = (n * 1_000 + j) as u64;
                        let v = clustered(&mut rng, &centres);
                        all.push((key, v.clone(), alice));
                        SharedChunk {
                            key,
                            vector: Some(v),
                            terms: vec![],
                        }
                    })
                    .collect();
                SharedDoc {
                    document: id.clone(),
                    principals: vec![if alice { "u:alice" } else { "u:bob" }.into()],
                    sources: vec![format!("/docs/{n}.md")],
                    kind: "markdown".into(),
                    tags: vec![],
                    date: 0,
                    chunks,
                }
            })
            .collect();
        s.shared_apply(&sp, &[], &docs, -1).unwrap();
    }
    s.shared_apply(&sp, &[], &[], 7).unwrap();
    let counts = s.shared_counts(&tenant, &coll).unwrap();
    assert_eq!((counts.applied_seq, counts.vectors), (7, 20_000));

    let alice = SharedFilter {
        principals: Some(vec!["*".into(), "u:alice".into()]),
        ..SharedFilter::default()
    };
    let bob = SharedFilter {
        principals: Some(vec!["*".into(), "u:bob".into()]),
        ..SharedFilter::default()
    };
    let (mut open_recall, mut acl_recall, mut exact_plans) = (0.0, 0.0, 0);
    let mut broad_recall = 0.0;
    let queries = 30;
    for _ in 0..queries {
        let q = clustered(&mut rng, &centres);
        let truth = |admit: &dyn Fn(bool) -> bool| {
            let mut scored: Vec<(u64, f32)> = all
                .iter()
                .filter(|(_, _, a)| admit(*a))
                .map(|(k, v, _)| (*k, dot(&q, v)))
                .collect();
            scored.sort_by(|a, b| b.1.total_cmp(&a.1));
            scored
                .into_iter()
                .take(10)
                .map(|(k, _)| k)
                .collect::<Vec<_>>()
        };
        let recall = |found: &[(u64, f32)], truth: &[u64]| {
            let hit = truth
                .iter()
                .filter(|k| found.iter().any(|f| f.0 == **k))
                .count();
            hit as f64 / truth.len() as f64
        };
        let open = s
            .shared_vector_search(&sp, &q, &SharedFilter::default(), 10, 64)
            .unwrap();
        assert_eq!(open.hits.len(), 10);
        assert!(open.hits.windows(2).all(|w| w[0].1 >= w[1].1), "best first");
        open_recall += recall(&open.hits, &truth(&|_| true));
        let filtered = s.shared_vector_search(&sp, &q, &alice, 10, 64).unwrap();
        assert!(
            filtered.hits.iter().all(|(k, _)| *k < 2_000),
            "only alice's chunks: {:?}",
            filtered.hits
        );
        assert_eq!(filtered.hits.len(), 10, "the filter admits 200");
        acl_recall += recall(&filtered.hits, &truth(&|a| a));
        exact_plans += usize::from(filtered.plan == VectorPlan::Exact);
        // An ACL admitting 99% walks the graph (counting its rows stops at the limit).
        let broad = s.shared_vector_search(&sp, &q, &bob, 10, 64).unwrap();
        assert_eq!(broad.plan, VectorPlan::Graph);
        assert!(
            broad.hits.iter().all(|(k, _)| *k >= 2_000),
            "only bob's chunks"
        );
        broad_recall += recall(&broad.hits, &truth(&|a| !a));
    }
    let n = queries as f64;
    let (open_recall, acl_recall, broad_recall) =
        (open_recall / n, acl_recall / n, broad_recall / n);
    println!(
        "pgvector recall@10 over 20,000 x {DIM}: {open_recall:.3} open, {acl_recall:.3} under \
         a 1% ACL ({exact_plans} of {queries} served by an exact scan), {broad_recall:.3} \
         under a 99% ACL"
    );
    assert!(open_recall >= 0.9, "open recall@10 {open_recall}");
    assert_eq!(exact_plans, queries, "200 admitted rows are ranked exactly");
    assert!(acl_recall >= 0.999, "recall@10 under a 1% ACL {acl_recall}");
    assert!(
        broad_recall >= 0.9,
        "recall@10 under a 99% ACL {broad_recall}"
    );
}

#[test]
fn spaces_reset_for_a_new_incarnation_and_rows_follow_their_documents() {
    let s = store();
    let (a, b, coll) = (
        TenantId::new("a"),
        TenantId::new("b"),
        CollectionId::new("c"),
    );
    let ids = documents(&s, "a", 3);
    let sp = space(&a, &coll, 0);
    assert_eq!(s.shared_position(&sp).unwrap(), -1);
    let mut rng = Rng(42);
    let docs: Vec<SharedDoc> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| SharedDoc {
            document: id.clone(),
            kind: if i == 0 { "pdf" } else { "markdown" }.into(),
            tags: if i == 1 { vec!["ops".into()] } else { vec![] },
            date: i64::try_from(i).unwrap() * 1_000,
            sources: vec![format!("/docs/{i}.md"), format!("{i}.md")],
            chunks: vec![SharedChunk {
                key: i as u64 + 1,
                vector: Some(normalized(rng.vector())),
                terms: cairn_index_like_terms(&format!(
                    "pg_stat_activity chapter {i} shows sessions"
                )),
            }],
            ..SharedDoc::default()
        })
        .collect();
    // A document the store no longer has is skipped, not an error.
    let mut with_gone = docs.clone();
    with_gone.push(SharedDoc {
        document: "gone".into(),
        chunks: vec![SharedChunk {
            key: 99,
            vector: Some(normalized(rng.vector())),
            terms: vec![],
        }],
        ..SharedDoc::default()
    });
    s.shared_apply(&sp, &[], &with_gone, 5).unwrap();
    assert_eq!(s.shared_position(&sp).unwrap(), 5);
    assert_eq!(s.shared_counts(&a, &coll).unwrap().chunks, 3);

    // Filters inside the query: type, tags, date, source (full or file name).
    let q = normalized(rng.vector());
    let keys = |f: SharedFilter| {
        let mut k: Vec<u64> = s
            .shared_vector_search(&sp, &q, &f, 10, 40)
            .unwrap()
            .hits
            .iter()
            .map(|h| h.0)
            .collect();
        k.sort_unstable();
        k
    };
    assert_eq!(keys(SharedFilter::default()), vec![1, 2, 3]);
    let pdf = SharedFilter {
        kinds: vec!["pdf".into()],
        ..SharedFilter::default()
    };
    assert_eq!(keys(pdf), vec![1]);
    let ops = SharedFilter {
        tags: vec!["ops".into()],
        ..SharedFilter::default()
    };
    assert_eq!(keys(ops), vec![2]);
    let late = SharedFilter {
        date_from: Some(1_000),
        date_to: Some(2_000),
        ..SharedFilter::default()
    };
    assert_eq!(keys(late), vec![2, 3]);
    let named = SharedFilter {
        sources: vec!["2.md".into()],
        ..SharedFilter::default()
    };
    assert_eq!(keys(named), vec![3]);
    // Documents with an empty ACL are public: any principal sees them.
    let stranger = SharedFilter {
        principals: Some(vec!["*".into(), "u:zed".into()]),
        ..SharedFilter::default()
    };
    assert_eq!(keys(stranger), vec![1, 2, 3]);

    // Full-text search: the identifier whole, and its parts.
    let text = |tenant_space: &SharedSpace<'_>, query: &str| {
        s.shared_text_search(
            tenant_space,
            &cairn_index_like_terms(query),
            &SharedFilter::default(),
            10,
        )
        .unwrap()
    };
    assert_eq!(text(&sp, "pg_stat_activity").len(), 3);
    let chapter_one = text(&sp, "chapter 1 sessions");
    assert_eq!(chapter_one.first().map(|h| h.0), Some(2), "{chapter_one:?}");
    assert!(text(&sp, "nothing matches zebra").is_empty());

    // Tenant b's collection `c` is another space: it sees none of a's rows.
    let other = space(&b, &coll, 0);
    assert_eq!(s.shared_position(&other).unwrap(), -1);
    assert!(text(&other, "pg_stat_activity").is_empty());
    let none = s
        .shared_vector_search(&other, &q, &SharedFilter::default(), 10, 40)
        .unwrap();
    assert!(none.hits.is_empty());
    assert!(
        s.shared_vectors(&b, &coll, &[1, 2, 3])
            .unwrap()
            .iter()
            .all(Option::is_none)
    );
    assert!(
        s.shared_vectors(&a, &coll, &[1, 2, 3])
            .unwrap()
            .iter()
            .all(Option::is_some)
    );

    // Deleting a document removes its rows in the same transaction.
    s.delete_document(&a, &DocumentId::new(ids[0].clone()))
        .unwrap();
    assert_eq!(s.shared_counts(&a, &coll).unwrap().chunks, 2);
    // Removal through apply, too.
    s.shared_apply(&sp, &[ids[1].clone()], &[], 6).unwrap();
    assert_eq!(s.shared_counts(&a, &coll).unwrap().chunks, 1);

    // A new incarnation (a reindex swapped the collection) starts empty and unbuilt.
    let next = space(&a, &coll, 1);
    assert_eq!(s.shared_position(&next).unwrap(), -1);
    assert_eq!(s.shared_counts(&a, &coll).unwrap().chunks, 0);
    // Deleting the collection removes the space.
    s.delete_collection(&a, &coll).unwrap();
    assert_eq!(s.shared_counts(&a, &coll).unwrap().applied_seq, -1);
}

/// Lowercased words and whole identifiers (what the engine's analyzers give, closely
/// enough for these tests).
fn cairn_index_like_terms(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    out.extend(
        text.split_whitespace()
            .filter(|w| w.contains('_'))
            .map(str::to_lowercase),
    );
    out
}

/// One syncer at a time per space, across threads (as across nodes), and waiting never
/// holds a pooled connection: 40 syncers on a 16-connection pool, each needing another
/// connection for its work, all finish, never two inside at once. Reading the position
/// without the lock sees it only for the incarnation and shape it was built for.
#[test]
fn shared_syncs_exclude_each_other_without_starving_the_pool() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let s = store();
    let (a, coll) = (TenantId::new("a"), CollectionId::new("c"));
    let sp = space(&a, &coll, 0);
    assert_eq!(s.shared_current(&sp).unwrap(), None, "never built");
    assert_eq!(s.shared_position(&sp).unwrap(), -1);
    s.shared_apply(&sp, &[], &[], 9).unwrap();
    assert_eq!(s.shared_current(&sp).unwrap(), Some(9));
    assert_eq!(s.shared_current(&space(&a, &coll, 1)).unwrap(), None);

    let inside = AtomicBool::new(false);
    let (ran, overlaps) = (AtomicUsize::new(0), AtomicUsize::new(0));
    std::thread::scope(|scope| {
        for _ in 0..40 {
            scope.spawn(|| {
                s.with_shared_lock(&a, &coll, &mut || {
                    if inside.swap(true, Ordering::SeqCst) {
                        overlaps.fetch_add(1, Ordering::SeqCst);
                    }
                    // The work reads through the pool, as a sync does.
                    s.shared_counts(&a, &coll).unwrap();
                    inside.store(false, Ordering::SeqCst);
                    ran.fetch_add(1, Ordering::SeqCst);
                })
                .unwrap();
            });
        }
    });
    assert_eq!(ran.load(Ordering::SeqCst), 40);
    assert_eq!(overlaps.load(Ordering::SeqCst), 0);
}
