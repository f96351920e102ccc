//! Specific terms: the names and numbers a question or an answer is about.
//!
//! A question that names `pg_teleport_table()` or `innodb_buffer_pool_size` is about that
//! name; if no retrieved source contains it, the sources cannot answer it, however close
//! their vectors are. An answer sentence that states `0.25` or `pg_stat_io` where no
//! source does made that up. Plain words are left out on purpose: paraphrased questions
//! legitimately use words the manual never uses.
//!
//! Names are words with a shape no ordinary word has: `_` or `$` inside
//! (`max_connections`), letters mixed with digits (`40P01`, `utf8`), a backslash command
//! (`\gexec`), a dotted name (`pg_catalog.pg_class`) or an inner capital (`MongoDB`).
//! Numbers are digit runs of two or more digits (`5432`, `0.25`, `1,000` → `1000`).

/// Word characters for names: letters, digits and the joiners names use.
fn name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '\\' | '$')
}

/// Unit suffixes that make `64MB` a number, not a name.
const UNITS: &[&str] = &[
    "b", "kb", "mb", "gb", "tb", "k", "m", "g", "ms", "s", "sec", "min", "h", "d", "us", "x", "st",
    "nd", "rd", "th", "px", "bit", "bits",
];

/// How a word is shaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// `_`, `$`, digits mixed with letters, `\cmd`, dotted: an identifier.
    Identifier,
    /// An inner capital (`MongoDB`, `pgAdmin`): a product or type name.
    Camel,
    /// Four or more capitals (`MAXDOP`, `DBCC`): a keyword or an acronym. Only
    /// questions are checked for these ([`question_names`]): answers quote the sources'
    /// SQL keywords freely.
    Caps,
}

fn shape(word: &str) -> Option<Shape> {
    if word.chars().count() < 3 {
        return None;
    }
    let has_alpha = word.chars().any(char::is_alphabetic);
    if !has_alpha {
        return None;
    }
    if word.starts_with('\\') && word[1..].chars().all(|c| c.is_ascii_alphabetic()) {
        return Some(Shape::Identifier);
    }
    if word.contains('_') || word.contains('$') {
        return Some(Shape::Identifier);
    }
    if word.contains('.') {
        // `e.g`, `i.e`: abbreviations, not names.
        let parts: Vec<&str> = word.split('.').collect();
        if parts.iter().all(|p| p.chars().count() <= 1) {
            return None;
        }
        return Some(Shape::Identifier);
    }
    let has_digit = word.chars().any(|c| c.is_ascii_digit());
    if has_digit {
        // `64MB`, `10ms`, `2nd`: a quantity, not a name.
        let unit = word.trim_start_matches(|c: char| c.is_ascii_digit());
        if unit.len() < word.len() && UNITS.contains(&unit.to_ascii_lowercase().as_str()) {
            return None;
        }
        return Some(Shape::Identifier);
    }
    let chars: Vec<char> = word.chars().collect();
    if chars
        .windows(2)
        .any(|w| w[0].is_lowercase() && w[1].is_uppercase())
    {
        return Some(Shape::Camel);
    }
    if chars.len() >= 4 && chars.iter().all(char::is_ascii_uppercase) {
        return Some(Shape::Caps);
    }
    None
}

/// The words of `text` a name could be, trimmed of sentence punctuation.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !name_char(c))
        .map(|w| w.trim_matches('.'))
        .map(|w| w.trim_end_matches('\\'))
        .filter(|w| !w.is_empty())
}

fn names_of(text: &str, keep: impl Fn(Shape) -> bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in words(text) {
        if shape(w).is_some_and(&keep) {
            let lower = w.to_lowercase();
            if !out.contains(&lower) {
                out.push(lower);
            }
        }
    }
    out
}

/// The names in `text` (identifiers and CamelCase names), lowercased, in order of first
/// appearance.
pub fn names(text: &str) -> Vec<String> {
    names_of(text, |s| s != Shape::Caps)
}

/// The names a question asks about: [`names`] and words in capitals (`MAXDOP`).
pub fn question_names(text: &str) -> Vec<String> {
    names_of(text, |_| true)
}

/// The identifiers `text` names, lowercased: identifier-shaped names (not CamelCase
/// product names) and codes of four or more digits (`23505`). A query naming one wants
/// the pages that contain it.
pub fn identifiers(text: &str) -> Vec<String> {
    let mut out = names_of(text, |s| s == Shape::Identifier);
    for w in words(text) {
        if w.len() >= 4 && w.chars().all(|c| c.is_ascii_digit()) && !out.iter().any(|o| o == w) {
            out.push(w.to_owned());
        }
    }
    out
}

