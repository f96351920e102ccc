//! The native API under `/api/v1`.

pub mod agents;
pub mod answers;
pub mod assistants;
pub mod attachments;
pub mod eval_runs;
pub mod identity;
pub mod library;
pub mod models;
mod spool;
pub mod sso;
pub mod tenant;
pub mod tool_sources;
pub mod traces;
