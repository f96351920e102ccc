//! Sampling: turning one step's logits into a token.
//!
//! Order of operations (the same as llama.cpp's default chain, so numbers compare):
//! repetition penalty → OpenAI presence/frequency penalties → constraint mask →
//! log-probabilities (reported) → temperature → top-k → softmax → top-p → min-p → draw. Temperature 0 is greedy (argmax, ties to the
//! lowest id). The draw uses ChaCha8 seeded from the request, so a seed reproduces a run
//! bit for bit on the same build and thread count.

use crate::{Error, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// How to pick tokens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamplingParams {
    /// 0 = greedy; otherwise logits are divided by it. Range 0..=2.
    pub temperature: f32,
    /// Keep only the k most likely tokens (0 = off).
    pub top_k: usize,
    /// Keep the smallest set whose probability reaches p (1 = off).
    pub top_p: f32,
    /// Drop tokens less likely than `min_p` × the top token's probability (0 = off).
    pub min_p: f32,
    /// Divide positive logits (multiply negative ones) of recently seen tokens (1 = off).
    pub repetition_penalty: f32,
    /// How many recent tokens the repetition penalty looks at.
    pub repeat_last_n: usize,
    /// OpenAI's presence penalty: subtracted once from the logit of every token the
    /// output already holds. Range -2..=2, 0 = off.
    pub presence_penalty: f32,
    /// OpenAI's frequency penalty: subtracted per occurrence in the output so far.
    /// Range -2..=2, 0 = off.
    pub frequency_penalty: f32,
    /// Stop when any of these strings appears; it is not included in the output.
    pub stop: Vec<String>,
    /// At most this many new tokens (`None` = until the context is full).
    pub max_tokens: Option<usize>,
    /// Seed for the random draw (`None` = a fresh random seed, reported at the end).
    pub seed: Option<u64>,
    /// Keep going past end-of-turn tokens until `max_tokens` (benchmarks).
    pub ignore_eos: bool,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 0.7,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repetition_penalty: 1.0,
            repeat_last_n: 64,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            stop: Vec::new(),
            max_tokens: Some(512),
            seed: None,
            ignore_eos: false,
        }
    }
}

/// Most stop sequences one request may give.
pub const MAX_STOP_SEQUENCES: usize = 16;

impl SamplingParams {
    /// Greedy decoding (temperature 0) of at most `max_tokens` tokens.
    pub fn greedy(max_tokens: usize) -> Self {
        Self {
            temperature: 0.0,
            max_tokens: Some(max_tokens),
            ..Self::default()
        }
    }

    /// Checks every field's range; the message names the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidRequest(m));
        if !(0.0..=2.0).contains(&self.temperature) {
            return bad(format!(
                "temperature must be between 0 and 2, got {}",
                self.temperature
            ));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad(format!("top_p must be in (0, 1], got {}", self.top_p));
        }
        if !(0.0..1.0).contains(&self.min_p) {
            return bad(format!("min_p must be in [0, 1), got {}", self.min_p));
        }
        if !(self.repetition_penalty > 0.0 && self.repetition_penalty.is_finite()) {
            return bad(format!(
                "repetition_penalty must be positive, got {}",
                self.repetition_penalty
            ));
        }
        for (name, v) in [
            ("presence_penalty", self.presence_penalty),
            ("frequency_penalty", self.frequency_penalty),
        ] {
            if !(-2.0..=2.0).contains(&v) {
                return bad(format!("{name} must be between -2 and 2, got {v}"));
            }
        }
        if self.max_tokens == Some(0) {
            return bad("max_tokens must be at least 1".into());
        }
        if self.stop.len() > MAX_STOP_SEQUENCES {
            return bad(format!(
                "at most {MAX_STOP_SEQUENCES} stop sequences, got {}",
                self.stop.len()
            ));
        }
        if self.stop.iter().any(String::is_empty) {
            return bad("stop sequences must not be empty".into());
        }
        Ok(())
    }
}

/// The token a step chose, with its log-probability and the top alternatives.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenChoice {
    /// The chosen token.
    pub token: u32,
    /// Its log-probability under the (penalized, masked) model distribution.
    pub logprob: f32,
    /// The `n` most likely tokens and their log-probabilities, best first.
    pub top: Vec<(u32, f32)>,
}

/// A seeded sampler for one request.
pub struct Sampler {
    params: SamplingParams,
    rng: ChaCha8Rng,
    seed: u64,
    /// Where the output starts in the history (presence/frequency count only output).
    prompt_len: usize,
}

