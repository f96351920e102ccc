//! Cairn configuration, loaded in two steps.
//!
//! 1. [`RawConfig`]: serde structs mirroring the TOML file, `deny_unknown_fields`, every
//!    field defaulted. Environment variables override file values:
//!    `CAIRN_<SECTION>__<KEY>` (e.g. `CAIRN_INGEST__WORKERS=4`,
//!    `CAIRN_INGEST__QUALITY__MIN_CHARS=100`), plus `CAIRN_DATA_DIR` and `CAIRN_TENANT`
//!    for the top-level keys.
//! 2. [`Config`]: validated runtime values with paths resolved. Every validation error
//!    names the TOML key it is about, e.g. `ingest.workers: must be at least 1`.
//!
//! The documented defaults live in [`raw`] and are printed by `cairn config check`.

mod env;
mod raw;
mod raw_agents;
mod raw_lifecycle;
mod raw_models;
mod raw_openapi;
mod raw_security;
mod raw_serve;
mod registry;
mod tenant_models;
mod validate;

pub use raw::{
    ChunkingSection, IngestSection, ModelsSection, QualitySection, RawConfig, RedisSection,
    RetrievalSection, StoreSection,
};
pub use raw_agents::{
    AgentSpec, BUILTIN_TOOLS, McpServerSpec, PROTOCOLS, STRATEGIES, is_slug, mcp_tool_ref,
};
pub use raw_lifecycle::{RetentionPeriods, RetentionSection};
pub use raw_models::{CircuitBreakerSection, RemoteModelSection, RouteSection};
pub use raw_openapi::{OPENAPI_AUTH, OpenApiToolsSpec, openapi_tool_ref};
pub use raw_security::{AuthSection, LimitsSection};
pub use raw_serve::{AnswerSection, CacheSection, LoggingSection, ServerSection, TelemetrySection};
pub use registry::{ModelRef, Route, RouteStrategy};
pub use tenant_models::TenantRoles;
pub use validate::{
    Config, IngestSettings, MIN_PARSE_MEMORY_MB, ParseIsolation, QualitySettings, StoreBackend,
    redact_url_password,
};

use std::path::{Path, PathBuf};

/// A configuration problem, naming the key (or file) it is about.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

impl Error {
    /// The stable error code.
    pub fn code(&self) -> cairn_types::ErrorCode {
        cairn_types::ErrorCode::InvalidConfig
    }
}

/// Result with the config [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where the effective configuration came from.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub config: Config,
    /// The file read, if any.
    pub file: Option<PathBuf>,
    /// Environment variables that overrode a value.
    pub env_overrides: Vec<String>,
}

/// Loads configuration: the explicit `path`, else `$CAIRN_CONFIG`, else `./cairn.toml`
/// if it exists, else built-in defaults; then applies environment overrides from the
/// process environment and validates.
pub fn load(path: Option<&Path>) -> Result<Loaded> {
    let vars: Vec<(String, String)> = std::env::vars().collect();
    let explicit = path
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("CAIRN_CONFIG").map(PathBuf::from));
    let file = match explicit {
        Some(p) => Some(p),
        None => Some(PathBuf::from("cairn.toml")).filter(|p| p.is_file()),
    };
    let text = match &file {
        Some(p) => std::fs::read_to_string(p).map_err(|source| Error::Read {
            path: p.clone(),
            source,
        })?,
        None => String::new(),
    };
    let label = file
        .as_ref()
        .map_or_else(|| "<defaults>".to_owned(), |p| p.display().to_string());
    let (config, env_overrides) = load_from_str(&text, &label, &vars)?;
    Ok(Loaded {
        config,
        file,
        env_overrides,
    })
}

/// Parses `text` (TOML), applies overrides from `vars`, and validates. Returns the config
/// and the names of the variables that took effect.
pub fn load_from_str(
    text: &str,
    label: &str,
    vars: &[(String, String)],
) -> Result<(Config, Vec<String>)> {
    let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| Error::Parse {
        path: label.to_owned(),
        message: e.to_string(),
    })?;
    let applied = env::apply_overrides(&mut table, vars)?;
    let raw = RawConfig::from_table(table)?;
    Ok((raw.validate()?, applied))
}
