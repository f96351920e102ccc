//! Per-tenant guard policy: for each check, what happens when it fires.
//!
//! A [`Verdict`] is ordered `Allow < Flag < Redact < Block`: *flag* records a decision but
//! lets the text through, *redact* replaces the offending spans, *block* stops the request
//! (or drops the retrieved chunk). Every field has a default, so a tenant file only names
//! what it changes; unknown fields are rejected so typos do not silently weaken a policy.
//!
//! ```json
//! { "injection": "flag", "pii_remote": "redact", "denied_topics": ["salary bands", "/\\bproject\\s+x\\b/"] }
//! ```

use serde::{Deserialize, Serialize};

use crate::injection::DEFAULT_THRESHOLD;
use crate::pii::PiiKind;

/// What to do when a check fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Allow,
    Flag,
    Redact,
    Block,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Flag => "flag",
            Verdict::Redact => "redact",
            Verdict::Block => "block",
        }
    }
}

/// The guard configuration of one tenant.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Prompt injection in user input.
    pub injection: Verdict,
    /// Score (0..1) at or above which text counts as an injection.
    pub injection_threshold: f32,
    /// Longer input is blocked (counted in chars).
    pub max_input_chars: usize,
    /// Block input containing invisible, bidi or control characters (otherwise they are
    /// only noted when they hide an injection).
    pub deny_control_chars: bool,
    /// Phrases (case-insensitive, matched on normalized text) or `/regex/` patterns.
    pub denied_topics: Vec<String>,
    pub topic_verdict: Verdict,
    /// PII in user input sent to a local model.
    pub pii_input: Verdict,
    /// PII in anything sent to a remote model (prompt, retrieved context, history).
    pub pii_remote: Verdict,
    /// PII in documents at ingest (`Redact` stores redacted text).
    pub pii_ingest: Verdict,
    /// PII in model output.
    pub pii_output: Verdict,
    /// Which kinds the PII checks look for.
    pub pii_kinds: Vec<PiiKind>,
    /// Injection found in a retrieved chunk: `Block` drops it, `Flag` keeps it quarantined
    /// (the prompt marks it as untrusted data), `Allow` ignores it.
    pub chunk_injection: Verdict,
    /// Put a canary token in the system prompt and block answers that leak it.
    pub canary: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            injection: Verdict::Block,
            injection_threshold: DEFAULT_THRESHOLD,
            max_input_chars: 32_000,
            deny_control_chars: false,
            denied_topics: Vec::new(),
            topic_verdict: Verdict::Block,
            pii_input: Verdict::Allow,
            pii_remote: Verdict::Redact,
            pii_ingest: Verdict::Allow,
            pii_output: Verdict::Flag,
            pii_kinds: PiiKind::ALL.to_vec(),
            chunk_injection: Verdict::Block,
            canary: true,
        }
    }
}

impl Policy {
    /// A policy that checks nothing (every verdict `Allow`, no canary): for tests and
    /// for tenants that opt out.
    pub fn permissive() -> Self {
        Policy {
            injection: Verdict::Allow,
            topic_verdict: Verdict::Allow,
            pii_input: Verdict::Allow,
            pii_remote: Verdict::Allow,
            pii_ingest: Verdict::Allow,
            pii_output: Verdict::Allow,
            chunk_injection: Verdict::Allow,
            canary: false,
            max_input_chars: usize::MAX,
            ..Policy::default()
        }
    }

    /// Problems that make the policy unusable (bad topic regexes, a threshold outside 0..1).
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.injection_threshold) {
            return Err(format!(
                "injection_threshold {} is outside 0..1",
                self.injection_threshold
            ));
        }
        for topic in &self.denied_topics {
            if let Some(pattern) = regex_topic(topic)
                && let Err(e) = regex::Regex::new(pattern)
            {
                return Err(format!("denied topic {topic:?}: {e}"));
            }
        }
        Ok(())
    }
}

/// The pattern inside a `/.../` topic, if it is one.
pub(crate) fn regex_topic(topic: &str) -> Option<&str> {
    let t = topic.trim();
    (t.len() >= 2 && t.starts_with('/') && t.ends_with('/')).then(|| &t[1..t.len() - 1])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn defaults_and_partial_files() {
        let p: Policy =
            serde_json::from_str(r#"{"injection": "flag", "pii_kinds": ["email", "ssn"]}"#)
                .unwrap();
        assert_eq!(p.injection, Verdict::Flag);
        assert_eq!(p.pii_kinds, vec![PiiKind::Email, PiiKind::Ssn]);
        assert_eq!(p.pii_remote, Verdict::Redact);
        assert_eq!(p.max_input_chars, 32_000);
        assert!(p.canary);
        assert!(serde_json::from_str::<Policy>(r#"{"injektion": "flag"}"#).is_err());
        assert_eq!(serde_json::to_value(Verdict::Redact).unwrap(), "redact");
        assert!(
            Verdict::Block > Verdict::Redact
                && Verdict::Redact > Verdict::Flag
                && Verdict::Flag > Verdict::Allow
        );
    }

    #[test]
    fn validate_catches_bad_topics() {
        let mut p = Policy::default();
        assert!(p.validate().is_ok());
        p.denied_topics = vec!["/(unclosed/".into()];
        assert!(p.validate().is_err());
        p.denied_topics = vec!["fine".into()];
        p.injection_threshold = 1.5;
        assert!(p.validate().is_err());
    }
}
