//! Text analysis. Two analyzers per index:
//! - `cairn_en` for prose: split on non-alphanumerics, lowercase, drop English stop
//!   words, Snowball English stemming (`connections` ~ `connection`);
//! - `cairn_ident` for identifiers: keeps `pg_stat_statements`, `max_connections`,
//!   `40P01`, `\gexec` and `pg_catalog.pg_class` whole (lowercased), and also emits the
//!   parts of dotted names and backslash commands, so `pg_class` and `gexec` match too.

use tantivy::Index;
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
    Token, TokenStream, Tokenizer,
};

pub(crate) const EN: &str = "cairn_en";
pub(crate) const IDENT: &str = "cairn_ident";

/// Registers both analyzers on an index.
pub(crate) fn register(index: &Index) {
    let m = index.tokenizers();
    m.register(EN, english());
    m.register(IDENT, identifiers());
}

pub(crate) fn english() -> TextAnalyzer {
    let mut b = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(64))
        .filter(LowerCaser)
        .dynamic();
    if let Some(stop) = StopWordFilter::new(Language::English) {
        b = b.filter_dynamic(stop);
    }
    b.filter_dynamic(Stemmer::new(Language::English)).build()
}

pub(crate) fn identifiers() -> TextAnalyzer {
    TextAnalyzer::builder(IdentTokenizer)
        .filter(RemoveLongFilter::limit(96))
        .filter(LowerCaser)
        .build()
}

/// Runs an analyzer over `text` and returns its token texts.
pub(crate) fn terms(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

/// The terms full-text search outside tantivy indexes and queries (PostgreSQL's
/// `tsvector`): the prose analyzer's stems, then the identifier analyzer's tokens, so an
/// exact identifier counts on top of its parts.
pub fn search_terms(text: &str) -> Vec<String> {
    thread_local! {
        // Built once per thread: the stop-word set and stemmer are not free to make, and
        // this runs for every chunk a shared space indexes and every query it answers.
        static ANALYZERS: std::cell::RefCell<(TextAnalyzer, TextAnalyzer)> =
            std::cell::RefCell::new((english(), identifiers()));
    }
    ANALYZERS.with(|a| {
        let (en, ident) = &mut *a.borrow_mut();
        let mut out = terms(en, text);
        out.extend(terms(ident, text));
        out
    })
}

fn ident_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '\\' | '$')
}

/// Splits on anything that cannot be part of an identifier.
#[derive(Clone, Default)]
pub(crate) struct IdentTokenizer;

pub(crate) struct VecTokenStream {
    tokens: Vec<Token>,
    next: usize,
}

impl TokenStream for VecTokenStream {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }
    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }
    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

impl Tokenizer for IdentTokenizer {
    type TokenStream<'a> = VecTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream {
        VecTokenStream {
            tokens: ident_tokens(text),
            next: 0,
        }
    }
}

/// The identifier tokens of `text`, with byte offsets and positions.
fn ident_tokens(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut position = 0;
    let mut push = |from: usize, to: usize, position: usize| {
        tokens.push(Token {
            offset_from: from,
            offset_to: to,
            position,
            text: text[from..to].to_owned(),
            position_length: 1,
        });
    };
    let mut start = None;
    for (i, c) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        match (start, ident_char(c) && i < text.len()) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                start = None;
                // Trim sentence punctuation and leading dots.
                let word = &text[s..i];
                let trimmed = word.trim_matches('.');
                if trimmed.is_empty() {
                    continue;
                }
                let from = s + (word.len() - word.trim_start_matches('.').len());
                let to = from + trimmed.len();
                push(from, to, position);
                // Parts of dotted names and the name of a backslash command.
                let parts: Vec<(usize, &str)> = split_parts(trimmed);
                if parts != [(0, trimmed)] {
                    for (off, part) in parts {
                        push(from + off, from + off + part.len(), position);
                    }
                }
                position += 1;
            }
            _ => {}
        }
    }
    tokens
}

/// `a.b` → `a`, `b`; `\gexec` → `gexec`; otherwise just the word.
fn split_parts(word: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut off = 0;
    for part in word.split('.') {
        let bare = part.trim_start_matches('\\');
        let lead = part.len() - bare.len();
        if !bare.is_empty() {
            out.push((off + lead, bare));
        }
        off += part.len() + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ident(text: &str) -> Vec<String> {
        terms(&mut identifiers(), text)
    }

    #[test]
    fn search_terms_are_stems_then_identifiers() {
        let t = search_terms("The connections of pg_stat_activity");
        assert_eq!(
            t,
            [
                "connect",
                "pg",
                "stat",
                "activ",
                "the",
                "connections",
                "of",
                "pg_stat_activity"
            ]
        );
        assert_eq!(
            search_terms("The connections of pg_stat_activity"),
            t,
            "same again"
        );
    }

    #[test]
    fn identifiers_stay_whole() {
        assert_eq!(
            ident("Set max_connections, then pg_stat_statements."),
            ["set", "max_connections", "then", "pg_stat_statements"]
        );
        assert_eq!(
            ident("SQLSTATE 40P01 (deadlock)"),
            ["sqlstate", "40p01", "deadlock"]
        );
        assert_eq!(
            ident("use \\gexec here"),
            ["use", "\\gexec", "gexec", "here"]
        );
        assert_eq!(
            ident("pg_catalog.pg_class."),
            ["pg_catalog.pg_class", "pg_catalog", "pg_class"]
        );
        assert_eq!(ident("...and"), ["and"]);
        assert!(ident(" - , ").is_empty());
    }

    #[test]
    fn prose_is_stemmed_without_stop_words() {
        assert_eq!(
            terms(&mut english(), "The connections are Vacuumed"),
            ["connect", "vacuum"]
        );
    }
}
