//! Yes/no judgements by the judge model (`models.judge`): the LLM reranker's relevance
//! and the generator-entailment grounding check. A local model gives P(yes | yes or no)
//! from one prefill's logits; a remote one from the top log-probabilities of a
//! one-token answer (or, for a provider without log-probabilities, from the word it
//! answers with).

use crate::{Engine, ModelRole, Result};
use cairn_models::generate::{ChatMessage, Prompt, Role};
use cairn_models::{GenerateRequest, SamplingParams, TokenDelta};
use cairn_types::TenantId;

/// Alternatives asked of a remote judge's one token.
const TOP_LOGPROBS: usize = 5;

/// P(yes) from the best "yes" and "no" log-scores (either may be missing).
fn p_yes(yes: f32, no: f32) -> Option<f32> {
    match (yes.is_finite(), no.is_finite()) {
        (false, false) => None,
        (true, false) => Some(1.0),
        (false, true) => Some(0.0),
        (true, true) => Some(1.0 / (1.0 + (no - yes).exp())),
    }
}

fn word(token: &str) -> String {
    token
        .trim()
        .trim_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase()
}

/// P(yes) from the first token a remote judge answered with.
fn from_remote(first: Option<&TokenDelta>, text: &str) -> f32 {
    let (mut yes, mut no) = (f32::NEG_INFINITY, f32::NEG_INFINITY);
    if let Some(d) = first {
        let mut seen: Vec<(String, f32)> = d
            .top_logprobs
            .iter()
            .map(|t| (word(&t.token), t.logprob))
            .collect();
        if let Some(l) = d.logprob {
            seen.push((word(&d.text), l));
        }
        for (w, l) in seen {
            match w.as_str() {
                "yes" => yes = yes.max(l),
                "no" => no = no.max(l),
                _ => {}
            }
        }
    }
    p_yes(yes, no).unwrap_or_else(|| match word(text).split_whitespace().next() {
        Some("yes") => 1.0,
        Some("no") => 0.0,
        _ => 0.5,
    })
}

impl Engine {
    /// P(yes | yes or no) for the judge model's answer to a yes/no question.
    pub(crate) fn judge_yes(&self, tenant: &TenantId, system: &str, user: &str) -> Result<f32> {
        let registry = self.registry(tenant)?;
        let name = crate::gateway::role_in(&registry, ModelRole::Judge);
        let prompt = Prompt::Chat(vec![
            ChatMessage::new(Role::System, system),
            ChatMessage::new(Role::User, user),
        ]);
        if registry.is_local(name) {
            return self.local_yes(name, &prompt);
        }
        let judge = self.chat_model(tenant, name, &self.default_redaction()?)?;
        let mut req = GenerateRequest {
            prompt,
            ..GenerateRequest::chat(Vec::new())
        };
        req.sampling = SamplingParams {
            temperature: 0.0,
            max_tokens: Some(1),
            ..SamplingParams::default()
        };
        req.logprobs = Some(TOP_LOGPROBS);
        let done = judge.complete(req)?;
        Ok(from_remote(done.tokens.first(), &done.text))
    }

    /// One prefill of a local model; no decoding.
    fn local_yes(&self, name: &str, prompt: &Prompt) -> Result<f32> {
        let generator = self.local_model(name)?;
        let tok = generator.tokenizer();
        let ids = |words: &[&str]| -> Vec<u32> {
            words
                .iter()
                .filter_map(|w| tok.encode(w).ok().and_then(|v| v.first().copied()))
                .collect()
        };
        let yes = ids(&["yes", "Yes", " yes", " Yes"]);
        let no = ids(&["no", "No", " no", " No"]);
        let tokens = generator.prompt_tokens(prompt)?;
        let logits = generator.logits(&tokens)?;
        let best = |set: &[u32]| {
            set.iter()
                .filter_map(|&i| logits.get(i as usize).copied())
                .fold(f32::NEG_INFINITY, f32::max)
        };
        Ok(p_yes(best(&yes), best(&no)).unwrap_or(0.5))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_models::generate::TopLogprob;

    fn delta(text: &str, alts: &[(&str, f32)]) -> TokenDelta {
        TokenDelta {
            text: text.into(),
            token_id: None,
            logprob: alts.first().map(|a| a.1),
            top_logprobs: alts
                .iter()
                .map(|(t, l)| TopLogprob {
                    token_id: None,
                    token: (*t).into(),
                    logprob: *l,
                })
                .collect(),
        }
    }

    #[test]
    fn remote_judgements_use_the_top_logprobs() {
        let p = from_remote(Some(&delta("Yes", &[("Yes", -0.1), (" no", -2.4)])), "Yes");
        assert!((p - 1.0 / (1.0 + (-2.3f32).exp())).abs() < 1e-5, "{p}");
        let p = from_remote(Some(&delta("No", &[("No", -0.01), ("Maybe", -5.0)])), "No");
        assert_eq!(p, 0.0);
        // A provider without log-probabilities: the word decides.
        assert_eq!(from_remote(Some(&delta("Yes.", &[])), "Yes."), 1.0);
        assert_eq!(from_remote(None, "no"), 0.0);
        assert_eq!(from_remote(None, "perhaps"), 0.5);
    }
}
