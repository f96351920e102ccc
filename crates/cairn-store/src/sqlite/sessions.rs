//! Web sessions and pending single sign-on logins.

use super::rows::{json, to_json};
use super::{SqliteStore, db, insert_err, not_found};
use crate::Result;
use crate::session::{PendingLogin, SessionRepo, WebSession};
use cairn_types::TenantId;
use rusqlite::{OptionalExtension, Row};

const COLS: &str = "tenant_id, id, token_hash, user_id, role, groups, issuer, csrf, \
     created_at, expires_at, revoked_at, user_agent";

/// Ended sessions are kept this long (for the sessions list), then dropped.
const KEEP_ENDED_MS: i64 = 86_400_000;

fn session(r: &Row<'_>) -> rusqlite::Result<WebSession> {
    Ok(WebSession {
        tenant: TenantId::new(r.get::<_, String>(0)?),
        id: r.get(1)?,
        token_hash: r.get(2)?,
        user: r.get(3)?,
        role: r.get(4)?,
        groups: json(r, 5, "groups")?,
        issuer: r.get(6)?,
        csrf: r.get(7)?,
        created_at: r.get(8)?,
        expires_at: r.get(9)?,
        revoked_at: r.get(10)?,
        user_agent: r.get(11)?,
    })
}

impl SessionRepo for SqliteStore {
    fn insert_session(&self, s: &WebSession) -> Result<()> {
        self.write(&format!("creating session `{}`", s.id), |tx| {
            tx.execute(
                "DELETE FROM web_sessions WHERE expires_at < ?1 OR revoked_at < ?1",
                [s.created_at - KEEP_ENDED_MS],
            )
            .map_err(db)?;
            tx.execute(
                &format!(
                    "INSERT INTO web_sessions({COLS})
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
                ),
                rusqlite::params![
                    s.tenant.as_str(),
                    s.id,
                    s.token_hash,
                    s.user,
                    s.role,
                    to_json(&s.groups)?,
                    s.issuer,
                    s.csrf,
                    s.created_at,
                    s.expires_at,
                    s.revoked_at,
                    s.user_agent,
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
        self.read("looking up a session", |conn| {
            conn.query_row(
                &format!("SELECT {COLS} FROM web_sessions WHERE token_hash = ?1"),
                [token_hash],
                session,
            )
            .optional()
            .map_err(db)
        })
    }

    fn list_sessions(&self, tenant: &TenantId, user: Option<&str>) -> Result<Vec<WebSession>> {
        self.read("listing sessions", |conn| {
            let mut st = conn
                .prepare_cached(&format!(
                    "SELECT {COLS} FROM web_sessions
                     WHERE tenant_id = ?1 AND (?2 IS NULL OR user_id = ?2)
                     ORDER BY created_at DESC, id"
                ))
                .map_err(db)?;
            let rows = st.query_map((tenant.as_str(), user), session).map_err(db)?;
            rows.collect::<rusqlite::Result<_>>().map_err(db)
        })
    }

    fn revoke_session(&self, tenant: &TenantId, id: &str, now: i64) -> Result<WebSession> {
        self.write(&format!("revoking session `{id}`"), |tx| {
            tx.execute(
                "UPDATE web_sessions SET revoked_at = COALESCE(revoked_at, ?3)
                 WHERE tenant_id = ?1 AND id = ?2",
                (tenant.as_str(), id, now),
            )
            .map_err(db)?;
            tx.query_row(
                &format!("SELECT {COLS} FROM web_sessions WHERE tenant_id = ?1 AND id = ?2"),
                (tenant.as_str(), id),
                session,
            )
            .optional()
            .map_err(db)?
            .ok_or_else(|| not_found(format!("session `{id}`")))
        })
    }

    fn revoke_user_sessions(&self, tenant: &TenantId, user: &str, now: i64) -> Result<usize> {
        self.write(&format!("revoking the sessions of `{user}`"), |tx| {
            tx.execute(
                "UPDATE web_sessions SET revoked_at = ?3
                 WHERE tenant_id = ?1 AND user_id = ?2 AND revoked_at IS NULL",
                (tenant.as_str(), user, now),
            )
            .map_err(db)
        })
    }

    fn put_login(&self, l: &PendingLogin, max_age_ms: i64) -> Result<()> {
        self.write("starting a login", |tx| {
            tx.execute(
                "DELETE FROM oidc_logins WHERE created_at < ?1",
                [l.created_at - max_age_ms],
            )
            .map_err(db)?;
            tx.execute(
                "INSERT INTO oidc_logins(state_hash, code_verifier, nonce, redirect_uri,
                     return_to, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                rusqlite::params![
                    l.state_hash,
                    l.code_verifier,
                    l.nonce,
                    l.redirect_uri,
                    l.return_to,
                    l.created_at
                ],
            )
            .map_err(db)?;
            Ok(())
        })
    }

    fn take_login(
        &self,
        state_hash: &str,
        now: i64,
        max_age_ms: i64,
    ) -> Result<Option<PendingLogin>> {
        self.write("finishing a login", |tx| {
            let found = tx
                .query_row(
                    "SELECT state_hash, code_verifier, nonce, redirect_uri, return_to, created_at
                     FROM oidc_logins WHERE state_hash = ?1",
                    [state_hash],
                    |r| {
                        Ok(PendingLogin {
                            state_hash: r.get(0)?,
                            code_verifier: r.get(1)?,
                            nonce: r.get(2)?,
                            redirect_uri: r.get(3)?,
                            return_to: r.get(4)?,
                            created_at: r.get(5)?,
                        })
                    },
                )
                .optional()
                .map_err(db)?;
            tx.execute(
                "DELETE FROM oidc_logins WHERE state_hash = ?1",
                [state_hash],
            )
            .map_err(db)?;
            Ok(found.filter(|l| now - l.created_at <= max_age_ms))
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::TenantRepo;

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("cairn.db")).unwrap();
        for t in ["acme", "globex"] {
            s.ensure_tenant(&TenantId::new(t), t, 0).unwrap();
        }
        (dir, s)
    }

    fn session_of(tenant: &str, id: &str, user: &str, at: i64) -> WebSession {
        WebSession {
            tenant: TenantId::new(tenant),
            id: id.into(),
            token_hash: format!("hash-{id}"),
            user: user.into(),
            role: "member".into(),
            groups: vec!["eng".into()],
            issuer: "https://idp.test".into(),
            csrf: format!("csrf-{id}"),
            created_at: at,
            expires_at: at + 1000,
            revoked_at: None,
            user_agent: "test".into(),
        }
    }

    #[test]
    fn sessions_are_found_by_hash_and_revoked_within_their_tenant() {
        let (_d, s) = store();
        s.insert_session(&session_of("acme", "ses_a", "alice", 10))
            .unwrap();
        s.insert_session(&session_of("acme", "ses_b", "bob", 20))
            .unwrap();
        s.insert_session(&session_of("globex", "ses_g", "alice", 30))
            .unwrap();
        let a = s.find_session("hash-ses_a").unwrap().unwrap();
        assert_eq!(
            (a.user.as_str(), a.groups.clone()),
            ("alice", vec!["eng".into()])
        );
        assert!(a.is_live(500) && !a.is_live(1010));
        assert!(s.find_session("hash-nope").unwrap().is_none());
        let acme = TenantId::new("acme");
        let ids: Vec<_> = s
            .list_sessions(&acme, None)
            .unwrap()
            .into_iter()
            .map(|x| x.id)
            .collect();
        assert_eq!(ids, ["ses_b", "ses_a"]);
        assert_eq!(s.list_sessions(&acme, Some("alice")).unwrap().len(), 1);
        // Another tenant's session id is not found, and stays live.
        assert!(s.revoke_session(&acme, "ses_g", 40).is_err());
        assert!(
            s.find_session("hash-ses_g")
                .unwrap()
                .unwrap()
                .revoked_at
                .is_none()
        );
        assert_eq!(
            s.revoke_session(&acme, "ses_a", 40).unwrap().revoked_at,
            Some(40)
        );
        assert_eq!(
            s.revoke_session(&acme, "ses_a", 50).unwrap().revoked_at,
            Some(40)
        );
        assert_eq!(s.revoke_user_sessions(&acme, "bob", 60).unwrap(), 1);
        assert_eq!(s.revoke_user_sessions(&acme, "bob", 70).unwrap(), 0);
        assert!(!s.find_session("hash-ses_b").unwrap().unwrap().is_live(61));
        // A day after they ended, ended sessions are dropped when a new one starts.
        s.insert_session(&session_of("acme", "ses_c", "carol", 100 + KEEP_ENDED_MS))
            .unwrap();
        assert!(s.find_session("hash-ses_a").unwrap().is_none());
        assert!(s.find_session("hash-ses_c").unwrap().is_some());
    }

    #[test]
    fn a_login_is_taken_once_and_only_while_fresh() {
        let (_d, s) = store();
        let login = |state: &str, at: i64| PendingLogin {
            state_hash: state.into(),
            code_verifier: "v".into(),
            nonce: "n".into(),
            redirect_uri: "http://127.0.0.1/cb".into(),
            return_to: "/".into(),
            created_at: at,
        };
        s.put_login(&login("s1", 1000), 600).unwrap();
        s.put_login(&login("s2", 1000), 600).unwrap();
        assert_eq!(s.take_login("s1", 1100, 600).unwrap().unwrap().nonce, "n");
        assert!(s.take_login("s1", 1100, 600).unwrap().is_none(), "replayed");
        assert!(s.take_login("s2", 1700, 600).unwrap().is_none(), "stale");
        assert!(
            s.take_login("s2", 1100, 600).unwrap().is_none(),
            "stale ones are gone too"
        );
    }
}
