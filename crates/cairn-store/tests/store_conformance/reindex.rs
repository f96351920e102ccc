//! The reindex staging area: staged sets stay invisible until the swap, the swap refuses
//! while a document changed since it was staged, and replaces every chunk set, the
//! chunk settings and the generation in one step; kept parsed texts round-trip.

use crate::support::{Fixture, c, chunks, doc, plain, t};
use cairn_store::{StagedSet, SwapOutcome};
use cairn_types::{Block, BlockKind, ChunkerKind, ChunkingSpec, Document, ParsedDoc};

fn parsed(text: &str) -> ParsedDoc {
    ParsedDoc {
        title: Some("T".into()),
        blocks: vec![Block::new(BlockKind::Paragraph, text, vec!["H".into()])],
        ..ParsedDoc::default()
    }
}

/// Commits `d` with chunks `texts` (a parent and its children), its parsed text kept.
fn commit(s: &Fixture, d: Document, texts: &[&str]) -> Document {
    let tenant = d.tenant.clone();
    let mut commit = plain(d, texts);
    commit.embeddings = vec![Some(vec![1.0, 0.0]); commit.chunks.len()];
    commit.parsed = Some(parsed(&texts.join(" ")));
    s.commit_document(&tenant, commit, 20).unwrap()
}

fn stage(s: &Fixture, d: &Document, texts: &[&str]) {
    let chunks = chunks(d, texts);
    let embeddings = vec![Some(vec![0.0, 1.0]); chunks.len()];
    s.stage_chunks(
        &d.tenant,
        &d.collection,
        StagedSet {
            document: &d.id,
            content_hash: &d.content_hash,
            chunks: &chunks,
            embeddings: &embeddings,
            parsed: None,
        },
    )
    .unwrap();
}

fn texts(s: &Fixture, d: &Document) -> Vec<String> {
    s.list_chunks(&d.tenant, &d.id)
        .unwrap()
        .into_iter()
        .map(|c| c.text)
        .collect()
}

fn small() -> ChunkingSpec {
    ChunkingSpec {
        kind: ChunkerKind::Sliding,
        max_tokens: 64,
        overlap_tokens: 8,
        child_tokens: 32,
    }
}

both!(parsed_texts_are_kept_per_tenant);
fn parsed_texts_are_kept_per_tenant(s: Fixture) {
    let a = commit(&s, doc("a", "one.md", "h1"), &["alpha"]);
    assert_eq!(
        s.document_text(&t("a"), &a.id).unwrap(),
        Some(parsed("alpha"))
    );
    // Another tenant guessing the id sees nothing.
    assert_eq!(s.document_text(&t("b"), &a.id).unwrap(), None);
    // Deleting the document drops its text.
    s.delete_document(&t("a"), &a.id).unwrap();
    assert_eq!(s.document_text(&t("a"), &a.id).unwrap(), None);
}

