//! Single sign-on: the OpenID Connect authorization code flow with PKCE (RFC 7636).
//!
//! [`OidcClient::begin`] makes a login: a random `state` (ties the callback to this
//! browser's login), a PKCE `code_verifier` (its S256 challenge goes to the provider,
//! the verifier itself only to the token endpoint) and a `nonce` (must come back inside
//! the ID token). The caller keeps all three server-side and sends the browser to the
//! returned URL. [`OidcClient::finish`] trades the code the provider sent back for
//! tokens and verifies the ID token (signature against the provider's JWKS, issuer,
//! this client as audience, expiry, nonce) into a [`TokenIdentity`].
//!
//! The provider's discovery document is fetched on first use and kept; a failed fetch
//! is retried on the next login. Its issuer must equal the configured one exactly, and
//! every endpoint must be `https://` (plain `http://` only on loopback). The HTTP calls
//! block; async callers run them on a blocking thread.

mod settings;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};

pub use settings::{DEFAULT_SESSION_TTL_SECS, OidcSettings};

use crate::{AuthError, JwtVerifier, Result, TokenIdentity};

/// Timeout of each call to the provider.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest discovery document or token response read.
const MAX_PROVIDER_BYTES: u64 = 256 * 1024;

/// The endpoints the flow needs, from the discovery document.
#[derive(Clone, Debug, Deserialize)]
pub struct ProviderMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
    #[serde(default)]
    pub code_challenge_methods_supported: Option<Vec<String>>,
}

struct Discovered {
    metadata: ProviderMetadata,
    verifier: JwtVerifier,
}

/// A login in progress: the URL to send the browser to and the three secrets the
/// callback needs back. Keep them server-side, keyed by `state`.
#[derive(Clone)]
pub struct LoginStart {
    pub authorize_url: String,
    pub state: String,
    pub code_verifier: String,
    pub nonce: String,
}

impl std::fmt::Debug for LoginStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginStart")
            .field("authorize_url", &self.authorize_url)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    id_token: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// 32 random bytes from the OS-seeded generator, base64url without padding.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The PKCE S256 challenge of `verifier`.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A relying party of one OpenID provider. `Send + Sync`; share one per server.
pub struct OidcClient {
    settings: OidcSettings,
    secret: Option<String>,
    agent: ureq::Agent,
    discovered: Mutex<Option<Arc<Discovered>>>,
}

impl std::fmt::Debug for OidcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcClient")
            .field("issuer", &self.settings.issuer)
            .field("client_id", &self.settings.client_id)
            .finish_non_exhaustive()
    }
}

fn provider_error(what: &str, e: impl std::fmt::Display) -> AuthError {
    AuthError::Provider(format!("{what}: {e}"))
}

