//! `Engine::reindex_collection` with the real MiniLM embedder and real indexes: the new
//! chunking goes live with its index in one swap, another engine on the same data
//! directory (a running server) follows it, documents committed before kept texts existed
//! are read again from their files or named, and bad requests change nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use cairn_engine::ingest::NoProgress;
use cairn_engine::search::{SearchMode, SearchRequest};
use cairn_engine::{Engine, IngestOptions};
use cairn_types::{ChunkerKind, ChunkingSpec, CollectionId, ErrorCode, TenantId};

const SHORT_OK: &str = "[ingest.quality]\nmin_chars = 10\n";

fn tenant() -> TenantId {
    TenantId::new("t")
}

fn coll() -> CollectionId {
    CollectionId::new("docs")
}

fn small() -> ChunkingSpec {
    ChunkingSpec {
        kind: ChunkerKind::Recursive,
        max_tokens: 48,
        overlap_tokens: 8,
        child_tokens: 32,
    }
}

/// Long documents (several 48-token chunks each) and one with a distinctive setting.
fn corpus(e: &Engine) {
    for i in 0..4 {
        let text = format!(
            "# Topic {i}\n\n{}\n\n## Details {i}\n\n{}",
            common::prose(&format!("topic{i}"), 6),
            common::prose(&format!("detail{i}"), 5)
        );
        common::upload(e, "t", "docs", &format!("topic{i}.md"), &text);
    }
    common::upload(
        e,
        "t",
        "docs",
        "zebra.md",
        &format!(
            "# Zebra settings\n\n{}\n\n## Stripes\n\nThe zebra_stripe_count setting sets how many \
             stripes each zebra gets; the default is 42.",
            common::prose("zebra", 4)
        ),
    );
}

fn hits(e: &Engine, q: &str, mode: SearchMode) -> Vec<cairn_engine::search::SearchHit> {
    let mut req = SearchRequest::new(coll(), q);
    req.mode = Some(mode);
    req.top_k = Some(5);
    e.search(&tenant(), &req).unwrap().hits
}

fn chunk_count(e: &Engine) -> usize {
    e.store().count_chunks(&tenant(), Some(&coll())).unwrap()
}

#[test]
fn the_new_chunking_goes_live_with_its_index_in_one_swap() {
    let dir = tempfile::tempdir().unwrap();
    let e = common::engine(dir.path(), SHORT_OK);
    corpus(&e);
    let before = chunk_count(&e);
    let first = hits(&e, "zebra_stripe_count", SearchMode::Lexical);
    assert_eq!(first[0].source, "upload:zebra.md");
    assert!(
        first[0].text.len() > 400,
        "512-token chunks hold whole documents here"
    );

    let r = e
        .reindex_collection(&tenant(), &coll(), Some(small()), &NoProgress)
        .unwrap();
    assert_eq!((r.documents, r.chunks_before, r.generation), (5, before, 1));
    assert!(
        r.chunks_after > before * 2,
        "{} → {}",
        before,
        r.chunks_after
    );
    assert_eq!(r.chunks_after, chunk_count(&e));
    let c = e.store().get_collection(&tenant(), &coll()).unwrap();
    assert_eq!((c.chunking, c.generation), (small(), 1));

    // Every mode finds the setting in a small chunk of the new generation.
    for mode in [SearchMode::Lexical, SearchMode::Dense, SearchMode::Hybrid] {
        let top = hits(&e, "zebra_stripe_count stripes default", mode);
        let zebra = top
            .iter()
            .find(|h| h.source == "upload:zebra.md")
            .unwrap_or_else(|| panic!("{mode:?}: {top:?}"));
        assert!(zebra.text.len() < 400, "{mode:?}: {}", zebra.text);
    }
    // The index holds exactly the live chunks: nothing of the old generation is left.
    let all = {
        let mut req = SearchRequest::new(coll(), "section explains interacts");
        req.mode = Some(SearchMode::Lexical);
        req.top_k = Some(1000);
        req.candidates = Some(1000);
        e.search(&tenant(), &req).unwrap().hits
    };
    let stored: std::collections::HashSet<String> =
        all.iter().map(|h| h.chunk_id.clone()).collect();
    assert_eq!(stored.len(), all.len());
    for h in &all {
        let got = e
            .store()
            .get_chunks(&tenant(), &[cairn_types::ChunkId::new(h.chunk_id.clone())])
            .unwrap();
        assert_eq!(got.len(), 1, "{} is not a live chunk", h.chunk_id);
        assert!(got[0].token_count <= 48);
    }

    // Ingest keeps using the new settings; a reindex without settings keeps them.
    common::upload(&e, "t", "docs", "late.md", &common::prose("late", 8));
    let again = e
        .reindex_collection(&tenant(), &coll(), None, &NoProgress)
        .unwrap();
    assert_eq!((again.documents, again.generation), (6, 2));
    assert_eq!(again.chunking, small());
    assert_eq!(again.chunks_after, chunk_count(&e));
}

