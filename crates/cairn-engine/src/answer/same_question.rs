//! Whether two questions whose embeddings are close ask the same thing.
//!
//! Sentence embeddings place "Does VACUUM lock the table?" and "Does VACUUM FULL lock
//! the table?" closer together than many true paraphrases, so similarity alone cannot
//! decide a semantic cache hit. Before a stored answer is served for a new question,
//! the two questions must agree on the words that change what is asked:
//!
//! - **numbers**: digit runs and number words (`two` = `2`), as a set;
//! - **names**: identifiers (`max_connections`, `pg_dump`, `--clean`, `VACUUM`,
//!   `PL/Python`, `utf8`) and named entities (a capitalised word that does not start
//!   the sentence: `Windows`, `OpenSSL`): each name one question uses must appear in the
//!   other, ignoring case;
//! - **negation**: as many `not`, `no`, `without`, `except`, `n't`, … on each side;
//! - **opposites**: a question about creating does not match one about dropping, nor
//!   enabling disabling, minimum maximum, before after, primary standby, …
//! - **edits**: two questions that share their wording but for one to four content
//!   words are an edit of one another, and the edit is what is asked ("how is the
//!   checksum computed" / "… verified"); a true paraphrase rewords more than that (or
//!   only function words: "how do I" / "what's the way to");
//! - **order**: the same content words in another order ("a table that others
//!   reference" / "a table that references others").
//!
//! This is deliberately strict: a missed paraphrase costs one generation, a wrong hit
//! serves a wrong answer.

use std::collections::BTreeSet;

/// Why two questions were judged to ask different things.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// Different numbers.
    Numbers,
    /// A name one question uses and the other does not.
    Name(String),
    /// A different number of negations.
    Negation,
    /// Opposite words, one on each side.
    Opposite(&'static str, &'static str),
    /// A small edit of the same question: a few content words changed (the edit is
    /// what is asked about).
    Edited(usize),
    /// The same content words in another order ("a references b" / "b references a").
    Order,
    /// Different operators or signs (`+` / `-`, `5` / `-5`, `2 ^ 3 ^ 3` / `2 ^ (3 ^ 3)`).
    Operators,
}

/// What of a question must match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Terms {
    /// Every word and its stem, lowercased (what names are looked up in).
    words: BTreeSet<String>,
    /// Stems of the content words, in order.
    content: Vec<String>,
    numbers: BTreeSet<String>,
    names: BTreeSet<String>,
    negations: usize,
    /// Operator characters outside words, with parentheses when there are any.
    operators: Vec<char>,
}

/// A small edit: at most this many content words differ (and at least one does).
const MAX_EDIT: usize = 4;

/// Words that negate or exclude.
const NEGATIONS: &[&str] = &[
    "not",
    "no",
    "never",
    "without",
    "except",
    "excluding",
    "cannot",
    "neither",
    "nor",
    "none",
];

/// Words naming numbers, as their digits. `one`, `single` and ordinals are left out:
/// they are more often pronouns, articles or plain words than quantities.
const NUMBER_WORDS: &[(&str, &str)] = &[
    ("zero", "0"),
    ("two", "2"),
    ("three", "3"),
    ("four", "4"),
    ("five", "5"),
    ("six", "6"),
    ("seven", "7"),
    ("eight", "8"),
    ("nine", "9"),
    ("ten", "10"),
    ("eleven", "11"),
    ("twelve", "12"),
    ("twenty", "20"),
    ("hundred", "100"),
    ("thousand", "1000"),
    ("million", "1000000"),
    ("twice", "2"),
];

