//! Synthetic dev sets: questions written by the configured generator from sampled
//! chunks of a collection, kept only when the question finds its own page among the
//! top five hybrid hits and is not a near-duplicate of one already kept. The output is
//! a dev set in the usual JSONL shape (`{id, kind, question, pages, keywords}`).

use super::retrieval::{Question, page_of};
use super::runs::SplitMix;
use crate::search::{SearchMode, SearchRequest};
use crate::{Engine, Error, ModelRole, Result};
use cairn_models::{ChatMessage, GenerateRequest, Role, SamplingParams};
use cairn_types::{Chunk, CollectionId, ErrorCode, TenantId};
use serde::Serialize;
use std::collections::HashSet;

/// What the generator is told.
const WRITE_QUESTION: &str = "You write test questions for a search system. Read the \
passage and write one question that a user of these documents could ask and that the \
passage answers. Use your own words rather than copying a sentence; name the specific \
thing asked about. Reply with the question only.";

/// The shortest passage worth a question, in characters.
const MIN_PASSAGE: usize = 300;
/// Most characters of a passage shown to the generator.
const MAX_PASSAGE: usize = 2_000;
/// Two questions whose word sets overlap this much are the same question.
const DUPLICATE_JACCARD: f64 = 0.7;

/// Why a generated question was dropped, counted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SynthReport {
    pub attempted: usize,
    pub kept: usize,
    /// Did not find its own page in the top five.
    pub not_retrieved: usize,
    pub near_duplicate: usize,
    /// Empty, too short or too long, or not a question.
    pub unusable: usize,
}

/// A synthetic dev set and how it was made.
#[derive(Clone, Debug, Serialize)]
pub struct SynthSet {
    pub questions: Vec<Question>,
    pub report: SynthReport,
}

fn words(q: &str) -> HashSet<String> {
    q.split(|c: char| !c.is_alphanumeric() && c != '_')
        .filter(|w| w.len() > 2)
        .map(str::to_lowercase)
        .collect()
}

fn jaccard(a: &HashSet<String>, b: &HashSet<String>) -> f64 {
    let union = a.union(b).count();
    if union == 0 {
        return 0.0;
    }
    a.intersection(b).count() as f64 / union as f64
}

/// The question in a reply: its first non-empty line, without a label or quotes.
pub fn clean_question(reply: &str) -> Option<String> {
    let line = reply.lines().map(str::trim).find(|l| !l.is_empty())?;
    let line = line
        .trim_start_matches(|c: char| c == '-' || c == '*' || c.is_ascii_digit() || c == '.')
        .trim();
    let line = line
        .strip_prefix("Question:")
        .or_else(|| line.strip_prefix("Q:"))
        .unwrap_or(line)
        .trim()
        .trim_matches(|c| c == '"' || c == '\'' || c == '“' || c == '”')
        .trim();
    let n = line.chars().count();
    (line.ends_with('?') && (12..=300).contains(&n)).then(|| line.to_owned())
}

fn passage(c: &Chunk, title: &str) -> String {
    let mut text: String = c.text.chars().take(MAX_PASSAGE).collect();
    if c.text.chars().count() > MAX_PASSAGE {
        text.push('…');
    }
    let heading = if c.heading_path.is_empty() {
        title.to_owned()
    } else {
        c.heading_path.join(" › ")
    };
    format!("Document: {title}\nSection: {heading}\n\n{text}")
}

