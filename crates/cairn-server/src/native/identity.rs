//! Who am I, API keys and users (admin), and GDPR export/erasure of a user.

use super::library::audit;
use crate::auth::{Authenticated, Can, perm};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::state::{AppState, blocking};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use cairn_auth::Role;
use cairn_engine::security::KeySpec;
use cairn_types::ErrorCode;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

/// The caller: tenant, role, scopes, ACL identity and what it may do.
#[utoipa::path(get, path = "/api/v1/me", tag = "identity",
    responses((status = 200, body = Object), (status = 401, body = Object)))]
pub async fn me(Authenticated(id): Authenticated) -> Json<Value> {
    let allowed: Vec<&str> = cairn_auth::Action::all()
        .iter()
        .filter(|a| id.can(**a))
        .map(|a| a.as_str())
        .collect();
    Json(json!({
        "tenant": id.tenant,
        "role": id.role.as_str(),
        "scopes": id.scopes.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        "user": id.principal.user,
        "groups": id.principal.groups,
        "sees_all_documents": id.principal.all_documents,
        "via": id.via,
        "permissions": allowed,
    }))
}

fn parse_role(s: &Option<String>) -> ApiResult<Option<Role>> {
    s.as_deref()
        .map(|r| {
            Role::parse(r).ok_or_else(|| {
                ApiError::invalid(format!(
                    "unknown role `{r}` (owner, admin, editor, member, viewer)"
                ))
                .with_param("role")
            })
        })
        .transpose()
}

/// `POST /api/v1/keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    pub name: String,
    /// Default `member`; at most the caller's role.
    #[serde(default)]
    pub role: Option<String>,
    /// The user it acts as (its ACL identity); omit for a service key.
    #[serde(default)]
    pub user: Option<String>,
    /// Action names (e.g. `search`, `ask`); empty = all the role allows.
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub expires_in_days: Option<u32>,
    #[serde(default)]
    pub rpm: Option<f64>,
    #[serde(default)]
    pub tpm: Option<f64>,
}

/// Creates an API key. The token is in this response only.
#[utoipa::path(post, path = "/api/v1/keys", tag = "identity", request_body = NewKey,
    responses((status = 201, description = "`{\"key\": {...}, \"token\": \"cairn_…\"}`", body = Object),
              (status = 400, body = Object), (status = 403, body = Object)))]
pub async fn create_key(
    State(state): State<AppState>,
    caller: Can<perm::ManageKeys>,
    ApiJson(req): ApiJson<NewKey>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let who = caller.0;
    let role = parse_role(&req.role)?;
    let expires_at = req
        .expires_in_days
        .map(|d| crate::gate::now_ms() + i64::from(d) * 86_400_000);
    let out = blocking(&state, move |e, _| {
        let spec = KeySpec {
            name: req.name,
            role,
            user: req.user,
            scopes: req.scopes,
            expires_at,
            rpm: req.rpm,
            tpm: req.tpm,
        };
        let k = e.create_key(&who.tenant, &spec, Some(who.role))?;
        audit(
            e,
            &who,
            "keys.create",
            &k.key.id,
            json!({"role": k.key.role, "user": k.key.user, "scopes": k.key.scopes}),
        );
        Ok(k)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(json!(out))))
}

/// Lists the tenant's keys (never their secrets).
#[utoipa::path(get, path = "/api/v1/keys", tag = "identity",
    responses((status = 200, body = Object), (status = 403, body = Object)))]
pub async fn list_keys(
    State(state): State<AppState>,
    caller: Can<perm::ManageKeys>,
) -> ApiResult<Json<Value>> {
    let tenant = caller.tenant.clone();
    blocking(&state, move |e, _| {
        Ok(Json(json!({ "data": e.store().list_keys(&tenant)? })))
    })
    .await
}

/// Revokes a key at once.
#[utoipa::path(delete, path = "/api/v1/keys/{key}", tag = "identity",
    params(("key" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = Object)))]
