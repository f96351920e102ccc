//! The guard: applies a tenant's [`Policy`] at each stage and explains every decision.
//!
//! | stage | method | checks |
//! | --- | --- | --- |
//! | user input | [`Guard::check_input`] | length, hidden characters, denied topics, injection, PII |
//! | before a remote model | [`Guard::redact_for_remote`] | PII → placeholders in a [`Vault`] |
//! | retrieved chunks | [`Guard::check_chunk`] | indirect injection → drop or quarantine |
//! | ingest | [`Guard::redact_ingest`] | PII in stored text |
//! | model output | [`Guard::check_output`] | canary leak, PII |
//! | structured output | [`Guard::check_schema`] | JSON shape |
//!
//! A check that fires yields a [`Decision`]: the stage, a category (`"injection"`,
//! `"length"`, `"characters"`, `"topic"`, `"pii:email"`, `"canary"`, `"schema"`), the verdict
//! the policy assigns, a human-readable reason and, where one exists, a score. Checks whose
//! verdict is `Allow` are skipped entirely (no cost, no decision).

mod canary;
mod schema;

use std::collections::BTreeMap;

use regex::Regex;
use serde::{Deserialize, Serialize};

pub use canary::{CANARY_PREFIX, canary_instruction, new_canary};

use crate::injection::{InjectionDetector, InjectionScore};
use crate::normalize::{Normalized, normalize};
use crate::pii::{self, PiiMatch};
use crate::policy::{Policy, Verdict, regex_topic};
use crate::redact::{Vault, redact};

/// Where in the pipeline a decision was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Input,
    Retrieved,
    Output,
    Ingest,
}

/// One fired check and what the policy makes of it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Decision {
    pub stage: Stage,
    pub category: String,
    pub verdict: Verdict,
    pub reason: String,
    pub score: Option<f32>,
}

impl Decision {
    fn new(
        stage: Stage,
        category: impl Into<String>,
        verdict: Verdict,
        reason: impl Into<String>,
    ) -> Self {
        Decision {
            stage,
            category: category.into(),
            verdict,
            reason: reason.into(),
            score: None,
        }
    }

    fn scored(mut self, score: f32) -> Self {
        self.score = Some(score);
        self
    }
}

/// Result of [`Guard::check_input`].
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct InputCheck {
    pub decisions: Vec<Decision>,
    pub blocked: bool,
    /// When `pii_input` is `Redact`: the input with placeholders (originals in `vault`).
    pub redacted: Option<String>,
    pub vault: Vault,
}

/// Result of [`Guard::check_chunk`].
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ChunkCheck {
    pub decisions: Vec<Decision>,
    /// Leave the chunk out of the prompt.
    pub drop: bool,
    /// Keep it, but mark it as untrusted data in the prompt.
    pub quarantined: bool,
}

/// Result of [`Guard::check_output`].
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct OutputCheck {
    pub decisions: Vec<Decision>,
    pub blocked: bool,
    /// The output to show: redacted when `pii_output` is `Redact`, else unchanged.
    pub text: String,
}

enum Topic {
    Phrase { label: String, regex: Regex },
    Pattern { label: String, regex: Regex },
}