/// Function words: what a rewording changes freely.
const STOP: &[&str] = &[
    "a",
    "an",
    "the",
    "of",
    "to",
    "in",
    "on",
    "at",
    "for",
    "by",
    "with",
    "from",
    "into",
    "onto",
    "about",
    "as",
    "and",
    "or",
    "but",
    "if",
    "then",
    "so",
    "than",
    "that",
    "this",
    "these",
    "those",
    "it",
    "its",
    "it's",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "being",
    "am",
    "do",
    "does",
    "did",
    "doing",
    "done",
    "have",
    "has",
    "had",
    "having",
    "can",
    "could",
    "will",
    "would",
    "shall",
    "should",
    "may",
    "might",
    "must",
    "i",
    "me",
    "my",
    "we",
    "our",
    "you",
    "your",
    "he",
    "she",
    "they",
    "them",
    "their",
    "what",
    "what's",
    "which",
    "who",
    "whom",
    "whose",
    "when",
    "where",
    "why",
    "how",
    "whether",
    "there",
    "here",
    "any",
    "some",
    "all",
    "each",
    "every",
    "just",
    "only",
    "also",
    "still",
    "yet",
    "very",
    "really",
    "actually",
    "exactly",
    "way",
    "ways",
    "need",
    "needs",
    "want",
    "wants",
    "use",
    "used",
    "using",
    "get",
    "gets",
    "got",
    "make",
    "makes",
    "happen",
    "happens",
    "happening",
    "possible",
    "able",
    "okay",
    "ok",
    "please",
    "tell",
    "explain",
    "describe",
    "show",
    "give",
    "know",
    "find",
    "say",
    "said",
    "mean",
    "means",
    "thing",
    "things",
    "kind",
    "sort",
    "one",
    "ones",
    "something",
    "anything",
    "someone",
    "anyone",
    "whatever",
    "else",
    "other",
    "another",
    "much",
    "many",
    "more",
    "most",
    "less",
    "least",
    "own",
    "same",
    "such",
    "like",
    "via",
    "per",
    "vs",
    "versus",
    "up",
    "down",
    "out",
    "over",
    "under",
    "again",
    "already",
    "ever",
    "while",
    "during",
    "whereas",
    "since",
    "because",
    "though",
    "although",
    "let",
    "lets",
    "i'm",
    "don't",
    "doesn't",
    "isn't",
    "aren't",
    "can't",
    "won't",
];

/// Opposite words: a question using one side and not the other does not match one
/// using the other side.
const OPPOSITES: &[(&str, &str)] = &[
    ("min", "max"),
    ("minimum", "maximum"),
    ("primary", "standby"),
    ("server", "client"),
    ("read", "write"),
    ("first", "last"),
    ("table", "index"),
    ("row", "column"),
    ("user", "group"),
    ("session", "transaction"),
    ("inner", "outer"),
    ("shared", "exclusive"),
    ("physical", "logical"),
    ("synchronous", "asynchronous"),
    ("temporary", "permanent"),
    ("publisher", "subscriber"),
    ("true", "false"),
    ("local", "remote"),
    ("input", "output"),
    ("upper", "lower"),
    ("commit", "rollback"),
    ("schema", "database"),
    ("function", "procedure"),
    ("owner", "member"),
    ("ascending", "descending"),
    ("more", "less"),
    ("larger", "smaller"),
    ("higher", "lower"),
    ("all", "some"),
    ("any", "every"),
];

/// Words that bring something into being or effect, and words that take it away:
/// `add` does not match `drop`, nor `grant` `revoke`, nor `from` `to`.
const MAKING: &[&str] = &[
    "create", "add", "insert", "attach", "install", "enable", "grant", "acquire", "take", "start",
    "begin", "open", "lock", "set", "include", "increase", "raise", "encrypt", "from", "import",
    "restore", "load", "before",
];
const UNMAKING: &[&str] = &[
    "drop",
    "remove",
    "delete",
    "detach",
    "uninstall",
    "disable",
    "revoke",
    "release",
    "stop",
    "end",
    "close",
    "unlock",
    "reset",
    "unset",
    "exclude",
    "decrease",
    "reduce",
    "lower",
    "decrypt",
    "to",
    "export",
    "dump",
    "unload",
    "after",
];

/// Characters kept inside a word: names use them (`pg_dump`, `--clean`, `PL/Python`).
fn word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '/' | '$' | ':' | '\\' | '\'')
}

/// The words of `text`: runs of word characters, trimmed of the joiners they end with
/// (a sentence's full stop, a quote).
fn words(text: &str) -> Vec<&str> {
    text.split(|c: char| !word_char(c))
        .map(|w| w.trim_matches(|c: char| matches!(c, '.' | ':' | '\'' | '/' | '-')))
        .map(|w| w.strip_suffix("'s").unwrap_or(w))
        .filter(|w| !w.is_empty())
        .collect()
}