impl Sampler {
    /// A sampler; draws a random seed when the params have none.
    pub fn new(params: SamplingParams) -> Self {
        let seed = params.seed.unwrap_or_else(|| rand::rng().random());
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            params,
            seed,
            prompt_len: 0,
        }
    }

    /// Tells the sampler how many history tokens are the prompt.
    #[must_use]
    pub fn with_prompt_len(mut self, prompt_len: usize) -> Self {
        self.prompt_len = prompt_len;
        self
    }

    /// The seed in use.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The parameters.
    pub fn params(&self) -> &SamplingParams {
        &self.params
    }

    /// Picks the next token. `history` is every token so far (prompt and output);
    /// `allowed`, when given, says which token ids the constraint permits. `top_n`
    /// alternatives are reported when it is non-zero.
    pub fn sample(
        &mut self,
        logits: &mut [f32],
        history: &[u32],
        allowed: Option<&dyn Fn(u32) -> bool>,
        top_n: usize,
    ) -> Result<TokenChoice> {
        self.penalize(logits, history);
        if let Some(allowed) = allowed {
            for (id, logit) in logits.iter_mut().enumerate() {
                if !allowed(id as u32) {
                    *logit = f32::NEG_INFINITY;
                }
            }
        }
        let log_z = log_sum_exp(logits);
        if !log_z.is_finite() {
            return Err(Error::Inference(
                "no token is allowed at this step (the constraint cannot continue)".into(),
            ));
        }
        let token = if self.params.temperature <= 0.0 {
            argmax(logits)
        } else {
            self.draw(logits)
        };
        let top = if top_n == 0 {
            Vec::new()
        } else {
            top_indices(logits, top_n)
                .into_iter()
                .map(|id| (id, logits[id as usize] - log_z))
                .collect()
        };
        Ok(TokenChoice {
            token,
            logprob: logits[token as usize] - log_z,
            top,
        })
    }

    fn penalize(&self, logits: &mut [f32], history: &[u32]) {
        let (presence, frequency) = (self.params.presence_penalty, self.params.frequency_penalty);
        if presence != 0.0 || frequency != 0.0 {
            let mut counts: std::collections::HashMap<u32, f32> = std::collections::HashMap::new();
            for &id in &history[self.prompt_len.min(history.len())..] {
                *counts.entry(id).or_default() += 1.0;
            }
            for (id, n) in counts {
                if let Some(logit) = logits.get_mut(id as usize) {
                    *logit -= presence + frequency * n;
                }
            }
        }
        let penalty = self.params.repetition_penalty;
        if (penalty - 1.0).abs() < f32::EPSILON || self.params.repeat_last_n == 0 {
            return;
        }
        let start = history.len().saturating_sub(self.params.repeat_last_n);
        let mut seen = history[start..].to_vec();
        seen.sort_unstable();
        seen.dedup();
        for id in seen {
            if let Some(logit) = logits.get_mut(id as usize) {
                *logit = if *logit > 0.0 {
                    *logit / penalty
                } else {
                    *logit * penalty
                };
            }
        }
    }

    fn draw(&mut self, logits: &[f32]) -> u32 {
        let inv_t = 1.0 / self.params.temperature;
        let mut candidates: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .filter(|(_, l)| l.is_finite())
            .map(|(i, l)| (i as u32, l * inv_t))
            .collect();
        candidates.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        if self.params.top_k > 0 {
            candidates.truncate(self.params.top_k);
        }
        let max = candidates.first().map_or(0.0, |c| c.1);
        let mut probs: Vec<f32> = candidates.iter().map(|c| (c.1 - max).exp()).collect();
        normalize(&mut probs);
        let mut keep = probs.len();
        if self.params.top_p < 1.0 {
            let mut cumulative = 0.0;
            for (i, p) in probs.iter().enumerate() {
                cumulative += p;
                if cumulative >= self.params.top_p {
                    keep = i + 1;
                    break;
                }
            }
        }
        if self.params.min_p > 0.0 {
            let floor = probs.first().copied().unwrap_or(0.0) * self.params.min_p;
            keep = keep.min(probs.iter().take_while(|p| **p >= floor).count().max(1));
        }
        probs.truncate(keep);
        normalize(&mut probs);
        let r: f32 = self.rng.random();
        let mut cumulative = 0.0;
        for (i, p) in probs.iter().enumerate() {
            cumulative += p;
            if r < cumulative {
                return candidates[i].0;
            }
        }
        candidates[probs.len().saturating_sub(1)].0
    }
}

fn normalize(probs: &mut [f32]) {
    let sum: f32 = probs.iter().sum();
    if sum > 0.0 {
        for p in probs.iter_mut() {
            *p /= sum;
        }
    }
}

fn log_sum_exp(logits: &[f32]) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        return max;
    }
    let sum: f32 = logits.iter().map(|l| (l - max).exp()).sum();
    max + sum.ln()
}

/// The index of the largest logit; ties go to the lowest index.
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, l) in logits.iter().enumerate() {
        if *l > logits[best] {
            best = i;
        }
    }
    best as u32
}

