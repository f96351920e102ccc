//! The token iterator of one local generation: prefill (reusing a cached prefix), then
//! one forward pass per token, each step masked by the constraint, sampled, decoded to
//! UTF-8 and checked against the stop sequences. Work happens inside `next()`, so
//! dropping the stream stops it.

use super::Inner;
use super::backend::Sequence;
use super::utf8::Utf8Stream;
use crate::Result;
use crate::constrain::ActiveConstraint;
use crate::generate::{
    Finish, FinishReason, GenerateRequest, Sampler, StopBuffer, StreamEvent, TokenDelta,
    TopLogprob, Usage,
};
use std::sync::Arc;

/// Identical tokens in a row that count as a degenerate loop under a constraint.
const LOOP_RUN: usize = 12;

enum State {
    Prefill,
    Decoding(Vec<f32>),
    Finishing(Finish),
    Done,
}

pub(super) struct LocalStream {
    inner: Arc<Inner>,
    state: State,
    /// Created by the prefill (a llama.cpp context can fail to allocate).
    cache: Option<Sequence>,
    history: Vec<u32>,
    prompt_len: usize,
    cached: usize,
    generated: usize,
    max_tokens: usize,
    sampler: Sampler,
    top_n: Option<usize>,
    stop: StopBuffer,
    utf8: Utf8Stream,
    constraint: Option<ActiveConstraint>,
}

impl LocalStream {
    pub(super) fn new(
        inner: Arc<Inner>,
        prompt: Vec<u32>,
        request: GenerateRequest,
        max_tokens: usize,
        constraint: Option<ActiveConstraint>,
    ) -> Self {
        Self {
            stop: StopBuffer::new(&request.sampling.stop),
            sampler: Sampler::new(request.sampling).with_prompt_len(prompt.len()),
            top_n: request.logprobs,
            inner,
            state: State::Prefill,
            cache: None,
            prompt_len: prompt.len(),
            history: prompt,
            cached: 0,
            generated: 0,
            max_tokens,
            utf8: Utf8Stream::default(),
            constraint,
        }
    }

    fn prefill(&mut self) -> Result<Vec<f32>> {
        let weights = &self.inner.weights;
        let capacity = self.prompt_len + self.max_tokens;
        let reused = match self.inner.prefix.lock() {
            Ok(mut prefix) => prefix.lookup(&self.history),
            Err(_) => None,
        };
        let mut cache = match reused {
            Some((shared, snapshot)) => {
                self.cached = shared;
                weights.resume(&snapshot, shared, capacity)?
            }
            None => weights.new_sequence(capacity)?,
        };
        // The prompt's last token always gets a pass of its own, so its logits come from
        // the same kernels whether the rest was computed now or restored from the prefix
        // cache (batched and single-row products round differently): a seed reproduces
        // its run when the same prompt is asked again.
        let rest = &self.history[cache.len()..];
        let (last, body) = rest
            .split_last()
            .ok_or_else(|| crate::Error::Inference("no prompt token left to compute".into()))?;
        for chunk in body.chunks(self.inner.prefill_chunk) {
            weights.forward(chunk, &mut cache)?;
        }
        let logits = weights.forward(std::slice::from_ref(last), &mut cache)?;
        self.cache = Some(cache);
        Ok(logits)
    }

    fn finish(&mut self, reason: FinishReason) -> Finish {
        if let Some(cache) = &self.cache
            && let Ok(snapshot) = self.inner.weights.snapshot(cache)
            && let Ok(mut prefix) = self.inner.prefix.lock()
        {
            prefix.insert(self.history[..cache.len()].to_vec(), snapshot);
        }
        Finish {
            reason,
            usage: Usage {
                prompt_tokens: self.prompt_len,
                completion_tokens: self.generated,
                cached_prompt_tokens: self.cached,
            },
            seed: Some(self.sampler.seed()),
            model: None,
            tool_calls: Vec::new(),
        }
    }

