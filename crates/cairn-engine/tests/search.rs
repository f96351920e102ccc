//! Search over real indexes (tantivy + usearch) with the real MiniLM embedder: tenant and
//! ACL filters exclude before ranking, metadata filters, updates and deletes, recovery
//! from a lost or corrupt index, identifier search, rerankers and query transforms.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use cairn_engine::Engine;
use cairn_engine::search::{RerankKind, SearchMode, SearchRequest, Transform};
use cairn_index::{Access, SearchFilter};
use cairn_types::{Acl, CollectionId, TenantId};

/// The test documents are short: keep them searchable.
const SHORT_OK: &str = "[ingest.quality]\nmin_chars = 10\n";

const MODES: [SearchMode; 3] = [SearchMode::Lexical, SearchMode::Dense, SearchMode::Hybrid];

use common::upload_with as upload;

fn public(e: &Engine, tenant: &str, coll: &str, name: &str, text: &str) -> String {
    upload(
        e,
        tenant,
        coll,
        name,
        text,
        Acl::default(),
        serde_json::json!({}),
    )
}

fn search(
    e: &Engine,
    tenant: &str,
    coll: &str,
    q: &str,
    mode: SearchMode,
    filter: SearchFilter,
    k: usize,
) -> Vec<String> {
    let mut req = SearchRequest::new(CollectionId::new(coll), q);
    req.mode = Some(mode);
    req.filter = filter;
    req.top_k = Some(k);
    req.candidates = Some(k);
    e.search(&TenantId::new(tenant), &req)
        .unwrap()
        .hits
        .into_iter()
        .map(|h| h.source)
        .collect()
}

const DEADLOCK: &str = "# Deadlock errors\n\nWhen two transactions wait on each other's locks, PostgreSQL \
    aborts one of them with SQLSTATE 40P01 deadlock_detected. Retry the aborted transaction; \
    deadlock_timeout controls how long the server waits before checking for a deadlock.";

fn filler(e: &Engine, tenant: &str, coll: &str, n: usize) {
    for i in 0..n {
        let text = format!(
            "# Note {i}\n\n{}",
            common::prose(&format!("topic{i}"), 3 + i % 4)
        );
        public(e, tenant, coll, &format!("note{i}.md"), &text);
    }
}

#[test]
fn another_tenants_best_match_never_appears() {
    let dir = tempfile::tempdir().unwrap();
    let e = common::engine(dir.path(), SHORT_OK);
    public(&e, "acme", "docs", "deadlocks.md", DEADLOCK);
    public(
        &e,
        "globex",
        "docs",
        "locks.md",
        "# Locks\n\nRow locks are taken by UPDATE and released at commit. A transaction that waits too long can time out.",
    );
    filler(&e, "globex", "docs", 5);
    for mode in MODES {
        for k in [1, 10] {
            let hits = search(
                &e,
                "globex",
                "docs",
                "deadlock 40P01 detected retry transaction",
                mode,
                SearchFilter::default(),
                k,
            );
            assert!(!hits.is_empty(), "{mode:?}");
            assert!(
                hits.iter().all(|s| s != "upload:deadlocks.md"),
                "{mode:?} leaked: {hits:?}"
            );
        }
        let own = search(
            &e,
            "acme",
            "docs",
            "deadlock 40P01",
            mode,
            SearchFilter::default(),
            1,
        );
        assert_eq!(own, ["upload:deadlocks.md"], "{mode:?}");
    }
}

