//! The lexical side: tantivy BM25 over title, heading path, body (English analyzer) and
//! an identifier field, with the filter fields indexed so filters run inside the query.

use crate::analyze::{self, EN, IDENT};
use crate::catalog::DocAttrs;
use crate::filter::{PUBLIC, SearchFilter};
use crate::{Error, Result};
use std::ops::Bound;
use std::path::Path;
use std::sync::Mutex;
use tantivy::collector::TopDocs;
use tantivy::directory::MmapDirectory;
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, Occur, Query, RangeQuery, TermQuery, TermSetQuery,
};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

/// Field boosts: a query word in the title or a heading counts more than in the body.
pub const TITLE_BOOST: f32 = 2.0;
pub const HEADING_BOOST: f32 = 1.5;
pub const BODY_BOOST: f32 = 1.0;
/// Identifier-shaped query terms (a digit, `_`, `.`, `\\` or `$` inside) matched whole:
/// a query naming `40P01` or `max_connections` wants the page that defines it.
pub const IDENT_BOOST: f32 = 3.0;
/// Other query words in the identifier field: an unstemmed exact-form match.
pub const WORD_BOOST: f32 = 1.0;

/// Whether a term looks like an identifier rather than a word.
fn identifier_like(term: &str) -> bool {
    term.chars()
        .any(|c| c.is_ascii_digit() || matches!(c, '_' | '.' | '\\' | '$'))
}

/// Memory for one indexing run.
const WRITER_BUDGET: usize = 64 * 1024 * 1024;

/// The text of one chunk as the lexical index sees it.
pub struct ChunkText<'a> {
    pub key: u64,
    pub title: &'a str,
    pub heading: &'a str,
    pub body: &'a str,
}

#[derive(Clone, Copy)]
struct Fields {
    key: Field,
    doc: Field,
    title: Field,
    heading: Field,
    body: Field,
    ident: Field,
    principal: Field,
    source: Field,
    kind: Field,
    tag: Field,
    date: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = |analyzer: &str| {
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(analyzer)
                .set_index_option(IndexRecordOption::WithFreqs),
        )
    };
    let fields = Fields {
        key: b.add_u64_field("key", INDEXED | FAST),
        doc: b.add_text_field("doc", STRING),
        title: b.add_text_field("title", text(EN)),
        heading: b.add_text_field("heading", text(EN)),
        body: b.add_text_field("body", text(EN)),
        ident: b.add_text_field("ident", text(IDENT)),
        principal: b.add_text_field("principal", STRING),
        source: b.add_text_field("source", STRING),
        kind: b.add_text_field("kind", STRING),
        tag: b.add_text_field("tag", STRING),
        date: b.add_i64_field("date", INDEXED | FAST),
    };
    (b.build(), fields)
}

/// The chunk keys of scored hits (the key column opened once per segment).
fn keys_of(
    searcher: &tantivy::Searcher,
    top: Vec<(f32, tantivy::DocAddress)>,
) -> Result<Vec<(u64, f32)>> {
    let mut columns: std::collections::HashMap<u32, tantivy::columnar::Column<u64>> =
        std::collections::HashMap::new();
    let mut out = Vec::with_capacity(top.len());
    for (score, addr) in top {
        let col = match columns.entry(addr.segment_ord) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => v.insert(
                searcher
                    .segment_reader(addr.segment_ord)
                    .fast_fields()
                    .u64("key")?,
            ),
        };
        if let Some(key) = col.first(addr.doc_id) {
            out.push((key, score));
        }
    }
    Ok(out)
}

/// A tantivy index in one directory.
pub struct LexicalIndex {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    en: Mutex<TextAnalyzer>,
    ident: Mutex<TextAnalyzer>,
}