both!(staged_sets_are_invisible_until_the_swap_replaces_everything_at_once);
fn staged_sets_are_invisible_until_the_swap_replaces_everything_at_once(s: Fixture) {
    let one = commit(&s, doc("a", "one.md", "h1"), &["old one"]);
    let two = commit(&s, doc("a", "two.md", "h2"), &["old two"]);
    let other = commit(&s, doc("b", "one.md", "h1"), &["tenant b"]);
    let head = s.index_head(&t("a"), &c("c")).unwrap();

    assert_eq!(
        s.unstaged_documents(&t("a"), &c("c"), None, 10)
            .unwrap()
            .len(),
        2
    );
    assert_eq!(s.count_unstaged(&t("a"), &c("c")).unwrap(), 2);
    stage(&s, &one, &["new one a", "new one b"]);
    // Not everything is staged: the swap refuses and names what is missing.
    assert_eq!(
        s.swap_staged(&t("a"), &c("c"), &small()).unwrap(),
        SwapOutcome::Stale(vec![two.id.clone()])
    );
    assert_eq!(texts(&s, &one), ["old one"]);
    stage(&s, &two, &["new two"]);
    assert_eq!(texts(&s, &one), ["old one"], "staging is invisible");
    let batch = s
        .staged_batch(&t("a"), &[one.id.clone(), two.id.clone()])
        .unwrap();
    assert_eq!(batch.chunks.len(), 3);
    assert!(
        batch
            .chunks
            .iter()
            .all(|c| c.embedding == Some(vec![0.0, 1.0]))
    );

    let out = s.swap_staged(&t("a"), &c("c"), &small()).unwrap();
    assert_eq!(
        out,
        SwapOutcome::Swapped {
            documents: 2,
            chunks: 3,
            generation: 1
        }
    );
    assert_eq!(texts(&s, &one), ["new one a", "new one b"]);
    assert_eq!(texts(&s, &two), ["new two"]);
    let coll = s.get_collection(&t("a"), &c("c")).unwrap();
    assert_eq!((coll.chunking, coll.generation), (small(), 1));
    let stored = s
        .get_documents(&t("a"), std::slice::from_ref(&one.id))
        .unwrap();
    assert_eq!(stored[0].chunk_count, 2);
    // The embeddings came along; the staging area is empty; no index change was logged.
    let live = s
        .index_batch(&t("a"), std::slice::from_ref(&one.id), true)
        .unwrap();
    assert!(
        live.chunks
            .iter()
            .all(|c| c.embedding == Some(vec![0.0, 1.0]))
    );
    assert!(
        s.staged_documents(&t("a"), &c("c"), None, 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.index_head(&t("a"), &c("c")).unwrap(), head);
    // The other tenant's collection of the same name is untouched.
    assert_eq!(texts(&s, &other), ["tenant b"]);
    assert_eq!(s.get_collection(&t("b"), &c("c")).unwrap().generation, 0);
}

both!(a_document_changed_after_staging_makes_the_swap_refuse_until_staged_again);
fn a_document_changed_after_staging_makes_the_swap_refuse_until_staged_again(s: Fixture) {
    let one = commit(&s, doc("a", "one.md", "h1"), &["old one"]);
    stage(&s, &one, &["staged from h1"]);
    // An ingest commits a new version meanwhile.
    let newer = commit(&s, doc("a", "one.md", "h1-v2"), &["version two"]);
    assert_eq!(newer.id, one.id);
    assert_eq!(
        s.swap_staged(&t("a"), &c("c"), &small()).unwrap(),
        SwapOutcome::Stale(vec![one.id.clone()])
    );
    assert_eq!(
        texts(&s, &one),
        ["version two"],
        "the newer version stays live"
    );
    stage(&s, &newer, &["staged from v2"]);
    assert!(matches!(
        s.swap_staged(&t("a"), &c("c"), &small()).unwrap(),
        SwapOutcome::Swapped { .. }
    ));
    assert_eq!(texts(&s, &one), ["staged from v2"]);
}

both!(deleted_documents_stay_deleted_and_clearing_drops_staged_sets);
fn deleted_documents_stay_deleted_and_clearing_drops_staged_sets(s: Fixture) {
    let one = commit(&s, doc("a", "one.md", "h1"), &["one"]);
    let two = commit(&s, doc("a", "two.md", "h2"), &["two"]);
    stage(&s, &one, &["one again"]);
    stage(&s, &two, &["two again"]);
    s.delete_document(&t("a"), &two.id).unwrap();
    assert!(matches!(
        s.swap_staged(&t("a"), &c("c"), &small()).unwrap(),
        SwapOutcome::Swapped {
            documents: 1,
            chunks: 1,
            ..
        }
    ));
    assert!(
        s.get_documents(&t("a"), std::slice::from_ref(&two.id))
            .unwrap()
            .is_empty()
    );
    assert!(s.list_chunks(&t("a"), &two.id).unwrap().is_empty());

    stage(&s, &one, &["third cut"]);
    assert_eq!(s.clear_staged(&t("a"), &c("c")).unwrap(), 1);
    assert!(
        s.staged_documents(&t("a"), &c("c"), None, 10)
            .unwrap()
            .is_empty()
    );
    // Staging a document under another tenant or collection is refused.
    let chunks = chunks(&one, &["x"]);
    let refused = s.stage_chunks(
        &t("b"),
        &c("c"),
        StagedSet {
            document: &one.id,
            content_hash: &one.content_hash,
            chunks: &chunks,
            embeddings: &[],
            parsed: None,
        },
    );
    assert!(
        matches!(refused, Err(cairn_store::Error::NotFound { .. })),
        "{refused:?}"
    );
}
