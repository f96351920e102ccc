//! Singleton duties: periodic work (the retention sweep, log pruning) that every server
//! process schedules but only one may run at a time across the deployment. SQLite serves
//! one host, whose processes already serialize writes on the file, so there a duty always
//! runs; on PostgreSQL a duty runs under a session-level advisory lock, taken without
//! waiting: the node that gets it runs the duty, the others skip this round. A node that
//! dies while running one releases the lock with its connection.

use crate::Result;

/// Runs work under a deployment-wide "one at a time" lock.
pub trait DutyRepo {
    /// Runs `work` unless another process is running duty `name` right now; `Ok(true)`
    /// when it ran, `Ok(false)` when it was skipped because another holds the duty.
    fn run_exclusive(&self, name: &str, work: &mut dyn FnMut()) -> Result<bool>;
}
