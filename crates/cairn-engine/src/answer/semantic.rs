//! The semantic answer cache (`[cache] semantic`): a new question is served an answer
//! given to an earlier one when both ask the same thing of the same data.
//!
//! An entry is found only within its **scope**: the tenant, the caller's ACL view, the
//! collection, the whole request except the question, the models of every role, the
//! prompt version, the answer and retrieval settings and the guard policy (the exact
//! cache's key without the question and without the change-log head). Within a scope,
//! a stored answer is served when
//! 1. the questions' embeddings have a cosine of at least `semantic_threshold`;
//! 2. the questions agree on numbers, names, negation and opposites
//!    ([`super::same_question`]), which catches the near-misses embeddings miss;
//! 3. none of the documents the answer cites changed since it was stored: the
//!    collection's change log after the entry's position names no cited document
//!    (a stale entry is dropped).
//!
//! Only grounded answers are stored: an abstention or an answer without citations
//! depends on the whole collection, not on the documents it cites. Conversations and
//! client-sent history are never cached.

use super::AskRequest;
use super::same_question::Terms;
use crate::{Answer, Engine, Result};
use cairn_models::embed::cosine;
use cairn_types::TenantId;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Change-log rows read per page when validating an entry.
const CHANGES_PAGE: usize = 1_000;
/// Pages read at most; an entry further behind than that is treated as stale.
const CHANGES_PAGES: usize = 20;

struct Entry<V> {
    id: u64,
    scope: String,
    vector: Arc<Vec<f32>>,
    terms: Terms,
    value: V,
    /// The collection's change-log head before the answer was computed.
    head: i64,
    documents: HashSet<String>,
    stored: Instant,
    used: u64,
}

struct Inner<V> {
    entries: Vec<Entry<V>>,
    tick: u64,
    next_id: u64,
}

/// A candidate for a question: an entry whose question is close enough and agrees.
#[derive(Clone, Debug)]
pub struct Candidate<V> {
    id: u64,
    /// Cosine of the two questions' embeddings.
    pub similarity: f32,
    head: i64,
    documents: HashSet<String>,
    /// What was stored (the engine keeps `Arc<Answer>`, so this clone is cheap).
    pub value: V,
}

/// Answers by scope and question embedding. Bounded by `capacity` entries (the least
/// recently used goes first) and `ttl`.
pub struct SemanticCache<V> {
    capacity: usize,
    ttl: Duration,
    threshold: f32,
    inner: Mutex<Inner<V>>,
}

