//! What a run reports as it goes (the API streams these as server-sent events named by
//! their `type`).

use crate::budget::Usage;
use serde::Serialize;
use serde_json::Value;

/// One event of a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentEvent {
    /// The run exists (its id is what the other routes take).
    RunStarted { run_id: String, agent: String },
    /// A model turn begins (`phase`: `react`, `plan`, `step <n>`, `synthesis`).
    StepStarted { step: usize, phase: String },
    /// Text of the model's turn as it is generated.
    Delta { text: String },
    /// A plan (or a new one after a failure).
    Plan { revision: usize, steps: Vec<String> },
    /// A tool is about to run.
    ToolCall {
        seq: i64,
        name: String,
        arguments: Value,
    },
    /// Its result, as the model sees it.
    ToolResult {
        seq: i64,
        name: String,
        output: String,
        error: bool,
    },
    /// The run waits for a person (approve or deny step `seq`).
    ApprovalNeeded {
        run_id: String,
        seq: i64,
        name: String,
        arguments: Value,
    },
    /// The run ended, or paused (`state` `waiting_approval`).
    Final {
        run_id: String,
        state: String,
        output: Option<String>,
        reason: Option<String>,
        usage: Usage,
    },
}

impl AgentEvent {
    /// The event's name (the SSE `event:` field).
    pub fn name(&self) -> &'static str {
        match self {
            Self::RunStarted { .. } => "run_started",
            Self::StepStarted { .. } => "step_started",
            Self::Delta { .. } => "delta",
            Self::Plan { .. } => "plan",
            Self::ToolCall { .. } => "tool_call",
            Self::ToolResult { .. } => "tool_result",
            Self::ApprovalNeeded { .. } => "approval_needed",
            Self::Final { .. } => "final",
        }
    }
}
