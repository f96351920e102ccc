//! `[auth.oidc]`: single sign-on through an OpenID Connect provider.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::jwt::{
    DEFAULT_GROUPS_CLAIM, DEFAULT_LEEWAY_SECS, DEFAULT_ROLE_CLAIM, DEFAULT_TENANT_CLAIM,
    DEFAULT_USER_CLAIM, JwtSettings,
};
use crate::{AuthError, Result, Role};

/// Default lifetime of a web session: a working day.
pub const DEFAULT_SESSION_TTL_SECS: u64 = 8 * 3600;

/// How the web UI signs people in with the organization's identity provider
/// (authorization code flow with PKCE). Enabled when `issuer` is set.
///
/// The ID token's claims map onto a Cairn identity exactly as `[auth.jwt]` maps a
/// bearer token's (tenant, user, groups, role, `group_roles`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OidcSettings {
    /// The provider's issuer URL; its discovery document is
    /// `<issuer>/.well-known/openid-configuration` and must name the same issuer.
    pub issuer: String,
    /// This application's client id at the provider (the ID token's audience).
    pub client_id: String,
    /// Name of the environment variable holding the client secret, for confidential
    /// clients; empty for a public client (PKCE alone).
    pub client_secret_env: String,
    /// The callback URL registered at the provider
    /// (`https://cairn.example.com/api/v1/auth/oidc/callback`). Empty: derived from
    /// the request's `Host` (`http://` for loopback hosts, `https://` otherwise).
    pub redirect_url: String,
    /// Scopes asked for; `openid` is always included.
    pub scopes: Vec<String>,
    /// What the sign-in button calls the provider ("Sign in with …").
    pub display_name: String,
    /// How long a web session lasts, in seconds.
    pub session_ttl_secs: u64,
    /// Claim with the tenant (dotted paths walk into objects).
    pub tenant_claim: String,
    /// Claim with the user id.
    pub user_claim: String,
    /// Claim with the groups (ACL groups, and roles through `group_roles`).
    pub groups_claim: String,
    /// Claim with the role.
    pub role_claim: String,
    /// Roles granted by group membership; the highest role found wins.
    pub group_roles: BTreeMap<String, Role>,
    /// Role when neither the role claim nor a group names one; `None` means member.
    pub default_role: Option<Role>,
    /// Tenant for ID tokens without a tenant claim; `None` refuses them.
    pub default_tenant: Option<String>,
    /// Clock skew allowed on the ID token's `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
}

impl Default for OidcSettings {
    fn default() -> Self {
        OidcSettings {
            issuer: String::new(),
            client_id: String::new(),
            client_secret_env: String::new(),
            redirect_url: String::new(),
            scopes: ["openid", "profile", "email"].map(String::from).to_vec(),
            display_name: "SSO".into(),
            session_ttl_secs: DEFAULT_SESSION_TTL_SECS,
            tenant_claim: DEFAULT_TENANT_CLAIM.into(),
            user_claim: DEFAULT_USER_CLAIM.into(),
            groups_claim: DEFAULT_GROUPS_CLAIM.into(),
            role_claim: DEFAULT_ROLE_CLAIM.into(),
            group_roles: BTreeMap::new(),
            default_role: None,
            default_tenant: None,
            leeway_secs: DEFAULT_LEEWAY_SECS,
        }
    }
}

impl OidcSettings {
    /// Whether single sign-on is configured at all.
    pub fn enabled(&self) -> bool {
        !self.issuer.trim().is_empty()
    }

    /// The scopes to ask for, `openid` first and each once.
    pub fn scope(&self) -> String {
        let mut out = vec!["openid".to_owned()];
        for s in self.scopes.iter().flat_map(|s| s.split_whitespace()) {
            if !out.iter().any(|o| o == s) {
                out.push(s.to_owned());
            }
        }
        out.join(" ")
    }

    /// Checks what can be checked without the provider.
    pub fn validate(&self) -> Result<()> {
        let issuer = self.issuer.trim();
        crate::jwt::check_url("auth.oidc.issuer", issuer)?;
        if self.client_id.trim().is_empty() {
            return Err(AuthError::config("auth.oidc.client_id must be set"));
        }
        if !self.redirect_url.trim().is_empty() {
            let url = self.redirect_url.trim();
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(AuthError::config(format!(
                    "auth.oidc.redirect_url `{url}` must be an http(s) URL"
                )));
            }
        }
        if self.session_ttl_secs < 60 {
            return Err(AuthError::config(
                "auth.oidc.session_ttl_secs must be at least 60",
            ));
        }
        Ok(())
    }

    /// The ID-token verifier's settings: the discovered issuer and key set, this
    /// client as the audience, and this section's claim mapping.
    pub fn jwt_settings(&self, issuer: &str, jwks_uri: &str) -> JwtSettings {
        JwtSettings {
            jwks_file: None,
            jwks_url: Some(jwks_uri.to_owned()),
            issuer: issuer.to_owned(),
            audience: self.client_id.trim().to_owned(),
            algorithms: Vec::new(),
            tenant_claim: self.tenant_claim.clone(),
            user_claim: self.user_claim.clone(),
            groups_claim: self.groups_claim.clone(),
            role_claim: self.role_claim.clone(),
            group_roles: self.group_roles.clone(),
            default_role: self.default_role,
            default_tenant: self.default_tenant.clone(),
            leeway_secs: self.leeway_secs,
            jwks_refresh_secs: 0,
        }
        .with_defaults()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn valid() -> OidcSettings {
        OidcSettings {
            issuer: "https://idp.example.com".into(),
            client_id: "cairn".into(),
            ..OidcSettings::default()
        }
    }

    #[test]
    fn openid_is_always_asked_for_once() {
        let mut s = valid();
        assert_eq!(s.scope(), "openid profile email");
        s.scopes = vec!["groups email".into(), "openid".into()];
        assert_eq!(s.scope(), "openid groups email");
    }

    #[test]
    fn unusable_settings_are_refused_with_the_key() {
        assert!(valid().validate().is_ok());
        let mut s = valid();
        s.issuer = "http://idp.example.com".into();
        assert!(
            s.validate()
                .unwrap_err()
                .message()
                .contains("auth.oidc.issuer")
        );
        let mut s = valid();
        s.client_id = " ".into();
        assert!(s.validate().unwrap_err().message().contains("client_id"));
        let mut s = valid();
        s.redirect_url = "javascript:alert(1)".into();
        assert!(s.validate().unwrap_err().message().contains("redirect_url"));
        let mut s = valid();
        s.session_ttl_secs = 5;
        assert!(
            s.validate()
                .unwrap_err()
                .message()
                .contains("session_ttl_secs")
        );
        assert!(!OidcSettings::default().enabled());
    }
}