impl<V: Clone> SemanticCache<V> {
    /// A cache of at most `capacity` answers (0: disabled) living `ttl` each, serving a
    /// question whose embedding's cosine to a stored one is at least `threshold`.
    pub fn new(capacity: usize, ttl: Duration, threshold: f32) -> Self {
        Self {
            capacity,
            ttl,
            threshold,
            inner: Mutex::new(Inner {
                entries: Vec::new(),
                tick: 0,
                next_id: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<V>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Entries of `scope` that may answer `question` (embedded as `vector`), best
    /// first: close enough and agreeing on what decides the question.
    pub fn candidates(&self, scope: &str, question: &str, vector: &[f32]) -> Vec<Candidate<V>> {
        if self.capacity == 0 {
            return Vec::new();
        }
        let terms = Terms::of(question);
        let mut g = self.lock();
        let ttl = self.ttl;
        g.entries.retain(|e| e.stored.elapsed() <= ttl);
        let mut out: Vec<Candidate<V>> = g
            .entries
            .iter()
            .filter(|e| e.scope == scope)
            .filter_map(|e| {
                let similarity = cosine(vector, &e.vector);
                (similarity >= self.threshold && e.terms.mismatch(&terms).is_none()).then(|| {
                    Candidate {
                        id: e.id,
                        similarity,
                        head: e.head,
                        documents: e.documents.clone(),
                        value: e.value.clone(),
                    }
                })
            })
            .collect();
        out.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
        out
    }

    /// Marks an entry used and moves its change-log position to `head` (it was found
    /// current up to there).
    fn touch(&self, id: u64, head: i64) {
        let mut g = self.lock();
        g.tick += 1;
        let tick = g.tick;
        if let Some(e) = g.entries.iter_mut().find(|e| e.id == id) {
            e.used = tick;
            e.head = e.head.max(head);
        }
    }

    fn remove(&self, id: u64) {
        self.lock().entries.retain(|e| e.id != id);
    }

    /// Keeps `value` (an answer to `question`, embedded as `vector`, citing
    /// `documents`) under `scope`, computed from the collection as of change-log
    /// position `head`.
    pub fn put(
        &self,
        scope: String,
        question: &str,
        vector: Arc<Vec<f32>>,
        value: V,
        documents: HashSet<String>,
        head: i64,
    ) {
        if self.capacity == 0 {
            return;
        }
        let mut g = self.lock();
        if g.entries.len() >= self.capacity
            && let Some(oldest) = g
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.used)
                .map(|(i, _)| i)
        {
            g.entries.swap_remove(oldest);
        }
        g.tick += 1;
        g.next_id += 1;
        let (id, used) = (g.next_id, g.tick);
        g.entries.push(Entry {
            id,
            scope,
            vector,
            terms: Terms::of(question),
            value,
            head,
            documents,
            stored: Instant::now(),
            used,
        });
    }

    /// Answers kept.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Engine {
    /// The semantic cache's scope for `req`, or `None` when it must not be served from
    /// or stored in the semantic cache.
    pub(super) fn semantic_scope(
        &self,
        tenant: &TenantId,
        req: &AskRequest,
    ) -> Result<Option<String>> {
        // An entry is checked against one collection's change log: answers over
        // several collections are not kept.
        if !self.config.cache.semantic
            || !super::cache::cacheable(req)
            || !req.collections.is_empty()
        {
            return Ok(None);
        }
        self.cache_key(tenant, req, None).map(Some)
    }

    /// A stored answer for `req` in `scope`, if one asks the same thing and none of its
    /// cited documents changed since.
    pub(super) fn semantic_lookup(
        &self,
        tenant: &TenantId,
        req: &AskRequest,
        scope: &str,
    ) -> Result<(Option<Answer>, Arc<Vec<f32>>)> {
        let question = req.question.trim();
        let vector = self.embed_query(tenant, question)?;
        for c in self.semantic_cache.candidates(scope, question, &vector) {
            match self.current_head(tenant, req, c.head, &c.documents)? {
                Some(head) => {
                    self.semantic_cache.touch(c.id, head);
                    return Ok((Some(Answer::clone(&c.value)), vector));
                }
                None => self.semantic_cache.remove(c.id),
            }
        }
        Ok((None, vector))
    }

    /// The collection's newest change-log position when none of `documents` changed
    /// after `head`; `None` when one did (or too much changed to tell cheaply).
    fn current_head(
        &self,
        tenant: &TenantId,
        req: &AskRequest,
        head: i64,
        documents: &HashSet<String>,
    ) -> Result<Option<i64>> {
        // Changes below the log's pruned floor are gone: nothing can be told about them.
        if head < self.store.index_log_floor(tenant, &req.collection)? {
            return Ok(None);
        }
        let mut after = head;
        for _ in 0..CHANGES_PAGES {
            let changes = self
                .store
                .index_changes(tenant, &req.collection, after, CHANGES_PAGE)?;
            if changes
                .iter()
                .any(|c| documents.contains(c.document.as_str()))
            {
                return Ok(None);
            }
            match changes.last() {
                Some(last) if changes.len() == CHANGES_PAGE => after = last.seq,
                Some(last) => return Ok(Some(last.seq)),
                None => return Ok(Some(after)),
            }
        }
        Ok(None)
    }

    /// Keeps a grounded, cited answer for later paraphrases of its question.
    pub(super) fn semantic_store(
        &self,
        scope: String,
        vector: Arc<Vec<f32>>,
        answer: &Answer,
        head: i64,
    ) {
        if answer.abstained || answer.citations.is_empty() || answer.cache.hit.is_some() {
            return;
        }
        let documents = answer
            .citations
            .iter()
            .map(|c| c.document_id.clone())
            .collect();
        self.semantic_cache.put(
            scope,
            &answer.question,
            vector,
            Arc::new(answer.clone()),
            documents,
            head,
        );
    }
}
