//! Authentication: every request but the configured public routes must present an API
//! key or a JWT (`Authorization: Bearer …`, or `x-api-key: …`), or a browser's session
//! cookie from single sign-on ([`session`]), which becomes the request's [`Identity`]. Authorization happens in the handlers' signatures
//! ([`Can`]). Failures are `401 unauthorized` (no or bad credentials) or `403
//! forbidden` (valid credentials, not allowed), never a hint about other tenants.
//!
//! API keys are checked against their argon2id hash once, then remembered by the
//! token's SHA-256 for a few minutes; the key row is still read on every request, so a
//! revocation or expiry takes effect at once.

mod identity;
mod policy;
pub mod session;

pub use identity::{Identity, Via};
pub use policy::{Authenticated, Can, Permission, forbidden, perm};

use crate::error::ApiError;
use axum::http::HeaderMap;
use cairn_auth::{
    Action, Ask, JwtVerifier, MemoryLimiter, OidcClient, Rate, RateLimiter, Role, TokenIdentity,
    Verdict, apikey,
};
use cairn_config::Config;
use cairn_store::Store;
use cairn_types::{ApiKey, ErrorCode, Principal, TenantId, User};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a verified key's hash check is remembered.
const VERIFIED_TTL: Duration = Duration::from_secs(300);

/// Uncached hash checks one known key may take a minute (wrong secrets included).
const CHECKS_PER_KEY_PER_MINUTE: f64 = 30.0;

/// Timing-only checks of unknown keys one client address may cause a minute; past it,
/// unknown keys are refused with no hashing at all.
const DUMMY_CHECKS_PER_CLIENT_PER_MINUTE: f64 = 30.0;

/// `last_used_at` is written at most this often per key.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// A failed authentication, with what the audit log should say about it.
pub struct AuthFailure {
    pub error: ApiError,
    /// The tenant the credential claimed, when it got that far.
    pub tenant: Option<TenantId>,
    pub actor: String,
}

fn fail(message: impl Into<String>, tenant: Option<TenantId>, actor: String) -> AuthFailure {
    AuthFailure {
        error: ApiError::new(ErrorCode::Unauthorized, message),
        tenant,
        actor,
    }
}

/// Decides who a request is.
pub struct Authenticator {
    off: bool,
    operator_tenant: TenantId,
    public: HashSet<String>,
    jwt: Option<JwtVerifier>,
    /// Single sign-on for the web UI (`[auth.oidc]`), when configured.
    oidc: Option<Arc<OidcClient>>,
    verified: Mutex<HashMap<[u8; 32], Instant>>,
    touched: Mutex<HashMap<String, Instant>>,
    /// Budget of uncached hash checks (`auth.key_checks_per_minute`): random
    /// well-formed tokens cost ~20 ms of CPU each, so past it they are refused at once.
    /// In-process, or shared by every server through Redis ([`Self::with_shared_budget`]).
    hashing: Arc<dyn RateLimiter>,
    checks_per_minute: f64,
}

impl Authenticator {
    /// From `[auth]`. `auth.mode = "off"` is refused unless the server listens on a
    /// loopback address only.
    pub fn new(config: &Config) -> Result<Self, ApiError> {
        let off = config.auth.mode == "off";
        if off {
            let loopback = config
                .server
                .listen
                .parse::<std::net::SocketAddr>()
                .is_ok_and(|a| a.ip().is_loopback());
            if !loopback {
                return Err(ApiError::new(
                    ErrorCode::InvalidConfig,
                    format!(
                        "auth.mode = \"off\" is only allowed on a loopback address, not {}",
                        config.server.listen
                    ),
                ));
            }
        }
        let j = &config.auth.jwt;
        let jwt = if j.jwks_file.is_none() && j.jwks_url.is_none() {
            None
        } else {
            Some(JwtVerifier::new(j.clone()).map_err(|e| {
                ApiError::new(
                    ErrorCode::InvalidConfig,
                    format!("auth.jwt: {}", e.message()),
                )
            })?)
        };
        let oidc = if config.auth.oidc.enabled() {
            let client = OidcClient::new(config.auth.oidc.clone())
                .map_err(|e| ApiError::new(ErrorCode::InvalidConfig, e.message().to_owned()))?;
            Some(Arc::new(client))
        } else {
            None
        };
        Ok(Self {
            off,
            operator_tenant: config.tenant.clone(),
            public: config
                .auth
                .public_routes
                .iter()
                .cloned()
                .chain(
                    config
                        .telemetry
                        .metrics_public
                        .then(|| "/metrics".to_owned()),
                )
                .collect(),
            jwt,
            oidc,
            verified: Mutex::new(HashMap::new()),
            touched: Mutex::new(HashMap::new()),
            hashing: Arc::new(MemoryLimiter::new()),
            checks_per_minute: config.auth.key_checks_per_minute,
        })
    }

