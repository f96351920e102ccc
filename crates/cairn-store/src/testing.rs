//! Test support shared by the crates whose tests run on the PostgreSQL backend: a fresh,
//! migrated database per call on the server `CAIRN_TEST_PG_URL` names (scripts/test.sh
//! starts one with scripts/postgres.sh). Not for production use.

use crate::PostgresStore;
use std::sync::atomic::{AtomicU64, Ordering};

/// The variable naming the PostgreSQL server the tests use.
pub const PG_URL_VAR: &str = "CAIRN_TEST_PG_URL";

/// Creates an empty database on the test server, migrates it, and returns its URL; an
/// error says how to get a server when none is configured or it cannot be reached.
pub fn fresh_postgres_database() -> Result<String, String> {
    let admin = std::env::var(PG_URL_VAR).map_err(|_| {
        format!(
            "{PG_URL_VAR} is not set: the PostgreSQL tests need a server. Run the suite with \
             scripts/test.sh, or start one with `export {PG_URL_VAR}=$(scripts/postgres.sh \
             start | tail -n 1)`"
        )
    })?;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "cairn_test_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    );
    let url = crate::postgres::create_database(&admin, &name)
        .map_err(|e| format!("cannot create a test database on {admin} ({PG_URL_VAR}): {e}"))?;
    PostgresStore::migrate(&url).map_err(|e| format!("cannot migrate {url}: {e}"))?;
    Ok(url)
}