/// A light stem: `clustered`, `clusters`, `clustering` → `cluster`.
fn stem(word: &str) -> String {
    const SUFFIXES: &[&str] = &[
        "ations", "ation", "ings", "ing", "edly", "ed", "es", "s", "ly", "e",
    ];
    let w = word.to_lowercase();
    for suffix in SUFFIXES {
        if w.len() > suffix.len() + 3
            && let Some(stemmed) = w.strip_suffix(suffix)
        {
            // `cancelling` → `cancel`, `dropped` → `drop`.
            let b = stemmed.as_bytes();
            let doubled = matches!(*suffix, "ing" | "ings" | "ed")
                && b.len() >= 2
                && b[b.len() - 1] == b[b.len() - 2]
                && !matches!(b[b.len() - 1], b's' | b'l' | b'e');
            let cut = if doubled { b.len() - 1 } else { b.len() };
            return stemmed[..cut].to_owned();
        }
    }
    w
}

/// Whether `word` is shaped like a name: joiners inside (`_`, `.`, `/`, `$`, `::`),
/// letters with digits, a command-line option, an inner capital or all capitals.
fn is_name(raw: &str, word: &str) -> bool {
    let letters = word.chars().filter(|c| c.is_alphabetic()).count();
    if letters == 0 {
        return false;
    }
    if raw.starts_with('-') {
        return true;
    }
    if word.contains(['_', '.', '/', '$', '\\']) || word.contains("::") {
        return true;
    }
    if word.chars().any(|c| c.is_ascii_digit()) {
        return true;
    }
    let chars: Vec<char> = word.chars().collect();
    if chars
        .windows(2)
        .any(|w| w[0].is_lowercase() && w[1].is_uppercase())
    {
        return true;
    }
    letters >= 2 && chars.iter().all(|c| !c.is_lowercase())
}

/// The numbers a word carries: its digit runs (`v15` → `15`, `0.25`) or the number it
/// names.
fn numbers_in(word: &str, out: &mut BTreeSet<String>) {
    let lower = word.to_lowercase();
    if let Some((_, n)) = NUMBER_WORDS.iter().find(|(w, _)| *w == lower) {
        out.insert((*n).to_owned());
        return;
    }
    let mut run = String::new();
    for c in word.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_digit() || (c == '.' && !run.is_empty()) {
            run.push(c);
        } else if !run.is_empty() {
            out.insert(run.trim_end_matches('.').to_owned());
            run.clear();
        }
    }
}

/// `1,000` → `1000`: a comma between a digit and three digits separates thousands.
fn without_thousands_separators(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        let separator = c == ','
            && i > 0
            && chars[i - 1].is_ascii_digit()
            && chars.len() >= i + 4
            && chars[i + 1..i + 4].iter().all(char::is_ascii_digit)
            && chars.get(i + 4).is_none_or(|c| !c.is_ascii_digit());
        if !separator {
            out.push(c);
        }
    }
    out
}

/// The operators of an expression in `text`, in order: `+ - * / ^ % < > = ! | & ~`
/// standing outside words (not a hyphen, an option's dashes or `and/or`), and the
/// parentheses around them when there is at least one.
fn operators(text: &str) -> Vec<char> {
    let chars: Vec<char> = text.chars().collect();
    if !(0..chars.len()).any(|i| is_operator(&chars, i)) {
        return Vec::new();
    }
    (0..chars.len())
        .filter(|&i| matches!(chars[i], '(' | ')') || is_operator(&chars, i))
        .map(|i| chars[i])
        .collect()
}

/// Whether the character at `i` is an operator [`operators`] keeps.
fn is_operator(chars: &[char], i: usize) -> bool {
    let c = chars[i];
    if !"+-*/^%<>=!|&~".contains(c) {
        return false;
    }
    let prev = i.checked_sub(1).map(|j| chars[j]);
    let next = chars.get(i + 1).copied();
    let inside_word =
        prev.is_some_and(char::is_alphanumeric) && next.is_some_and(char::is_alphanumeric);
    let dash = c == '-' && next.is_some_and(|n| n.is_alphabetic() || n == '-');
    let exclamation = c == '!' && next.is_none_or(char::is_whitespace);
    !inside_word && !dash && !exclamation
}