    /// Keeps the auth-check budget in `limiter` (the servers' shared Redis buckets), so
    /// several servers together spend no more than one would.
    pub fn with_shared_budget(mut self, limiter: Arc<dyn RateLimiter>) -> Self {
        self.hashing = limiter;
        self
    }

    /// Whether `path` is served without credentials: the configured public routes and
    /// the sign-in routes, which exist to get credentials.
    pub fn is_public(&self, path: &str) -> bool {
        self.public.contains(path)
            || SIGN_IN_ROUTES.contains(&path)
            || crate::mcp::METADATA_ROUTES.contains(&path)
    }

    /// The single sign-on client, when `[auth.oidc]` is configured.
    pub fn oidc(&self) -> Option<&Arc<OidcClient>> {
        self.oidc.as_ref()
    }

    /// Who presented these headers (no client address known).
    pub fn authenticate(
        &self,
        store: &dyn Store,
        headers: &HeaderMap,
        now_ms: i64,
    ) -> Result<Identity, AuthFailure> {
        self.authenticate_from(store, headers, now_ms, None, false)
    }

    /// Who presented these headers, from `client` (the peer address, which budgets
    /// the timing-only checks of unknown keys). `safe`: the request changes nothing
    /// (GET, HEAD, OPTIONS); otherwise a session cookie needs its CSRF token too.
    /// An `Authorization` or `x-api-key` header wins over a session cookie.
    pub fn authenticate_from(
        &self,
        store: &dyn Store,
        headers: &HeaderMap,
        now_ms: i64,
        client: Option<IpAddr>,
        safe: bool,
    ) -> Result<Identity, AuthFailure> {
        if self.off {
            return Ok(Identity::operator(self.operator_tenant.clone()));
        }
        let presented = headers.contains_key(axum::http::header::AUTHORIZATION)
            || headers.contains_key("x-api-key");
        if !presented && let Some(token) = session::cookie_token(headers) {
            return session::authenticate(store, headers, token, safe, now_ms).map(|(id, _)| id);
        }
        let token = credential(headers).map_err(|m| fail(m, None, "anonymous".into()))?;
        if token.starts_with(apikey::TOKEN_PREFIX) {
            self.api_key(store, token, now_ms, client)
        } else if cairn_auth::jwt::looks_like_jwt(token) {
            self.bearer_jwt(store, token, now_ms)
        } else {
            Err(fail(
                "the credential is neither a Cairn API key (cairn_…) nor a JWT",
                None,
                "anonymous".into(),
            ))
        }
    }

    fn api_key(
        &self,
        store: &dyn Store,
        token: &str,
        now: i64,
        client: Option<IpAddr>,
    ) -> Result<Identity, AuthFailure> {
        let anon = || "anonymous".to_owned();
        let Some((lookup, secret)) = apikey::split(token) else {
            return Err(fail("malformed API key", None, anon()));
        };
        let row = store.find_key_by_lookup(lookup).map_err(|e| AuthFailure {
            error: e.into(),
            tenant: None,
            actor: anon(),
        })?;
        let Some(key) = row else {
            // The lookup part is not secret, so a miss needs no hash check at all and
            // never touches the budget meant for real keys. A dummy check keeps a miss
            // as slow as a wrong secret, within a small per-client budget only.
            if self.dummy_budget(client) {
                let _ = apikey::dummy_verify(secret);
            }
            return Err(fail("invalid API key", None, anon()));
        };
        let fp = apikey::fingerprint(token);
        let fresh = self
            .verified
            .lock()
            .ok()
            .and_then(|m| m.get(&fp).copied())
            .is_some_and(|t| t.elapsed() < VERIFIED_TTL);
        if !fresh {
            self.hashing_budget(lookup)?;
        }
        let actor = format!("key:{}", key.id);
        let tenant = Some(key.tenant.clone());
        if !fresh {
            if !apikey::verify_secret(secret, &key.hash) {
                return Err(fail("invalid API key", tenant, actor));
            }
            if let Ok(mut m) = self.verified.lock() {
                if m.len() > 10_000 {
                    m.retain(|_, t| t.elapsed() < VERIFIED_TTL);
                }
                m.insert(fp, Instant::now());
            }
        }
        if let Some(at) = key.revoked_at {
            return Err(fail(
                format!("API key `{}` was revoked (at {at} ms)", key.id),
                tenant,
                actor,
            ));
        }
        if key.expires_at.is_some_and(|e| now >= e) {
            return Err(fail(
                format!("API key `{}` has expired", key.id),
                tenant,
                actor,
            ));
        }
        self.touch(store, &key, now);
        identity_for_key(store, &key).map_err(|m| fail(m, tenant, actor))
    }

