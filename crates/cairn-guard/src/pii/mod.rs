//! Personal data and secrets: find them, with byte offsets, validated where a check exists.
//!
//! Each kind has its own recognizer; a regex only *proposes* a candidate and a validator
//! decides: Luhn and issuer prefixes for cards, ISO 13616 mod-97 and per-country length for
//! IBANs, area/group/serial rules for US SSNs, digit counts and date/ISBN/version guards for
//! phones, `std::net` parsing for IP addresses, provider formats and Shannon entropy for
//! secrets, and a lexicon of given names and surnames (with honorific and context cues) for
//! person names ([`names`]). Every match carries a score; [`detect`] keeps those at or above
//! [`MIN_SCORE`] and resolves overlaps by score, then length, so "4111 1111 1111 1111"
//! is one card and not also a phone.
//!
//! Offsets are UTF-8 byte offsets into the original text, end exclusive.

mod checks;
mod names;
mod network;
mod numbers;
mod secrets;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use checks::{iban_valid, luhn_valid, shannon_entropy, ssn_valid};

/// Matches scoring below this are dropped by [`detect`].
pub const MIN_SCORE: f32 = 0.5;

/// What kind of personal data or secret a match is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PiiKind {
    Email,
    Phone,
    CreditCard,
    Iban,
    Ssn,
    IpAddress,
    Secret,
    Name,
}

impl PiiKind {
    pub const ALL: [PiiKind; 8] = [
        PiiKind::Email,
        PiiKind::Phone,
        PiiKind::CreditCard,
        PiiKind::Iban,
        PiiKind::Ssn,
        PiiKind::IpAddress,
        PiiKind::Secret,
        PiiKind::Name,
    ];

    /// The snake_case name, as in serde and policy files.
    pub fn as_str(self) -> &'static str {
        match self {
            PiiKind::Email => "email",
            PiiKind::Phone => "phone",
            PiiKind::CreditCard => "credit_card",
            PiiKind::Iban => "iban",
            PiiKind::Ssn => "ssn",
            PiiKind::IpAddress => "ip_address",
            PiiKind::Secret => "secret",
            PiiKind::Name => "name",
        }
    }

    /// Parses [`Self::as_str`] names (and a few aliases: `card`, `ip`, `person`, `phone_number`).
    pub fn parse(s: &str) -> Option<PiiKind> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "email" | "email_address" => PiiKind::Email,
            "phone" | "phone_number" => PiiKind::Phone,
            "credit_card" | "card" | "credit_card_number" => PiiKind::CreditCard,
            "iban" | "iban_code" => PiiKind::Iban,
            "ssn" | "us_ssn" => PiiKind::Ssn,
            "ip_address" | "ip" => PiiKind::IpAddress,
            "secret" | "api_key" | "credential" => PiiKind::Secret,
            "name" | "person" => PiiKind::Name,
            _ => return None,
        })
    }

    /// Upper-case label used in redaction placeholders: `[EMAIL_1]`, `[CARD_2]`, ...
    pub fn label(self) -> &'static str {
        match self {
            PiiKind::Email => "EMAIL",
            PiiKind::Phone => "PHONE",
            PiiKind::CreditCard => "CARD",
            PiiKind::Iban => "IBAN",
            PiiKind::Ssn => "SSN",
            PiiKind::IpAddress => "IP",
            PiiKind::Secret => "SECRET",
            PiiKind::Name => "NAME",
        }
    }

    /// The kind whose [`Self::label`] is `label`.
    pub fn from_label(label: &str) -> Option<PiiKind> {
        PiiKind::ALL.into_iter().find(|k| k.label() == label)
    }
}

impl fmt::Display for PiiKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for an unknown PII kind name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown PII kind {0:?}")]
pub struct UnknownPiiKind(pub String);

impl FromStr for PiiKind {
    type Err = UnknownPiiKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PiiKind::parse(s).ok_or_else(|| UnknownPiiKind(s.to_owned()))
    }
}

/// One detected span.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PiiMatch {
    pub kind: PiiKind,
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
    pub text: String,
    /// Confidence in 0..1: validated formats score high, lexicon-only names lower.
    pub score: f32,
}

/// A candidate before overlap resolution.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Candidate {
    pub kind: PiiKind,
    pub start: usize,
    pub end: usize,
    pub score: f32,
}

/// Non-overlapping matches of the requested kinds, sorted by start, each scoring at least
/// [`MIN_SCORE`].
pub fn detect(text: &str, kinds: &[PiiKind]) -> Vec<PiiMatch> {
    detect_scored(text, kinds, MIN_SCORE)
}

/// [`detect`] with every kind.
pub fn detect_all(text: &str) -> Vec<PiiMatch> {
    detect(text, &PiiKind::ALL)
}

/// [`detect`] with a caller-chosen minimum score.
pub fn detect_scored(text: &str, kinds: &[PiiKind], min_score: f32) -> Vec<PiiMatch> {
    let mut candidates = Vec::new();
    let wants = |k: PiiKind| kinds.contains(&k);
    // Every recognizer runs, so that e.g. a card number can claim its digits before the
    // phone recognizer does, but only requested kinds are returned.
    secrets::find(text, &mut candidates);
    network::find_emails(text, &mut candidates);
    network::find_ips(text, &mut candidates);
    numbers::find_cards(text, &mut candidates);
    numbers::find_ibans(text, &mut candidates);
    numbers::find_ssns(text, &mut candidates);
    numbers::find_phones(text, &mut candidates);
    if wants(PiiKind::Name) {
        names::find(text, &mut candidates);
    }
    resolve(text, candidates)
        .into_iter()
        .filter(|m| wants(m.kind) && m.score >= min_score)
        .collect()
}

/// Greedy overlap resolution: highest score first, then longest; result sorted by start.
fn resolve(text: &str, mut candidates: Vec<Candidate>) -> Vec<PiiMatch> {
    candidates.retain(|c| c.start < c.end && c.end <= text.len());
    candidates.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then((b.end - b.start).cmp(&(a.end - a.start)))
            .then(a.start.cmp(&b.start))
    });
    let mut kept: Vec<Candidate> = Vec::new();
    for c in candidates {
        if kept.iter().all(|k| c.end <= k.start || c.start >= k.end) {
            kept.push(c);
        }
    }
    kept.sort_by_key(|c| c.start);
    kept.into_iter()
        .map(|c| PiiMatch {
            kind: c.kind,
            start: c.start,
            end: c.end,
            text: text[c.start..c.end].to_owned(),
            score: c.score,
        })
        .collect()
}

/// The char before byte offset `i`, if any.
pub(crate) fn char_before(text: &str, i: usize) -> Option<char> {
    text[..i].chars().next_back()
}

/// The char at byte offset `i`, if any.
pub(crate) fn char_at(text: &str, i: usize) -> Option<char> {
    text[i..].chars().next()
}

/// Whether one of `words` occurs (case-insensitively) in the `window` bytes before `start`.
pub(crate) fn context_before(text: &str, start: usize, window: usize, words: &[&str]) -> bool {
    let mut from = start.saturating_sub(window);
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    let before = text[from..start].to_lowercase();
    words.iter().any(|w| before.contains(w))
}

/// Whether one of `words` occurs (case-insensitively) in the `window` bytes after `end`.
pub(crate) fn context_after(text: &str, end: usize, window: usize, words: &[&str]) -> bool {
    let mut to = (end + window).min(text.len());
    while !text.is_char_boundary(to) {
        to += 1;
    }
    let after = text[end..to].to_lowercase();
    words.iter().any(|w| after.contains(w))
}

#[cfg(test)]
mod tests;