impl Terms {
    /// The terms of `question`.
    pub fn of(question: &str) -> Self {
        let mut t = Self::default();
        let question = &without_thousands_separators(question);
        t.operators = operators(question);
        let raw_words: Vec<&str> = question
            .split_whitespace()
            .flat_map(|w| {
                let start = w.find(|c: char| c.is_alphanumeric() || c == '-');
                start.map(|s| &w[s..])
            })
            .collect();
        let mut sentence_start = true;
        for raw in raw_words {
            let ends_sentence = raw.ends_with(['.', '?', '!', ':']);
            for (i, word) in words(raw).into_iter().enumerate() {
                let lower = word.to_lowercase();
                numbers_in(word, &mut t.numbers);
                let negation = NEGATIONS.contains(&lower.as_str()) || lower.ends_with("n't");
                if negation {
                    t.negations += 1;
                }
                let capitalised = word.chars().next().is_some_and(char::is_uppercase)
                    && word.chars().skip(1).any(char::is_lowercase);
                let first = sentence_start && i == 0;
                if is_name(raw, word) || (capitalised && !first && word != "I") {
                    t.names.insert(lower.clone());
                }
                let stemmed = stem(&lower);
                let number = NUMBER_WORDS.iter().any(|(w, _)| *w == lower)
                    || !word.chars().any(char::is_alphabetic);
                if !negation && !number && !STOP.contains(&lower.as_str()) {
                    t.content.push(stemmed.clone());
                }
                t.words.insert(stemmed);
                t.words.insert(lower);
            }
            sentence_start = ends_sentence;
        }
        t
    }

    /// Whether the question uses `word` (or a word with its stem).
    fn uses(&self, word: &str) -> bool {
        self.words.contains(word) || self.words.contains(&stem(word))
    }

    /// Whether `name` (lowercased) is one of the words, or all its parts are.
    fn mentions(&self, name: &str) -> bool {
        self.uses(name)
            || name
                .split(|c: char| !c.is_alphanumeric())
                .filter(|p| !p.is_empty())
                .all(|p| self.words.contains(p))
    }

    /// Which sides of a pair of opposites the question uses.
    fn sides(&self, a: &[&str], b: &[&str]) -> (bool, bool) {
        (
            a.iter().any(|w| self.uses(w)),
            b.iter().any(|w| self.uses(w)),
        )
    }

