//! Single sign-on for the web UI: the OpenID Connect code flow with PKCE
//! (`/api/v1/auth/oidc/login` → the provider → `/api/v1/auth/oidc/callback`), ending in
//! a server-side session in the `cairn_session` cookie; the session itself (who, its
//! CSRF token, sign-out) and the tenant's sessions for administrators.
//!
//! The login and callback routes are where a browser is sent, so their failures
//! redirect to the UI with `?sso_error=<reason>` instead of answering JSON. The login
//! also sets a short-lived `cairn_oidc_state` cookie that the callback must find
//! matching its `state`: a callback URL made in someone else's login (to sign a victim
//! into the attacker's account) fails in the victim's browser.

use super::library::audit;
use crate::auth::session::{self, token_hash};
use crate::auth::{Authenticated, Can, Identity, Via, perm, remember_sso_user};
use crate::error::{ApiError, ApiResult};
use crate::state::{AppState, blocking};
use axum::Json;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Response};
use cairn_auth::oidc::random_token;
use cairn_auth::{Ask, Rate, Verdict};
use cairn_engine::security::AuditEvent;
use cairn_store::{PendingLogin, WebSession};
use cairn_types::ErrorCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::SocketAddr;
use utoipa::IntoParams;

/// Where the provider sends the browser back to.
pub const CALLBACK_PATH: &str = "/api/v1/auth/oidc/callback";
/// Sign-in steps (a login or a callback) one client address may take a minute. The
/// routes are public and each writes a row, so they are budgeted before anything else.
const STEPS_PER_CLIENT_PER_MINUTE: f64 = 120.0;
/// ...and the whole server.
const STEPS_PER_MINUTE: f64 = 1200.0;
/// How long a login may stay at the provider.
const LOGIN_MAX_AGE_MS: i64 = 10 * 60 * 1000;

/// How the UI may sign in.
#[utoipa::path(get, path = "/api/v1/auth/config", tag = "identity", security(()),
    responses((status = 200, description = "`{\"sso\": {\"enabled\", \"name\", \"login_url\"}, \"api_keys\": true}`", body = Object)))]
pub async fn auth_config(State(state): State<AppState>) -> Json<Value> {
    let sso = match state.auth.oidc() {
        Some(client) => json!({
            "enabled": true,
            "name": client.settings().display_name,
            "login_url": "/api/v1/auth/oidc/login",
        }),
        None => json!({"enabled": false}),
    };
    Json(json!({ "sso": sso, "api_keys": true }))
}

/// A same-origin path to land on, or `/`.
fn landing(return_to: Option<&str>) -> String {
    match return_to {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.contains('\\')
                && !p.chars().any(char::is_control) =>
        {
            p.to_owned()
        }
        _ => "/".into(),
    }
}

/// Back to the UI's sign-in page, saying why (and forgetting any login in flight).
fn failed(reason: &str) -> Response {
    let q = form_urlencoded::Serializer::new(String::new())
        .append_pair("sso_error", reason)
        .finish();
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, format!("/?{q}")),
            (header::SET_COOKIE, session::clear_login_cookie()),
        ],
    )
        .into_response()
}

/// The callback URL: the configured one, or this request's own host (`http://` only
/// for loopback hosts).
fn redirect_uri(configured: &str, headers: &HeaderMap) -> Result<String, String> {
    if !configured.trim().is_empty() {
        return Ok(configured.trim().to_owned());
    }
    let origin = origin_of(headers)
        .ok_or("the request has no usable Host header; set auth.oidc.redirect_url")?;
    Ok(format!("{origin}{CALLBACK_PATH}"))
}

/// This server's origin as the request names it: its `Host`, with `http://` only for
/// loopback hosts (`https://` otherwise: a server reached by name sits behind TLS).
pub(crate) fn origin_of(headers: &HeaderMap) -> Option<String> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && !h.contains(['/', '\\', '@', ' ']))?;
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    let loopback = name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let scheme = if loopback { "http" } else { "https" };
    Some(format!("{scheme}://{host}"))
}

