//! The grounding check and citation mapping.
//!
//! Every sentence of the answer is scored against the sources: the share of its content
//! words found in a source (lexical support) and the cosine similarity of its embedding
//! to the source's (semantic support), combined as `0.6 · lexical + 0.4 · semantic'`
//! where `semantic'` rescales cosine from [0.25, 0.70] to [0, 1]. A sentence is
//! supported when the best source reaches the threshold. The weights and the threshold
//! were set by hand on the PostgreSQL dev set's answers; on HaluEval QA (`cairn eval
//! grounding`, `bench/RESULTS.md`) this scorer and the generator-entailment scorer are
//! measured side by side.

use super::text::{
    citation_numbers, content_terms, lexical_support, sentence_spans, strip_citations,
};
use super::{Citation, ClaimCheck, Source};
use crate::search::specific;
use std::collections::{HashMap, HashSet};

/// Weight of lexical support in the combined score.
const LEXICAL_WEIGHT: f32 = 0.6;
/// Cosine at or below which semantic support is 0.
const COSINE_FLOOR: f32 = 0.25;
/// Cosine at or above which semantic support is 1.
const COSINE_CEIL: f32 = 0.70;

/// Combined support from the two signals.
pub fn support_score(lexical: f32, cosine: f32) -> f32 {
    let semantic = ((cosine - COSINE_FLOOR) / (COSINE_CEIL - COSINE_FLOOR)).clamp(0.0, 1.0);
    LEXICAL_WEIGHT * lexical + (1.0 - LEXICAL_WEIGHT) * semantic
}

pub(crate) fn cosine(a: &[f32], b: &[f32]) -> f32 {
    // Both sides are L2-normalized by the embedder.
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The sentences of an answer to check: (span, text without markers, cited numbers).
pub(crate) fn claims_of(answer: &str) -> Vec<((usize, usize), String, Vec<usize>)> {
    sentence_spans(answer)
        .into_iter()
        .map(|(a, b)| {
            let raw = &answer[a..b];
            (
                (a, b),
                strip_citations(raw).trim().to_owned(),
                citation_numbers(raw),
            )
        })
        .filter(|(_, text, _)| text.chars().any(char::is_alphanumeric))
        .collect()
}

/// The outcome of the check.
pub(crate) struct Grounding {
    pub claims: Vec<ClaimCheck>,
    pub citations: Vec<Citation>,
}

/// Everything the sources say, lowercased, for looking names up in.
pub(crate) fn haystack<'a>(
    parts: impl Iterator<Item = (&'a str, &'a [String], &'a str, &'a str)>,
) -> String {
    let mut out = String::new();
    for (title, heading, text, source) in parts {
        out.push_str(title);
        out.push('\n');
        out.push_str(&heading.join(" / "));
        out.push('\n');
        out.push_str(text);
        out.push('\n');
        out.push_str(source);
        out.push('\n');
    }
    out.to_lowercase()
}

/// The names and numbers of `claim` that `known` (the sources and the question,
/// lowercased) does not contain; `known_numbers` are the numbers of `known`.
fn unverified(claim: &str, known: &str, known_numbers: &[String]) -> Vec<String> {
    let mut out: Vec<String> = specific::names(claim)
        .into_iter()
        .filter(|n| !specific::name_occurs(n, known))
        .collect();
    out.extend(
        specific::numbers(claim)
            .into_iter()
            .filter(|n| !specific::number_occurs(n, known_numbers)),
    );
    out
}