#[test]
fn acl_excludes_the_best_match_before_ranking() {
    let dir = tempfile::tempdir().unwrap();
    let e = common::engine(dir.path(), SHORT_OK);
    let secret = Acl {
        users: vec!["alice".into()],
        groups: vec!["dba".into()],
    };
    upload(
        &e,
        "t",
        "docs",
        "deadlocks.md",
        DEADLOCK,
        secret,
        serde_json::json!({}),
    );
    public(
        &e,
        "t",
        "docs",
        "locks.md",
        "# Locks\n\nA deadlock happens when transactions wait on each other; one is aborted and must be retried.",
    );
    filler(&e, "t", "docs", 8);
    let as_user = |user: &str, groups: &[&str]| SearchFilter {
        access: Access::Principal {
            user: Some(user.into()),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        },
        ..SearchFilter::default()
    };
    let q = "deadlock 40P01 deadlock_detected retry the aborted transaction";
    for mode in MODES {
        // One candidate slot: a post-filter would drop the secret and return nothing.
        let bob = search(&e, "t", "docs", q, mode, as_user("bob", &["dev"]), 1);
        assert_eq!(bob, ["upload:locks.md"], "{mode:?}");
        let bob10 = search(&e, "t", "docs", q, mode, as_user("bob", &[]), 10);
        assert!(
            !bob10.contains(&"upload:deadlocks.md".to_owned()),
            "{mode:?}: {bob10:?}"
        );
        assert_eq!(
            search(&e, "t", "docs", q, mode, as_user("alice", &[]), 1),
            ["upload:deadlocks.md"],
            "{mode:?}"
        );
        assert_eq!(
            search(&e, "t", "docs", q, mode, as_user("carol", &["dba"]), 1),
            ["upload:deadlocks.md"],
            "{mode:?}"
        );
    }
}

#[test]
fn metadata_filters_apply_inside_the_search() {
    let dir = tempfile::tempdir().unwrap();
    let e = common::engine(dir.path(), SHORT_OK);
    let up = |name: &str, text: &str, meta: serde_json::Value| {
        upload(&e, "t", "docs", name, text, Acl::default(), meta)
    };
    up(
        "old.md",
        "# Vacuum\n\nVACUUM reclaims storage occupied by dead tuples in old releases.",
        serde_json::json!({"date": "2020-05-01", "tags": ["legacy"], "type": "guide"}),
    );
    up(
        "new.md",
        "# Vacuum now\n\nVACUUM reclaims storage from dead tuples; autovacuum runs it for you.",
        serde_json::json!({"date": "2024-05-01", "tags": ["current"], "type": "reference"}),
    );
    filler(&e, "t", "docs", 4);
    let q = "vacuum reclaims storage dead tuples";
    for mode in MODES {
        let f = |filter: SearchFilter| search(&e, "t", "docs", q, mode, filter, 5);
        let only = |v: Vec<String>, want: &str| {
            assert!(
                !v.is_empty() && v.iter().all(|s| s == want),
                "{mode:?}: {v:?}"
            );
        };
        only(
            f(SearchFilter {
                tags: vec!["legacy".into()],
                ..SearchFilter::default()
            }),
            "upload:old.md",
        );
        only(
            f(SearchFilter {
                kinds: vec!["reference".into()],
                ..SearchFilter::default()
            }),
            "upload:new.md",
        );
        only(
            f(SearchFilter {
                sources: vec!["upload:old.md".into()],
                ..SearchFilter::default()
            }),
            "upload:old.md",
        );
        let from = cairn_engine::search::parse_date("2023-01-01");
        only(
            f(SearchFilter {
                date_from: from,
                ..SearchFilter::default()
            }
            .clone())
            .into_iter()
            .filter(|s| s.starts_with("upload:old") || s.starts_with("upload:new"))
            .collect(),
            "upload:new.md",
        );
        let to = cairn_engine::search::parse_date("2021-01-01");
        only(
            f(SearchFilter {
                date_to: to,
                ..SearchFilter::default()
            }),
            "upload:old.md",
        );
    }
}

#[test]
fn updates_and_deletes_reach_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let e = common::engine(dir.path(), SHORT_OK);
    filler(&e, "t", "docs", 3);
    let id = public(
        &e,
        "t",
        "docs",
        "animal.md",
        "# Zebra\n\nThe zebra_stripes setting controls how many stripes a zebra has.",
    );
    let find = |q: &str| {
        search(
            &e,
            "t",
            "docs",
            q,
            SearchMode::Lexical,
            SearchFilter::default(),
            5,
        )
    };
    assert_eq!(
        find("zebra_stripes").first().map(String::as_str),
        Some("upload:animal.md")
    );
    // Replace the document: the old text is gone, the new one is found.
    public(
        &e,
        "t",
        "docs",
        "animal.md",
        "# Giraffe\n\nThe giraffe_neck setting controls how long a giraffe neck grows.",
    );
    assert!(find("zebra_stripes").is_empty());
    assert_eq!(
        find("giraffe_neck").first().map(String::as_str),
        Some("upload:animal.md")
    );
    e.store()
        .delete_document(&TenantId::new("t"), &cairn_types::DocumentId::new(id))
        .unwrap();
    assert!(find("giraffe_neck").is_empty());
    let dense = search(
        &e,
        "t",
        "docs",
        "how long is a giraffe neck",
        SearchMode::Dense,
        SearchFilter::default(),
        10,
    );
    assert!(!dense.contains(&"upload:animal.md".to_owned()), "{dense:?}");
}