/// `GET /api/v1/auth/oidc/login`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct LoginQuery {
    /// A path of the UI to land on after signing in (default `/`).
    #[serde(default)]
    pub return_to: Option<String>,
}

/// Starts single sign-on: redirects the browser to the identity provider.
#[utoipa::path(get, path = "/api/v1/auth/oidc/login", tag = "identity", security(()),
    params(LoginQuery),
    responses((status = 303, description = "To the identity provider, or back to `/?sso_error=…`")))]
pub async fn oidc_login(
    State(state): State<AppState>,
    Query(q): Query<LoginQuery>,
    request: Request,
) -> Response {
    let client = match sso_client(&state, &request) {
        Ok(client) => client,
        Err(why) => return failed(&why),
    };
    let headers = request.headers();
    let uri = match redirect_uri(&client.settings().redirect_url, headers) {
        Ok(uri) => uri,
        Err(why) => return failed(&why),
    };
    let return_to = landing(q.return_to.as_deref());
    let started = blocking(&state, move |e, _| {
        let start = client.begin(&uri).map_err(auth_error)?;
        e.store().put_login(
            &PendingLogin {
                state_hash: token_hash(&start.state),
                code_verifier: start.code_verifier.clone(),
                nonce: start.nonce.clone(),
                redirect_uri: uri,
                return_to,
                created_at: crate::gate::now_ms(),
            },
            LOGIN_MAX_AGE_MS,
        )?;
        Ok((start.authorize_url, start.state))
    })
    .await;
    match started {
        Ok((url, login_state)) => (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, url),
                (
                    header::SET_COOKIE,
                    session::set_login_cookie(&login_state, LOGIN_MAX_AGE_MS / 1000),
                ),
                (header::CACHE_CONTROL, "no-store".to_owned()),
            ],
        )
            .into_response(),
        Err(e) => failed(&e.message),
    }
}

/// Takes one sign-in step from the client's and the server's budgets, or says how long
/// to wait.
fn budget(state: &AppState, parts: &axum::http::Extensions) -> Result<(), String> {
    let client = parts
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string());
    let asks = [
        Ask::new("sso", Rate::per_minute(STEPS_PER_MINUTE), 1.0),
        Ask::new(
            format!("sso:{client}"),
            Rate::per_minute(STEPS_PER_CLIENT_PER_MINUTE),
            1.0,
        ),
    ];
    match state.limiter.acquire(&asks) {
        Verdict::Allowed => Ok(()),
        limited => Err(format!(
            "too many sign-in attempts: try again in {} s",
            limited.retry_after_secs().unwrap_or(60).max(1)
        )),
    }
}

/// The configured single sign-on client, once this sign-in step is within budget; else
/// why not (for the sign-in page).
fn sso_client(
    state: &AppState,
    request: &Request,
) -> Result<std::sync::Arc<cairn_auth::OidcClient>, String> {
    let client = state.auth.oidc().cloned().ok_or_else(|| {
        "single sign-on is not configured on this server ([auth.oidc])".to_owned()
    })?;
    budget(state, request.extensions())?;
    Ok(client)
}

fn auth_error(e: cairn_auth::AuthError) -> ApiError {
    ApiError::new(e.code(), e.message().to_owned())
}

/// `GET /api/v1/auth/oidc/callback`: what the provider appends.
#[derive(Debug, Deserialize, IntoParams)]
pub struct CallbackQuery {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    /// The provider's refusal (`access_denied`, …) and its description.
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
}

/// Finishes single sign-on: checks the state, trades the code (with the PKCE verifier)
/// for an ID token, verifies it, and starts a session in an `HttpOnly`, `Secure`,
/// `SameSite=Lax` cookie.
#[utoipa::path(get, path = "/api/v1/auth/oidc/callback", tag = "identity", security(()),
    params(CallbackQuery),
    responses((status = 303, description = "Signed in (with `Set-Cookie`), or back to `/?sso_error=…`")))]
