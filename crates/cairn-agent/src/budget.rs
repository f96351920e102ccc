//! A run's limits and what it has used. Delegated runs share their parent's budget: a
//! child's tokens, cost and tool calls count against every ancestor too, so a
//! supervisor cannot exceed its limits through its specialists.

use cairn_config::AgentSpec;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// What a run has used (kept with the run, so a resumed run goes on counting).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Model turns.
    pub steps: usize,
    pub tool_calls: usize,
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    pub cost_usd: f64,
    /// Time spent executing (not waiting for approval), in milliseconds.
    pub elapsed_ms: u64,
}

impl Usage {
    pub fn tokens(&self) -> usize {
        self.prompt_tokens + self.completion_tokens
    }
}

/// Which limit a run hit (the stable codes in a run's `reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    Steps,
    ToolCalls,
    Tokens,
    Cost,
    Time,
    Loop,
}

impl Limit {
    pub fn code(self) -> &'static str {
        match self {
            Self::Steps => "max_steps",
            Self::ToolCalls => "max_tool_calls",
            Self::Tokens => "max_tokens",
            Self::Cost => "max_cost_usd",
            Self::Time => "max_seconds",
            Self::Loop => "loop_detected",
        }
    }
}

/// Limits and usage of one run (and, through `parent`, of the runs above it).
pub struct Budget {
    spec: AgentSpec,
    used: Mutex<Usage>,
    /// When this execution began, and the time used before it.
    started: Instant,
    before_ms: u64,
    parent: Option<Arc<Budget>>,
}

impl Budget {
    /// A budget for `spec`'s limits starting from `used` (a resumed run's usage).
    pub fn new(spec: &AgentSpec, used: Usage, parent: Option<Arc<Budget>>) -> Arc<Self> {
        Arc::new(Self {
            spec: spec.clone(),
            before_ms: used.elapsed_ms,
            used: Mutex::new(used),
            started: Instant::now(),
            parent,
        })
    }

    /// This run's usage, with the time spent so far.
    pub fn usage(&self) -> Usage {
        let mut u = self
            .used
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        u.elapsed_ms = self.elapsed_ms();
        u
    }

