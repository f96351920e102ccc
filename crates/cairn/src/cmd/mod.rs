//! One module per subcommand, plus the shared [`Context`].

pub mod agent;
pub mod ask;
pub mod audit;
pub mod backup;
pub mod bench;
pub mod bench_cache;
pub mod bench_gateway;
pub mod bench_guard;
pub mod bench_index;
pub mod bench_parse;
pub mod bench_pgvector;
pub mod bench_trace;
pub mod chat;
pub mod collections;
pub mod config;
pub mod dataset;
pub mod docs;
pub mod embed;
pub mod eval;
pub mod eval_answers;
pub mod eval_drift;
pub mod eval_gate;
pub mod eval_grounding;
pub mod eval_runs;
pub mod eval_synth;
pub mod generate;
pub mod ingest;
pub mod jobs;
pub mod keys;
pub mod migrate;
pub mod migrate_sqlite;
pub mod models;
pub mod parse_worker;
pub mod search;
pub mod secrets;
pub mod serve;
pub mod tenants;
pub mod traces;
pub mod usage;
pub mod users;
pub mod worker;

use anyhow::Context as _;
use cairn_config::Loaded;
use cairn_engine::Engine;
use cairn_types::TenantId;

/// What every command needs: the loaded config, the tenant, the output mode.
pub struct Context {
    pub loaded: Loaded,
    pub tenant: TenantId,
    pub json: bool,
}

impl Context {
    /// Over the configuration `main` read (or why it could not).
    pub fn new(
        loaded: cairn_config::Result<Loaded>,
        tenant: Option<&str>,
        json: bool,
    ) -> anyhow::Result<Self> {
        let loaded = loaded.context("invalid configuration")?;
        let tenant = tenant.map_or_else(|| loaded.config.tenant.clone(), TenantId::new);
        cairn_types::validate_slug(tenant.as_str())
            .map_err(anyhow::Error::msg)
            .context("--tenant")?;
        Ok(Self {
            loaded,
            tenant,
            json,
        })
    }

    /// Opens the engine (store created on first use).
    pub fn engine(&self) -> anyhow::Result<Engine> {
        Engine::open(self.loaded.config.clone())
            .map_err(|e| anyhow::anyhow!("[{}] {}", e.code, e.message))
    }

    /// Prints a value as pretty JSON.
    pub fn print_json<T: serde::Serialize>(&self, value: &T) -> anyhow::Result<()> {
        outln!("{}", serde_json::to_string_pretty(value)?);
        Ok(())
    }
}

/// Formats an engine or store error with its stable code.
pub fn fail(code: cairn_types::ErrorCode, message: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("[{code}] {message}")
}

/// Converts engine errors for `?`.
pub fn eng(e: cairn_engine::Error) -> anyhow::Error {
    fail(e.code, e.message)
}

/// Converts store errors for `?`.
pub fn st(e: cairn_store::Error) -> anyhow::Error {
    fail(e.code(), e)
}

/// Formats Unix milliseconds as `YYYY-MM-DD HH:MM:SS` UTC.
pub fn time(ms: i64) -> String {
    let (y, m, d) = cairn_types::civil_from_ms(ms);
    let rem = ms.div_euclid(1000).rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_utc_times() {
        assert_eq!(super::time(0), "1970-01-01 00:00:00");
        assert_eq!(super::time(1_795_392_000_000), "2026-11-23 00:00:00");
    }
}
