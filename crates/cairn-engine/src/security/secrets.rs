//! Secrets at rest (remote model providers' API keys): sealed with AES-256-GCM under the
//! master key from `CAIRN_MASTER_KEY` or `auth.master_key_file`
//! (default `<data_dir>/master.key`). The store only ever sees ciphertext; the tenant
//! and the secret's name are the associated data, so a sealed value copied to another
//! row or tenant does not open.
//!
//! Every stored secret names the key that sealed it (its key id). New secrets are sealed
//! under the master key; a stored one is opened with whichever available key has its id:
//! the master key, a rotation's staged key (`<key file>.new`), the previous key
//! (`<key file>.old`) or `CAIRN_MASTER_KEY_OLD`. So nodes that already hold both keys
//! read every secret before, during and after a rotation (`key_rotation.rs`). Key files
//! are read on each use: a key installed on disk takes effect without a restart.

use crate::engine::now_ms;
use crate::{Engine, Error, Result};
use cairn_auth::SecretBox;
use cairn_config::Config;
use cairn_types::{ErrorCode, TenantId};
use std::path::{Path, PathBuf};

/// The environment variable holding the master key.
pub const MASTER_KEY_ENV: &str = "CAIRN_MASTER_KEY";
/// The environment variable holding the previous master key while secrets are moved to
/// a new one (read only to open secrets, never to seal).
pub const OLD_MASTER_KEY_ENV: &str = "CAIRN_MASTER_KEY_OLD";

/// The master key file: `auth.master_key_file`, else `<data_dir>/master.key` (which may
/// not exist).
pub fn master_key_path(config: &Config) -> PathBuf {
    if config.auth.master_key_file.is_empty() {
        config.data_dir.join("master.key")
    } else {
        PathBuf::from(&config.auth.master_key_file)
    }
}

/// `path` with `.suffix` added to its file name (`master.key` → `master.key.old`).
pub fn key_file_beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(suffix);
    path.with_file_name(name)
}

/// Whether the master key comes from `CAIRN_MASTER_KEY` (which wins over any file).
pub fn master_key_from_env() -> bool {
    std::env::var(MASTER_KEY_ENV).is_ok_and(|v| !v.trim().is_empty())
}

/// Loads the master key, if one is configured.
pub fn master_key(config: &Config) -> Result<Option<SecretBox>> {
    let path = master_key_path(config);
    let file = (!config.auth.master_key_file.is_empty() || path.exists()).then_some(path);
    SecretBox::from_env_or_file(MASTER_KEY_ENV, file.as_deref()).map_err(config_error)
}

fn config_error(e: cairn_auth::AuthError) -> Error {
    Error::new(ErrorCode::InvalidConfig, e.message())
}

/// A key from a file, if the file exists.
pub(crate) fn key_in_file(path: &Path) -> Result<Option<SecretBox>> {
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::new(
            ErrorCode::InvalidConfig,
            format!("cannot read key file {}: {e}", path.display()),
        )
    })?;
    SecretBox::from_key_text(&text).map(Some).map_err(|e| {
        Error::new(
            ErrorCode::InvalidConfig,
            format!("{}: {}", path.display(), e.message()),
        )
    })
}

/// `CAIRN_MASTER_KEY_OLD`, if set.
pub(crate) fn old_key_from_env() -> Result<Option<SecretBox>> {
    match std::env::var(OLD_MASTER_KEY_ENV) {
        Ok(text) if !text.trim().is_empty() => {
            SecretBox::from_key_text(&text).map(Some).map_err(|e| {
                Error::new(
                    ErrorCode::InvalidConfig,
                    format!("{OLD_MASTER_KEY_ENV}: {}", e.message()),
                )
            })
        }
        _ => Ok(None),
    }
}

/// The keys besides the master key that may open a stored secret: the staged key of a
/// rotation in progress, the previous key file, `CAIRN_MASTER_KEY_OLD`. An unreadable
/// one is reported in `problems` and skipped.
pub(crate) fn other_keys(config: &Config, problems: &mut Vec<String>) -> Vec<SecretBox> {
    let path = master_key_path(config);
    let mut keys = Vec::new();
    for found in [
        key_in_file(&key_file_beside(&path, "new")),
        key_in_file(&key_file_beside(&path, "old")),
        old_key_from_env(),
    ] {
        match found {
            Ok(Some(k)) => keys.push(k),
            Ok(None) => {}
            Err(e) => problems.push(e.message),
        }
    }
    keys
}

pub(crate) fn aad(tenant: &TenantId, name: &str) -> Vec<u8> {
    format!("cairn-secret\u{1f}{tenant}\u{1f}{name}").into_bytes()
}

fn sealer(config: &Config) -> Result<SecretBox> {
    master_key(config)?.ok_or_else(|| {
        Error::new(
            ErrorCode::InvalidConfig,
            format!(
                "no master key: set {MASTER_KEY_ENV} or auth.master_key_file \
                 (create one with `cairn secrets init-key`)"
            ),
        )
    })
}

/// The available key with id `key_id`, for opening secret `name`.
fn opener(config: &Config, key_id: &str, name: &str) -> Result<SecretBox> {
    let master = sealer(config)?;
    if master.key_id() == key_id {
        return Ok(master);
    }
    let mut problems = Vec::new();
    let others = other_keys(config, &mut problems);
    if let Some(k) = others.into_iter().find(|k| k.key_id() == key_id) {
        return Ok(k);
    }
    let mut message = format!(
        "secret `{name}` was sealed under master key {key_id}, not the configured {} \
         (nor a {OLD_MASTER_KEY_ENV} or a master.key.old/.new beside the key file): \
         install the key it was sealed under, or finish the key rotation \
         (`cairn secrets rotate-key`)",
        master.key_id()
    );
    for p in problems {
        message.push_str("; ");
        message.push_str(&p);
    }
    Err(Error::new(ErrorCode::InvalidConfig, message))
}

impl Engine {
    /// Seals and stores a secret (replacing one of the same name).
    pub fn put_secret(&self, tenant: &TenantId, name: &str, value: &str) -> Result<()> {
        if name.is_empty()
            || name.len() > 128
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(Error::new(
                ErrorCode::InvalidInput,
                "a secret name needs 1-128 characters of letters, digits, `-`, `_`, `.`",
            ));
        }
        let sb = sealer(&self.config)?;
        let sealed = sb
            .try_seal(value.as_bytes(), &aad(tenant, name))
            .map_err(|e| Error::new(e.code(), e.message()))?;
        self.ensure_tenant(tenant)?;
        Ok(self
            .store
            .put_secret(tenant, name, &sealed, &sb.key_id(), now_ms())?)
    }

    /// Opens a stored secret (for the server's own use: remote provider calls), with
    /// whichever available key sealed it.
    pub fn secret(&self, tenant: &TenantId, name: &str) -> Result<String> {
        let (sealed, key_id) = self
            .store
            .get_secret(tenant, name)?
            .ok_or_else(|| Error::new(ErrorCode::NotFound, format!("secret `{name}` not found")))?;
        let sb = opener(&self.config, &key_id, name)?;
        let plain = sb
            .open(&sealed, &aad(tenant, name))
            .map_err(|e| Error::new(e.code(), e.message()))?;
        String::from_utf8(plain)
            .map_err(|_| Error::new(ErrorCode::Internal, "a sealed secret is not UTF-8"))
    }
}