    /// Takes one uncached hash check of a known key from the server-wide budget and
    /// from that key's own (so one leaked lookup cannot spend it all), or refuses.
    fn hashing_budget(&self, lookup: &str) -> Result<(), AuthFailure> {
        let rate = Rate::per_minute(self.checks_per_minute);
        let per_key = Rate::per_minute(CHECKS_PER_KEY_PER_MINUTE);
        let asks = [
            Ask::new("verify", rate, 1.0),
            Ask::new(format!("verify:{lookup}"), per_key, 1.0),
        ];
        match self.hashing.acquire(&asks) {
            Verdict::Allowed => Ok(()),
            limited => {
                let secs = limited.retry_after_secs().unwrap_or(1).max(1);
                Err(AuthFailure {
                    error: ApiError::new(
                        ErrorCode::RateLimited,
                        format!("too many unverified credentials; retry in {secs} s"),
                    )
                    .with_retry_after(secs),
                    tenant: None,
                    actor: "anonymous".into(),
                })
            }
        }
    }

    /// Whether a timing-only dummy check may run for an unknown key from `client`.
    fn dummy_budget(&self, client: Option<IpAddr>) -> bool {
        let who = client.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
        let rate = Rate::per_minute(DUMMY_CHECKS_PER_CLIENT_PER_MINUTE);
        self.hashing
            .acquire(&[Ask::new(format!("dummy:{who}"), rate, 1.0)])
            .is_allowed()
    }

    fn touch(&self, store: &dyn Store, key: &ApiKey, now: i64) {
        let due = self.touched.lock().ok().is_some_and(|mut m| {
            let due = m.get(&key.id).is_none_or(|t| t.elapsed() >= TOUCH_EVERY);
            if due {
                m.insert(key.id.clone(), Instant::now());
            }
            due
        });
        if due && let Err(e) = store.touch_key(&key.tenant, &key.id, now) {
            tracing::warn!(key = %key.id, error = %e, "could not record the key's last use");
        }
    }

    fn bearer_jwt(
        &self,
        store: &dyn Store,
        token: &str,
        now: i64,
    ) -> Result<Identity, AuthFailure> {
        let Some(verifier) = &self.jwt else {
            return Err(fail(
                "JWT bearer tokens are not enabled on this server (auth.jwt)",
                None,
                "anonymous".into(),
            ));
        };
        let t = verifier
            .verify(token)
            .map_err(|e| fail(format!("JWT rejected: {}", e.message()), None, "jwt".into()))?;
        let actor = format!("user:{}", t.user);
        let tenant = remember_sso_user(store, &t, now)?;
        Ok(Identity {
            bucket: format!("user:{tenant}/{}", t.user),
            principal: Principal {
                owner: Some(t.user.clone()),
                user: Some(t.user.clone()),
                groups: t.groups.clone(),
                all_documents: t.role.allows(Action::BypassAcl),
            },
            tenant,
            role: t.role,
            scopes: Vec::new(),
            via: Via::Jwt { issuer: t.issuer },
            actor,
            rpm: None,
            tpm: None,
        })
    }
}

/// Routes that exist to sign in, served without credentials.
pub const SIGN_IN_ROUTES: [&str; 3] = [
    "/api/v1/auth/config",
    "/api/v1/auth/oidc/login",
    "/api/v1/auth/oidc/callback",
];