pub async fn revoke_key(
    State(state): State<AppState>,
    caller: Can<perm::ManageKeys>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let who = caller.0;
    blocking(&state, move |e, _| {
        let k = e
            .store()
            .revoke_key(&who.tenant, &id, crate::gate::now_ms())?;
        audit(e, &who, "keys.revoke", &id, json!({}));
        Ok(Json(json!(k)))
    })
    .await
}

/// Replaces a key by a new one with the same settings; the old one stops working.
#[utoipa::path(post, path = "/api/v1/keys/{key}/rotate", tag = "identity",
    params(("key" = String, Path)),
    responses((status = 201, body = Object), (status = 404, body = Object)))]
pub async fn rotate_key(
    State(state): State<AppState>,
    caller: Can<perm::ManageKeys>,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let who = caller.0;
    let out = blocking(&state, move |e, _| {
        let k = e.rotate_key(&who.tenant, &id, Some(who.role))?;
        audit(e, &who, "keys.rotate", &id, json!({"new": k.key.id}));
        Ok(k)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(json!(out))))
}

/// `POST /api/v1/users`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutUser {
    pub id: String,
    pub role: String,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub name: String,
}

/// Adds or updates a user (role at most the caller's).
#[utoipa::path(post, path = "/api/v1/users", tag = "identity", request_body = PutUser,
    responses((status = 201, body = Object), (status = 403, body = Object)))]
pub async fn put_user(
    State(state): State<AppState>,
    caller: Can<perm::ManageUsers>,
    ApiJson(req): ApiJson<PutUser>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let who = caller.0;
    let role = parse_role(&Some(req.role.clone()))?.unwrap_or(Role::Member);
    if role > who.role {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            format!("a `{}` cannot grant `{}`", who.role.as_str(), role.as_str()),
        ));
    }
    let u = blocking(&state, move |e, _| {
        let u = e.put_user(
            &who.tenant,
            &req.id,
            role,
            req.groups,
            &req.email,
            &req.name,
        )?;
        audit(
            e,
            &who,
            "users.put",
            &u.id,
            json!({"role": u.role, "groups": u.groups}),
        );
        Ok(u)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(json!(u))))
}

/// Lists the tenant's users.
#[utoipa::path(get, path = "/api/v1/users", tag = "identity",
    responses((status = 200, body = Object)))]
pub async fn list_users(
    State(state): State<AppState>,
    caller: Can<perm::ManageUsers>,
) -> ApiResult<Json<Value>> {
    let tenant = caller.tenant.clone();
    blocking(&state, move |e, _| {
        Ok(Json(json!({ "data": e.store().list_users(&tenant)? })))
    })
    .await
}

/// One user.
#[utoipa::path(get, path = "/api/v1/users/{user}", tag = "identity",
    params(("user" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = Object)))]
pub async fn get_user(
    State(state): State<AppState>,
    caller: Can<perm::ManageUsers>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let tenant = caller.tenant.clone();
    blocking(&state, move |e, _| {
        Ok(Json(json!(e.store().get_user(&tenant, &id)?)))
    })
    .await
}

/// Everything stored of a user (GDPR access).
#[utoipa::path(get, path = "/api/v1/users/{user}/export", tag = "identity",
    params(("user" = String, Path)),
    responses((status = 200, body = Object)))]
pub async fn export_user(
    State(state): State<AppState>,
    caller: Can<perm::ManageUsers>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let who = caller.0;
    blocking(&state, move |e, _| {
        Ok(Json(json!(e.export_user(&who.tenant, &id, &who.actor)?)))
    })
    .await
}

/// Erases a user and everything they own (GDPR erasure); returns what was removed.
#[utoipa::path(delete, path = "/api/v1/users/{user}", tag = "identity",
    params(("user" = String, Path)),
    responses((status = 200, body = Object)))]
pub async fn erase_user(
    State(state): State<AppState>,
    caller: Can<perm::ManageUsers>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let who = caller.0;
    blocking(&state, move |e, _| {
        Ok(Json(json!(e.erase_user(&who.tenant, &id, &who.actor)?)))
    })
    .await
}