/// Checks `answer` against `sources`. `claim_vectors[i]` embeds the i-th claim of
/// [`claims_of`]; `source_vectors[j]` embeds `sources[j]` (`None`: lexical only). A
/// sentence stating a name or number that neither the sources nor `question` contain is
/// unsupported whatever its scores.
pub(crate) fn check(
    answer: &str,
    question: &str,
    sources: &[Source],
    claim_vectors: &[Vec<f32>],
    source_vectors: &[Option<Vec<f32>>],
    threshold: f32,
) -> Grounding {
    let source_terms: Vec<HashSet<String>> = sources
        .iter()
        .map(|s| {
            content_terms(&format!(
                "{} {} {}",
                s.title,
                s.heading_path.join(" "),
                s.text
            ))
            .into_iter()
            .collect()
        })
        .collect();
    // What the answer may state: anything the sources or the question say.
    let mut known = haystack(sources.iter().map(|s| {
        (
            s.title.as_str(),
            s.heading_path.as_slice(),
            s.text.as_str(),
            s.source.as_str(),
        )
    }));
    known.push_str(&question.to_lowercase());
    let known_numbers = specific::numbers(&known);
    let by_n: HashMap<usize, usize> = sources.iter().enumerate().map(|(i, s)| (s.n, i)).collect();
    let mut claims = Vec::new();
    // Citation number → terms of the claims citing it (for the quote), and inferred flag.
    let mut cited: Vec<(usize, Vec<String>, bool)> = Vec::new();
    for (ci, ((start, end), text, cites)) in claims_of(answer).into_iter().enumerate() {
        let terms = content_terms(&text);
        let mut best: Option<(usize, f32, f32, f32)> = None;
        for (j, s_terms) in source_terms.iter().enumerate() {
            let lexical = lexical_support(&terms, s_terms);
            let cos = match (
                claim_vectors.get(ci),
                source_vectors.get(j).and_then(Option::as_ref),
            ) {
                (Some(a), Some(b)) => cosine(a, b),
                _ => 0.0,
            };
            let score = if source_vectors.get(j).and_then(Option::as_ref).is_some() {
                support_score(lexical, cos)
            } else {
                lexical
            };
            // Ties go to a source the sentence cites.
            let better = match best {
                None => true,
                Some(b) => {
                    score > b.3 + 1e-6
                        || ((score - b.3).abs() <= 1e-6
                            && cites.contains(&sources[j].n)
                            && !cites.contains(&sources[b.0].n))
                }
            };
            if better {
                best = Some((j, lexical, cos, score));
            }
        }
        let (best_source, lexical, semantic, support) = best
            .map_or((None, 0.0, 0.0, 0.0), |(j, l, c, s)| {
                (Some(sources[j].n), l, c, s.min(1.0))
            });
        let unverified = unverified(&text, &known, &known_numbers);
        let supported = support >= threshold && unverified.is_empty();
        let valid_cites: Vec<usize> = cites
            .iter()
            .copied()
            .filter(|n| by_n.contains_key(n))
            .collect();
        for &n in &valid_cites {
            match cited.iter_mut().find(|c| c.0 == n) {
                Some(c) => c.1.extend(terms.iter().cloned()),
                None => cited.push((n, terms.clone(), false)),
            }
        }
        if let (true, Some(n)) = (valid_cites.is_empty() && supported, best_source) {
            match cited.iter_mut().find(|c| c.0 == n) {
                Some(c) => c.1.extend(terms.iter().cloned()),
                None => cited.push((n, terms.clone(), true)),
            }
        }
        claims.push(ClaimCheck {
            text,
            start,
            end,
            cites: valid_cites,
            best_source,
            lexical,
            semantic,
            support,
            supported,
            unverified,
        });
    }
    let citations = cited
        .into_iter()
        .filter_map(|(n, terms, inferred)| {
            let s = &sources[*by_n.get(&n)?];
            let (qs, qe) = best_quote(&s.text, &terms);
            Some(Citation {
                n,
                chunk_id: s.chunk_id.clone(),
                document_id: s.document_id.clone(),
                title: s.title.clone(),
                heading_path: s.heading_path.clone(),
                source: s.source.clone(),
                page: s.page,
                quote: s.text[qs..qe].to_owned(),
                quote_start: qs,
                quote_end: qe,
                inferred,
            })
        })
        .collect();
    Grounding { claims, citations }
}