/// Applies one policy; build once per tenant (it compiles the topic patterns) and share.
pub struct Guard {
    policy: Policy,
    detector: InjectionDetector,
    topics: Vec<Topic>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Guard {
    pub fn new(policy: Policy) -> Self {
        Self::with_detector(policy, InjectionDetector::new())
    }

    /// A guard with a custom-weighted injection detector.
    pub fn with_detector(policy: Policy, detector: InjectionDetector) -> Self {
        let topics = policy
            .denied_topics
            .iter()
            .filter_map(|t| compile_topic(t))
            .collect();
        Guard {
            policy,
            detector,
            topics,
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn detector(&self) -> &InjectionDetector {
        &self.detector
    }

    /// Raw injection score of a text (no policy applied).
    pub fn injection_score(&self, text: &str) -> InjectionScore {
        self.detector.score(text)
    }

    pub fn check_input(&self, text: &str) -> InputCheck {
        let p = &self.policy;
        let mut check = InputCheck::default();
        let chars = text.chars().count();
        if chars > p.max_input_chars {
            check.decisions.push(Decision::new(
                Stage::Input,
                "length",
                Verdict::Block,
                format!(
                    "input is {chars} characters; the limit is {}",
                    p.max_input_chars
                ),
            ));
            check.blocked = true;
            return check;
        }
        let normalized = normalize(text);
        if p.deny_control_chars {
            let hidden: Vec<&str> = normalized
                .obfuscation
                .iter()
                .copied()
                .filter(|t| {
                    matches!(
                        *t,
                        "invisible_chars" | "bidi_controls" | "control_chars" | "unicode_tags"
                    )
                })
                .collect();
            if !hidden.is_empty() {
                check.decisions.push(Decision::new(
                    Stage::Input,
                    "characters",
                    Verdict::Block,
                    format!("input contains hidden characters ({})", hidden.join(", ")),
                ));
            }
        }
        self.topic_decisions(Stage::Input, text, &normalized, &mut check.decisions);
        if p.injection != Verdict::Allow
            && let Some(d) = self.injection_decision(Stage::Input, &normalized, p.injection)
        {
            check.decisions.push(d);
        }
        if p.pii_input != Verdict::Allow {
            let matches = pii::detect(text, &p.pii_kinds);
            pii_decisions(
                Stage::Input,
                &matches,
                p.pii_input,
                "in the input",
                &mut check.decisions,
            );
            if p.pii_input == Verdict::Redact && !matches.is_empty() {
                check.redacted = Some(redact(text, &matches, &mut check.vault));
            }
        }
        check.blocked = check.decisions.iter().any(|d| d.verdict == Verdict::Block);
        check
    }

    /// `text` with every PII kind the policy names replaced by a placeholder (what a
    /// trace may keep of a prompt or an answer).
    pub fn redact_pii(&self, text: &str) -> String {
        let matches = pii::detect(text, &self.policy.pii_kinds);
        if matches.is_empty() {
            return text.to_owned();
        }
        redact(text, &matches, &mut Vault::new())
    }

    /// Prepares text for a remote model: with `pii_remote = Redact` PII is replaced by
    /// placeholders recorded in `vault` (restore the answer with [`Vault::restore`] or a
    /// [`crate::redact::Restorer`]). With `Block` the text is returned unchanged and the
    /// decisions say it must not be sent; with `Flag` it is returned unchanged.
    pub fn redact_for_remote(&self, text: &str, vault: &mut Vault) -> (String, Vec<Decision>) {
        let verdict = self.policy.pii_remote;
        let mut decisions = Vec::new();
        if verdict == Verdict::Allow {
            return (text.to_owned(), decisions);
        }
        let matches = pii::detect(text, &self.policy.pii_kinds);
        pii_decisions(
            Stage::Input,
            &matches,
            verdict,
            "before a remote model call",
            &mut decisions,
        );
        let out = if verdict == Verdict::Redact {
            redact(text, &matches, vault)
        } else {
            text.to_owned()
        };
        (out, decisions)
    }

    /// Indirect injection in a retrieved chunk (also denied topics, with the topic verdict).
    pub fn check_chunk(&self, text: &str) -> ChunkCheck {
        let mut check = ChunkCheck::default();
        let verdict = self.policy.chunk_injection;
        if verdict != Verdict::Allow {
            let normalized = normalize(text);
            if let Some(d) = self.injection_decision(Stage::Retrieved, &normalized, verdict) {
                check.decisions.push(d);
            }
        }
        check.drop = check.decisions.iter().any(|d| d.verdict == Verdict::Block);
        check.quarantined = !check.drop
            && check
                .decisions
                .iter()
                .any(|d| matches!(d.verdict, Verdict::Flag | Verdict::Redact));
        check
    }

    /// PII in a document at ingest. `Redact` returns the text with placeholders (the
    /// originals are not kept anywhere); `Block` and `Flag` return it unchanged.
    pub fn redact_ingest(&self, text: &str) -> (String, Vec<Decision>) {
        let verdict = self.policy.pii_ingest;
        let mut decisions = Vec::new();
        if verdict == Verdict::Allow {
            return (text.to_owned(), decisions);
        }
        let matches = pii::detect(text, &self.policy.pii_kinds);
        pii_decisions(
            Stage::Ingest,
            &matches,
            verdict,
            "in the document",
            &mut decisions,
        );
        let out = if verdict == Verdict::Redact {
            redact(text, &matches, &mut Vault::new())
        } else {
            text.to_owned()
        };
        (out, decisions)
    }

    /// Checks a model answer: a leaked canary blocks it; PII is handled per `pii_output`.
    pub fn check_output(&self, text: &str, canary: Option<&str>) -> OutputCheck {
        let p = &self.policy;
        let mut check = OutputCheck {
            text: text.to_owned(),
            ..OutputCheck::default()
        };
        if p.canary
            && let Some(c) = canary
            && canary::leaked(text, c)
        {
            check.decisions.push(Decision::new(
                Stage::Output,
                "canary",
                Verdict::Block,
                "the answer reproduces the system prompt's canary token: the model was led to reveal its instructions",
            ));
        }
        if p.pii_output != Verdict::Allow {
            let matches = pii::detect(text, &p.pii_kinds);
            pii_decisions(
                Stage::Output,
                &matches,
                p.pii_output,
                "in the answer",
                &mut check.decisions,
            );
            if p.pii_output == Verdict::Redact && !matches.is_empty() {
                check.text = redact(text, &matches, &mut Vault::new());
            }
        }
        check.blocked = check.decisions.iter().any(|d| d.verdict == Verdict::Block);
        check
    }

    /// Minimal structural JSON check (see [`schema`]); `None` when the output fits.
    pub fn check_schema(&self, text: &str, schema: &serde_json::Value) -> Option<Decision> {
        schema::problem(text, schema)
            .map(|reason| Decision::new(Stage::Output, "schema", Verdict::Block, reason))
    }

    fn injection_decision(
        &self,
        stage: Stage,
        normalized: &Normalized,
        verdict: Verdict,
    ) -> Option<Decision> {
        let score = self.detector.score_normalized(normalized);
        if !score.is_injection(self.policy.injection_threshold) {
            return None;
        }
        let what = if stage == Stage::Retrieved {
            "retrieved text looks like an injected instruction"
        } else {
            "prompt injection"
        };
        Some(
            Decision::new(
                stage,
                "injection",
                verdict,
                format!("{what} ({})", score.summary()),
            )
            .scored(score.score),
        )
    }

    fn topic_decisions(
        &self,
        stage: Stage,
        text: &str,
        normalized: &Normalized,
        out: &mut Vec<Decision>,
    ) {
        if self.policy.topic_verdict == Verdict::Allow {
            return;
        }
        for topic in &self.topics {
            let (label, hit) = match topic {
                Topic::Phrase { label, regex } => (label, regex.is_match(&normalized.lower)),
                Topic::Pattern { label, regex } => (
                    label,
                    regex.is_match(text) || regex.is_match(&normalized.lower),
                ),
            };
            if hit {
                out.push(Decision::new(
                    stage,
                    "topic",
                    self.policy.topic_verdict,
                    format!("mentions a denied topic: {label}"),
                ));
            }
        }
    }
}

/// A phrase matches on word boundaries of the normalized lowercase text, with any run of
/// whitespace between its words; `/.../` is a case-insensitive regex. A bad regex falls
/// back to a literal phrase (use [`Policy::validate`] to reject it up front).
fn compile_topic(topic: &str) -> Option<Topic> {
    let label = topic.trim().to_owned();
    if label.is_empty() {
        return None;
    }
    if let Some(pattern) = regex_topic(&label)
        && let Ok(regex) = Regex::new(&format!("(?i){pattern}"))
    {
        return Some(Topic::Pattern { label, regex });
    }
    let phrase = normalize(&label).lower;
    let words: Vec<String> = phrase.split_whitespace().map(regex::escape).collect();
    let body = words.join(r"\s+");
    let word_edge = |c: Option<char>| {
        if c.is_some_and(char::is_alphanumeric) {
            r"\b"
        } else {
            ""
        }
    };
    let (open, close) = (
        word_edge(phrase.chars().next()),
        word_edge(phrase.chars().next_back()),
    );
    let regex = Regex::new(&format!("{open}{body}{close}")).ok()?;
    Some(Topic::Phrase { label, regex })
}

/// One decision per PII kind found: "2 email addresses in the input".
fn pii_decisions(
    stage: Stage,
    matches: &[PiiMatch],
    verdict: Verdict,
    where_: &str,
    out: &mut Vec<Decision>,
) {
    let mut by_kind: BTreeMap<pii::PiiKind, (usize, f32)> = BTreeMap::new();
    for m in matches {
        let e = by_kind.entry(m.kind).or_insert((0, 0.0));
        e.0 += 1;
        e.1 = e.1.max(m.score);
    }
    let action = match verdict {
        Verdict::Redact => "redacted",
        Verdict::Block => "blocked",
        Verdict::Flag => "flagged",
        Verdict::Allow => "allowed",
    };
    for (kind, (count, score)) in by_kind {
        out.push(
            Decision::new(
                stage,
                format!("pii:{}", kind.as_str()),
                verdict,
                format!("{count} {} {where_} ({action})", kind_noun(kind, count)),
            )
            .scored(score),
        );
    }
}

fn kind_noun(kind: pii::PiiKind, count: usize) -> &'static str {
    use pii::PiiKind::*;
    match (kind, count == 1) {
        (Email, true) => "email address",
        (Email, false) => "email addresses",
        (Phone, true) => "phone number",
        (Phone, false) => "phone numbers",
        (CreditCard, true) => "payment card number",
        (CreditCard, false) => "payment card numbers",
        (Iban, true) => "IBAN",
        (Iban, false) => "IBANs",
        (Ssn, true) => "social security number",
        (Ssn, false) => "social security numbers",
        (IpAddress, true) => "IP address",
        (IpAddress, false) => "IP addresses",
        (Secret, true) => "secret",
        (Secret, false) => "secrets",
        (Name, true) => "person name",
        (Name, false) => "person names",
    }
}

#[cfg(test)]
mod tests;
