//! Web sessions and pending single sign-on logins.
//!
//! Every write is a single statement per row, so nodes need no coordination: revoking
//! is `UPDATE … RETURNING`, and a pending login is taken with `DELETE … RETURNING`, so
//! of two nodes racing to finish one login exactly one gets it (the other's delete waits
//! on the row, then finds it gone).

use super::rows::{get, json};
use super::{PostgresStore, db, insert_err, not_found};
use crate::Result;
use crate::columns::to_json;
use crate::session::{PendingLogin, SessionRepo, WebSession};
use cairn_types::TenantId;
use postgres::Row;

const COLS: &str = "tenant_id, id, token_hash, user_id, role, groups, issuer, csrf, \
     created_at, expires_at, revoked_at, user_agent";

const LOGIN_COLS: &str = "state_hash, code_verifier, nonce, redirect_uri, return_to, created_at";

/// Ended sessions are kept this long (for the sessions list), then dropped.
const KEEP_ENDED_MS: i64 = 86_400_000;

fn session(row: &Row) -> Result<WebSession> {
    Ok(WebSession {
        tenant: TenantId::new(get::<String>(row, 0, "tenant_id")?),
        id: get(row, 1, "id")?,
        token_hash: get(row, 2, "token_hash")?,
        user: get(row, 3, "user_id")?,
        role: get(row, 4, "role")?,
        groups: json(row, 5, "groups")?,
        issuer: get(row, 6, "issuer")?,
        csrf: get(row, 7, "csrf")?,
        created_at: get(row, 8, "created_at")?,
        expires_at: get(row, 9, "expires_at")?,
        revoked_at: get(row, 10, "revoked_at")?,
        user_agent: get(row, 11, "user_agent")?,
    })
}

fn login(row: &Row) -> Result<PendingLogin> {
    Ok(PendingLogin {
        state_hash: get(row, 0, "state_hash")?,
        code_verifier: get(row, 1, "code_verifier")?,
        nonce: get(row, 2, "nonce")?,
        redirect_uri: get(row, 3, "redirect_uri")?,
        return_to: get(row, 4, "return_to")?,
        created_at: get(row, 5, "created_at")?,
    })
}

impl SessionRepo for PostgresStore {
    fn insert_session(&self, s: &WebSession) -> Result<()> {
        let groups = to_json(&s.groups)?;
        self.write(&format!("creating session `{}`", s.id), |tx| {
            tx.execute(
                "DELETE FROM web_sessions WHERE expires_at < $1 OR revoked_at < $1",
                &[&s.created_at.saturating_sub(KEEP_ENDED_MS)],
            )
            .map_err(db)?;
            tx.execute(
                &format!(
                    "INSERT INTO web_sessions({COLS})
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
                ),
                &[
                    &s.tenant.as_str(),
                    &s.id,
                    &s.token_hash,
                    &s.user,
                    &s.role,
                    &groups,
                    &s.issuer,
                    &s.csrf,
                    &s.created_at,
                    &s.expires_at,
                    &s.revoked_at,
                    &s.user_agent,
                ],
            )
            .map_err(|e| {
                insert_err(
                    e,
                    || format!("session `{}` already exists", s.id),
                    || format!("tenant `{}`", s.tenant),
                )
            })?;
            Ok(())
        })
    }

    fn find_session(&self, token_hash: &str) -> Result<Option<WebSession>> {
        self.read("looking up a session", |client| {
            client
                .query_opt(
                    &format!("SELECT {COLS} FROM web_sessions WHERE token_hash = $1"),
                    &[&token_hash],
                )
                .map_err(db)?
                .as_ref()
                .map(session)
                .transpose()
        })
    }

    fn list_sessions(&self, tenant: &TenantId, user: Option<&str>) -> Result<Vec<WebSession>> {
        self.read("listing sessions", |client| {
            client
                .query(
                    &format!(
                        "SELECT {COLS} FROM web_sessions
                         WHERE tenant_id = $1 AND ($2::text IS NULL OR user_id = $2)
                         ORDER BY created_at DESC, id COLLATE \"C\""
                    ),
                    &[&tenant.as_str(), &user],
                )
                .map_err(db)?
                .iter()
                .map(session)
                .collect()
        })
    }

    /// One statement: a second revocation keeps the first's time.
    fn revoke_session(&self, tenant: &TenantId, id: &str, now: i64) -> Result<WebSession> {
        self.write(&format!("revoking session `{id}`"), |tx| {
            let row = tx
                .query_opt(
                    &format!(
                        "UPDATE web_sessions SET revoked_at = COALESCE(revoked_at, $3)
                         WHERE tenant_id = $1 AND id = $2
                         RETURNING {COLS}"
                    ),
                    &[&tenant.as_str(), &id, &now],
                )
                .map_err(db)?
                .ok_or_else(|| not_found(format!("session `{id}`")))?;
            session(&row)
        })
    }

    fn revoke_user_sessions(&self, tenant: &TenantId, user: &str, now: i64) -> Result<usize> {
        self.write(&format!("revoking the sessions of `{user}`"), |tx| {
            let n = tx
                .execute(
                    "UPDATE web_sessions SET revoked_at = $3
                     WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL",
                    &[&tenant.as_str(), &user, &now],
                )
                .map_err(db)?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
    }

    fn put_login(&self, l: &PendingLogin, max_age_ms: i64) -> Result<()> {
        self.write("starting a login", |tx| {
            tx.execute(
                "DELETE FROM oidc_logins WHERE created_at < $1",
                &[&l.created_at.saturating_sub(max_age_ms)],
            )
            .map_err(db)?;
            tx.execute(
                &format!("INSERT INTO oidc_logins({LOGIN_COLS}) VALUES ($1, $2, $3, $4, $5, $6)"),
                &[
                    &l.state_hash,
                    &l.code_verifier,
                    &l.nonce,
                    &l.redirect_uri,
                    &l.return_to,
                    &l.created_at,
                ],
            )
            .map_err(db)?;
            Ok(())
        })
    }

    /// `DELETE … RETURNING`: the login is gone whether or not it was still fresh, and
    /// only one caller ever receives it.
    fn take_login(
        &self,
        state_hash: &str,
        now: i64,
        max_age_ms: i64,
    ) -> Result<Option<PendingLogin>> {
        self.write("finishing a login", |tx| {
            let found = tx
                .query_opt(
                    &format!(
                        "DELETE FROM oidc_logins WHERE state_hash = $1 RETURNING {LOGIN_COLS}"
                    ),
                    &[&state_hash],
                )
                .map_err(db)?
                .as_ref()
                .map(login)
                .transpose()?;
            Ok(found.filter(|l| now.saturating_sub(l.created_at) <= max_age_ms))
        })
    }
}