    /// Why `self` and `other` ask different things, or `None` when nothing that
    /// decides the question differs.
    pub fn mismatch(&self, other: &Self) -> Option<Mismatch> {
        if self.numbers != other.numbers {
            return Some(Mismatch::Numbers);
        }
        if self.operators != other.operators {
            return Some(Mismatch::Operators);
        }
        if self.negations != other.negations {
            return Some(Mismatch::Negation);
        }
        for (a, b) in [(self, other), (other, self)] {
            if let Some(name) = a.names.iter().find(|n| !b.mentions(n)) {
                return Some(Mismatch::Name(name.clone()));
            }
        }
        let differ = |a: (bool, bool), b: (bool, bool)| a != b && (a.0 || a.1) && (b.0 || b.1);
        for (x, y) in OPPOSITES {
            if differ(self.sides(&[x], &[y]), other.sides(&[x], &[y])) {
                return Some(Mismatch::Opposite(x, y));
            }
        }
        if differ(self.sides(MAKING, UNMAKING), other.sides(MAKING, UNMAKING)) {
            return Some(Mismatch::Opposite("making", "unmaking"));
        }
        let only = |a: &Self, b: &Self| {
            let mine: BTreeSet<&String> = a.content.iter().collect();
            mine.into_iter().filter(|w| !b.content.contains(w)).count()
        };
        let edited = only(self, other) + only(other, self);
        if (1..=MAX_EDIT).contains(&edited) {
            return Some(Mismatch::Edited(edited));
        }
        if edited == 0 && self.content != other.content {
            return Some(Mismatch::Order);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn differ(a: &str, b: &str) -> Option<Mismatch> {
        let (ta, tb) = (Terms::of(a), Terms::of(b));
        let m = ta.mismatch(&tb);
        assert_eq!(
            m.is_some(),
            tb.mismatch(&ta).is_some(),
            "symmetric: {a} / {b}"
        );
        m
    }

    #[test]
    fn rewordings_agree() {
        for (a, b) in [
            (
                "How do I change the port PostgreSQL listens on?",
                "how do i change the port postgresql listens on",
            ),
            (
                "How do I change the port PostgreSQL listens on?",
                "What's the way to change the port that PostgreSQL listens on?",
            ),
            (
                "Can TRUNCATE be rolled back?",
                "If the surrounding transaction aborts, is a TRUNCATE undone as well?",
            ),
            (
                "Does plain VACUUM take an exclusive lock on the table?",
                "Will running an ordinary VACUUM lock the table exclusively, so nobody else can touch it?",
            ),
        ] {
            assert_eq!(differ(a, b), None, "{a} / {b}");
        }
    }

    #[test]
    fn near_misses_differ() {
        let cases = [
            (
                "Does VACUUM lock the table?",
                "Does VACUUM FULL lock the table?",
            ),
            (
                "What changed in PostgreSQL 14?",
                "What changed in PostgreSQL 15?",
            ),
            (
                "How do I use two parallel workers?",
                "How do I use 3 parallel workers?",
            ),
            (
                "Does pg_dump need a superuser?",
                "Does pg_dumpall need a superuser?",
            ),
            (
                "Can I restore the dump with --clean?",
                "Can I restore the dump with --create?",
            ),
            (
                "Does CREATE INDEX lock writes?",
                "Does CREATE INDEX not lock writes?",
            ),
            (
                "Which types can be added as NOT VALID?",
                "Which types cannot be added as NOT VALID?",
            ),
            (
                "How do I install it on Windows?",
                "How do I install it on Linux?",
            ),
            (
                "How do I create a publication?",
                "How do I drop a publication?",
            ),
            (
                "What lock does ADD FOREIGN KEY take?",
                "What lock does DROP FOREIGN KEY take?",
            ),
            (
                "What is the maximum value of work_mem?",
                "What is the minimum value of work_mem?",
            ),
            (
                "Can a trigger fire before the insert?",
                "Can a trigger fire after the insert?",
            ),
            (
                "How do I see the size of a table?",
                "How do I see the size of an index?",
            ),
            (
                "How is the checksum of each file computed?",
                "How is the checksum of each file verified?",
            ),
            (
                "Can I truncate a table that other tables reference?",
                "Can I truncate a table that references other tables?",
            ),
        ];
        for (a, b) in cases {
            assert!(differ(a, b).is_some(), "{a} / {b}");
        }
    }

    #[test]
    fn numbers_normalise() {
        let t = Terms::of("Is 1,000 connections too many for 2 GB?");
        assert!(t.numbers.contains("1000") && t.numbers.contains("2"));
        assert_eq!(differ("with two standbys", "with 2 standbys"), None);
    }

    #[test]
    fn names_ignore_case_and_sentence_starts() {
        assert_eq!(
            differ("Does VACUUM block reads?", "does vacuum block reads"),
            None
        );
        // A capital that only starts the sentence is not a name.
        assert_eq!(differ("Explain the WAL.", "What is the WAL?"), None);
    }
}

#[cfg(test)]
mod pairs {
    use super::Terms;

    /// How often the verifier alone (no embeddings) tells the pairs of `file` apart:
    /// (paraphrases accepted, near-misses rejected), as fractions.
    fn rates(file: &str) -> (f64, f64) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../eval/cache")
            .join(file);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (the pairs are committed under eval/cache)",
                path.display()
            )
        });
        let (mut para, mut para_ok, mut near, mut near_ok) = (0, 0, 0, 0);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let (a, b) = (v["a"].as_str().unwrap(), v["b"].as_str().unwrap());
            let same = Terms::of(a).mismatch(&Terms::of(b)).is_none();
            if v["kind"] == "paraphrase" {
                para += 1;
                para_ok += usize::from(same);
            } else {
                near += 1;
                near_ok += usize::from(!same);
            }
        }
        (para_ok as f64 / para as f64, near_ok as f64 / near as f64)
    }

    #[test]
    fn the_verifier_rejects_near_misses_and_keeps_some_paraphrases() {
        for file in ["pairs-tune.jsonl", "pairs-heldout.jsonl"] {
            let (kept, rejected) = rates(file);
            eprintln!("{file}: paraphrases kept {kept:.3}, near-misses rejected {rejected:.3}");
            assert!(
                rejected >= 0.9,
                "{file}: near-misses rejected {rejected:.3}"
            );
            assert!(kept >= 0.2, "{file}: paraphrases kept {kept:.3}");
        }
    }
}