#[test]
fn a_lost_or_corrupt_index_is_rebuilt_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    {
        let e = common::engine(dir.path(), SHORT_OK);
        public(&e, "t", "docs", "deadlocks.md", DEADLOCK);
        filler(&e, "t", "docs", 3);
        assert_eq!(
            search(
                &e,
                "t",
                "docs",
                "40P01",
                SearchMode::Lexical,
                SearchFilter::default(),
                1
            ),
            ["upload:deadlocks.md"]
        );
    }
    let space = dir.path().join("data/index/t/docs");
    // Garbage in the dense files and meta: reopened as a fresh space and rebuilt.
    std::fs::write(space.join("dense.usearch"), b"not an index").unwrap();
    std::fs::write(space.join("meta.json"), b"{broken").unwrap();
    {
        let e = common::engine(dir.path(), SHORT_OK);
        for mode in MODES {
            assert_eq!(
                search(
                    &e,
                    "t",
                    "docs",
                    "deadlock 40P01 retry",
                    mode,
                    SearchFilter::default(),
                    1
                ),
                ["upload:deadlocks.md"],
                "{mode:?}"
            );
        }
    }
    // The whole space deleted.
    std::fs::remove_dir_all(&space).unwrap();
    let e = common::engine(dir.path(), SHORT_OK);
    let r = e
        .sync_index(&TenantId::new("t"), &CollectionId::new("docs"))
        .unwrap();
    assert!(r.rebuilt && r.documents_indexed == 4, "{r:?}");
    assert_eq!(
        search(
            &e,
            "t",
            "docs",
            "deadlock_timeout",
            SearchMode::Hybrid,
            SearchFilter::default(),
            1
        ),
        ["upload:deadlocks.md"]
    );
}

#[test]
fn identifiers_are_searchable_whole() {
    let dir = tempfile::tempdir().unwrap();
    let e = common::engine(dir.path(), SHORT_OK);
    public(
        &e,
        "t",
        "docs",
        "psql.md",
        "# psql\n\nThe \\gexec meta-command sends the current query buffer and executes each value of the result as a statement.",
    );
    public(
        &e,
        "t",
        "docs",
        "stats.md",
        "# Statistics\n\nThe pg_stat_statements module tracks planning and execution statistics of all SQL statements.",
    );
    public(
        &e,
        "t",
        "docs",
        "catalog.md",
        "# Catalogs\n\nThe catalog pg_catalog.pg_class describes tables and other objects that have columns.",
    );
    public(
        &e,
        "t",
        "docs",
        "conn.md",
        "# Connections\n\nmax_connections determines the maximum number of concurrent connections to the database server.",
    );
    filler(&e, "t", "docs", 4);
    for (q, want) in [
        ("\\gexec", "upload:psql.md"),
        ("pg_stat_statements", "upload:stats.md"),
        ("pg_class", "upload:catalog.md"),
        ("pg_catalog.pg_class", "upload:catalog.md"),
        ("max_connections", "upload:conn.md"),
    ] {
        assert_eq!(
            search(
                &e,
                "t",
                "docs",
                q,
                SearchMode::Lexical,
                SearchFilter::default(),
                1
            ),
            [want],
            "{q}"
        );
    }
}

