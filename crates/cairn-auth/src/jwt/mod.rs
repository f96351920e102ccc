//! OIDC-style bearer tokens: RS256 and ES256 JWTs verified against a JWKS.
//!
//! Verification order: the header is parsed by hand first, so `alg: none`, HMAC
//! algorithms (which would let a public key double as an HMAC secret), disallowed
//! algorithms and `crit` extensions are refused before any key is touched. The key is
//! chosen by `kid`; a token without `kid` is accepted only when the key set holds
//! exactly one key for its algorithm. The signature is checked with that key and the
//! token's own algorithm must match the key's. Then `exp` (required), `nbf`, `iss`
//! (exact) and `aud` (must contain the configured audience) are checked with the
//! configured leeway, and finally the claims are mapped onto a [`TokenIdentity`].
//!
//! Key rotation: an unknown `kid` reloads the key set (file or URL), at most once per
//! `jwks_refresh_secs`, so a flood of made-up key ids cannot turn into a flood of
//! fetches. Keys from a URL are also reloaded when older than an hour, so removed keys
//! stop verifying. A failed reload keeps the previous keys. Reloads block the calling
//! thread (for at most the 10 s fetch timeout); async callers should verify inside
//! `spawn_blocking` or accept that one request in a refresh window pays for it.

mod claims;
mod jwks;
mod settings;

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use settings::{
    DEFAULT_GROUPS_CLAIM, DEFAULT_JWKS_REFRESH_SECS, DEFAULT_LEEWAY_SECS, DEFAULT_ROLE_CLAIM,
    DEFAULT_TENANT_CLAIM, DEFAULT_USER_CLAIM, JwtSettings,
};

use crate::{AuthError, Result, Role};
pub(crate) use jwks::check_url;
use jwks::{Source, VerifyKey};

/// Keys fetched from a URL are reloaded when older than this.
const MAX_URL_KEY_AGE: Duration = Duration::from_secs(3600);
/// Longest piece of a token's own claim quoted back in an error.
const MAX_QUOTED: usize = 80;

/// Who a verified token says the caller is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenIdentity {
    /// The tenant (from the tenant claim, or the default tenant).
    pub tenant: String,
    /// The user id (from the user claim).
    pub user: String,
    /// Groups, for document ACLs; may be empty.
    pub groups: Vec<String>,
    /// The highest known role in the role claim, or the default role.
    pub role: Role,
    /// `exp`, unix seconds.
    pub expires_at: Option<i64>,
    /// `iss`.
    pub issuer: String,
}

struct KeySet {
    keys: Arc<Vec<VerifyKey>>,
    loaded_at: Instant,
}

/// Verifies bearer JWTs. `Send + Sync`; share one per configuration.
pub struct JwtVerifier {
    settings: JwtSettings,
    algorithms: Vec<Algorithm>,
    source: Source,
    keys: RwLock<KeySet>,
    /// When a reload was last attempted after startup; held during a reload so that
    /// concurrent callers wait for it instead of fetching too.
    last_reload: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuer", &self.settings.issuer)
            .field("audience", &self.settings.audience)
            .field("jwks", &self.source.describe())
            .field("keys", &self.key_count())
            .finish_non_exhaustive()
    }
}

/// Whether `token` has the shape of a JWS compact serialization (three base64url
/// segments whose first decodes to a JSON object). Says nothing about validity.
pub fn looks_like_jwt(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 || parts[0].is_empty() || parts[1].is_empty() {
        return false;
    }
    let b64url = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !parts.iter().all(|p| b64url(p)) {
        return false;
    }
    decode_segment(parts[0]).is_some_and(|v| v.is_object())
}

fn decode_segment(segment: &str) -> Option<Value> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn quote(s: &str) -> String {
    if s.chars().count() <= MAX_QUOTED {
        s.to_owned()
    } else {
        let cut: String = s.chars().take(MAX_QUOTED).collect();
        format!("{cut}…")
    }
}

fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::RS256 => "RS256",
        Algorithm::ES256 => "ES256",
        _ => "?",
    }
}

/// The header fields that matter, read without trusting anything.
struct Header {
    alg: Algorithm,
    kid: Option<String>,
}