/// The numbers in `text` with two or more digits, normalized (`1,000` → `1000`).
pub fn numbers(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() || (i > 0 && chars[i - 1].is_alphanumeric()) {
            i += 1;
            continue;
        }
        // A digit group of a date, time or similar (`2023-04-01`, `12:00`, `1/2`) is an
        // example value, not a stated quantity.
        let start = i;
        let mut n = String::new();
        let mut dot = false;
        while i < chars.len() {
            let c = chars[i];
            let next_digit = chars.get(i + 1).is_some_and(char::is_ascii_digit);
            if c.is_ascii_digit() {
                n.push(c);
            } else if c == ',' && next_digit && !dot {
                // A thousands separator.
            } else if c == '.' && next_digit && !dot {
                dot = true;
                n.push(c);
            } else {
                break;
            }
            i += 1;
        }
        let joined = |c: Option<&char>, d: Option<&char>| {
            c.is_some_and(|c| matches!(c, '-' | ':' | '/')) && d.is_some_and(char::is_ascii_digit)
        };
        if joined(chars.get(i), chars.get(i + 1))
            || (start >= 2 && joined(chars.get(start - 1), chars.get(start - 2)))
        {
            continue;
        }
        // Letters glued on make it a name (`40P01`), not a number.
        if chars.get(i).is_some_and(|c| c.is_alphabetic() || *c == '_') {
            let unit: String = chars[i..]
                .iter()
                .take_while(|c| c.is_alphabetic())
                .collect::<String>()
                .to_ascii_lowercase();
            if !UNITS.contains(&unit.as_str()) {
                continue;
            }
        }
        if n.chars().filter(char::is_ascii_digit).count() >= 2 && !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

/// Whether `name` (from [`names`]) occurs in `haystack`, which must be lowercase. A
/// dotted name occurs when each of its parts does (a catalog page lists `relkind` under
/// `pg_class` without writing `pg_class.relkind`); a backslash command without its
/// backslash counts.
pub fn name_occurs(name: &str, haystack: &str) -> bool {
    name.split('.')
        .map(|p| p.trim_start_matches('\\'))
        .filter(|p| !p.is_empty())
        .all(|p| occurs_as_word(p, haystack))
}

/// Whether `part` occurs in `haystack` with no word character (letter, digit, `_`)
/// glued on either side: `rs` does not occur in "errors", `max_connections` does in
/// "max_connections.".
fn occurs_as_word(part: &str, haystack: &str) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    haystack.match_indices(part).any(|(at, m)| {
        let before = haystack[..at].chars().next_back();
        let after = haystack[at + m.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

/// Whether `number` (from [`numbers`]) occurs in `numbers_of_haystack`.
pub fn number_occurs(number: &str, haystack_numbers: &[String]) -> bool {
    let trimmed = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s.to_owned()
        }
    };
    let n = trimmed(number);
    haystack_numbers.iter().any(|h| trimmed(h) == n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_identifier_shaped_words() {
        assert_eq!(
            names("How do I set innodb_buffer_pool_size, or call pg_teleport_table()?"),
            ["innodb_buffer_pool_size", "pg_teleport_table"]
        );
        assert_eq!(
            names("What is SQLSTATE 40P01? Use \\gexec and pg_catalog.pg_class."),
            ["40p01", "\\gexec", "pg_catalog.pg_class"]
        );
        assert_eq!(names("Which MongoDB stage joins collections?"), ["mongodb"]);
        assert!(names("How often should I run DBCC CHECKDB?").is_empty());
        assert_eq!(
            question_names("How often should I run DBCC CHECKDB?"),
            ["dbcc", "checkdb"]
        );
        assert!(names("Set it to 64MB, e.g. for the 2nd server, in PostgreSQL 15.4.").len() == 1);
        assert!(names("How can I stop one runaway query?").is_empty());
        assert_eq!(identifiers("what does max_wal_size do"), ["max_wal_size"]);
        assert_eq!(identifiers("What is SQLSTATE 23505?"), ["23505"]);
        assert!(identifiers("Which MongoDB stage joins collections in 15?").is_empty());
    }

    #[test]
    fn numbers_are_normalized_digit_runs() {
        assert_eq!(
            numbers("Port 5432, 1,000 rows, 0.25 of 8 pages, 64MB, 40P01, v15."),
            ["5432", "1000", "0.25", "64"]
        );
        assert!(numbers("at '2023-04-01 12:00:00' or 1/2").is_empty());
        assert!(number_occurs("0.250", &["0.25".into()]));
        assert!(!number_occurs("25", &["250".into()]));
    }

    #[test]
    fn dotted_names_occur_by_parts() {
        let page = "the pg_class catalog: relkind is r for a table";
        assert!(name_occurs("pg_class.relkind", page));
        assert!(!name_occurs("pg_class.relfoo", page));
        assert!(name_occurs("\\gexec", "use gexec to run each result"));
        assert!(!name_occurs("rs.initiate", "errors initiate a rollback"));
        assert!(name_occurs("max_connections", "see max_connections."));
        assert!(!name_occurs("max_conn", "see max_connections."));
    }
}
