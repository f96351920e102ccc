//! JWT verification settings, as they appear in configuration.

use std::collections::BTreeMap;
use std::path::PathBuf;

use jsonwebtoken::Algorithm;
use serde::{Deserialize, Serialize};

use crate::{AuthError, Result, Role};

/// Default claim holding the tenant.
pub const DEFAULT_TENANT_CLAIM: &str = "tenant";
/// Default claim holding the user id.
pub const DEFAULT_USER_CLAIM: &str = "sub";
/// Default claim holding the groups.
pub const DEFAULT_GROUPS_CLAIM: &str = "groups";
/// Default claim holding the role.
pub const DEFAULT_ROLE_CLAIM: &str = "role";
/// Default clock-skew allowance for `exp` and `nbf`.
pub const DEFAULT_LEEWAY_SECS: u64 = 60;
/// Default minimum time between JWKS refetches.
pub const DEFAULT_JWKS_REFRESH_SECS: u64 = 300;

/// How bearer JWTs are verified and mapped onto a Cairn identity.
///
/// Exactly one of `jwks_file` and `jwks_url` must be set, and `issuer` and `audience`
/// must not be empty. Empty claim names mean the defaults; see
/// [`JwtSettings::with_defaults`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct JwtSettings {
    /// A JWKS document on disk.
    pub jwks_file: Option<PathBuf>,
    /// A JWKS URL (`https://`, or `http://` to a loopback address only).
    pub jwks_url: Option<String>,
    /// The exact `iss` tokens must carry.
    pub issuer: String,
    /// A value `aud` must contain.
    pub audience: String,
    /// Accepted algorithms, a subset of `["RS256", "ES256"]`; empty means both.
    pub algorithms: Vec<String>,
    /// Claim with the tenant; a dotted path (`org.id`) walks into objects.
    pub tenant_claim: String,
    /// Claim with the user id.
    pub user_claim: String,
    /// Claim with the groups: an array of strings, or one space/comma-separated string.
    pub groups_claim: String,
    /// Claim with the role: a string or an array (the highest known role wins).
    pub role_claim: String,
    /// Roles granted by group membership (`{"cairn-admins" = "admin"}`): the caller's
    /// role is the highest of the role claim's and its groups' mapped roles.
    pub group_roles: BTreeMap<String, Role>,
    /// Role for tokens without a (known) role; `None` means member.
    pub default_role: Option<Role>,
    /// Tenant for tokens without a tenant claim; `None` rejects such tokens.
    pub default_tenant: Option<String>,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
    /// Minimum seconds between JWKS reloads triggered by unknown key ids; 0 means the
    /// default (300).
    pub jwks_refresh_secs: u64,
}

impl Default for JwtSettings {
    fn default() -> Self {
        JwtSettings {
            jwks_file: None,
            jwks_url: None,
            issuer: String::new(),
            audience: String::new(),
            algorithms: Vec::new(),
            tenant_claim: DEFAULT_TENANT_CLAIM.into(),
            user_claim: DEFAULT_USER_CLAIM.into(),
            groups_claim: DEFAULT_GROUPS_CLAIM.into(),
            role_claim: DEFAULT_ROLE_CLAIM.into(),
            group_roles: BTreeMap::new(),
            default_role: None,
            default_tenant: None,
            leeway_secs: DEFAULT_LEEWAY_SECS,
            jwks_refresh_secs: DEFAULT_JWKS_REFRESH_SECS,
        }
    }
}

fn fill(value: &mut String, default: &str) {
    if value.trim().is_empty() {
        *value = default.to_owned();
    } else {
        *value = value.trim().to_owned();
    }
}

impl JwtSettings {
    /// Fills empty claim names and a zero refresh interval with the defaults, and
    /// blank optional strings with `None`. (`leeway_secs = 0` is kept: no leeway.)
    pub fn with_defaults(mut self) -> Self {
        fill(&mut self.tenant_claim, DEFAULT_TENANT_CLAIM);
        fill(&mut self.user_claim, DEFAULT_USER_CLAIM);
        fill(&mut self.groups_claim, DEFAULT_GROUPS_CLAIM);
        fill(&mut self.role_claim, DEFAULT_ROLE_CLAIM);
        if self.jwks_refresh_secs == 0 {
            self.jwks_refresh_secs = DEFAULT_JWKS_REFRESH_SECS;
        }
        self.jwks_url = self
            .jwks_url
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty());
        self.jwks_file = self.jwks_file.filter(|p| !p.as_os_str().is_empty());
        self.default_tenant = self
            .default_tenant
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty());
        self
    }

    /// The accepted algorithms. Only RS256 and ES256 are supported: HMAC would need a
    /// shared secret, and `none` is never acceptable.
    pub(crate) fn parse_algorithms(&self) -> Result<Vec<Algorithm>> {
        if self.algorithms.is_empty() {
            return Ok(vec![Algorithm::RS256, Algorithm::ES256]);
        }
        let mut out = Vec::new();
        for name in &self.algorithms {
            let alg = match name.trim().to_ascii_uppercase().as_str() {
                "RS256" => Algorithm::RS256,
                "ES256" => Algorithm::ES256,
                other => {
                    return Err(AuthError::config(format!(
                        "jwt algorithm `{other}` is not supported: use RS256 and/or ES256"
                    )));
                }
            };
            if !out.contains(&alg) {
                out.push(alg);
            }
        }
        Ok(out)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.issuer.trim().is_empty() {
            return Err(AuthError::config("jwt issuer must be set"));
        }
        if self.audience.trim().is_empty() {
            return Err(AuthError::config("jwt audience must be set"));
        }
        match (&self.jwks_file, &self.jwks_url) {
            (None, None) => Err(AuthError::config(
                "jwt needs a key set: set jwks_file or jwks_url",
            )),
            (Some(_), Some(_)) => Err(AuthError::config(
                "jwt jwks_file and jwks_url are both set: choose one",
            )),
            _ => Ok(()),
        }
    }
}