impl LexicalIndex {
    /// Opens the index in `dir`, creating it if the directory holds none.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let (schema, fields) = schema();
        let mmap = MmapDirectory::open(dir).map_err(|e| Error::Io(e.to_string()))?;
        let index = Index::open_or_create(mmap, schema)?;
        analyze::register(&index);
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Self {
            index,
            reader,
            fields,
            en: Mutex::new(analyze::english()),
            ident: Mutex::new(analyze::identifiers()),
        })
    }

    /// The change-log sequence of the last commit (-1 for a new or cleared index).
    pub fn applied_seq(&self) -> Result<i64> {
        let metas = self.index.load_metas()?;
        Ok(metas
            .payload
            .as_deref()
            .and_then(|p| p.parse().ok())
            .unwrap_or(-1))
    }

    /// Number of indexed chunks (as of the last reload).
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Deletes every chunk of `removed`, adds `docs`, and commits with `seq` as payload,
    /// all as one tantivy commit.
    pub fn apply(
        &self,
        removed: &[&str],
        docs: &[(&DocAttrs, Vec<ChunkText<'_>>)],
        seq: i64,
    ) -> Result<()> {
        let mut writer: IndexWriter<TantivyDocument> = self.writer()?;
        let f = self.fields;
        for doc in removed {
            writer.delete_term(Term::from_field_text(f.doc, doc));
        }
        for (attrs, chunks) in docs {
            writer.delete_term(Term::from_field_text(f.doc, &attrs.document));
            for c in chunks {
                let mut d = TantivyDocument::default();
                d.add_u64(f.key, c.key);
                d.add_text(f.doc, &attrs.document);
                d.add_text(f.title, c.title);
                d.add_text(f.heading, c.heading);
                d.add_text(f.body, c.body);
                d.add_text(f.ident, c.title);
                d.add_text(f.ident, c.heading);
                d.add_text(f.ident, c.body);
                if attrs.principals.is_empty() {
                    d.add_text(f.principal, PUBLIC);
                }
                for p in &attrs.principals {
                    d.add_text(f.principal, p);
                }
                for s in attrs.source_values() {
                    d.add_text(f.source, &s);
                }
                d.add_text(f.kind, &attrs.kind);
                for t in &attrs.tags {
                    d.add_text(f.tag, t);
                }
                d.add_i64(f.date, attrs.date);
                writer.add_document(d)?;
            }
        }
        let mut prepared = writer.prepare_commit()?;
        prepared.set_payload(&seq.to_string());
        prepared.commit()?;
        writer.wait_merging_threads()?;
        self.reader.reload()?;
        Ok(())
    }

    /// Re-reads the newest commit (another process may have written one).
    pub fn reload(&self) -> Result<()> {
        Ok(self.reader.reload()?)
    }

    /// Removes everything (before a rebuild), committing with payload -1.
    pub fn clear(&self) -> Result<()> {
        let mut writer: IndexWriter<TantivyDocument> = self.writer()?;
        writer.delete_all_documents()?;
        let mut prepared = writer.prepare_commit()?;
        prepared.set_payload("-1");
        prepared.commit()?;
        self.reader.reload()?;
        Ok(())
    }

    /// A writer; another process holding the lock is waited for (up to ~10 s).
    fn writer(&self) -> Result<IndexWriter<TantivyDocument>> {
        let mut delay = std::time::Duration::from_millis(20);
        for _ in 0..12 {
            match self.index.writer(WRITER_BUDGET) {
                Ok(w) => return Ok(w),
                Err(tantivy::TantivyError::LockFailure(..)) => {
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(std::time::Duration::from_secs(2));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Io(
            "the lexical index is locked by another writer".into(),
        ))
    }

    /// BM25 top-`k` keys for `query` among the chunks `filter` admits.
    pub fn search(&self, query: &str, filter: &SearchFilter, k: usize) -> Result<Vec<(u64, f32)>> {
        let Some(text) = self.text_query(query) else {
            return Ok(Vec::new());
        };
        let q: Box<dyn Query> = match self.filter_query(filter) {
            None => text,
            Some(fq) => Box::new(BooleanQuery::new(vec![
                (Occur::Must, text),
                (Occur::Must, Box::new(ConstScoreQuery::new(fq, 0.0))),
            ])),
        };
        let searcher = self.reader.searcher();
        let top = searcher.search(&q, &TopDocs::with_limit(k.max(1)))?;
        keys_of(&searcher, top)
    }

    /// Plain BM25 over the body field alone (no boosts, no filters): the like-for-like
    /// baseline for benchmarks against single-field BM25 engines.
    pub fn search_body(&self, query: &str, k: usize) -> Result<Vec<(u64, f32)>> {
        let words = {
            let mut a = self
                .en
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            analyze::terms(&mut a, query)
        };
        let mut seen = std::collections::HashSet::new();
        let clauses: Vec<(Occur, Box<dyn Query>)> = words
            .iter()
            .filter(|w| seen.insert(w.as_str()))
            .map(|w| {
                let q: Box<dyn Query> = Box::new(TermQuery::new(
                    Term::from_field_text(self.fields.body, w),
                    IndexRecordOption::WithFreqs,
                ));
                (Occur::Should, q)
            })
            .collect();
        let searcher = self.reader.searcher();
        let top = searcher.search(&BooleanQuery::new(clauses), &TopDocs::with_limit(k.max(1)))?;
        keys_of(&searcher, top)
    }

    /// The scored part: query terms over the four text fields, boosted.
    fn text_query(&self, query: &str) -> Option<Box<dyn Query>> {
        let f = self.fields;
        let en = {
            let mut a = self
                .en
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            analyze::terms(&mut a, query)
        };
        let ident = {
            let mut a = self
                .ident
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            analyze::terms(&mut a, query)
        };
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let mut add = |field: Field, words: &[String], boost: f32| {
            let mut seen = std::collections::HashSet::new();
            for w in words.iter().filter(|w| seen.insert(w.as_str())) {
                let tq = TermQuery::new(
                    Term::from_field_text(field, w),
                    IndexRecordOption::WithFreqs,
                );
                clauses.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(tq), boost)),
                ));
            }
        };
        add(f.title, &en, TITLE_BOOST);
        add(f.heading, &en, HEADING_BOOST);
        add(f.body, &en, BODY_BOOST);
        let (names, words): (Vec<String>, Vec<String>) =
            ident.into_iter().partition(|t| identifier_like(t));
        add(f.ident, &words, WORD_BOOST);
        add(f.ident, &names, IDENT_BOOST);
        if clauses.is_empty() {
            None
        } else {
            Some(Box::new(BooleanQuery::new(clauses)))
        }
    }

    /// The unscored part: every restriction of `filter` as one conjunction.
    fn filter_query(&self, filter: &SearchFilter) -> Option<Box<dyn Query>> {
        let f = self.fields;
        let mut must: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let set = |field: Field, values: &[String]| -> Box<dyn Query> {
            Box::new(TermSetQuery::new(
                values.iter().map(|v| Term::from_field_text(field, v)),
            ))
        };
        if let Some(terms) = filter.access.terms() {
            must.push((Occur::Must, set(f.principal, &terms)));
        }
        if !filter.sources.is_empty() {
            must.push((Occur::Must, set(f.source, &filter.sources)));
        }
        if !filter.kinds.is_empty() {
            must.push((Occur::Must, set(f.kind, &filter.kinds)));
        }
        if !filter.tags.is_empty() {
            must.push((Occur::Must, set(f.tag, &filter.tags)));
        }
        if filter.date_from.is_some() || filter.date_to.is_some() {
            let bound = |v: Option<i64>| {
                v.map_or(Bound::Unbounded, |v| {
                    Bound::Included(Term::from_field_i64(f.date, v))
                })
            };
            must.push((
                Occur::Must,
                Box::new(RangeQuery::new(
                    bound(filter.date_from),
                    bound(filter.date_to),
                )),
            ));
        }
        if must.is_empty() {
            None
        } else {
            Some(Box::new(BooleanQuery::new(must)))
        }
    }
}