impl OidcClient {
    /// Checks the settings and reads the client secret's variable; contacts nobody.
    pub fn new(settings: OidcSettings) -> Result<Self> {
        settings.validate()?;
        let secret = match settings.client_secret_env.trim() {
            "" => None,
            var => Some(std::env::var(var).map_err(|_| {
                AuthError::config(format!(
                    "auth.oidc.client_secret_env names `{var}`, which is not set"
                ))
            })?),
        };
        let https = settings.issuer.trim().starts_with("https://");
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(PROVIDER_TIMEOUT))
            .http_status_as_error(false)
            .https_only(https)
            .max_redirects(0)
            .build()
            .into();
        Ok(OidcClient {
            settings,
            secret,
            agent,
            discovered: Mutex::new(None),
        })
    }

    /// The settings in effect.
    pub fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    fn get_json<T: serde::de::DeserializeOwned>(&self, what: &str, url: &str) -> Result<T> {
        let mut response = self
            .agent
            .get(url)
            .header("Accept", "application/json")
            .call()
            .map_err(|e| provider_error(what, e))?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(provider_error(what, format!("HTTP {status} from {url}")));
        }
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_PROVIDER_BYTES)
            .read_to_string()
            .map_err(|e| provider_error(what, e))?;
        serde_json::from_str(&text).map_err(|e| provider_error(what, e))
    }

    fn discover(&self) -> Result<Arc<Discovered>> {
        let mut slot = self
            .discovered
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(d) = slot.as_ref() {
            return Ok(Arc::clone(d));
        }
        let issuer = self.settings.issuer.trim().trim_end_matches('/');
        let url = format!("{issuer}/.well-known/openid-configuration");
        let metadata: ProviderMetadata = self.get_json("discovery document", &url)?;
        if metadata.issuer.trim_end_matches('/') != issuer {
            return Err(AuthError::Provider(format!(
                "the discovery document names issuer `{}`, not the configured `{issuer}`",
                metadata.issuer
            )));
        }
        for (what, endpoint) in [
            ("authorization_endpoint", &metadata.authorization_endpoint),
            ("token_endpoint", &metadata.token_endpoint),
            ("jwks_uri", &metadata.jwks_uri),
        ] {
            crate::jwt::check_url(what, endpoint)
                .map_err(|e| AuthError::Provider(e.message().to_owned()))?;
        }
        if let Some(methods) = &metadata.code_challenge_methods_supported
            && !methods.iter().any(|m| m == "S256")
        {
            return Err(AuthError::Provider(
                "the provider does not support PKCE with S256".into(),
            ));
        }
        let jwt = self
            .settings
            .jwt_settings(&metadata.issuer, &metadata.jwks_uri);
        let verifier =
            JwtVerifier::new(jwt).map_err(|e| AuthError::Provider(e.message().to_owned()))?;
        let found = Arc::new(Discovered { metadata, verifier });
        *slot = Some(Arc::clone(&found));
        Ok(found)
    }

    /// The provider's endpoints (fetching the discovery document if needed).
    pub fn metadata(&self) -> Result<ProviderMetadata> {
        Ok(self.discover()?.metadata.clone())
    }

    /// Starts a login that will come back to `redirect_uri`.
    pub fn begin(&self, redirect_uri: &str) -> Result<LoginStart> {
        let found = self.discover()?;
        let state = random_token();
        let code_verifier = random_token();
        let nonce = random_token();
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", self.settings.client_id.trim())
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &self.settings.scope())
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &pkce_challenge(&code_verifier))
            .append_pair("code_challenge_method", "S256")
            .finish();
        let endpoint = &found.metadata.authorization_endpoint;
        let sep = if endpoint.contains('?') { '&' } else { '?' };
        Ok(LoginStart {
            authorize_url: format!("{endpoint}{sep}{query}"),
            state,
            code_verifier,
            nonce,
        })
    }

    /// Trades the callback's `code` for tokens and verifies the ID token.
    /// A refusal by the provider or a bad ID token is [`AuthError::Unauthorized`];
    /// an unreachable provider is [`AuthError::Provider`].
    pub fn finish(
        &self,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
        nonce: &str,
    ) -> Result<TokenIdentity> {
        let found = self.discover()?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("client_id", self.settings.client_id.trim()),
            ("code_verifier", code_verifier),
        ];
        if let Some(secret) = &self.secret {
            form.push(("client_secret", secret));
        }
        let mut response = self
            .agent
            .post(&found.metadata.token_endpoint)
            .header("Accept", "application/json")
            .send_form(form)
            .map_err(|e| provider_error("token endpoint", e))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_PROVIDER_BYTES)
            .read_to_string()
            .map_err(|e| provider_error("token endpoint", e))?;
        let parsed: Option<TokenResponse> = serde_json::from_str(&text).ok();
        if status != 200 {
            let why = parsed
                .and_then(|t| match (t.error, t.error_description) {
                    (Some(e), Some(d)) => Some(format!("{e}: {d}")),
                    (Some(e), None) => Some(e),
                    _ => None,
                })
                .unwrap_or_else(|| format!("HTTP {status}"));
            return if status >= 500 {
                Err(provider_error("token endpoint", why))
            } else {
                Err(AuthError::unauthorized(format!(
                    "the identity provider refused the login: {why}"
                )))
            };
        }
        let id_token = parsed.and_then(|t| t.id_token).ok_or_else(|| {
            AuthError::unauthorized("the identity provider's token response has no id_token")
        })?;
        found.verifier.verify_id_token(&id_token, nonce)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn pkce_challenge_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn random_tokens_are_long_and_distinct() {
        let a = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token());
    }

    #[test]
    fn a_missing_secret_variable_is_a_config_error() {
        let s = OidcSettings {
            issuer: "https://idp.example.com".into(),
            client_id: "cairn".into(),
            client_secret_env: "CAIRN_TEST_SURELY_UNSET_VAR_1234".into(),
            ..OidcSettings::default()
        };
        let e = OidcClient::new(s).unwrap_err();
        assert!(
            e.message().contains("CAIRN_TEST_SURELY_UNSET_VAR_1234"),
            "{e}"
        );
    }
}
