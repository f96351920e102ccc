//! Prompt-injection and jailbreak detection, in layers.
//!
//! 1. **Normalization** ([`crate::normalize`]): the text and every alternative reading of
//!    it (leetspeak, decoded base64/hex/rot13/..., de-spaced letters).
//! 2. **Patterns** ([`patterns`]): each feature (instruction override, persona switch,
//!    system-prompt exfiltration, delimiter/role injection, refusal suppression, encoded
//!    instructions, tool calls and data exfiltration, text addressed to an AI reader,
//!    canary-style output manipulation, multilingual variants, ...) is a set of regexes.
//!    A feature fires at most once per text, whichever reading it fires in.
//! 3. **Scorer**: logistic regression over the binary features,
//!    `score = σ(bias + Σ wᵢ·xᵢ + interactions)`, with two interaction terms (sensitive data
//!    × an external destination; a tool call × a URL/address) and an extra term when the
//!    instruction only appears inside a decoded payload. Weights are public per feature
//!    name ([`InjectionDetector::with_weight`]) so they can be fitted to labelled data.
//!
//! Every fired feature is reported as a [`Signal`] with its weight and an excerpt, so a
//! decision can say *why*: "instruction_override: 'ignore all previous instructions'".

mod patterns;

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use crate::normalize::{Normalized, normalize};

/// Default decision threshold on [`InjectionScore::score`]. Tuned so that one strong
/// signal, or a medium one with corroboration, is enough; see the crate's eval tests.
pub const DEFAULT_THRESHOLD: f32 = 0.5;

const EXCERPT_CHARS: usize = 120;

/// Obfuscation tricks that say something about intent (unlike NFKC of a ligature).
const SUSPICIOUS_TRICKS: &[&str] = &[
    "invisible_chars",
    "bidi_controls",
    "unicode_tags",
    "homoglyphs",
    "spaced_letters",
    "combining_marks",
];
const OBFUSCATION_WEIGHT: f32 = 0.5;

struct CompiledFeature {
    name: &'static str,
    /// Matched against the case-kept canonical text only.
    cased: bool,
    regex: Regex,
}

fn all_features() -> impl Iterator<Item = (&'static patterns::Feature, bool)> {
    patterns::FEATURES
        .iter()
        .map(|f| (f, false))
        .chain(patterns::CASED_FEATURES.iter().map(|f| (f, true)))
}

static COMPILED: LazyLock<Vec<CompiledFeature>> = LazyLock::new(|| {
    all_features()
        .map(|(f, cased)| {
            let joined = f
                .patterns
                .iter()
                // ASCII word boundaries keep the regex engine on its fast DFA path even
                // when the text has non-ASCII characters (a Unicode `\b` forces the slow
                // NFA); the views are lowercase ASCII-folded anyway.
                .map(|p| format!("(?:{})", p.replace(r"\b", r"(?-u:\b)")))
                .collect::<Vec<_>>()
                .join("|");
            #[allow(clippy::expect_used)] // the table is static and covered by tests
            let regex = Regex::new(&joined).expect("injection pattern compiles");
            CompiledFeature {
                name: f.name,
                cased,
                regex,
            }
        })
        .collect()
});

/// One piece of evidence.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Signal {
    /// Feature name, e.g. `"instruction_override"`.
    pub name: &'static str,
    /// Its logit contribution.
    pub weight: f32,
    /// What matched; prefixed with `[origin]` when found in a decoded/alternative reading.
    pub excerpt: String,
}

/// The detector's verdict on one text.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InjectionScore {
    /// Probability-like score in 0..1.
    pub score: f32,
    /// Evidence, strongest first.
    pub signals: Vec<Signal>,
}

impl InjectionScore {
    pub fn is_injection(&self, threshold: f32) -> bool {
        self.score >= threshold
    }

