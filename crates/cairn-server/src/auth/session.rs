//! Web sessions: the browser's `cairn_session` cookie, made by single sign-on
//! (`native::sso`), turned into the caller's [`Identity`].
//!
//! The cookie is `HttpOnly; Secure; SameSite=Lax; Path=/`, holds 32 random bytes, and
//! is found in the store by its SHA-256 only. Every request re-reads the session row
//! and the user row, so a revoked session, an expired one or a disabled user stops at
//! once. Requests that change state (any method but GET, HEAD and OPTIONS) must also
//! carry the session's CSRF token in `X-CSRF-Token`: a cookie alone, which another
//! site can make the browser send, never changes anything.

use super::{AuthFailure, Identity, Via, fail};
use cairn_auth::{Action, Role};
use cairn_store::{Store, WebSession};
use cairn_types::{Principal, TenantId};
use sha2::{Digest, Sha256};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "cairn_session";
/// The header state-changing requests of a session repeat its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Hex SHA-256 of a token: what the store keys sessions and logins by.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The cookie that ties a single sign-on callback to the browser that started it.
pub const LOGIN_COOKIE: &str = "cairn_oidc_state";

/// The value of cookie `name` in the request, if any (and not empty).
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

/// The session token in the request's cookies, if any.
pub fn cookie_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    cookie(headers, SESSION_COOKIE)
}

/// `Set-Cookie` for a login in flight: the state, readable by the callback path only,
/// for as long as the provider may take.
pub fn set_login_cookie(state: &str, max_age_secs: i64) -> String {
    format!(
        "{LOGIN_COOKIE}={state}; Path=/api/v1/auth/oidc; HttpOnly; Secure; SameSite=Lax; Max-Age={max_age_secs}"
    )
}

/// `Set-Cookie` that drops the login cookie once the callback has used it.
pub fn clear_login_cookie() -> String {
    format!("{LOGIN_COOKIE}=; Path=/api/v1/auth/oidc; HttpOnly; Secure; SameSite=Lax; Max-Age=0")
}

/// Whether two secrets are equal, comparing their digests.
pub fn same_secret(a: &str, b: &str) -> bool {
    Sha256::digest(a.as_bytes()) == Sha256::digest(b.as_bytes())
}

/// `Set-Cookie` for a new session lasting `max_age_secs`.
pub fn set_cookie(token: &str, max_age_secs: u64) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age={max_age_secs}"
    )
}

/// `Set-Cookie` that makes the browser forget the session.
pub fn clear_cookie() -> String {
    format!("{SESSION_COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=0")
}

/// The caller a session cookie stands for. `safe`: the request changes nothing (GET,
/// HEAD, OPTIONS), so it needs no CSRF token.
pub(super) fn authenticate(
    store: &dyn Store,
    headers: &axum::http::HeaderMap,
    token: &str,
    safe: bool,
    now: i64,
) -> Result<(Identity, WebSession), AuthFailure> {
    let anon = || "anonymous".to_owned();
    let found = store
        .find_session(&token_hash(token))
        .map_err(|e| AuthFailure {
            error: e.into(),
            tenant: None,
            actor: anon(),
        })?;
    let Some(session) = found else {
        return Err(fail("unknown session: sign in again", None, anon()));
    };
    let actor = format!("user:{}", session.user);
    let tenant = Some(session.tenant.clone());
    if session.revoked_at.is_some() {
        return Err(fail(
            "the session was signed out or revoked: sign in again",
            tenant,
            actor,
        ));
    }
    if now >= session.expires_at {
        return Err(fail(
            "the session has expired: sign in again",
            tenant,
            actor,
        ));
    }
    match store.get_user(&session.tenant, &session.user) {
        Ok(u) if u.disabled => {
            return Err(fail(
                format!("user `{}` is disabled", session.user),
                tenant,
                actor,
            ));
        }
        Ok(_) => {}
        Err(cairn_store::Error::NotFound { .. }) => {
            return Err(fail(
                format!("user `{}` no longer exists", session.user),
                tenant,
                actor,
            ));
        }
        Err(e) => {
            return Err(AuthFailure {
                error: e.into(),
                tenant,
                actor,
            });
        }
    }
    if !safe {
        let sent = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if sent.is_empty() || !same_secret(sent, &session.csrf) {
            return Err(AuthFailure {
                error: crate::error::ApiError::new(
                    cairn_types::ErrorCode::Forbidden,
                    "a signed-in browser must send its session's CSRF token in X-CSRF-Token \
                     (GET /api/v1/auth/session) with every request that changes something",
                ),
                tenant,
                actor,
            });
        }
    }
    let role = Role::parse(&session.role).unwrap_or(Role::Viewer);
    let identity = Identity {
        bucket: format!("user:{}/{}", session.tenant, session.user),
        principal: Principal {
            owner: Some(session.user.clone()),
            user: Some(session.user.clone()),
            groups: session.groups.clone(),
            all_documents: role.allows(Action::BypassAcl),
        },
        tenant: TenantId::new(session.tenant.as_str()),
        role,
        scopes: Vec::new(),
        via: Via::Session {
            id: session.id.clone(),
        },
        actor,
        rpm: None,
        tpm: None,
    };
    Ok((identity, session))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use axum::http::{HeaderMap, HeaderValue, header::COOKIE};

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        assert_eq!(cookie_token(&h), None);
        h.append(
            COOKIE,
            HeaderValue::from_static("theme=dark; cairn_session_x=no"),
        );
        assert_eq!(cookie_token(&h), None);
        h.append(
            COOKIE,
            HeaderValue::from_static("a=1;  cairn_session=tok123 ; b=2"),
        );
        assert_eq!(cookie_token(&h), Some("tok123"));
        let mut empty = HeaderMap::new();
        empty.insert(COOKIE, HeaderValue::from_static("cairn_session="));
        assert_eq!(cookie_token(&empty), None);
    }

    #[test]
    fn cookies_are_http_only_secure_and_lax() {
        let c = set_cookie("t", 60);
        for part in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/", "Max-Age=60"] {
            assert!(c.contains(part), "{c}");
        }
        assert!(clear_cookie().contains("Max-Age=0"));
        assert_eq!(token_hash("abc").len(), 64);
        assert!(same_secret("x", "x") && !same_secret("x", "y"));
    }
}