impl JwtVerifier {
    /// Validates the settings (after [`JwtSettings::with_defaults`]) and loads the key
    /// set now. Unusable settings or an unreadable key set are
    /// [`AuthError::InvalidConfig`].
    pub fn new(settings: JwtSettings) -> Result<Self> {
        let settings = settings.with_defaults();
        settings.validate()?;
        let algorithms = settings.parse_algorithms()?;
        let source = match (&settings.jwks_file, &settings.jwks_url) {
            (Some(path), _) => Source::file(path.clone()),
            (None, Some(url)) => Source::url(url)?,
            (None, None) => return Err(AuthError::config("jwt needs jwks_file or jwks_url")),
        };
        let keys = source.load(&algorithms)?;
        Ok(JwtVerifier {
            settings,
            algorithms,
            source,
            keys: RwLock::new(KeySet {
                keys: Arc::new(keys),
                loaded_at: Instant::now(),
            }),
            last_reload: Mutex::new(None),
        })
    }

    /// The settings in effect (defaults filled in).
    pub fn settings(&self) -> &JwtSettings {
        &self.settings
    }

    /// How many usable keys the current key set holds.
    pub fn key_count(&self) -> usize {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys
            .len()
    }

    /// Reloads the key set now (for example on SIGHUP), returning how many keys it
    /// holds. On error the previous keys stay in use.
    pub fn reload(&self) -> Result<usize> {
        let mut last = self
            .last_reload
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *last = Some(Instant::now());
        self.load_into_cache()
    }

    fn load_into_cache(&self) -> Result<usize> {
        let keys = self.source.load(&self.algorithms)?;
        let count = keys.len();
        let mut set = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        *set = KeySet {
            keys: Arc::new(keys),
            loaded_at: Instant::now(),
        };
        Ok(count)
    }

    /// Reloads unless a reload was attempted within `jwks_refresh_secs`. Returns
    /// after any reload in progress elsewhere has finished.
    fn reload_if_due(&self) {
        let mut last = self
            .last_reload
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let min_gap = Duration::from_secs(self.settings.jwks_refresh_secs);
        if last.is_some_and(|at| at.elapsed() < min_gap) {
            return;
        }
        *last = Some(Instant::now());
        // A failed reload keeps the old keys; the caller's error names the real problem.
        let _ = self.load_into_cache();
    }

    fn current_keys(&self) -> Arc<Vec<VerifyKey>> {
        let stale = {
            let set = self.keys.read().unwrap_or_else(PoisonError::into_inner);
            self.source.is_url() && set.loaded_at.elapsed() > MAX_URL_KEY_AGE
        };
        if stale {
            self.reload_if_due();
        }
        Arc::clone(
            &self
                .keys
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .keys,
        )
    }