#[test]
fn rerankers_and_transforms_are_traced() {
    let dir = tempfile::tempdir().unwrap();
    let e = common::engine(
        dir.path(),
        // `replace` so the final order is the reranker's own (the default `rrf` blends it
        // with the retrieval order, and then rerank scores need not be monotone).
        &format!(
            "{SHORT_OK}[models]\ngenerator = \"smollm2-135m-instruct\"\n\
             [retrieval]\nrerank_blend = \"replace\"\n"
        ),
    );
    public(&e, "t", "docs", "deadlocks.md", DEADLOCK);
    public(
        &e,
        "t",
        "docs",
        "locks.md",
        "# Locks\n\nRow locks are taken by UPDATE and released at commit.",
    );
    filler(&e, "t", "docs", 3);
    let tenant = TenantId::new("t");
    for kind in [RerankKind::Maxsim, RerankKind::Llm] {
        let mut req = SearchRequest::new(
            CollectionId::new("docs"),
            "what error does a deadlock raise?",
        );
        req.rerank = Some(kind);
        req.top_k = Some(3);
        req.candidates = Some(5);
        let r = e.search(&tenant, &req).unwrap();
        assert_eq!(r.rerank, kind);
        assert!(!r.hits.is_empty());
        let scores: Vec<f32> = r.hits.iter().map(|h| h.scores.rerank.unwrap()).collect();
        assert!(
            scores.windows(2).all(|w| w[0] >= w[1]),
            "{kind:?} not sorted: {scores:?}"
        );
        assert!(r.hits.iter().all(|h| h.score == h.scores.rerank.unwrap()));
        if kind == RerankKind::Llm {
            assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)), "{scores:?}");
        }
    }
    let mut req = SearchRequest::new(CollectionId::new("docs"), "deadlock error code");
    req.transforms = vec![Transform::MultiQuery, Transform::Hyde];
    let r = e.search(&tenant, &req).unwrap();
    assert_eq!(r.transforms.len(), 2);
    assert!(
        (3..=5).contains(&r.transforms[0].output.len()),
        "{:?}",
        r.transforms[0]
    );
    assert!(!r.transforms[1].output[0].is_empty());
    assert!(!r.hits.is_empty());
    let mut bad = SearchRequest::new(CollectionId::new("docs"), "x");
    bad.rerank = Some(RerankKind::CrossEncoder);
    let err = e.search(&tenant, &bad).unwrap_err();
    assert_eq!(err.code, cairn_types::ErrorCode::InvalidConfig);
    let empty = SearchRequest::new(CollectionId::new("docs"), "  ");
    assert_eq!(
        e.search(&tenant, &empty).unwrap_err().code,
        cairn_types::ErrorCode::InvalidInput
    );
    let missing = SearchRequest::new(CollectionId::new("nope"), "x");
    assert_eq!(
        e.search(&tenant, &missing).unwrap_err().code,
        cairn_types::ErrorCode::NotFound
    );
}

#[test]
fn index_spaces_past_the_memory_budget_close_and_reopen_on_use() {
    let dir = tempfile::tempdir().unwrap();
    // 1 MiB: a few small collections already exceed it.
    let e = common::engine(
        dir.path(),
        &format!("{SHORT_OK}[retrieval]\nindex_memory_mb = 1\n"),
    );
    for c in ["c1", "c2", "c3", "c4"] {
        filler(&e, "t", c, 40);
        public(&e, "t", c, "deadlock.md", DEADLOCK);
    }
    let mut most = 0;
    for c in ["c1", "c2", "c3", "c4", "c1", "c3"] {
        let hits = search(
            &e,
            "t",
            c,
            "deadlock_detected retry",
            SearchMode::Hybrid,
            SearchFilter::default(),
            3,
        );
        assert_eq!(
            hits.first().map(String::as_str),
            Some("upload:deadlock.md"),
            "{c}"
        );
        let (open, bytes) = e.index_memory();
        eprintln!("after {c}: {open} spaces open, {bytes} bytes");
        most = most.max(open);
        // Over budget only by the one just opened: every other was closed.
        assert!(
            open == 1 || bytes <= 1024 * 1024,
            "{open} open, {bytes} bytes"
        );
    }
    assert!(
        most <= 2,
        "least recently used spaces were closed ({most} open at most)"
    );
    // Without a budget, all stay open.
    let e = common::engine(
        dir.path(),
        &format!("{SHORT_OK}[retrieval]\nindex_memory_mb = 0\n"),
    );
    for c in ["c1", "c2", "c3", "c4"] {
        search(
            &e,
            "t",
            c,
            "retry",
            SearchMode::Hybrid,
            SearchFilter::default(),
            3,
        );
    }
    assert_eq!(e.index_memory().0, 4);
}