fn top_indices(logits: &[f32], n: usize) -> Vec<u32> {
    let mut ids: Vec<u32> = (0..logits.len() as u32)
        .filter(|i| logits[*i as usize].is_finite())
        .collect();
    let n = n.min(ids.len());
    if n == 0 {
        return Vec::new();
    }
    let by_logit = |a: &u32, b: &u32| logits[*b as usize].total_cmp(&logits[*a as usize]);
    ids.select_nth_unstable_by(n - 1, by_logit);
    ids.truncate(n);
    ids.sort_by(|a, b| by_logit(a, b).then(a.cmp(b)));
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits() -> Vec<f32> {
        vec![1.0, 3.0, 2.0, 0.5, 2.9]
    }

    #[test]
    fn greedy_takes_the_argmax_and_reports_logprobs() {
        let mut s = Sampler::new(SamplingParams::greedy(4));
        let choice = s.sample(&mut logits(), &[], None, 3).unwrap();
        assert_eq!(choice.token, 1);
        assert_eq!(
            choice.top.iter().map(|t| t.0).collect::<Vec<_>>(),
            vec![1, 4, 2]
        );
        let total: f32 = logits().iter().map(|l| (l - 3.0).exp()).sum();
        assert!((choice.logprob - (-total.ln())).abs() < 1e-5);
    }

    #[test]
    fn the_mask_excludes_tokens_before_choosing() {
        let mut s = Sampler::new(SamplingParams::greedy(4));
        let allowed = |id: u32| id == 2 || id == 3;
        let choice = s.sample(&mut logits(), &[], Some(&allowed), 0).unwrap();
        assert_eq!(choice.token, 2);
        let none = |_: u32| false;
        assert!(s.sample(&mut logits(), &[], Some(&none), 0).is_err());
    }

    #[test]
    fn repetition_penalty_demotes_seen_tokens() {
        let params = SamplingParams {
            repetition_penalty: 2.0,
            ..SamplingParams::greedy(4)
        };
        let mut s = Sampler::new(params);
        assert_eq!(s.sample(&mut logits(), &[1], None, 0).unwrap().token, 4);
    }

    #[test]
    fn the_same_seed_draws_the_same_tokens() {
        let params = SamplingParams {
            temperature: 1.5,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            seed: Some(7),
            ..SamplingParams::default()
        };
        let run = |p: &SamplingParams| {
            let mut s = Sampler::new(p.clone());
            (0..64)
                .map(|_| s.sample(&mut logits(), &[], None, 0).unwrap().token)
                .collect::<Vec<_>>()
        };
        let a = run(&params);
        assert_eq!(a, run(&params));
        let distinct: std::collections::HashSet<_> = a.iter().collect();
        assert!(distinct.len() >= 3, "a hot sampler should vary: {a:?}");
        let other = SamplingParams {
            seed: Some(8),
            ..params
        };
        assert_ne!(a, run(&other));
    }

    #[test]
    fn top_k_one_and_tiny_top_p_are_greedy() {
        for params in [
            SamplingParams {
                temperature: 1.0,
                top_k: 1,
                seed: Some(1),
                ..SamplingParams::default()
            },
            SamplingParams {
                temperature: 1.0,
                top_k: 0,
                top_p: 0.01,
                min_p: 0.0,
                seed: Some(1),
                ..SamplingParams::default()
            },
            SamplingParams {
                temperature: 1.0,
                top_k: 0,
                top_p: 1.0,
                min_p: 0.99,
                seed: Some(1),
                ..SamplingParams::default()
            },
        ] {
            let mut s = Sampler::new(params);
            for _ in 0..20 {
                assert_eq!(s.sample(&mut logits(), &[], None, 0).unwrap().token, 1);
            }
        }
    }

    #[test]
    fn validation_names_the_field() {
        let cases = [
            (
                SamplingParams {
                    temperature: 3.0,
                    ..Default::default()
                },
                "temperature",
            ),
            (
                SamplingParams {
                    top_p: 0.0,
                    ..Default::default()
                },
                "top_p",
            ),
            (
                SamplingParams {
                    max_tokens: Some(0),
                    ..Default::default()
                },
                "max_tokens",
            ),
            (
                SamplingParams {
                    stop: vec![String::new()],
                    ..Default::default()
                },
                "stop",
            ),
        ];
        for (params, field) in cases {
            let err = params.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{err}");
        }
        SamplingParams::default().validate().unwrap();
    }

    #[test]
    fn presence_and_frequency_penalties_count_only_the_output() {
        // Token 4 leads by 1.0; it appears twice in the output and once in the prompt.
        let mut l = vec![0.0, 0.0, 0.0, 3.5, 4.5];
        let params = SamplingParams {
            frequency_penalty: 0.4,
            presence_penalty: 0.3,
            ..SamplingParams::greedy(4)
        };
        let mut s = Sampler::new(params.clone()).with_prompt_len(1);
        // 4.5 - 0.3 - 2 * 0.4 = 3.4 < 3.5: token 3 wins.
        assert_eq!(s.sample(&mut l, &[4, 4, 4], None, 0).unwrap().token, 3);
        // With the prompt holding all three, nothing is penalized.
        let mut l = vec![0.0, 0.0, 0.0, 3.5, 4.5];
        let mut s = Sampler::new(params.clone()).with_prompt_len(3);
        assert_eq!(s.sample(&mut l, &[4, 4, 4], None, 0).unwrap().token, 4);
        let bad = SamplingParams {
            presence_penalty: 2.5,
            ..params
        };
        assert!(bad.validate().is_err());
    }
}
