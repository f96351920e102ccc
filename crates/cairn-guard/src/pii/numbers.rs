//! Number-shaped PII: payment cards, IBANs, US SSNs and phone numbers.
//!
//! The shared difficulty is telling them apart from the digits every text is full of
//! (dates, versions, order numbers, ISBNs, prices). Each recognizer requires a clean token
//! boundary (a candidate glued to letters or to `-`/`.`/`/` plus more digits is part of a
//! larger identifier such as `INV-2018-92225` or `10.0.19045.3803`) and then validates.

use std::sync::LazyLock;

use regex::Regex;

use super::checks::{
    card_issuer_plausible, iban_length, iban_valid, isbn_valid, luhn_valid, ssn_valid,
};
use super::{Candidate, PiiKind, char_at, char_before, context_after, context_before};

#[allow(clippy::expect_used)] // literal patterns, covered by tests
fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("valid regex")
}

static CARD: LazyLock<Regex> = LazyLock::new(|| re(r"\d(?:[ -]?\d){11,18}"));
static IBAN: LazyLock<Regex> = LazyLock::new(|| re(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){10,32}"));
static SSN: LazyLock<Regex> = LazyLock::new(|| re(r"\d{3}[- ]?\d{2}[- ]?\d{4}"));
static PHONE_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?:\+|\b00)?\(?\d[\d ().\-]{4,24}\d(?: ?(?:x|ext\.?|extension|#) ?\d{1,6})?")
});

/// The text around a digit candidate is clean: no letter/digit glued on either side, and no
/// `-`, `.`, `/` or `_` joining it to more of a larger token.
fn clean_boundary(text: &str, start: usize, end: usize) -> bool {
    let before_ok = match char_before(text, start) {
        None => true,
        Some(c) if c.is_alphanumeric() || c == '_' => false,
        Some(c @ ('-' | '.' | '/' | ':')) => {
            char_before(text, start - c.len_utf8()).is_none_or(|p| !p.is_alphanumeric())
        }
        Some(_) => true,
    };
    let after_ok = match char_at(text, end) {
        None => true,
        Some(c) if c.is_alphanumeric() || c == '_' => false,
        Some(c @ ('-' | '.' | '/' | ':' | ',')) => {
            char_at(text, end + c.len_utf8()).is_none_or(|n| !n.is_ascii_digit())
        }
        Some(_) => true,
    };
    before_ok && after_ok
}

fn digits_of(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// Payment cards: 12-19 digits, optionally grouped by single spaces or dashes, Luhn-valid.
pub(crate) fn find_cards(text: &str, out: &mut Vec<Candidate>) {
    for m in CARD.find_iter(text) {
        let s = m.as_str();
        if !clean_boundary(text, m.start(), m.end()) {
            continue;
        }
        let has_space = s.contains(' ');
        let has_dash = s.contains('-');
        if has_space && has_dash {
            continue;
        }
        let digits = digits_of(s);
        if !(12..=19).contains(&digits.len()) || !luhn_valid(&digits) {
            continue;
        }
        if (has_space || has_dash) && !plausible_card_grouping(s) {
            continue;
        }
        let issuer = card_issuer_plausible(&digits);
        if !issuer && digits.len() < 13 {
            continue;
        }
        let score = if issuer { 0.95 } else { 0.6 };
        out.push(Candidate {
            kind: PiiKind::CreditCard,
            start: m.start(),
            end: m.end(),
            score,
        });
    }
}

/// Card numbers are printed in groups of 4 (Amex/Diners: 4-6-5 / 4-6-4).
fn plausible_card_grouping(s: &str) -> bool {
    let groups: Vec<usize> = s.split([' ', '-']).map(str::len).collect();
    let fours = groups.len() >= 3
        && groups[..groups.len() - 1].iter().all(|&g| g == 4)
        && (1..=4).contains(&groups[groups.len() - 1]);
    fours || groups == [4, 6, 5] || groups == [4, 6, 4]
}

/// IBANs: country code, check digits, BBAN of the country's length; mod-97 validated.
pub(crate) fn find_ibans(text: &str, out: &mut Vec<Candidate>) {
    for m in IBAN.find_iter(text) {
        let s = m.as_str();
        let Some(len) = iban_length(&s[..2]) else {
            continue;
        };
        // Take exactly `len` alphanumerics (single spaces allowed between groups).
        let mut count = 0;
        let mut end = m.start();
        for (i, c) in s.char_indices() {
            if c.is_ascii_alphanumeric() {
                count += 1;
                end = m.start() + i + 1;
                if count == len {
                    break;
                }
            }
        }
        if count < len {
            continue;
        }
        if char_at(text, end).is_some_and(|c| c.is_ascii_alphanumeric()) {
            continue;
        }
        if char_before(text, m.start()).is_some_and(|c| c.is_alphanumeric()) {
            continue;
        }
        if iban_valid(&text[m.start()..end]) {
            out.push(Candidate {
                kind: PiiKind::Iban,
                start: m.start(),
                end,
                score: 0.97,
            });
        }
    }
}

const SSN_CONTEXT: &[&str] = &[
    "ssn",
    "social security",
    "my social",
    "social is",
    "ss#",
    "taxpayer",
    "tin ",
    "tax id",
    "seguridad social",
    "sécurité sociale",
    "sozialversicherung",
];

/// US SSNs: `ddd-dd-dddd` (or spaced, or bare with context) passing the SSA rules.
pub(crate) fn find_ssns(text: &str, out: &mut Vec<Candidate>) {
    for m in SSN.find_iter(text) {
        let s = m.as_str();
        if !clean_boundary(text, m.start(), m.end()) {
            continue;
        }
        let seps: Vec<char> = s.chars().filter(|c| !c.is_ascii_digit()).collect();
        let digits = digits_of(s);
        let (Ok(area), Ok(group), Ok(serial)) = (
            digits[..3].parse(),
            digits[3..5].parse(),
            digits[5..].parse(),
        ) else {
            continue;
        };
        if !ssn_valid(area, group, serial) {
            continue;
        }
        let context = context_before(text, m.start(), 48, SSN_CONTEXT)
            || context_after(text, m.end(), 48, SSN_CONTEXT);
        let score = match seps.as_slice() {
            ['-', '-'] => 0.9,
            [' ', ' '] => {
                if context {
                    0.85
                } else {
                    0.55
                }
            }
            [] if context => 0.8,
            _ => continue,
        };
        out.push(Candidate {
            kind: PiiKind::Ssn,
            start: m.start(),
            end: m.end(),
            score,
        });
    }
}

const PHONE_CONTEXT: &[&str] = &[
    "phone",
    "tel",
    "call",
    "mobile",
    "cell",
    "fax",
    "contact",
    "reach",
    "whatsapp",
    "sms",
    "text me",
    "office",
    "ring",
    "dial",
    "téléphone",
    "telefon",
    "teléfono",
    "telefono",
];

/// Phone numbers: E.164 (`+` or `00`) and national formats with 7-15 digits.
pub(crate) fn find_phones(text: &str, out: &mut Vec<Candidate>) {
    for m in PHONE_RE.find_iter(text) {
        let mut start = m.start();
        let mut s = m.as_str();
        // A leading "(" only belongs to the number if it closes inside it.
        if s.starts_with('(') && !s[1..].contains(')') {
            start += 1;
            s = &s[1..];
        }
        let end = start + s.trim_end_matches([' ', '(', '-', '.']).len();
        let s = &text[start..end];
        if !clean_boundary(text, start, end) || s.ends_with(')') && !s.contains('(') {
            continue;
        }
        if let Some(score) = phone_score(text, start, s) {
            out.push(Candidate {
                kind: PiiKind::Phone,
                start,
                end,
                score,
            });
        }
    }
}

fn phone_score(text: &str, start: usize, s: &str) -> Option<f32> {
    // Split off an extension.
    let lower = s.to_ascii_lowercase();
    let main = lower
        .split(['x', '#'])
        .next()
        .map(|m| {
            m.trim_end_matches("ext")
                .trim_end_matches("ext.")
                .trim_end()
        })
        .unwrap_or(&lower);
    let main = main.strip_suffix("extension").unwrap_or(main).trim_end();
    let digits = digits_of(main);
    let international = main.starts_with('+') || main.starts_with("00");
    if !(7..=15).contains(&digits.len()) {
        return None;
    }
    if main.contains("  ") || main.contains("--") || main.contains("..") {
        return None;
    }
    let groups: Vec<&str> = main
        .split([' ', '-', '.', '(', ')'])
        .map(|g| g.trim_start_matches('+'))
        .filter(|g| !g.is_empty())
        .collect();
    let sizes: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    let context = context_before(text, start, 32, PHONE_CONTEXT);
    if groups.len() == 1 {
        // Bare digit runs: E.164, or 10-11 national digits.
        return if international && digits.len() >= 8 {
            Some(0.85)
        } else if (10..=11).contains(&digits.len()) {
            // National numbers start with 0 (trunk prefix) or 2-9; a bare run starting with 1
            // is far more often a Unix timestamp or an id, and "0123456789" is a placeholder.
            let ascending = digits.as_bytes().windows(2).all(|w| w[1] == w[0] + 1);
            if context {
                Some(0.75)
            } else if digits.starts_with('1') || ascending {
                None
            } else {
                Some(0.55)
            }
        } else if context && digits.len() >= 7 {
            Some(0.6)
        } else {
            None
        };
    }
    let year_first = sizes.len() >= 3
        && sizes[0] == 4
        && sizes[1] <= 2
        && (1900..=2099).contains(&groups[0].parse::<u32>().unwrap_or(0))
        && (1..=12).contains(&groups[1].parse::<u32>().unwrap_or(0));
    // ISBN-shaped (10 digits in 4 groups, or 978/979 + 10) with a valid check digit.
    let isbn_shape = (digits.len() == 10 && groups.len() == 4)
        || (digits.len() == 13 && (digits.starts_with("978") || digits.starts_with("979")));
    let isbn = (isbn_shape && isbn_valid(main)) || context_before(text, start, 16, &["isbn"]);
    if year_first || looks_like_date(&groups) || isbn || sizes == [3, 2, 4] {
        return None;
    }
    if main.contains('.') {
        // Dotted numbers are phones only in the classic 3-3-4 or 2-2-2-2-2 shapes.
        let dotted_ok = sizes == [3, 3, 4] || (sizes.len() == 5 && sizes.iter().all(|&g| g == 2));
        if !dotted_ok || main.contains([' ', '-']) {
            return None;
        }
    }
    let longest = if international { 12 } else { 8 };
    if sizes.iter().any(|&g| g > longest) || groups.len() > 7 {
        return None;
    }
    // Two groups of digits alone ("1990-2000", "3 4500") are rarely phones without context.
    if groups.len() == 2 && !international && !main.contains('(') && !context {
        let phone_like = digits.len() >= 10 || (sizes[0] >= 4 && sizes[1] >= 6);
        return phone_like.then_some(0.55);
    }
    let score = if international { 0.85 } else { 0.75 };
    Some(if context { score + 0.1 } else { score })
}

/// `2024-12-07`, `07/28/2018`, `19.09.2026`: year-month-day or day-month-year shapes.
fn looks_like_date(groups: &[&str]) -> bool {
    if groups.len() != 3 {
        return false;
    }
    let n = |s: &str| s.parse::<u32>().unwrap_or(99_999);
    let (a, b, c) = (groups[0], groups[1], groups[2]);
    let year = |s: &str| s.len() == 4 && (1800..=2199).contains(&n(s));
    let small = |s: &str, max: u32| s.len() <= 2 && (1..=max).contains(&n(s));
    (year(a) && small(b, 12) && small(c, 31)) || (small(a, 31) && small(b, 31) && year(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str, f: fn(&str, &mut Vec<Candidate>)) -> Vec<String> {
        let mut out = Vec::new();
        f(text, &mut out);
        out.into_iter()
            .map(|c| text[c.start..c.end].to_owned())
            .collect()
    }

    #[test]
    fn cards() {
        assert_eq!(
            found("pay with 4111 1111 1111 1111 today", find_cards),
            ["4111 1111 1111 1111"]
        );
        assert_eq!(
            found("card 4111-1111-1111-1111.", find_cards),
            ["4111-1111-1111-1111"]
        );
        assert_eq!(
            found("amex 378282246310005", find_cards),
            ["378282246310005"]
        );
        assert!(
            found("4111 1111 1111 1112", find_cards).is_empty(),
            "Luhn fails"
        );
        assert!(
            found("order 4111111111111111x", find_cards).is_empty(),
            "glued to a letter"
        );
    }

    #[test]
    fn ibans() {
        assert_eq!(
            found("IBAN GB82 WEST 1234 5698 7654 32 please", find_ibans),
            ["GB82 WEST 1234 5698 7654 32"]
        );
        assert_eq!(
            found("to DE89370400440532013000.", find_ibans),
            ["DE89370400440532013000"]
        );
        assert!(
            found("DE89370400440532013001", find_ibans).is_empty(),
            "bad checksum"
        );
    }

    #[test]
    fn ssns() {
        assert_eq!(found("SSN 123-45-6789", find_ssns), ["123-45-6789"]);
        assert_eq!(found("ssn: 123456789", find_ssns), ["123456789"]);
        assert!(found("id 000-12-3456", find_ssns).is_empty());
        assert!(found("id 666-12-3456", find_ssns).is_empty());
        assert!(found("id 923-12-3456", find_ssns).is_empty());
        assert!(found("id 123-00-3456", find_ssns).is_empty());
        assert!(found("id 123-45-0000", find_ssns).is_empty());
        assert!(
            found("order 123456789", find_ssns).is_empty(),
            "bare digits need context"
        );
    }

    #[test]
    fn phones() {
        for p in [
            "+1-202-555-0143",
            "(202) 555-0143",
            "202.555.0143",
            "+44 20 7946 0958",
            "+33 3 73 77 08 65",
            "555-0143 x12",
            "07700 900123",
            "+41 (0)48 705 68 56",
            "606-530-7450x5444",
        ] {
            let text = format!("call me at {p} please");
            assert_eq!(found(&text, find_phones), [p], "{p}");
        }
        for not in [
            "on 2024-12-07 at",
            "build 10.0.19045.3803",
            "ISBN 0-306-40615-2",
            "INV-2018-92225",
            "1990-2000",
            "v1.2.3",
            "price 1,234,567",
        ] {
            assert!(
                found(not, find_phones).is_empty(),
                "{not}: {:?}",
                found(not, find_phones)
            );
        }
    }
}