/// The sentence of `text` sharing the most terms with `terms` (first one on ties).
fn best_quote(text: &str, terms: &[String]) -> (usize, usize) {
    let wanted: HashSet<&String> = terms.iter().collect();
    let mut best = (0, text.len().min(300), -1.0_f32);
    for (a, b) in sentence_spans(text) {
        let got: HashSet<String> = content_terms(&text[a..b]).into_iter().collect();
        let score = wanted.iter().filter(|t| got.contains(**t)).count() as f32
            - 0.001 * (b - a) as f32 / 100.0;
        if score > best.2 {
            best = (a, b, score);
        }
    }
    let (a, mut b, _) = best;
    while !text.is_char_boundary(b) {
        b -= 1;
    }
    (a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(n: usize, text: &str) -> Source {
        Source {
            n,
            collection: String::new(),
            chunk_id: format!("c{n}"),
            document_id: format!("d{n}"),
            title: "VACUUM".into(),
            heading_path: vec![],
            source: "sql-vacuum.html".into(),
            page: None,
            score: 1.0,
            similarity: Some(0.6),
            text: text.into(),
            excerpt: None,
        }
    }

    #[test]
    fn supported_and_unsupported_sentences_are_told_apart() {
        let sources = [
            src(
                1,
                "VACUUM reclaims storage occupied by dead tuples. It can run in parallel.",
            ),
            src(
                2,
                "VACUUM FULL rewrites the entire table into a new disk file. It requires an ACCESS EXCLUSIVE lock on the table.",
            ),
        ];
        let answer = "VACUUM FULL rewrites the table into a new file and requires an ACCESS EXCLUSIVE lock [2]. \
                      Oracle invented it in 1979 on mainframes [1].";
        let g = check(
            answer,
            "What does VACUUM FULL do?",
            &sources,
            &[],
            &[None, None],
            0.5,
        );
        assert_eq!(g.claims.len(), 2);
        assert!(g.claims[0].supported, "{:?}", g.claims[0]);
        assert_eq!(g.claims[0].best_source, Some(2));
        assert!(!g.claims[1].supported, "{:?}", g.claims[1]);
        assert_eq!(g.citations.len(), 2);
        let c2 = &g.citations[0];
        assert_eq!(c2.n, 2);
        assert_eq!(
            c2.quote,
            "VACUUM FULL rewrites the entire table into a new disk file."
        );
        assert_eq!(&sources[1].text[c2.quote_start..c2.quote_end], c2.quote);
        assert!(!c2.inferred);
    }

    #[test]
    fn a_supported_sentence_without_a_marker_gets_an_inferred_citation() {
        let sources = [
            src(1, "The default port is 5432."),
            src(2, "pg_dump writes archives."),
        ];
        let g = check(
            "pg_dump writes archives of a database.",
            "What does pg_dump write?",
            &sources,
            &[],
            &[None, None],
            0.5,
        );
        assert_eq!(g.citations.len(), 1);
        assert_eq!(g.citations[0].n, 2);
        assert!(g.citations[0].inferred);
    }

    #[test]
    fn markers_for_sources_that_do_not_exist_are_ignored() {
        let sources = [src(1, "The default port is 5432.")];
        let g = check(
            "The default port is 5432 [7].",
            "Which port?",
            &sources,
            &[],
            &[None],
            0.5,
        );
        assert!(g.claims[0].cites.is_empty());
        assert_eq!(g.citations.len(), 1);
        assert!(g.citations[0].inferred);
    }

    #[test]
    fn a_sentence_stating_a_name_or_number_no_source_has_is_unsupported() {
        let sources = [src(
            1,
            "The shared_buffers setting sets the memory for shared buffers; the default is 128 megabytes (128MB).",
        )];
        let answer = "The shared_buffers setting sets the memory for shared buffers [1]. \
                      Its default is 128MB [1]. \
                      It accepts values from 16 to 1073741823 [1]. \
                      Use pg_buffer_tune() to change it at run time [1].";
        let g = check(
            answer,
            "What does shared_buffers do?",
            &sources,
            &[],
            &[None],
            0.5,
        );
        assert!(g.claims[0].supported && g.claims[0].unverified.is_empty());
        assert!(g.claims[1].unverified.is_empty(), "{:?}", g.claims[1]);
        assert_eq!(g.claims[2].unverified, ["16", "1073741823"]);
        assert!(!g.claims[2].supported);
        assert_eq!(g.claims[3].unverified, ["pg_buffer_tune"]);
        assert!(!g.claims[3].supported);
        // A name the question itself brought up is not made up.
        let g = check(
            "The sources do not describe pg_frob.",
            "What does pg_frob do?",
            &sources,
            &[],
            &[None],
            0.5,
        );
        assert!(g.claims[0].unverified.is_empty());
    }

    #[test]
    fn semantic_support_lifts_a_paraphrase() {
        assert!(support_score(0.3, 0.75) > 0.5);
        assert!(support_score(0.3, 0.2) < 0.5);
        assert!((support_score(1.0, 1.0) - 1.0).abs() < 1e-6);
    }
}
