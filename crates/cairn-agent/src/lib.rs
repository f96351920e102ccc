//! Cairn agents: multi-step work with tools, inside the same binary, tenancy, ACLs,
//! guardrails, limits and audit log as everything else.
//!
//! - [`AgentSpec`](cairn_config::AgentSpec) defines an agent (in `[[agents]]` or saved
//!   per tenant through the API: [`registry`]).
//! - [`Runtime`] runs it. A run is a row and a journal of steps in the store
//!   ([`cairn_store::AgentRepo`]); the runtime is a state machine over that journal, so
//!   a run survives a restart: whichever executor next holds its lease ([`executor`])
//!   rebuilds it from the steps and goes on. A tool call is journaled `started` before
//!   it runs and `done` after: a call found `started` on resume is not made again when
//!   it has side effects (its outcome is reported as unknown).
//! - Strategies: ReAct (the model proposes one tool call per turn, or a final answer)
//!   and plan-and-execute ([`plan`]: a plan first, each step worked with tools, re-planned
//!   on failure, then a synthesis).
//! - Protocols ([`protocol`]): native tool calls (constrained JSON on local models, the
//!   provider's `tools` on remote ones) or the ReAct text protocol as a fallback.
//! - Tools ([`tools`]): `search`, `ask`, `get_document` (the caller's ACLs), `calculator`
//!   (an expression evaluator, no code), `sql` (read-only SQLite in memory over the
//!   caller's CSV/JSON documents, time-limited), `http_get` (allow-listed hosts, no
//!   private addresses, checked on every resolution and redirect), `memory_search` /
//!   `memory_write` (a long-term memory per agent and user), and other agents
//!   (`agent:<name>`, sharing the run's limits); beyond them, the tools of MCP servers
//!   and OpenAPI documents ([`sources`]: configured, or a tenant's own). Arguments are validated against the
//!   tool's JSON Schema before a call, outputs are screened for indirect prompt injection
//!   before the model sees them, each tool has a least role, and every call is audited.
//! - Limits ([`budget`]): steps, tool calls, tokens, cost, wall time, and a loop detector;
//!   a run that hits one ends `limit_reached` with its reason and what it had so far.

pub mod budget;
pub mod caller;
pub mod event;
mod exec;
pub mod executor;
mod models;
pub mod plan;
pub mod protocol;
pub mod registry;
mod run;
pub mod sources;
pub mod tools;
mod trace;

pub use budget::{Budget, Usage};
pub use caller::Caller;
pub use event::AgentEvent;
pub use exec::HistoryTurn;
pub use models::{EngineModels, ModelHandle, ModelSource};
pub use run::{Runtime, StartRequest};

/// Agent errors are the engine's: a stable code and a message.
pub use cairn_engine::{Error, Result};
