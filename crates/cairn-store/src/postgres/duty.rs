//! Singleton duties on PostgreSQL: a session-level advisory lock (key space 3, the
//! duty's name hashed), tried without waiting on a connection held for the duty's whole
//! run and unlocked after it. The work itself uses other pooled connections.

use super::{PostgresStore, db, off_runtime};
use crate::Result;
use crate::duty::DutyRepo;

impl DutyRepo for PostgresStore {
    fn run_exclusive(&self, name: &str, work: &mut dyn FnMut()) -> Result<bool> {
        let mut client = off_runtime(|| self.pool.take())?;
        let taken = off_runtime(|| {
            client
                .query_one("SELECT pg_try_advisory_lock(3, hashtext($1))", &[&name])
                .map(|row| row.get::<_, bool>(0))
        });
        let ran = match taken {
            Ok(true) => {
                work();
                off_runtime(|| {
                    client.execute("SELECT pg_advisory_unlock(3, hashtext($1))", &[&name])
                })
                .map(|_| true)
            }
            Ok(false) => Ok(false),
            Err(e) => Err(e),
        };
        // A connection that failed is closed (which also ends its lock), never reused;
        // either way it leaves this thread off the runtime.
        if ran.is_ok() {
            self.pool.give_back(client);
        } else {
            off_runtime(move || drop(client));
        }
        ran.map_err(db)
    }
}