impl Engine {
    /// Up to `n` synthetic questions over `collection`, from chunks sampled with `seed`,
    /// written by `model` (a model of the tenant's registry; `None`: the generator role).
    /// `progress(attempted, kept)` is called after each attempt.
    pub fn synth_questions(
        &self,
        tenant: &TenantId,
        collection: &CollectionId,
        n: usize,
        seed: u64,
        model: Option<&str>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<SynthSet> {
        if n == 0 || n > 10_000 {
            return Err(Error::new(
                ErrorCode::InvalidInput,
                format!("between 1 and 10000 questions, got {n}"),
            ));
        }
        self.store.get_collection(tenant, collection)?;
        // Every chunk long enough to ask about, in a seeded order.
        let mut pool: Vec<(Chunk, String, String)> = Vec::new();
        let mut offset = 0;
        loop {
            let docs = self
                .store
                .list_documents(tenant, Some(collection), 1_000, offset)?;
            if docs.is_empty() {
                break;
            }
            offset += docs.len();
            for d in docs {
                for c in self.store.list_chunks(tenant, &d.id)? {
                    if c.text.chars().count() >= MIN_PASSAGE {
                        pool.push((c, d.title.clone(), page_of(&d.source).to_owned()));
                    }
                }
            }
        }
        if pool.is_empty() {
            return Err(Error::new(
                ErrorCode::NotFound,
                format!("collection `{collection}` has no passage of {MIN_PASSAGE}+ characters"),
            ));
        }
        let mut rng = SplitMix::new(seed);
        for i in (1..pool.len()).rev() {
            pool.swap(i, rng.below(i + 1));
        }
        let redaction = self.default_redaction()?;
        let generator = match model {
            Some(name) => self.chat_model(tenant, name, &redaction)?,
            None => self.role_model(tenant, ModelRole::Generator, &redaction)?,
        };
        let mut report = SynthReport::default();
        let mut kept: Vec<(Question, HashSet<String>)> = Vec::new();
        // Each passage once; at most three attempts per wanted question.
        for (chunk, title, page) in pool.iter().take(n.saturating_mul(3)) {
            if kept.len() >= n {
                break;
            }
            report.attempted += 1;
            let mut req = GenerateRequest::chat(vec![
                ChatMessage::new(Role::System, WRITE_QUESTION),
                ChatMessage::new(Role::User, passage(chunk, title)),
            ]);
            req.sampling = SamplingParams {
                temperature: 0.0,
                max_tokens: Some(60),
                ..SamplingParams::default()
            };
            let reply = generator.complete(req)?.text;
            let Some(question) = clean_question(&reply) else {
                report.unusable += 1;
                progress(report.attempted, kept.len());
                continue;
            };
            let mut search = SearchRequest::new(collection.clone(), question.clone());
            search.mode = Some(SearchMode::Hybrid);
            search.top_k = Some(5);
            let found = self.search(tenant, &search)?;
            if !found.hits.iter().any(|h| page_of(&h.source) == page) {
                report.not_retrieved += 1;
                progress(report.attempted, kept.len());
                continue;
            }
            let w = words(&question);
            if kept
                .iter()
                .any(|(_, other)| jaccard(&w, other) >= DUPLICATE_JACCARD)
            {
                report.near_duplicate += 1;
                progress(report.attempted, kept.len());
                continue;
            }
            kept.push((
                Question {
                    id: format!("s{:04}", kept.len() + 1),
                    kind: "synthetic".into(),
                    question,
                    pages: vec![page.clone()],
                    keywords: Vec::new(),
                },
                w,
            ));
            progress(report.attempted, kept.len());
        }
        report.kept = kept.len();
        Ok(SynthSet {
            questions: kept.into_iter().map(|(q, _)| q).collect(),
            report,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_become_questions_or_nothing() {
        assert_eq!(
            clean_question("Question: How long does the server wait on a lock?\nBecause..."),
            Some("How long does the server wait on a lock?".into())
        );
        assert_eq!(
            clean_question("\n1. \"What does VACUUM FULL lock?\""),
            Some("What does VACUUM FULL lock?".into())
        );
        assert_eq!(clean_question("The passage is about locks."), None);
        assert_eq!(clean_question("Why?"), None, "too short");
        assert_eq!(clean_question(""), None);
    }

    #[test]
    fn near_duplicates_share_most_words() {
        let a = words("How long does the server wait on a lock before checking?");
        let b = words("how long does the server wait on a lock, before checking");
        let c = words("What does VACUUM FULL rewrite?");
        assert!(jaccard(&a, &b) >= DUPLICATE_JACCARD);
        assert!(jaccard(&a, &c) < DUPLICATE_JACCARD);
    }
}
