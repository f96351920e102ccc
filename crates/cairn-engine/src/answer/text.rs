//! Text helpers for citations and grounding: sentence spans, citation markers and
//! content terms.

use std::collections::HashSet;

/// Byte spans of the sentences of `text`. A sentence ends at `.`, `!`, `?` or a line
/// break followed by whitespace, after any citation markers that follow the
/// punctuation; abbreviations like "e.g." and decimals like "1.5" do not end one.
pub(crate) fn sentence_spans(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let end_here = match b {
            b'\n' => true,
            b'.' | b'!' | b'?' => {
                let next = bytes.get(i + 1).copied();
                let prev_word = text[start..i]
                    .rsplit(char::is_whitespace)
                    .next()
                    .unwrap_or("");
                let abbreviation = matches!(
                    prev_word.to_ascii_lowercase().as_str(),
                    "e.g" | "i.e" | "etc" | "vs" | "cf" | "approx" | "no" | "fig"
                ) || prev_word.len() == 1
                    && prev_word.chars().all(|c| c.is_ascii_uppercase());
                !abbreviation
                    && matches!(next, None | Some(b' ' | b'\n' | b'\t' | b'[' | b'"' | b')'))
            }
            _ => false,
        };
        if end_here {
            let mut end = i + 1;
            // Citation markers after the full stop belong to the sentence.
            loop {
                let rest = &text[end..];
                let trimmed = rest.trim_start_matches([' ', '\t']);
                if let Some(close) = trimmed.strip_prefix('[').and_then(|t| t.find(']')) {
                    let inner = &trimmed[1..=close];
                    if !inner.is_empty()
                        && inner
                            .chars()
                            .all(|c| c.is_ascii_digit() || c == ',' || c == ' ')
                    {
                        end += rest.len() - trimmed.len() + close + 2;
                        continue;
                    }
                }
                break;
            }
            push_span(text, start, end, &mut spans);
            start = end;
            i = end;
            continue;
        }
        i += 1;
    }
    push_span(text, start, text.len(), &mut spans);
    spans
}

fn push_span(text: &str, start: usize, end: usize, spans: &mut Vec<(usize, usize)>) {
    let s = &text[start..end];
    let lead = s.len() - s.trim_start().len();
    let trail = s.len() - s.trim_end().len();
    if strip_citations(s).chars().any(char::is_alphanumeric) {
        spans.push((start + lead, end - trail));
    }
}

/// The citation numbers in `text` (`[1]`, `[2, 3]`, `[2][3]`), in order of appearance,
/// each once.
pub(crate) fn citation_numbers(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        rest = &rest[open + 1..];
        let Some(close) = rest.find(']') else { break };
        let inner = &rest[..close];
        if !inner.trim().is_empty()
            && inner
                .chars()
                .all(|c| c.is_ascii_digit() || c == ',' || c == ' ')
        {
            for n in inner
                .split(',')
                .filter_map(|p| p.trim().parse::<usize>().ok())
            {
                if !out.contains(&n) {
                    out.push(n);
                }
            }
        }
        rest = &rest[close..];
    }
    out
}

/// The text without citation markers.
pub(crate) fn strip_citations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        match after.find(']') {
            Some(close)
                if !after[..close].trim().is_empty()
                    && after[..close]
                        .chars()
                        .all(|c| c.is_ascii_digit() || c == ',' || c == ' ') =>
            {
                out.push_str(rest[..open].trim_end_matches(' '));
                rest = &after[close + 1..];
            }
            _ => {
                out.push_str(&rest[..=open]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

const STOPWORDS: &[&str] = &[
    "a", "about", "after", "all", "also", "an", "and", "any", "are", "as", "at", "be", "been",
    "before", "being", "but", "by", "can", "could", "did", "do", "does", "each", "for", "from",
    "has", "have", "how", "i", "if", "in", "into", "is", "it", "its", "may", "more", "most",
    "must", "no", "not", "of", "on", "one", "only", "or", "other", "should", "so", "some", "such",
    "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "those",
    "to", "use", "used", "uses", "using", "was", "were", "what", "when", "where", "which", "while",
    "who", "will", "with", "would", "you", "your",
];

/// Lowercased content terms: identifier-like tokens kept whole (`max_connections`,
/// `40p01`, `pg_dump`), stopwords dropped, plurals folded so "tables" matches "table".
pub(crate) fn content_terms(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
        .map(|w| fold(&w))
        .collect()
}

fn fold(w: &str) -> String {
    if w.contains('_') || w.chars().any(|c| c.is_ascii_digit()) || w.len() <= 3 {
        return w.to_owned();
    }
    if let Some(stem) = w.strip_suffix("ies").filter(|s| s.len() >= 2) {
        return format!("{stem}y");
    }
    for suffix in ["sses", "xes", "ches", "shes"] {
        if w.ends_with(suffix) {
            return w[..w.len() - 2].to_owned();
        }
    }
    match w.strip_suffix('s') {
        Some(stem) if !stem.ends_with('s') && !stem.ends_with('u') => stem.to_owned(),
        _ => w.to_owned(),
    }
}

/// Share of `claim`'s distinct content terms that appear in `evidence`.
pub(crate) fn lexical_support(claim: &[String], evidence: &HashSet<String>) -> f32 {
    let distinct: HashSet<&String> = claim.iter().collect();
    if distinct.is_empty() {
        return 0.0;
    }
    let found = distinct.iter().filter(|t| evidence.contains(**t)).count();
    found as f32 / distinct.len() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentences(t: &str) -> Vec<&str> {
        sentence_spans(t)
            .into_iter()
            .map(|(a, b)| &t[a..b])
            .collect()
    }

    #[test]
    fn sentences_keep_their_citations_and_skip_abbreviations() {
        let t = "VACUUM FULL rewrites the table [1]. It needs an ACCESS EXCLUSIVE lock, e.g. \
                 for version 1.5 too.[2][3] Done";
        assert_eq!(
            sentences(t),
            [
                "VACUUM FULL rewrites the table [1].",
                "It needs an ACCESS EXCLUSIVE lock, e.g. for version 1.5 too.[2][3]",
                "Done"
            ]
        );
        assert_eq!(sentences("One.  \n\n Two!"), ["One.", "Two!"]);
        assert!(sentences("  [1] ").is_empty());
    }

    #[test]
    fn citation_markers_parse_in_every_spelling() {
        assert_eq!(
            citation_numbers("a [2] b [1, 3][2] c [x] [ ] [10]"),
            [2, 1, 3, 10]
        );
        assert_eq!(
            strip_citations("locks the table [1][2]. See [docs]."),
            "locks the table. See [docs]."
        );
    }

    #[test]
    fn terms_keep_identifiers_and_fold_plurals() {
        assert_eq!(
            content_terms("The max_connections setting limits connections to 40P01 tables"),
            [
                "max_connections",
                "setting",
                "limit",
                "connection",
                "40p01",
                "table"
            ]
        );
        let ev: HashSet<String> = content_terms("each table has a limit")
            .into_iter()
            .collect();
        let claim = content_terms("tables have limits on rows");
        assert!((lexical_support(&claim, &ev) - 2.0 / 3.0).abs() < 1e-6);
    }
}