#[test]
fn another_engine_on_the_same_data_follows_the_swap() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::engine(dir.path(), SHORT_OK);
    corpus(&server);
    let before = hits(&server, "zebra_stripe_count", SearchMode::Hybrid);
    assert!(before[0].text.len() > 400);

    // A second process (the CLI) reindexes the data directory the server has open.
    let cli = common::engine(dir.path(), SHORT_OK);
    cli.reindex_collection(&tenant(), &coll(), Some(small()), &NoProgress)
        .unwrap();

    for mode in [SearchMode::Lexical, SearchMode::Hybrid] {
        let after = hits(&server, "zebra_stripe_count", mode);
        assert_eq!(after[0].source, "upload:zebra.md", "{mode:?}");
        assert!(
            after[0].text.len() < 400,
            "{mode:?}: still the old generation"
        );
    }
    // Uploads through the server after the swap land in the new index.
    common::upload(
        &server,
        "t",
        "docs",
        "okapi.md",
        "# Okapi\n\nThe okapi_ear_length setting is new.",
    );
    let found = hits(&cli, "okapi_ear_length", SearchMode::Lexical);
    assert_eq!(found[0].source, "upload:okapi.md");
}

#[test]
fn documents_without_kept_text_are_read_from_their_files_or_named() {
    let dir = tempfile::tempdir().unwrap();
    let e = common::engine(dir.path(), SHORT_OK);
    let files = dir.path().join("files");
    for i in 0..3 {
        common::write(
            &files,
            &format!("f{i}.md"),
            &format!("# File {i}\n\n{}", common::prose(&format!("file{i}"), 6)),
        );
    }
    e.ingest_path(
        &tenant(),
        &coll(),
        &files,
        &IngestOptions::default(),
        &NoProgress,
    )
    .unwrap();
    // As a store written before parsed texts were kept.
    let db = rusqlite::Connection::open(dir.path().join("data/cairn.db")).unwrap();
    db.execute("DELETE FROM document_texts", []).unwrap();

    let r = e
        .reindex_collection(&tenant(), &coll(), Some(small()), &NoProgress)
        .unwrap();
    assert_eq!((r.documents, r.reparsed), (3, 3));
    let kept: i64 = db
        .query_row("SELECT COUNT(*) FROM document_texts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(kept, 3, "texts read again are kept from now on");

    // A document whose file is gone and whose text was never kept cannot be cut again:
    // the reindex names it and the live collection is untouched.
    db.execute("DELETE FROM document_texts", []).unwrap();
    std::fs::remove_file(files.join("f1.md")).unwrap();
    let live = chunk_count(&e);
    let err = e
        .reindex_collection(&tenant(), &coll(), None, &NoProgress)
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Conflict);
    assert!(err.message.contains("f1.md"), "{}", err.message);
    assert_eq!(chunk_count(&e), live);
    let c = e.store().get_collection(&tenant(), &coll()).unwrap();
    assert_eq!(c.generation, 1);
    let staged: i64 = db
        .query_row("SELECT COUNT(*) FROM staged_documents", [], |r| r.get(0))
        .unwrap();
    assert_eq!(staged, 0, "a failed reindex leaves nothing staged");
    assert_eq!(
        hits(&e, "file0 section", SearchMode::Lexical)[0].source,
        files
            .join("f0.md")
            .canonicalize()
            .unwrap()
            .display()
            .to_string()
    );
}