    /// A one-line explanation: the strongest signals and their excerpts.
    pub fn summary(&self) -> String {
        if self.signals.is_empty() {
            return "no injection signal".to_owned();
        }
        self.signals
            .iter()
            .filter(|s| s.weight > 0.0)
            .take(3)
            .map(|s| format!("{}: \"{}\"", s.name, s.excerpt))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Pattern-and-logistic injection detector; cheap to build and to clone.
#[derive(Clone, Debug)]
pub struct InjectionDetector {
    weights: Vec<f32>,
    bias: f32,
    encoded_payload: f32,
    exfil_combo: f32,
    tool_target_combo: f32,
}

impl Default for InjectionDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl InjectionDetector {
    pub fn new() -> Self {
        InjectionDetector {
            weights: all_features().map(|(f, _)| f.weight).collect(),
            bias: patterns::BIAS,
            encoded_payload: patterns::ENCODED_PAYLOAD,
            exfil_combo: patterns::EXFIL_COMBO,
            tool_target_combo: patterns::TOOL_TARGET_COMBO,
        }
    }

    /// Names of all features, in table order.
    pub fn feature_names() -> Vec<&'static str> {
        all_features().map(|(f, _)| f.name).collect()
    }

    /// The current weight of a feature (`"bias"`, `"encoded_payload"`, `"exfiltration"` and
    /// `"tool_exfiltration"` name the non-pattern terms).
    pub fn weight(&self, name: &str) -> Option<f32> {
        match name {
            "bias" => Some(self.bias),
            "encoded_payload" => Some(self.encoded_payload),
            "exfiltration" => Some(self.exfil_combo),
            "tool_exfiltration" => Some(self.tool_target_combo),
            _ => all_features()
                .position(|(f, _)| f.name == name)
                .map(|i| self.weights[i]),
        }
    }

    /// Overrides one weight (see [`Self::weight`] for the names); unknown names are ignored.
    pub fn with_weight(mut self, name: &str, weight: f32) -> Self {
        match name {
            "bias" => self.bias = weight,
            "encoded_payload" => self.encoded_payload = weight,
            "exfiltration" => self.exfil_combo = weight,
            "tool_exfiltration" => self.tool_target_combo = weight,
            _ => {
                if let Some(i) = all_features().position(|(f, _)| f.name == name) {
                    self.weights[i] = weight;
                }
            }
        }
        self
    }

    pub fn score(&self, text: &str) -> InjectionScore {
        self.score_normalized(&normalize(text))
    }

    /// Scores an already normalized text (the guard normalizes once for several checks).
    pub fn score_normalized(&self, normalized: &Normalized) -> InjectionScore {
        let compiled = &*COMPILED;
        // Per feature: the first hit, preferring the plain reading over decoded ones.
        let mut hits: Vec<Option<(String, bool)>> = vec![None; compiled.len()];
        for (i, feature) in compiled.iter().enumerate().filter(|(_, f)| f.cased) {
            if let Some(m) = feature.regex.find(&normalized.text) {
                hits[i] = Some((excerpt(m.as_str()), false));
            }
        }
        for (origin, decoded, text) in normalized.readings() {
            for (i, feature) in compiled.iter().enumerate() {
                if feature.cased || hits[i].as_ref().is_some_and(|(_, d)| !*d) {
                    continue;
                }
                if let Some(m) = feature.regex.find(text) {
                    let excerpt = excerpt(m.as_str());
                    let excerpt = if origin == "text" {
                        excerpt
                    } else {
                        format!("[{origin}] {excerpt}")
                    };
                    if hits[i].is_none() || !decoded {
                        hits[i] = Some((excerpt, decoded));
                    }
                }
            }
        }

        let mut logit = self.bias;
        let mut signals = Vec::new();
        let mut only_decoded = false;
        let fired = |name: &str| {
            compiled
                .iter()
                .position(|f| f.name == name)
                .is_some_and(|i| hits[i].is_some())
        };
        for (i, hit) in hits.iter().enumerate() {
            let Some((excerpt, decoded)) = hit else {
                continue;
            };
            let weight = self.weights[i];
            if weight == 0.0 {
                continue;
            }
            logit += weight;
            only_decoded |= *decoded && weight > 0.0;
            signals.push(Signal {
                name: compiled[i].name,
                weight,
                excerpt: excerpt.clone(),
            });
        }
        let positive = signals.iter().any(|s| s.weight > 0.0);
        if only_decoded {
            logit += self.encoded_payload;
            let encodings: Vec<&str> = normalized
                .obfuscation
                .iter()
                .copied()
                .filter(|t| !SUSPICIOUS_TRICKS.contains(t) && *t != "compatibility_forms")
                .collect();
            signals.push(Signal {
                name: "encoded_payload",
                weight: self.encoded_payload,
                excerpt: encodings.join(", "),
            });
        }
        if fired("send_external") && (fired("sensitive_data") || fired("data_exfiltration")) {
            logit += self.exfil_combo;
            signals.push(Signal {
                name: "exfiltration",
                weight: self.exfil_combo,
                excerpt: "sensitive data to an external destination".to_owned(),
            });
        }
        if fired("tool_invocation") && (fired("external_target") || fired("send_external")) {
            logit += self.tool_target_combo;
            signals.push(Signal {
                name: "tool_exfiltration",
                weight: self.tool_target_combo,
                excerpt: "tool call aimed at a URL or address".to_owned(),
            });
        }
        let tricks: Vec<&str> = normalized
            .obfuscation
            .iter()
            .copied()
            .filter(|t| SUSPICIOUS_TRICKS.contains(t))
            .collect();
        if positive && !tricks.is_empty() {
            logit += OBFUSCATION_WEIGHT;
            signals.push(Signal {
                name: "obfuscation",
                weight: OBFUSCATION_WEIGHT,
                excerpt: tricks.join(", "),
            });
        }
        signals.sort_by(|a, b| b.weight.total_cmp(&a.weight));
        InjectionScore {
            score: sigmoid(logit),
            signals,
        }
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

fn excerpt(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() <= EXCERPT_CHARS {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(EXCERPT_CHARS).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests;
