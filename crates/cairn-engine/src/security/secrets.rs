//! Secrets at rest (remote model providers' API keys): sealed with AES-256-GCM under the
//! master key from `CAIRN_MASTER_KEY` or `auth.master_key_file`
//! (default `<data_dir>/master.key`). The store only ever sees ciphertext; the tenant
//! and the secret's name are the associated data, so a sealed value copied to another
//! row or tenant does not open.

use crate::engine::now_ms;
use crate::{Engine, Error, Result};
use cairn_auth::SecretBox;
use cairn_config::Config;
use cairn_types::{ErrorCode, TenantId};

/// The environment variable holding the master key.
pub const MASTER_KEY_ENV: &str = "CAIRN_MASTER_KEY";

/// Loads the master key, if one is configured.
pub fn master_key(config: &Config) -> Result<Option<SecretBox>> {
    let file = if config.auth.master_key_file.is_empty() {
        let p = config.data_dir.join("master.key");
        p.exists().then_some(p)
    } else {
        Some(config.auth.master_key_file.clone().into())
    };
    SecretBox::from_env_or_file(MASTER_KEY_ENV, file.as_deref())
        .map_err(|e| Error::new(ErrorCode::InvalidConfig, e.message()))
}

fn aad(tenant: &TenantId, name: &str) -> Vec<u8> {
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

    /// Opens a stored secret (for the server's own use: remote provider calls).
    pub fn secret(&self, tenant: &TenantId, name: &str) -> Result<String> {
        let (sealed, key_id) = self
            .store
            .get_secret(tenant, name)?
            .ok_or_else(|| Error::new(ErrorCode::NotFound, format!("secret `{name}` not found")))?;
        let sb = sealer(&self.config)?;
        if sb.key_id() != key_id {
            return Err(Error::new(
                ErrorCode::InvalidConfig,
                format!(
                    "secret `{name}` was sealed under master key {key_id}, not the configured {}",
                    sb.key_id()
                ),
            ));
        }
        let plain = sb
            .open(&sealed, &aad(tenant, name))
            .map_err(|e| Error::new(e.code(), e.message()))?;
        String::from_utf8(plain)
            .map_err(|_| Error::new(ErrorCode::Internal, "a sealed secret is not UTF-8"))
    }
}