    /// One decoding step: returns the delta and, when generation ends with it, the
    /// finish.
    fn step(&mut self, mut logits: Vec<f32>) -> Result<(TokenDelta, Option<Finish>)> {
        let tokenizer = self.inner.tokenizer.clone();
        let mask = match &mut self.constraint {
            Some(c) => Some(c.mask()?),
            None => None,
        };
        // Under a constraint, a run of one token (`1.0000000…` in a JSON number, which the
        // grammar allows forever) is cut once it reaches LOOP_RUN, if anything else is allowed.
        let banned = mask.as_ref().and_then(|m| {
            let token = self.looping_token()?;
            let others = (0..logits.len() as u32).any(|id| id != token && m.is_allowed(id));
            others.then_some(token)
        });
        let allowed = mask
            .as_ref()
            .map(|m| move |id: u32| m.is_allowed(id) && Some(id) != banned);
        let choice = self.sampler.sample(
            &mut logits,
            &self.history,
            allowed.as_ref().map(|f| f as &dyn Fn(u32) -> bool),
            self.top_n.unwrap_or(0),
        )?;
        let token = choice.token;
        let top_logprobs = choice
            .top
            .iter()
            .map(|(id, lp)| TopLogprob {
                token_id: Some(*id),
                token: tokenizer.token_text(*id),
                logprob: *lp,
            })
            .collect();
        let mut delta = TokenDelta {
            text: String::new(),
            token_id: Some(token),
            logprob: self.top_n.map(|_| choice.logprob),
            top_logprobs,
        };
        self.generated += 1;
        if !self.sampler.params().ignore_eos && tokenizer.end_tokens().contains(&token) {
            delta.text = self.flush();
            return Ok((delta, Some(self.finish(FinishReason::Stop))));
        }
        if let Some(c) = &mut self.constraint {
            c.consume(token)?;
        }
        self.history.push(token);
        // Control tokens (`<|im_start|>`…) are not text; llama.cpp does not render them either.
        let bytes = if tokenizer.is_special(token) {
            &[][..]
        } else {
            tokenizer.token_bytes(token)
        };
        let text = self.utf8.push(bytes);
        delta.text = self.stop.push(&text);
        if self.stop.stopped() {
            return Ok((delta, Some(self.finish(FinishReason::Stop))));
        }
        if self
            .constraint
            .as_ref()
            .is_some_and(ActiveConstraint::is_stopped)
        {
            delta.text.push_str(&self.flush());
            return Ok((delta, Some(self.finish(FinishReason::Stop))));
        }
        if self.generated >= self.max_tokens {
            delta.text.push_str(&self.flush());
            return Ok((delta, Some(self.finish(FinishReason::Length))));
        }
        let cache = self
            .cache
            .as_mut()
            .ok_or_else(|| crate::Error::Inference("decoding before the prefill".into()))?;
        let next = self.inner.weights.forward(&[token], cache)?;
        self.state = State::Decoding(next);
        Ok((delta, None))
    }

    /// The token the output has repeated LOOP_RUN times in a row, if any.
    fn looping_token(&self) -> Option<u32> {
        let generated = &self.history[self.prompt_len..];
        let tail = generated.get(generated.len().checked_sub(LOOP_RUN)?..)?;
        let first = *tail.first()?;
        tail.iter().all(|t| *t == first).then_some(first)
    }

    fn flush(&mut self) -> String {
        let tail = self.utf8.finish();
        let mut text = self.stop.push(&tail);
        if !self.stop.stopped() {
            text.push_str(&self.stop.flush());
        }
        text
    }
}

impl Iterator for LocalStream {
    type Item = Result<StreamEvent>;

    fn next(&mut self) -> Option<Self::Item> {
        let logits = match std::mem::replace(&mut self.state, State::Done) {
            State::Done => return None,
            State::Finishing(finish) => return Some(Ok(StreamEvent::Done(finish))),
            State::Prefill => match self.prefill() {
                Ok(logits) => logits,
                Err(e) => return Some(Err(e)),
            },
            State::Decoding(logits) => logits,
        };
        match self.step(logits) {
            Ok((delta, finish)) => {
                if let Some(finish) = finish {
                    self.state = State::Finishing(finish);
                }
                Some(Ok(StreamEvent::Token(delta)))
            }
            Err(e) => {
                self.state = State::Done;
                Some(Err(e))
            }
        }
    }
}