pub async fn oidc_callback(
    State(state): State<AppState>,
    Query(q): Query<CallbackQuery>,
    request: Request,
) -> Response {
    let client = match sso_client(&state, &request) {
        Ok(client) => client,
        Err(why) => return failed(&why),
    };
    let headers = request.headers();
    if let Some(error) = q.error {
        let detail = q.error_description.unwrap_or_default();
        return failed(&format!("the identity provider said {error}: {detail}"));
    }
    let (Some(code), Some(login_state)) = (q.code, q.state) else {
        return failed("the identity provider sent no code or state back");
    };
    let started_here = session::cookie(headers, session::LOGIN_COOKIE)
        .is_some_and(|c| session::same_secret(c, &login_state));
    if !started_here {
        return failed("this sign-in was not started in this browser: sign in again");
    }
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect::<String>();
    let ttl = client.settings().session_ttl_secs;
    let made = blocking(&state, move |e, _| {
        let now = crate::gate::now_ms();
        let store = e.store();
        let login = store
            .take_login(&token_hash(&login_state), now, LOGIN_MAX_AGE_MS)?
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::Unauthorized,
                    "this sign-in has expired or was already used: sign in again",
                )
            })?;
        let verified = client
            .finish(&code, &login.redirect_uri, &login.code_verifier, &login.nonce)
            .map_err(auth_error);
        let id = match verified {
            Ok(id) => id,
            Err(err) => {
                e.audit_or_log(AuditEvent {
                    tenant: &cairn_types::TenantId::new(""),
                    actor: "sso",
                    action: "auth.failure",
                    target: CALLBACK_PATH,
                    outcome: "denied",
                    detail: json!({ "reason": err.message }),
                });
                return Err(err);
            }
        };
        let tenant = remember_sso_user(store, &id, now).map_err(|f| f.error)?;
        let token = random_token();
        let ttl_ms = i64::try_from(ttl).unwrap_or(i64::MAX / 2_000) * 1000;
        let session = WebSession {
            tenant,
            id: format!("ses_{}", &random_token()[..22]),
            token_hash: token_hash(&token),
            user: id.user.clone(),
            role: id.role.as_str().to_owned(),
            groups: id.groups.clone(),
            issuer: id.issuer.clone(),
            csrf: random_token(),
            created_at: now,
            expires_at: now.saturating_add(ttl_ms),
            revoked_at: None,
            user_agent: agent,
        };
        store.insert_session(&session)?;
        e.audit_or_log(AuditEvent {
            tenant: &session.tenant,
            actor: &format!("user:{}", session.user),
            action: "auth.session.create",
            target: &session.id,
            outcome: "ok",
            detail: json!({"role": session.role, "groups": session.groups, "issuer": session.issuer}),
        });
        Ok((token, login.return_to))
    })
    .await;
    match made {
        // Two cookies: `AppendHeaders`, since a header array replaces repeated names.
        Ok((token, to)) => (
            StatusCode::SEE_OTHER,
            AppendHeaders([
                (header::LOCATION, to),
                (header::SET_COOKIE, session::set_cookie(&token, ttl)),
                (header::SET_COOKIE, session::clear_login_cookie()),
                (header::CACHE_CONTROL, "no-store".to_owned()),
            ]),
        )
            .into_response(),
        Err(e) => failed(&e.message),
    }
}

fn session_json(s: &WebSession) -> Value {
    json!({
        "id": s.id, "tenant": s.tenant, "user": s.user, "role": s.role, "groups": s.groups,
        "issuer": s.issuer, "created_at": s.created_at, "expires_at": s.expires_at,
        "revoked_at": s.revoked_at, "user_agent": s.user_agent,
    })
}

fn session_id(who: &Identity) -> ApiResult<String> {
    match &who.via {
        Via::Session { id } => Ok(id.clone()),
        _ => Err(ApiError::new(
            ErrorCode::NotFound,
            "this request was not made with a session cookie (single sign-on)",
        )),
    }
}

/// The caller's own session and its CSRF token (for `X-CSRF-Token`).
#[utoipa::path(get, path = "/api/v1/auth/session", tag = "identity",
    responses((status = 200, description = "`{\"session\": {...}, \"csrf_token\": \"…\"}`", body = Object),
              (status = 404, body = Object)))]
