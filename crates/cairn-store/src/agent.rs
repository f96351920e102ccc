//! Agents: definitions saved per tenant, and their runs journaled step by step.
//!
//! A run is a row (its state, its caller, what it has used, who is executing it under a
//! lease) and a journal of steps (what the model proposed, each tool call before and
//! after it ran, plans, approvals). The journal is what makes a run durable: a server
//! that restarts, or another server that finds the lease expired or its holder dead,
//! rebuilds the run from it and goes on. A tool call is journaled as `started` before it
//! runs and `done` after, so a resumed run knows which calls already happened and never
//! makes one twice.

use crate::Result;
use cairn_types::TenantId;
use serde::{Deserialize, Serialize};

/// Settings saved through the API under a name, per tenant: an agent, or a tool source
/// (an MCP server or an OpenAPI document whose operations agents call). Configured
/// ones live in the configuration file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SavedSpec {
    pub tenant: TenantId,
    /// A slug, unique in the tenant (per kind).
    pub name: String,
    /// The settings as the API validated them (JSON).
    pub spec: serde_json::Value,
    /// Who saved it last (a user id, or `key:<id>`).
    pub updated_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An agent saved through the API.
pub type AgentDefinition = SavedSpec;

/// A tool source saved through the API (its `spec` says which kind, and names the
/// tenant secrets it authenticates with: credentials are never stored in it).
pub type ToolSource = SavedSpec;

/// Which table of named settings a backend reads: `agents` or `tool_sources` (both
/// shaped alike).
#[derive(Clone, Copy)]
pub(crate) enum Specs {
    Agents,
    ToolSources,
}

impl Specs {
    pub(crate) fn table(self) -> &'static str {
        match self {
            Self::Agents => "agents",
            Self::ToolSources => "tool_sources",
        }
    }

    pub(crate) fn what(self) -> &'static str {
        match self {
            Self::Agents => "agent",
            Self::ToolSources => "tool source",
        }
    }
}

/// Where a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Created or approved, waiting for an executor.
    Queued,
    /// An executor holds its lease.
    Running,
    /// Paused until a person approves or denies a tool call.
    WaitingApproval,
    /// Ended with a final answer.
    Succeeded,
    /// Ended with an error.
    Failed,
    /// Ended because a limit (steps, tool calls, tokens, cost, time, a loop) was hit.
    LimitReached,
    /// Cancelled by its caller.
    Cancelled,
}

impl RunState {
    /// Every state, for parsing.
    pub const ALL: [Self; 7] = [
        Self::Queued,
        Self::Running,
        Self::WaitingApproval,
        Self::Succeeded,
        Self::Failed,
        Self::LimitReached,
        Self::Cancelled,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::WaitingApproval => "waiting_approval",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::LimitReached => "limit_reached",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether the run is over.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::LimitReached | Self::Cancelled
        )
    }
}