    fn elapsed_ms(&self) -> u64 {
        self.before_ms
            .saturating_add(u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    /// Seconds left before the time limit (the nearest of this run's and its parents').
    pub fn seconds_left(&self) -> f64 {
        let own = self.spec.max_seconds as f64 - self.elapsed_ms() as f64 / 1000.0;
        match &self.parent {
            Some(p) => own.min(p.seconds_left()),
            None => own,
        }
    }

    fn charge_with(&self, f: &dyn Fn(&mut Usage)) {
        f(&mut self.used.lock().unwrap_or_else(PoisonError::into_inner));
        if let Some(p) = &self.parent {
            p.charge_with(f);
        }
    }

    /// Adds one model turn's tokens and cost.
    pub fn charge_turn(&self, prompt: usize, completion: usize, cost: f64) {
        self.charge_with(&|u| {
            u.steps += 1;
            u.prompt_tokens += prompt;
            u.completion_tokens += completion;
            u.cost_usd += cost;
        });
    }

    /// Adds one tool call.
    pub fn charge_tool_call(&self) {
        self.charge_with(&|u| u.tool_calls += 1);
    }

    /// The first limit reached before another model turn, if any.
    pub fn before_turn(&self) -> Option<Limit> {
        let u = self.usage();
        let s = &self.spec;
        let own = if u.steps >= s.max_steps {
            Some(Limit::Steps)
        } else if u.tokens() >= s.max_tokens {
            Some(Limit::Tokens)
        } else if s.max_cost_usd > 0.0 && u.cost_usd >= s.max_cost_usd {
            Some(Limit::Cost)
        } else if self.seconds_left() <= 0.0 {
            Some(Limit::Time)
        } else {
            None
        };
        own.or_else(|| self.parent.as_ref().and_then(|p| p.shared_limit()))
    }

    /// The first limit reached before another tool call, if any.
    pub fn before_tool_call(&self) -> Option<Limit> {
        let u = self.usage();
        if u.tool_calls >= self.spec.max_tool_calls {
            return Some(Limit::ToolCalls);
        }
        if self.seconds_left() <= 0.0 {
            return Some(Limit::Time);
        }
        self.parent.as_ref().and_then(|p| p.shared_limit())
    }

    /// The limits a child shares with this run: tokens, cost, tool calls and time (not
    /// the parent's own turn count).
    fn shared_limit(&self) -> Option<Limit> {
        let u = self.usage();
        let s = &self.spec;
        let own = if u.tokens() >= s.max_tokens {
            Some(Limit::Tokens)
        } else if s.max_cost_usd > 0.0 && u.cost_usd >= s.max_cost_usd {
            Some(Limit::Cost)
        } else if u.tool_calls >= s.max_tool_calls {
            Some(Limit::ToolCalls)
        } else if self.seconds_left() <= 0.0 {
            Some(Limit::Time)
        } else {
            None
        };
        own.or_else(|| self.parent.as_ref().and_then(|p| p.shared_limit()))
    }

    /// Tokens the next turn may generate: the turn limit, within what is left.
    pub fn turn_tokens(&self) -> usize {
        self.tokens_within(self.spec.max_turn_tokens)
    }

    /// Tokens the wrap-up turn may generate: twice a turn's (it writes the whole answer
    /// at once), within what is left.
    pub fn wrap_up_tokens(&self) -> usize {
        self.tokens_within(self.spec.max_turn_tokens.saturating_mul(2))
    }

    fn tokens_within(&self, want: usize) -> usize {
        let left = self.spec.max_tokens.saturating_sub(self.usage().tokens());
        want.min(left.max(16))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn spec(steps: usize, calls: usize, tokens: usize, cost: f64) -> AgentSpec {
        AgentSpec {
            name: "a".into(),
            max_steps: steps,
            max_tool_calls: calls,
            max_tokens: tokens,
            max_cost_usd: cost,
            ..AgentSpec::default()
        }
    }

    #[test]
    fn each_limit_is_reported_by_its_code() {
        let b = Budget::new(&spec(2, 1, 1_000, 0.01), Usage::default(), None);
        assert_eq!(b.before_turn(), None);
        assert_eq!((b.turn_tokens(), b.wrap_up_tokens()), (384, 768));
        b.charge_turn(100, 10, 0.0);
        b.charge_tool_call();
        assert_eq!(b.before_tool_call(), Some(Limit::ToolCalls));
        b.charge_turn(100, 10, 0.0);
        assert_eq!(b.before_turn().map(Limit::code), Some("max_steps"));
        let b = Budget::new(&spec(9, 9, 1_000, 0.0), Usage::default(), None);
        b.charge_turn(990, 20, 5.0);
        assert_eq!(b.before_turn(), Some(Limit::Tokens));
        assert_eq!(
            b.wrap_up_tokens(),
            16,
            "what is left, at least a few tokens"
        );
        let b = Budget::new(&spec(9, 9, 1_000, 0.01), Usage::default(), None);
        b.charge_turn(10, 10, 0.02);
        assert_eq!(b.before_turn(), Some(Limit::Cost));
        let mut s = spec(9, 9, 1_000, 0.0);
        s.max_seconds = 1;
        let used = Usage {
            elapsed_ms: 5_000,
            ..Usage::default()
        };
        assert_eq!(Budget::new(&s, used, None).before_turn(), Some(Limit::Time));
    }

    #[test]
    fn a_child_spends_its_parents_budget() {
        let parent = Budget::new(&spec(9, 9, 1_000, 0.0), Usage::default(), None);
        let child = Budget::new(
            &spec(9, 9, 100_000, 0.0),
            Usage::default(),
            Some(parent.clone()),
        );
        child.charge_turn(900, 50, 0.0);
        assert_eq!(parent.usage().tokens(), 950);
        assert_eq!(child.before_turn(), None);
        child.charge_turn(40, 20, 0.0);
        // Within its own limits, but the parent's are spent.
        assert_eq!(child.before_turn(), Some(Limit::Tokens));
        assert_eq!(parent.usage().steps, 2);
    }
}
