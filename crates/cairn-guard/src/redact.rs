//! Reversible redaction: PII becomes `[EMAIL_1]`-style placeholders before text leaves for a
//! remote model, and comes back in the model's answer.
//!
//! A [`Vault`] maps each placeholder to its original. Within one vault the same original of
//! the same kind always gets the same placeholder, so a model can still tell that two
//! mentions are the same person, and numbering continues across calls (a conversation can
//! keep one vault; it serializes with serde for storage).
//!
//! [`Vault::restore`] is tolerant of how models echo placeholders: `[EMAIL_1]`,
//! `[email_1]`, `[EMAIL 1]` and markdown-escaped `[EMAIL\_1]` all restore; unknown
//! placeholders are left as they are. For streamed answers, [`Restorer`] holds back a tail
//! that might be the start of a placeholder (`"... write to [EMA"`) until the next piece
//! decides it.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::pii::{PiiKind, PiiMatch};

/// Longest placeholder the restorer waits for (`[SECRET_123456]` is 15 bytes; escapes and
/// spaces add a few).
const MAX_PLACEHOLDER: usize = 40;

static PLACEHOLDER: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::expect_used)] // literal pattern
    Regex::new(r"\[\s*([A-Za-z]{2,8})\s*(?:_|\\_|\s)\s*(\d{1,6})\s*\]").expect("valid regex")
});

/// One redacted value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultEntry {
    pub kind: PiiKind,
    pub original: String,
}

/// Placeholder → original, for one conversation or document.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vault {
    entries: BTreeMap<String, VaultEntry>,
}

impl Vault {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The original behind a placeholder such as `"[EMAIL_1]"`.
    pub fn get(&self, placeholder: &str) -> Option<&VaultEntry> {
        self.entries.get(placeholder)
    }

    /// All entries, by placeholder.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &VaultEntry)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The placeholder for `original`, creating one if it is new.
    pub fn placeholder_for(&mut self, kind: PiiKind, original: &str) -> String {
        if let Some((p, _)) = self
            .entries
            .iter()
            .find(|(_, e)| e.kind == kind && e.original == original)
        {
            return p.clone();
        }
        let prefix = format!("[{}_", kind.label());
        let next = self
            .entries
            .keys()
            .filter_map(|k| {
                k.strip_prefix(&prefix)?
                    .strip_suffix(']')?
                    .parse::<usize>()
                    .ok()
            })
            .max()
            .unwrap_or(0)
            + 1;
        let placeholder = format!("{prefix}{next}]");
        self.entries.insert(
            placeholder.clone(),
            VaultEntry {
                kind,
                original: original.to_owned(),
            },
        );
        placeholder
    }

    /// Replaces every known placeholder in `text` with its original.
    pub fn restore(&self, text: &str) -> String {
        if self.entries.is_empty() || !text.contains('[') {
            return text.to_owned();
        }
        PLACEHOLDER
            .replace_all(text, |caps: &regex::Captures<'_>| {
                let key = format!("[{}_{}]", caps[1].to_ascii_uppercase(), &caps[2]);
                match self.entries.get(&key) {
                    Some(e) => e.original.clone(),
                    None => caps[0].to_owned(),
                }
            })
            .into_owned()
    }

    /// A streaming restorer over this vault.
    pub fn restorer(&self) -> Restorer<'_> {
        Restorer::new(self)
    }
}

/// Replaces `matches` (non-overlapping; overlapping ones are skipped) with placeholders
/// recorded in `vault`.
pub fn redact(text: &str, matches: &[PiiMatch], vault: &mut Vault) -> String {
    let mut sorted: Vec<&PiiMatch> = matches
        .iter()
        .filter(|m| m.start < m.end && m.end <= text.len())
        .collect();
    sorted.sort_by_key(|m| (m.start, m.end));
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for m in sorted {
        if m.start < last || !text.is_char_boundary(m.start) || !text.is_char_boundary(m.end) {
            continue;
        }
        out.push_str(&text[last..m.start]);
        out.push_str(&vault.placeholder_for(m.kind, &text[m.start..m.end]));
        last = m.end;
    }
    out.push_str(&text[last..]);
    out
}

