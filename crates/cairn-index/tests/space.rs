//! An index space on disk: apply, persist, reopen, replay, filters on both sides, and the
//! tenant check — with synthetic vectors (no model needed).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cairn_index::{
    Access, ChunkInput, DenseParams, DocAttrs, DocInput, Incarnation, IndexSpace, SearchFilter,
    chunk_key,
};

fn inc(created_at: i64, generation: i64) -> Incarnation {
    Incarnation {
        created_at,
        generation,
    }
}

const DIM: usize = 8;

fn unit(i: usize) -> Vec<f32> {
    let mut v = [0.05; DIM];
    v[i % DIM] = 1.0;
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / n).collect()
}

fn doc(id: &str, principals: &[&str], texts: &[(&str, usize)]) -> DocInput {
    DocInput {
        attrs: DocAttrs {
            document: id.into(),
            principals: principals.iter().map(|s| (*s).to_owned()).collect(),
            source: format!("/corpus/{id}.md"),
            kind: "markdown".into(),
            tags: vec![],
            date: 0,
        },
        title: format!("Title of {id}"),
        chunks: texts
            .iter()
            .enumerate()
            .map(|(o, (t, axis))| ChunkInput {
                ordinal: o as u32,
                heading: "Intro".into(),
                text: (*t).into(),
                vector: Some(unit(*axis)),
            })
            .collect(),
    }
}

fn open(dir: &std::path::Path) -> IndexSpace {
    IndexSpace::open(
        dir,
        "t",
        "c",
        "test-model",
        DIM,
        DenseParams::default(),
        inc(1, 0),
    )
    .unwrap()
}

#[test]
fn persists_reopens_and_filters_on_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(dir.path());
        assert_eq!(s.applied_seq().unwrap(), -1);
        s.apply(
            &[],
            &[
                doc("a", &[], &[("vacuum reclaims dead tuples", 0)]),
                doc(
                    "b",
                    &["u:alice"],
                    &[("vacuum full rewrites the table", 0), ("other words", 3)],
                ),
            ],
            7,
        )
        .unwrap();
        s.persist().unwrap();
    }
    let s = open(dir.path());
    assert_eq!(s.applied_seq().unwrap(), 7);
    let all = SearchFilter::default();
    let bob = SearchFilter {
        access: Access::Principal {
            user: Some("bob".into()),
            groups: vec![],
        },
        ..SearchFilter::default()
    };
    assert_eq!(s.search_lexical("vacuum", &all, 10).unwrap().len(), 2);
    let lex = s.search_lexical("vacuum", &bob, 10).unwrap();
    assert_eq!(lex.len(), 1);
    assert_eq!(s.resolve(lex[0].0).unwrap().chunk_id(), "a:0");
    let dense = s.search_dense(&unit(0), &bob, 10, None).unwrap();
    assert!(
        dense
            .iter()
            .all(|(k, _)| s.resolve(*k).unwrap().doc.document == "a"),
        "{dense:?}"
    );
    assert_eq!(s.search_dense(&unit(0), &all, 1, None).unwrap().len(), 1);
    // Replaying the same change is idempotent; removing drops both sides.
    s.apply(
        &[],
        &[doc("a", &[], &[("vacuum reclaims dead tuples", 0)])],
        7,
    )
    .unwrap();
    assert_eq!(s.status().unwrap().chunks, 3);
    s.apply(&["b".into()], &[], 8).unwrap();
    assert_eq!(s.search_lexical("rewrites", &all, 10).unwrap().len(), 0);
    assert!(s.resolve(chunk_key("b:0")).is_none());
    assert_eq!(s.status().unwrap().vectors, 1);
}

#[test]
fn another_model_or_epoch_resets_the_space() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(dir.path());
        s.apply(&[], &[doc("a", &[], &[("text", 1)])], 3).unwrap();
        s.persist().unwrap();
    }
    let other = IndexSpace::open(
        dir.path(),
        "t",
        "c",
        "other-model",
        DIM,
        DenseParams::default(),
        inc(1, 0),
    )
    .unwrap();
    assert_eq!(other.applied_seq().unwrap(), -1);
    assert_eq!(other.status().unwrap().chunks, 0);
    assert!(
        other
            .search_lexical("text", &SearchFilter::default(), 5)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn another_reindex_generation_resets_the_space_and_the_same_one_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let reopen = |generation| {
        IndexSpace::open(
            dir.path(),
            "t",
            "c",
            "test-model",
            DIM,
            DenseParams::default(),
            inc(1, generation),
        )
        .unwrap()
    };
    {
        let s = reopen(2);
        s.apply(&[], &[doc("a", &[], &[("text", 1)])], 3).unwrap();
        s.persist().unwrap();
        assert_eq!(s.incarnation(), inc(1, 2));
    }
    // The same generation loads what was saved.
    assert_eq!(reopen(2).applied_seq().unwrap(), 3);
    // A newer generation (the store swapped in other chunk sets) starts over.
    let newer = reopen(3);
    assert_eq!(newer.applied_seq().unwrap(), -1);
    assert_eq!(newer.status().unwrap().chunks, 0);
}

#[test]
fn refuses_another_tenant_and_wrong_dimensions() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    assert!(s.check("t", "c").is_ok());
    assert!(s.check("u", "c").is_err());
    assert!(s.check("t", "d").is_err());
    assert!(
        s.search_dense(&[1.0; 3], &SearchFilter::default(), 5, None)
            .is_err()
    );
}
