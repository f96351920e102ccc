//! API keys (random, shown once, stored hashed) and users.

use crate::engine::now_ms;
use crate::{Engine, Error, Result};
use cairn_auth::{Action, Role, apikey};
use cairn_types::{ApiKey, ErrorCode, TenantId, User};

/// What a new key may do.
#[derive(Clone, Debug, Default)]
pub struct KeySpec {
    pub name: String,
    /// Default `member`.
    pub role: Option<Role>,
    /// The user it acts as (must exist); `None`: a service key.
    pub user: Option<String>,
    /// Action names; empty = all the role allows.
    pub scopes: Vec<String>,
    pub expires_at: Option<i64>,
    pub rpm: Option<f64>,
    pub tpm: Option<f64>,
}

/// A created key: the stored row and the token, which is never shown again.
#[derive(Clone, Debug, serde::Serialize)]
pub struct NewKey {
    pub key: ApiKey,
    pub token: String,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::new(ErrorCode::InvalidInput, msg)
}

impl Engine {
    /// Creates a key in `tenant`. `creator` caps the role: nobody grants more than they
    /// hold (`None` is the operator, who may grant anything).
    pub fn create_key(
        &self,
        tenant: &TenantId,
        spec: &KeySpec,
        creator: Option<Role>,
    ) -> Result<NewKey> {
        self.ensure_tenant(tenant)?;
        let key = self.key_row(tenant, spec, creator, None)?;
        let (row, token) = key;
        self.store.insert_key(&row)?;
        Ok(NewKey { key: row, token })
    }

    /// Replaces a key by a new one with the same settings; the old one stops working.
    pub fn rotate_key(&self, tenant: &TenantId, id: &str, creator: Option<Role>) -> Result<NewKey> {
        let old = self.store.get_key(tenant, id)?;
        let spec = KeySpec {
            name: old.name.clone(),
            role: Role::parse(&old.role),
            user: old.user.clone(),
            scopes: old.scopes.clone(),
            expires_at: old.expires_at,
            rpm: old.rpm,
            tpm: old.tpm,
        };
        let (row, token) = self.key_row(tenant, &spec, creator, Some(old.id.clone()))?;
        self.store.rotate_key(tenant, id, &row, now_ms())?;
        Ok(NewKey { key: row, token })
    }

    fn key_row(
        &self,
        tenant: &TenantId,
        spec: &KeySpec,
        creator: Option<Role>,
        rotated_from: Option<String>,
    ) -> Result<(ApiKey, String)> {
        let name = spec.name.trim();
        if name.is_empty() || name.len() > 200 {
            return Err(bad("a key needs a name of 1-200 characters"));
        }
        let role = spec.role.unwrap_or(Role::Member);
        if let Some(c) = creator
            && role > c
        {
            return Err(Error::new(
                ErrorCode::Forbidden,
                format!("a `{}` cannot create a `{}` key", c.as_str(), role.as_str()),
            ));
        }
        for s in &spec.scopes {
            if Action::parse(s).is_none() {
                let known: Vec<&str> = Action::all().iter().map(|a| a.as_str()).collect();
                return Err(bad(format!(
                    "unknown scope `{s}` (known: {})",
                    known.join(", ")
                )));
            }
        }
        for (what, v) in [("rpm", spec.rpm), ("tpm", spec.tpm)] {
            if v.is_some_and(|v| !v.is_finite() || v < 0.0) {
                return Err(bad(format!("{what} must be a number >= 0")));
            }
        }
        let now = now_ms();
        if spec.expires_at.is_some_and(|e| e <= now) {
            return Err(bad("expires_at is in the past"));
        }
        if let Some(u) = &spec.user {
            self.store.get_user(tenant, u)?;
        }
        let generated = apikey::generate().map_err(|e| Error::new(e.code(), e.message()))?;
        let row = ApiKey {
            tenant: tenant.clone(),
            id: key_id(&generated.lookup),
            lookup: generated.lookup,
            hash: generated.hash,
            name: name.to_owned(),
            user: spec.user.clone(),
            role: role.as_str().to_owned(),
            scopes: spec.scopes.clone(),
            rpm: spec.rpm,
            tpm: spec.tpm,
            expires_at: spec.expires_at,
            revoked_at: None,
            rotated_from,
            last_used_at: None,
            created_at: now,
        };
        Ok((row, generated.token))
    }

    /// Adds or updates a user.
    pub fn put_user(
        &self,
        tenant: &TenantId,
        id: &str,
        role: Role,
        groups: Vec<String>,
        email: &str,
        name: &str,
    ) -> Result<User> {
        let id = id.trim();
        if id.is_empty() || id.len() > 200 || id.starts_with("key:") {
            return Err(bad(
                "a user id needs 1-200 characters and must not start with `key:`",
            ));
        }
        self.ensure_tenant(tenant)?;
        let now = now_ms();
        Ok(self.store.upsert_user(&User {
            tenant: tenant.clone(),
            id: id.to_owned(),
            email: email.to_owned(),
            name: name.to_owned(),
            role: role.as_str().to_owned(),
            groups,
            disabled: false,
            created_at: now,
            updated_at: now,
        })?)
    }
}

/// Key ids are `k_` + the lookup part: public, stable, and unguessable enough not to
/// matter (knowing one gives nothing without the secret).
fn key_id(lookup: &str) -> String {
    format!("k_{lookup}")
}
