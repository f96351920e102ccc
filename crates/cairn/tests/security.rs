//! Security against a real `cairn serve` process: an adversarial isolation suite that
//! tries to read across tenants and ACLs through every endpoint (ids guessed and
//! borrowed included), rate limits and quotas under concurrent load, the audit log's
//! tamper detection (`cairn audit verify`), and GDPR erasure proven against the
//! database itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

#[path = "security/attachments.rs"]
mod attachments;
#[path = "security/audit.rs"]
mod audit;
#[path = "security/coverage.rs"]
mod coverage;
#[path = "security/cross_tenant.rs"]
mod cross_tenant;
#[path = "security/eval_runs.rs"]
mod eval_runs;
#[path = "security/gdpr.rs"]
mod gdpr;
#[path = "security/isolation.rs"]
mod isolation;
#[path = "security/limits.rs"]
mod limits;
#[path = "security/matrix.rs"]
mod matrix;
#[path = "security/sso.rs"]
mod sso;
#[path = "security/web_sessions.rs"]
mod web_sessions;
#[path = "security/world.rs"]
mod world;