/// One run of an agent.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AgentRun {
    pub tenant: TenantId,
    pub id: String,
    pub agent: String,
    /// The run that delegated this one (multi-agent), if any.
    pub parent: Option<String>,
    /// Who started it (a user id, or `key:<id>`); only they may read, approve or cancel
    /// it (and administrators).
    pub owner: String,
    pub task: String,
    pub state: RunState,
    /// What an executor needs to resume it: the agent's settings when it started, the
    /// caller's principal and role, the conversation (JSON, the runtime's own shape).
    pub context: serde_json::Value,
    /// The final answer, or what the run had when it ended otherwise.
    pub output: Option<String>,
    /// Why it ended, or why it waits (a stable code and a sentence).
    pub reason: Option<String>,
    /// Steps, tool calls, tokens and cost used so far (JSON).
    pub usage: serde_json::Value,
    /// The executor holding the run (`host:pid:start`) and until when (ms).
    pub lease_owner: Option<String>,
    pub lease_until: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One journaled step of a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AgentStep {
    /// 1, 2, … in the order written.
    pub seq: i64,
    /// `model`, `tool`, `plan`, `approval`, … (the runtime's names).
    pub kind: String,
    /// For tool calls: `waiting_approval`, `denied`, `started`, `done`, `failed`,
    /// `unknown` (started by an executor that died before recording the outcome).
    pub status: String,
    pub payload: serde_json::Value,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Agent definitions and runs.
pub trait AgentRepo {
    /// Inserts or replaces (keeping `created_at`).
    fn put_agent(&self, agent: &AgentDefinition) -> Result<AgentDefinition>;
    fn get_agent(&self, tenant: &TenantId, name: &str) -> Result<AgentDefinition>;
    /// By name.
    fn list_agents(&self, tenant: &TenantId) -> Result<Vec<AgentDefinition>>;
    /// `NotFound` outside its tenant. Its runs stay.
    fn delete_agent(&self, tenant: &TenantId, name: &str) -> Result<()>;

    /// Inserts or replaces a tool source (keeping `created_at`).
    fn put_tool_source(&self, source: &ToolSource) -> Result<ToolSource>;
    fn get_tool_source(&self, tenant: &TenantId, name: &str) -> Result<ToolSource>;
    /// By name.
    fn list_tool_sources(&self, tenant: &TenantId) -> Result<Vec<ToolSource>>;
    /// `NotFound` outside its tenant.
    fn delete_tool_source(&self, tenant: &TenantId, name: &str) -> Result<()>;

    /// Stores a new run; `Conflict` if the id exists.
    fn create_agent_run(&self, run: &AgentRun) -> Result<()>;
    fn get_agent_run(&self, tenant: &TenantId, id: &str) -> Result<AgentRun>;
    /// Newest first; only `owner`'s when given.
    fn list_agent_runs(
        &self,
        tenant: &TenantId,
        owner: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AgentRun>>;
    /// Writes the run's state, output, reason, usage, context and lease while `holder`
    /// still holds it and it is `running`; `Conflict` otherwise (cancelled meanwhile, or
    /// the lease was taken over), and nothing is written.
    fn save_agent_run(&self, run: &AgentRun, holder: &str) -> Result<()>;
    /// Moves a run from one of `from` to `to`, with `reason`, leased to `lease`
    /// (holder, until) or with its lease dropped; `Conflict` naming the state it is in
    /// otherwise.
    #[allow(clippy::too_many_arguments)]
    fn transition_agent_run(
        &self,
        tenant: &TenantId,
        id: &str,
        from: &[RunState],
        to: RunState,
        reason: Option<&str>,
        lease: Option<(&str, i64)>,
        now: i64,
    ) -> Result<AgentRun>;
    /// Runs to execute, leased to `holder` until `now + lease_ms`: queued ones, and
    /// running ones whose holder is in `dead_holders` or whose lease expired. Several
    /// servers claiming at once never get the same run.
    fn claim_agent_runs(
        &self,
        holder: &str,
        dead_holders: &[String],
        now: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<AgentRun>>;
    /// Extends the lease of a run `holder` still holds while it is `running`; `false`
    /// when it no longer does (cancelled, or taken over).
    fn renew_agent_run(
        &self,
        tenant: &TenantId,
        id: &str,
        holder: &str,
        until: i64,
    ) -> Result<bool>;
    /// The holders of running runs (to find dead ones).
    fn agent_run_holders(&self) -> Result<Vec<String>>;

    /// Appends a step (its `seq` is assigned); returns the seq.
    fn append_agent_step(&self, tenant: &TenantId, run: &str, step: &AgentStep) -> Result<i64>;
    /// Rewrites one step's status and payload.
    fn update_agent_step(
        &self,
        tenant: &TenantId,
        run: &str,
        seq: i64,
        status: &str,
        payload: &serde_json::Value,
        now: i64,
    ) -> Result<()>;
    /// The journal, in order.
    fn agent_steps(&self, tenant: &TenantId, run: &str) -> Result<Vec<AgentStep>>;
    /// Records a person's decision on the tool call at step `seq` (which must be
    /// `waiting_approval`, in a run that is `waiting_approval`): the step becomes
    /// `approved` or `denied` with `by` in its payload, and the run `queued`, in one
    /// transaction. `Conflict` otherwise.
    fn decide_agent_approval(
        &self,
        tenant: &TenantId,
        run: &str,
        seq: i64,
        approve: bool,
        by: &str,
        now: i64,
    ) -> Result<AgentRun>;
}
