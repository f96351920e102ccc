//! Query-focused context compression: from each retrieved chunk, only the sentences that
//! bear on the question go into the prompt, within a per-source token budget.
//!
//! On CPU, time to first token is prompt length over prefill speed, so a prompt of five
//! whole 256-512-token chunks costs 20-40 s; the answer usually rests on two or three
//! sentences of them. A sentence's score is the question's terms it contains (names such
//! as `max_wal_size` weigh triple) plus its embedding's cosine to the question's, with a
//! little of the previous sentence's score carried over (a definition is often followed
//! by its detail). The best sentences are kept in their original order, gaps marked with
//! `…`. Only the prompt's view changes: [`Source::text`] stays whole, so citations quote
//! and point into the chunk as stored, and the grounding check sees the whole chunk.

use super::Source;
use super::text::{content_terms, sentence_spans};
use crate::search::specific;
use std::collections::HashSet;

/// Weight of a question name (identifier) found in a sentence, against 1 for a word.
const NAME_WEIGHT: f32 = 3.0;
/// Weight of the sentence/question cosine.
const COSINE_WEIGHT: f32 = 2.0;
/// Share of the previous sentence's score a sentence inherits.
const CARRY: f32 = 0.3;

/// The sentences of each source longer than `budget` tokens: byte spans into its text
/// (none for a source that already fits, so nothing is scored or embedded for it).
pub(crate) fn sentences(
    sources: &[Source],
    budget: usize,
    count: &dyn Fn(&str) -> usize,
) -> Vec<Vec<(usize, usize)>> {
    sources
        .iter()
        .map(|s| {
            if count(&s.text) <= budget {
                return Vec::new();
            }
            sentence_spans(&s.text)
                .into_iter()
                .filter(|&(a, b)| s.text[a..b].chars().any(char::is_alphanumeric))
                .collect()
        })
        .collect()
}

/// Sets each source's prompt excerpt to its best sentences within `budget` tokens.
/// `spans` comes from [`sentences`]; `cosines[i][j]` is sentence j of source i against
/// the question (empty: lexical scores only). A source without spans is left whole.
pub(crate) fn compress(
    sources: &mut [Source],
    spans: &[Vec<(usize, usize)>],
    cosines: &[Vec<f32>],
    question: &str,
    budget: usize,
    count: &dyn Fn(&str) -> usize,
) {
    let names: HashSet<String> = specific::names(question).into_iter().collect();
    let words: HashSet<String> = content_terms(question).into_iter().collect();
    for (i, s) in sources.iter_mut().enumerate() {
        let spans = &spans[i];
        if spans.is_empty() {
            continue;
        }
        let lower = s.text.to_lowercase();
        let mut scores: Vec<f32> = spans
            .iter()
            .enumerate()
            .map(|(j, &(a, b))| {
                let terms: HashSet<String> = content_terms(&s.text[a..b]).into_iter().collect();
                let lexical = words.iter().filter(|w| terms.contains(*w)).count() as f32;
                let named = names
                    .iter()
                    .filter(|n| specific::name_occurs(n, &lower[a..b]))
                    .count() as f32;
                let cosine = cosines
                    .get(i)
                    .and_then(|c| c.get(j))
                    .copied()
                    .unwrap_or(0.0);
                lexical + NAME_WEIGHT * named + COSINE_WEIGHT * cosine
            })
            .collect();
        for j in (1..scores.len()).rev() {
            scores[j] += CARRY * scores[j - 1];
        }
        let mut order: Vec<usize> = (0..spans.len()).collect();
        order.sort_by(|&x, &y| scores[y].total_cmp(&scores[x]).then(x.cmp(&y)));
        let mut keep: Vec<usize> = Vec::new();
        let mut used = 0;
        for j in order {
            let (a, b) = spans[j];
            let need = count(&s.text[a..b]) + 1;
            if used + need > budget {
                if keep.is_empty() {
                    // The best sentence alone is too long: keep its start.
                    keep.push(j);
                    break;
                }
                continue;
            }
            used += need;
            keep.push(j);
        }
        keep.sort_unstable();
        let mut out = String::new();
        let mut last_end = None;
        for j in keep {
            let (a, b) = spans[j];
            match last_end {
                Some(end) if s.text[end..a].trim().is_empty() => out.push(' '),
                Some(_) => out.push_str(" … "),
                None if a > 0 => out.push_str("… "),
                None => {}
            }
            out.push_str(s.text[a..b].trim());
            last_end = Some(b);
        }
        if last_end.is_some_and(|e| !s.text[e..].trim().is_empty()) {
            out.push_str(" …");
        }
        s.excerpt = Some(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(text: &str) -> Source {
        super::super::test_source(1, text)
    }

    fn words(s: &str) -> usize {
        s.split_whitespace().count()
    }

    #[test]
    fn the_sentences_about_the_question_are_kept_in_order() {
        let text = "Checkpoints write dirty pages to disk. The checkpoint_timeout setting \
                    sets the time between automatic checkpoints. The default is five minutes. \
                    Autovacuum is a separate background process. Its workers vacuum tables \
                    in turn. Logging is configured elsewhere entirely.";
        let mut sources = vec![src(text)];
        let spans = sentences(&sources, 20, &words);
        compress(
            &mut sources,
            &spans,
            &[],
            "What does checkpoint_timeout control?",
            20,
            &words,
        );
        let e = sources[0].excerpt.as_deref().unwrap();
        assert!(e.starts_with("… The checkpoint_timeout setting"), "{e}");
        assert!(e.contains("The default is five minutes."), "{e}");
        assert!(!e.contains("Autovacuum"), "{e}");
        assert!(e.ends_with(" …"), "{e}");
        assert_eq!(sources[0].text, text, "the stored text stays whole");
    }

    #[test]
    fn a_source_within_budget_is_left_whole() {
        let mut sources = vec![src("Short. Text.")];
        let spans = sentences(&sources, 50, &words);
        assert!(spans[0].is_empty());
        compress(&mut sources, &spans, &[], "text?", 50, &words);
        assert!(sources[0].excerpt.is_none());
    }
}
