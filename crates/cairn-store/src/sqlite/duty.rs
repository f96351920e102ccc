//! Singleton duties on SQLite: one host, one database file; every duty runs.

use super::SqliteStore;
use crate::Result;
use crate::duty::DutyRepo;

impl DutyRepo for SqliteStore {
    fn run_exclusive(&self, _name: &str, work: &mut dyn FnMut()) -> Result<bool> {
        work();
        Ok(true)
    }
}