#[test]
fn bad_requests_and_a_running_reindex_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let e = common::engine(dir.path(), SHORT_OK);
    corpus(&e);
    let live = chunk_count(&e);
    let too_small = ChunkingSpec {
        max_tokens: 8,
        ..small()
    };
    let err = e
        .reindex_collection(&tenant(), &coll(), Some(too_small), &NoProgress)
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidInput);
    assert!(err.message.contains("max_tokens"), "{}", err.message);
    let err = e
        .reindex_collection(&tenant(), &CollectionId::new("nope"), None, &NoProgress)
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound);
    // Another tenant's collection of that name does not exist for this one.
    let err = e
        .reindex_collection(&TenantId::new("other"), &coll(), None, &NoProgress)
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound);

    // While another process holds the collection's reindex lock.
    let lock = dir.path().join("data/index/t/docs.reindex.lock");
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    let held = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock)
        .unwrap();
    held.lock().unwrap();
    let err = e
        .reindex_collection(&tenant(), &coll(), Some(small()), &NoProgress)
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Conflict);
    assert!(err.message.contains("already running"), "{}", err.message);
    drop(held);
    assert_eq!(chunk_count(&e), live);
    assert_eq!(
        e.store()
            .get_collection(&tenant(), &coll())
            .unwrap()
            .generation,
        0
    );
}

#[test]
fn a_collection_embedded_by_another_model_is_refused_until_reindexed() {
    let dir = tempfile::tempdir().unwrap();
    {
        let e = common::engine(dir.path(), SHORT_OK);
        corpus(&e);
        assert!(!hits(&e, "zebra stripes", SearchMode::Hybrid).is_empty());
    }
    // The same weights under another name: another model as far as the index knows.
    let minilm = cairn_models::default_models_dir().join("all-minilm-l6-v2");
    let other = dir.path().join("other-embedder");
    std::fs::create_dir_all(&other).unwrap();
    for entry in std::fs::read_dir(&minilm).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), other.join(entry.file_name())).unwrap();
        }
    }
    let e = common::engine(
        dir.path(),
        &format!("{SHORT_OK}[models]\nembedder = \"{}\"\n", other.display()),
    );
    let mut req = SearchRequest::new(coll(), "zebra stripes");
    req.top_k = Some(5);
    let err = e.search(&tenant(), &req).unwrap_err();
    assert_eq!(err.code, ErrorCode::Conflict, "{err}");
    assert!(
        err.message.contains("`docs`")
            && err.message.contains("all-minilm-l6-v2")
            && err.message.contains("cairn collections reindex docs"),
        "{err}"
    );
    // Nor can anything be added with the other model: it would mix the vectors.
    let upload = cairn_engine::UploadRequest {
        name: "new.md",
        bytes: b"# New\n\nA new page about zebra herds and their stripes.",
        ..Default::default()
    };
    let refused = e.ingest_bytes(&tenant(), &coll(), &upload).unwrap_err();
    assert_eq!(refused.code, ErrorCode::Conflict, "{refused}");
    // Reindexing embeds it again with the configured model; then it answers.
    e.reindex_collection(&tenant(), &coll(), None, &NoProgress)
        .unwrap();
    let found = e.search(&tenant(), &req).unwrap().hits;
    assert!(
        found.iter().any(|h| h.text.contains("zebra_stripe_count")),
        "{found:?}"
    );
}
