//! Word lists shipped in `data/` and loaded once: given names, surnames and common English
//! words. Names are looked up by their [`fold`]ed form (lowercase, diacritics removed), so
//! "Łukasz", "JOSÉ" and "josé" all find their entries.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// How a name entry may be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NameEntry {
    /// Only a name: accepted on its own.
    Plain,
    /// Also a common English word ("Will", "Rose"): accepted only with name context.
    Ambiguous,
}

fn parse_names(data: &'static str) -> HashMap<&'static str, NameEntry> {
    data.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.strip_suffix('*') {
            Some(name) => (name, NameEntry::Ambiguous),
            None => (l, NameEntry::Plain),
        })
        .collect()
}

static GIVEN: LazyLock<HashMap<&'static str, NameEntry>> =
    LazyLock::new(|| parse_names(include_str!("../data/given_names.txt")));
static SURNAMES: LazyLock<HashMap<&'static str, NameEntry>> =
    LazyLock::new(|| parse_names(include_str!("../data/surnames.txt")));
static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../data/common_words.txt")
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
});

/// Lowercase, without diacritics; a few letters NFD does not decompose are mapped by hand.
pub(crate) fn fold(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    for c in word.nfd().filter(|c| !is_combining_mark(*c)) {
        match c {
            'ł' | 'Ł' => out.push('l'),
            'ø' | 'Ø' => out.push('o'),
            'đ' | 'Đ' => out.push('d'),
            'ß' => out.push_str("ss"),
            'æ' | 'Æ' => out.push_str("ae"),
            'œ' | 'Œ' => out.push_str("oe"),
            'ı' => out.push('i'),
            '’' => out.push('\''),
            c => out.extend(c.to_lowercase()),
        }
    }
    out
}

pub(crate) fn given_name(folded: &str) -> Option<NameEntry> {
    GIVEN.get(folded).copied()
}

pub(crate) fn surname(folded: &str) -> Option<NameEntry> {
    SURNAMES.get(folded).copied()
}

pub(crate) fn is_common_word(folded: &str) -> bool {
    COMMON.contains(folded)
}

/// [`is_common_word`], also for regular inflections of a common word ("emitting",
/// "combined", "parsers", "quickly").
pub(crate) fn is_word(folded: &str) -> bool {
    if COMMON.contains(folded) {
        return true;
    }
    let stem_known = |stem: &str| {
        stem.len() >= 3
            && (COMMON.contains(stem)
                || COMMON.contains(format!("{stem}e").as_str())
                || stem
                    .char_indices()
                    .next_back()
                    .is_some_and(|(i, c)| stem[..i].ends_with(c) && COMMON.contains(&stem[..i])))
    };
    [
        "ing", "ed", "es", "s", "ly", "er", "ers", "ation", "ations", "ized", "ised",
    ]
    .iter()
    .any(|suffix| folded.strip_suffix(suffix).is_some_and(stem_known))
}

/// Share of a text's alphabetic words that are common English words (0 when it has none).
pub(crate) fn english_ratio(text: &str) -> f32 {
    let (mut words, mut known) = (0usize, 0usize);
    for w in text
        .split(|c: char| !c.is_alphabetic() && c != '\'')
        .filter(|w| !w.is_empty())
    {
        words += 1;
        if COMMON.contains(w.to_lowercase().as_str()) {
            known += 1;
        }
    }
    if words == 0 {
        0.0
    } else {
        known as f32 / words as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_load_and_fold() {
        assert_eq!(given_name("mary"), Some(NameEntry::Plain));
        assert_eq!(given_name("will"), Some(NameEntry::Ambiguous));
        assert_eq!(given_name(&fold("Łukasz")), Some(NameEntry::Plain));
        assert!(surname("smith").is_some());
        assert!(is_common_word("table"));
        assert!(english_ratio("the butler did it") > 0.7);
        assert!(english_ratio("gur ohgyre qvq vg") < 0.3);
    }
}