    fn parse_header(&self, token: &str) -> Result<Header> {
        let mut parts = token.split('.');
        let (Some(header), Some(_), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::unauthorized(
                "malformed token: expected three dot-separated parts",
            ));
        };
        let header = decode_segment(header)
            .filter(Value::is_object)
            .ok_or_else(|| AuthError::unauthorized("malformed token: unreadable header"))?;
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or_else(|| AuthError::unauthorized("malformed token: header has no `alg`"))?;
        if alg.eq_ignore_ascii_case("none") {
            return Err(AuthError::unauthorized(
                "unsigned tokens (alg `none`) are not accepted",
            ));
        }
        let allowed_names: Vec<&str> = self.algorithms.iter().map(|a| alg_name(*a)).collect();
        let alg = match alg {
            "RS256" => Algorithm::RS256,
            "ES256" => Algorithm::ES256,
            other => {
                return Err(AuthError::unauthorized(format!(
                    "algorithm `{}` is not allowed (allowed: {})",
                    quote(other),
                    allowed_names.join(", ")
                )));
            }
        };
        if !self.algorithms.contains(&alg) {
            return Err(AuthError::unauthorized(format!(
                "algorithm `{}` is not allowed (allowed: {})",
                alg_name(alg),
                allowed_names.join(", ")
            )));
        }
        if header.get("crit").is_some() {
            return Err(AuthError::unauthorized(
                "token has critical header extensions (`crit`), which are not supported",
            ));
        }
        let kid = match header.get("kid") {
            None | Some(Value::Null) => None,
            Some(Value::String(k)) => Some(k.clone()),
            Some(_) => {
                return Err(AuthError::unauthorized(
                    "malformed token: `kid` is not a string",
                ));
            }
        };
        Ok(Header { alg, kid })
    }

    /// The key for this header: `Ok(None)` when the kid is unknown (worth a reload).
    fn find_key(keys: &[VerifyKey], header: &Header) -> Result<Option<VerifyKey>> {
        match &header.kid {
            Some(kid) => match keys.iter().find(|k| k.kid.as_deref() == Some(kid)) {
                Some(key) if key.alg != header.alg => Err(AuthError::unauthorized(format!(
                    "algorithm mismatch: key `{}` is {}, the token says {}",
                    quote(kid),
                    alg_name(key.alg),
                    alg_name(header.alg)
                ))),
                Some(key) => Ok(Some(key.clone())),
                None => Ok(None),
            },
            None => {
                let mut candidates = keys.iter().filter(|k| k.alg == header.alg);
                match (candidates.next(), candidates.next()) {
                    (Some(key), None) => Ok(Some(key.clone())),
                    (None, _) => Ok(None),
                    (Some(_), Some(_)) => Err(AuthError::unauthorized(format!(
                        "token has no `kid` and the key set holds several {} keys",
                        alg_name(header.alg)
                    ))),
                }
            }
        }
    }

    fn unknown_key(header: &Header) -> AuthError {
        match &header.kid {
            Some(kid) => {
                AuthError::unauthorized(format!("unknown signing key id (kid) `{}`", quote(kid)))
            }
            None => AuthError::unauthorized(format!(
                "token has no `kid` and the key set holds no {} key",
                alg_name(header.alg)
            )),
        }
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut validation = Validation::new(alg);
        validation.leeway = self.settings.leeway_secs;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_issuer(&[self.settings.issuer.as_str()]);
        validation.set_audience(&[self.settings.audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation
    }

    fn describe_error(&self, kind: &ErrorKind, claims: Option<&Value>) -> AuthError {
        let claim = |name: &str| {
            claims
                .and_then(|c| c.get(name))
                .map(|v| quote(&v.to_string()))
                .unwrap_or_else(|| "none".into())
        };
        let msg = match kind {
            ErrorKind::ExpiredSignature => "token expired".to_owned(),
            ErrorKind::ImmatureSignature => "token not valid yet (nbf is in the future)".into(),
            ErrorKind::InvalidIssuer => format!(
                "wrong issuer: token iss {}, expected \"{}\"",
                claim("iss"),
                self.settings.issuer
            ),
            ErrorKind::InvalidAudience => format!(
                "wrong audience: token aud {}, expected \"{}\"",
                claim("aud"),
                self.settings.audience
            ),
            ErrorKind::InvalidSignature => "bad signature".into(),
            ErrorKind::MissingRequiredClaim(c) => format!("token has no `{c}` claim"),
            ErrorKind::InvalidAlgorithm => "algorithm not allowed for this key".into(),
            ErrorKind::InvalidEcdsaKey | ErrorKind::InvalidRsaKey(_) | ErrorKind::Crypto(_) => {
                "bad signature (the token could not be verified with the key)".into()
            }
            ErrorKind::Json(e) => format!("malformed token: claims are not valid: {e}"),
            ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Utf8(_) => {
                "malformed token".into()
            }
            _ => "invalid token".into(),
        };
        AuthError::Unauthorized(msg)
    }

    /// Verifies `token` and maps its claims. Every failure is
    /// [`AuthError::Unauthorized`] with a message naming the reason.
    pub fn verify(&self, token: &str) -> Result<TokenIdentity> {
        let claims = self.verified_claims(token)?;
        claims::map_claims(&claims, &self.settings)
    }

    /// Verifies an OpenID Connect ID token as [`JwtVerifier::verify`] does, and also
    /// that its `nonce` is the one the login sent (so a token captured from another
    /// login cannot be replayed into this one).
    pub fn verify_id_token(&self, token: &str, nonce: &str) -> Result<TokenIdentity> {
        let claims = self.verified_claims(token)?;
        match claims.get("nonce").and_then(Value::as_str) {
            Some(n) if !nonce.is_empty() && n == nonce => {}
            Some(_) => return Err(AuthError::unauthorized("ID token nonce does not match")),
            None => return Err(AuthError::unauthorized("ID token has no `nonce` claim")),
        }
        claims::map_claims(&claims, &self.settings)
    }

    fn verified_claims(&self, token: &str) -> Result<Value> {
        let token = token.trim();
        let header = self.parse_header(token)?;
        let key = match Self::find_key(&self.current_keys(), &header)? {
            Some(key) => key,
            None => {
                self.reload_if_due();
                Self::find_key(&self.current_keys(), &header)?
                    .ok_or_else(|| Self::unknown_key(&header))?
            }
        };
        let data = jsonwebtoken::decode::<Value>(token, &key.key, &self.validation(header.alg))
            .map_err(|e| {
                // The signature has been checked by now for claim errors, so quoting
                // the token's claims back is safe.
                let claims = token.split('.').nth(1).and_then(decode_segment);
                self.describe_error(e.kind(), claims.as_ref())
            })?;
        if !data.claims.is_object() {
            return Err(AuthError::unauthorized(
                "malformed token: claims are not a JSON object",
            ));
        }
        Ok(data.claims)
    }
}