pub async fn get_session(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
) -> ApiResult<Response> {
    let id = session_id(&who)?;
    let tenant = who.tenant.clone();
    let user = who.principal.user.clone();
    let found = blocking(&state, move |e, _| {
        let all = e.store().list_sessions(&tenant, user.as_deref())?;
        all.into_iter()
            .find(|s| s.id == id)
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("session `{id}`")))
    })
    .await?;
    let body = json!({"session": session_json(&found), "csrf_token": found.csrf});
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}

/// Signs the caller's session out: revoked at once, and the cookie cleared.
#[utoipa::path(delete, path = "/api/v1/auth/session", tag = "identity",
    responses((status = 200, body = Object), (status = 404, body = Object)))]
pub async fn delete_session(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
) -> ApiResult<Response> {
    let id = session_id(&who)?;
    let out = blocking(&state, move |e, _| {
        let s = e
            .store()
            .revoke_session(&who.tenant, &id, crate::gate::now_ms())?;
        audit(e, &who, "auth.session.end", &id, json!({}));
        Ok(session_json(&s))
    })
    .await?;
    Ok((
        [(header::SET_COOKIE, session::clear_cookie())],
        Json(json!({"session": out})),
    )
        .into_response())
}

/// `GET /api/v1/auth/sessions`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct SessionsQuery {
    /// Only this user's sessions.
    #[serde(default)]
    pub user: Option<String>,
}

/// The tenant's web sessions, newest first (administrators).
#[utoipa::path(get, path = "/api/v1/auth/sessions", tag = "identity", params(SessionsQuery),
    responses((status = 200, body = Object), (status = 403, body = Object)))]
pub async fn list_sessions(
    State(state): State<AppState>,
    caller: Can<perm::ManageUsers>,
    Query(q): Query<SessionsQuery>,
) -> ApiResult<Json<Value>> {
    let tenant = caller.tenant.clone();
    blocking(&state, move |e, _| {
        let now = crate::gate::now_ms();
        let rows: Vec<Value> = e
            .store()
            .list_sessions(&tenant, q.user.as_deref())?
            .iter()
            .map(|s| {
                let mut v = session_json(s);
                v["live"] = json!(s.is_live(now));
                v
            })
            .collect();
        Ok(Json(json!({ "data": rows })))
    })
    .await
}

/// Revokes one of the tenant's sessions at once (administrators).
#[utoipa::path(delete, path = "/api/v1/auth/sessions/{session}", tag = "identity",
    params(("session" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = Object)))]
pub async fn revoke_session(
    State(state): State<AppState>,
    caller: Can<perm::ManageUsers>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let who = caller.0;
    blocking(&state, move |e, _| {
        let s = e
            .store()
            .revoke_session(&who.tenant, &id, crate::gate::now_ms())?;
        audit(e, &who, "auth.session.revoke", &id, json!({"user": s.user}));
        Ok(Json(json!({ "session": session_json(&s) })))
    })
    .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn only_same_origin_paths_are_landed_on() {
        assert_eq!(landing(Some("/#/library")), "/#/library");
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "evil",
            "/a\nb",
        ] {
            assert_eq!(landing(Some(bad)), "/", "{bad}");
        }
        assert_eq!(landing(None), "/");
    }

    #[test]
    fn the_callback_url_follows_the_host_with_https_off_loopback() {
        let mut h = HeaderMap::new();
        assert!(redirect_uri("", &h).is_err());
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert_eq!(
            redirect_uri("", &h).unwrap(),
            "http://127.0.0.1:8080/api/v1/auth/oidc/callback"
        );
        h.insert(header::HOST, HeaderValue::from_static("cairn.example.com"));
        assert_eq!(
            redirect_uri("", &h).unwrap(),
            "https://cairn.example.com/api/v1/auth/oidc/callback"
        );
        h.insert(header::HOST, HeaderValue::from_static("evil.example/x@"));
        assert!(redirect_uri("", &h).is_err());
        assert_eq!(
            redirect_uri(" https://c.example/cb ", &h).unwrap(),
            "https://c.example/cb"
        );
    }
}