/// Checks that an identity provider's user may come in (a valid tenant id, not
/// disabled) and remembers them on first sight (export, erasure and keys need the row).
/// Remembering is best effort: the token is valid either way, and a failure is logged.
pub fn remember_sso_user(
    store: &dyn Store,
    t: &TokenIdentity,
    now: i64,
) -> Result<TenantId, AuthFailure> {
    let actor = format!("user:{}", t.user);
    if cairn_types::validate_slug(&t.tenant).is_err() {
        return Err(fail(
            format!("the token's tenant `{}` is not a valid tenant id", t.tenant),
            None,
            actor,
        ));
    }
    let tenant = TenantId::new(t.tenant.clone());
    match store.get_user(&tenant, &t.user) {
        Ok(u) if u.disabled => Err(fail(
            format!("user `{}` is disabled", t.user),
            Some(tenant),
            actor,
        )),
        Ok(_) => Ok(tenant),
        Err(cairn_store::Error::NotFound { .. }) => {
            let remembered = store
                .ensure_tenant(&tenant, tenant.as_str(), now)
                .and_then(|_| {
                    store.upsert_user(&User {
                        tenant: tenant.clone(),
                        id: t.user.clone(),
                        email: String::new(),
                        name: String::new(),
                        role: t.role.as_str().to_owned(),
                        groups: t.groups.clone(),
                        disabled: false,
                        created_at: now,
                        updated_at: now,
                    })
                });
            if let Err(e) = remembered {
                tracing::warn!(user = %t.user, error = %e, "could not record an SSO user");
            }
            Ok(tenant)
        }
        Err(e) => Err(AuthFailure {
            error: e.into(),
            tenant: Some(tenant),
            actor,
        }),
    }
}

/// The identity a valid, active key grants: its role (capped by its user's), its
/// scopes, and its user's ACL identity.
fn identity_for_key(store: &dyn Store, key: &ApiKey) -> Result<Identity, String> {
    let mut role = Role::parse(&key.role).ok_or_else(|| format!("key role `{}`", key.role))?;
    let scopes = key.scopes.iter().filter_map(|s| Action::parse(s)).collect();
    let (owner, user, groups) = match &key.user {
        Some(u) => {
            let row = store.get_user(&key.tenant, u).map_err(|e| match e {
                cairn_store::Error::NotFound { .. } => {
                    format!("the key's user `{u}` no longer exists")
                }
                other => other.to_string(),
            })?;
            if row.disabled {
                return Err(format!("user `{u}` is disabled"));
            }
            if let Some(user_role) = Role::parse(&row.role) {
                role = role.min(user_role);
            }
            (u.clone(), Some(u.clone()), row.groups)
        }
        None => (format!("key:{}", key.id), None, Vec::new()),
    };
    Ok(Identity {
        tenant: key.tenant.clone(),
        principal: Principal {
            owner: Some(owner),
            user,
            groups,
            all_documents: role.allows(Action::BypassAcl),
        },
        role,
        scopes,
        via: Via::ApiKey { id: key.id.clone() },
        actor: format!("key:{}", key.id),
        bucket: format!("key:{}", key.id),
        rpm: key.rpm,
        tpm: key.tpm,
    })
}

/// The presented credential: `Authorization: Bearer X` or `x-api-key: X`.
fn credential(headers: &HeaderMap) -> Result<&str, String> {
    if let Some(v) = headers.get(axum::http::header::AUTHORIZATION) {
        let v = v
            .to_str()
            .map_err(|_| "the Authorization header is not ASCII".to_owned())?;
        let (scheme, token) = v.split_once(' ').unwrap_or((v, ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(format!(
                "unsupported Authorization scheme `{scheme}`; use `Bearer <API key or JWT>`"
            ));
        }
        let token = token.trim();
        if token.is_empty() {
            return Err("the Bearer credential is empty".into());
        }
        return Ok(token);
    }
    if let Some(v) = headers.get("x-api-key") {
        return v
            .to_str()
            .map(str::trim)
            .map_err(|_| "the x-api-key header is not ASCII".to_owned());
    }
    Err("missing credentials: send `Authorization: Bearer <API key or JWT>`".into())
}