/// Restores placeholders in streamed text, piece by piece.
#[derive(Debug)]
pub struct Restorer<'a> {
    vault: &'a Vault,
    pending: String,
}

impl<'a> Restorer<'a> {
    pub fn new(vault: &'a Vault) -> Self {
        Restorer {
            vault,
            pending: String::new(),
        }
    }

    /// Takes the next piece; returns the text that is now safe to emit.
    pub fn push(&mut self, piece: &str) -> String {
        self.pending.push_str(piece);
        let cut = self.hold_from();
        let ready: String = self.pending[..cut].to_owned();
        self.pending.replace_range(..cut, "");
        self.vault.restore(&ready)
    }

    /// Flushes whatever is held back.
    pub fn finish(self) -> String {
        self.vault.restore(&self.pending)
    }

    /// Where a possibly-unfinished placeholder starts (or the end, if none).
    fn hold_from(&self) -> usize {
        let p = &self.pending;
        let Some(open) = p.rfind('[') else {
            return p.len();
        };
        let tail = &p[open..];
        if tail.contains(']') || tail.len() > MAX_PLACEHOLDER {
            return p.len();
        }
        let could_be = tail[1..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '\\' | ' '));
        if could_be { open } else { p.len() }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::pii::detect_all;

    #[test]
    fn round_trip_with_stable_placeholders() {
        let text = "Mail jane@example.com or call +1 202-555-0143; again: jane@example.com.";
        let mut vault = Vault::new();
        let red = redact(text, &detect_all(text), &mut vault);
        assert_eq!(red, "Mail [EMAIL_1] or call [PHONE_1]; again: [EMAIL_1].");
        assert_eq!(vault.len(), 2);
        assert_eq!(vault.restore(&red), text);
        // Numbering continues in the same vault.
        let more = "bob@example.org";
        let red2 = redact(more, &detect_all(more), &mut vault);
        assert_eq!(red2, "[EMAIL_2]");
    }

    #[test]
    fn restore_tolerates_model_spellings() {
        let mut vault = Vault::new();
        let p = vault.placeholder_for(PiiKind::Email, "a@b.io");
        assert_eq!(p, "[EMAIL_1]");
        assert_eq!(
            vault.restore("to [email_1], [EMAIL 1] and [EMAIL\\_1]"),
            "to a@b.io, a@b.io and a@b.io"
        );
        assert_eq!(
            vault.restore("unknown [EMAIL_9] stays"),
            "unknown [EMAIL_9] stays"
        );
    }

    #[test]
    fn streamed_restore_with_split_placeholder() {
        let mut vault = Vault::new();
        vault.placeholder_for(PiiKind::Name, "Ada Lovelace");
        vault.placeholder_for(PiiKind::Email, "ada@example.com");
        let pieces = [
            "Dear [NA",
            "ME_",
            "1], your add",
            "ress is [",
            "EMAIL_1",
            "]. See [note] and [x",
        ];
        let mut r = vault.restorer();
        let mut out = String::new();
        for p in pieces {
            out.push_str(&r.push(p));
        }
        out.push_str(&r.finish());
        assert_eq!(
            out,
            "Dear Ada Lovelace, your address is ada@example.com. See [note] and [x"
        );
    }

    #[test]
    fn serde_round_trip() {
        let mut vault = Vault::new();
        vault.placeholder_for(PiiKind::Iban, "DE89370400440532013000");
        let json = serde_json::to_string(&vault).unwrap();
        let back: Vault = serde_json::from_str(&json).unwrap();
        assert_eq!(back, vault);
        assert_eq!(back.restore("[IBAN_1]"), "DE89370400440532013000");
    }
}
