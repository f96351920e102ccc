//! Users and API keys.

use super::rows::{json, to_json};
use super::{SqliteStore, db, insert_err, not_found};
use crate::Result;
use crate::security::IdentityRepo;
use cairn_types::{ApiKey, TenantId, User};
use rusqlite::{OptionalExtension, Row, Transaction};

const USER_COLS: &str =
    "tenant_id, id, email, name, role, groups, disabled, created_at, updated_at";
const KEY_COLS: &str = "tenant_id, id, lookup, hash, name, user_id, role, scopes, rpm, tpm, \
     expires_at, revoked_at, rotated_from, last_used_at, created_at";

fn user(r: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        tenant: TenantId::new(r.get::<_, String>(0)?),
        id: r.get(1)?,
        email: r.get(2)?,
        name: r.get(3)?,
        role: r.get(4)?,
        groups: json(r, 5, "groups")?,
        disabled: r.get::<_, i64>(6)? != 0,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
    })
}

fn key(r: &Row<'_>) -> rusqlite::Result<ApiKey> {
    Ok(ApiKey {
        tenant: TenantId::new(r.get::<_, String>(0)?),
        id: r.get(1)?,
        lookup: r.get(2)?,
        hash: r.get(3)?,
        name: r.get(4)?,
        user: r.get(5)?,
        role: r.get(6)?,
        scopes: json(r, 7, "scopes")?,
        rpm: r.get(8)?,
        tpm: r.get(9)?,
        expires_at: r.get(10)?,
        revoked_at: r.get(11)?,
        rotated_from: r.get(12)?,
        last_used_at: r.get(13)?,
        created_at: r.get(14)?,
    })
}

fn insert_key_tx(tx: &Transaction<'_>, k: &ApiKey) -> Result<()> {
    tx.execute(
        &format!(
            "INSERT INTO api_keys({KEY_COLS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
        ),
        rusqlite::params![
            k.tenant.as_str(),
            k.id,
            k.lookup,
            k.hash,
            k.name,
            k.user,
            k.role,
            to_json(&k.scopes)?,
            k.rpm,
            k.tpm,
            k.expires_at,
            k.revoked_at,
            k.rotated_from,
            k.last_used_at,
            k.created_at,
        ],
    )
    .map_err(|e| {
        insert_err(
            e,
            || format!("API key `{}` already exists", k.id),
            || format!("tenant `{}`", k.tenant),
        )
    })?;
    Ok(())
}

fn load_key(conn: &rusqlite::Connection, tenant: &TenantId, id: &str) -> Result<ApiKey> {
    conn.query_row(
        &format!("SELECT {KEY_COLS} FROM api_keys WHERE tenant_id = ?1 AND id = ?2"),
        (tenant.as_str(), id),
        key,
    )
    .optional()
    .map_err(db)?
    .ok_or_else(|| not_found(format!("API key `{id}`")))
}

impl IdentityRepo for SqliteStore {
    fn upsert_user(&self, u: &User) -> Result<User> {
        self.write(&format!("saving user `{}`", u.id), |tx| {
            tx.execute(
                &format!(
                    "INSERT INTO users({USER_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                     ON CONFLICT(tenant_id, id) DO UPDATE SET email = excluded.email,
                        name = excluded.name, role = excluded.role, groups = excluded.groups,
                        disabled = excluded.disabled, updated_at = excluded.updated_at"
                ),
                rusqlite::params![
                    u.tenant.as_str(),
                    u.id,
                    u.email,
                    u.name,
                    u.role,
                    to_json(&u.groups)?,
                    i64::from(u.disabled),
                    u.created_at,
                    u.updated_at,
                ],
            )
            .map_err(|e| {
                insert_err(
                    e,
                    || format!("user `{}` already exists", u.id),
                    || format!("tenant `{}`", u.tenant),
                )
            })?;
            tx.query_row(
                &format!("SELECT {USER_COLS} FROM users WHERE tenant_id = ?1 AND id = ?2"),
                (u.tenant.as_str(), u.id.as_str()),
                user,
            )
            .map_err(db)
        })
    }

    fn get_user(&self, tenant: &TenantId, id: &str) -> Result<User> {
        self.read(&format!("reading user `{id}`"), |conn| {
            conn.query_row(
                &format!("SELECT {USER_COLS} FROM users WHERE tenant_id = ?1 AND id = ?2"),
                (tenant.as_str(), id),
                user,
            )
            .optional()
            .map_err(db)?
            .ok_or_else(|| not_found(format!("user `{id}`")))
        })
    }

    fn list_users(&self, tenant: &TenantId) -> Result<Vec<User>> {
        self.read("listing users", |conn| {
            let mut st = conn
                .prepare_cached(&format!(
                    "SELECT {USER_COLS} FROM users WHERE tenant_id = ?1 ORDER BY id"
                ))
                .map_err(db)?;
            let rows = st.query_map([tenant.as_str()], user).map_err(db)?;
            rows.collect::<rusqlite::Result<_>>().map_err(db)
        })
    }

    fn insert_key(&self, k: &ApiKey) -> Result<()> {
        self.write(&format!("creating API key `{}`", k.id), |tx| {
            insert_key_tx(tx, k)
        })
    }

    fn find_key_by_lookup(&self, lookup: &str) -> Result<Option<ApiKey>> {
        self.read("looking up an API key", |conn| {
            conn.query_row(
                &format!("SELECT {KEY_COLS} FROM api_keys WHERE lookup = ?1"),
                [lookup],
                key,
            )
            .optional()
            .map_err(db)
        })
    }

    fn get_key(&self, tenant: &TenantId, id: &str) -> Result<ApiKey> {
        self.read(&format!("reading API key `{id}`"), |conn| {
            load_key(conn, tenant, id)
        })
    }

    fn list_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKey>> {
        self.read("listing API keys", |conn| {
            let mut st = conn
                .prepare_cached(&format!(
                    "SELECT {KEY_COLS} FROM api_keys WHERE tenant_id = ?1 ORDER BY created_at, id"
                ))
                .map_err(db)?;
            let rows = st.query_map([tenant.as_str()], key).map_err(db)?;
            rows.collect::<rusqlite::Result<_>>().map_err(db)
        })
    }

    fn revoke_key(&self, tenant: &TenantId, id: &str, now: i64) -> Result<ApiKey> {
        self.write(&format!("revoking API key `{id}`"), |tx| {
            tx.execute(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?3)
                 WHERE tenant_id = ?1 AND id = ?2",
                (tenant.as_str(), id, now),
            )
            .map_err(db)?;
            load_key(tx, tenant, id)
        })
    }

    fn rotate_key(&self, tenant: &TenantId, old_id: &str, new: &ApiKey, now: i64) -> Result<()> {
        self.write(&format!("rotating API key `{old_id}`"), |tx| {
            let old = load_key(tx, tenant, old_id)?;
            if old.revoked_at.is_some() {
                return Err(crate::Error::Conflict(format!(
                    "API key `{old_id}` is revoked; create a new one instead"
                )));
            }
            tx.execute(
                "UPDATE api_keys SET revoked_at = ?3 WHERE tenant_id = ?1 AND id = ?2",
                (tenant.as_str(), old_id, now),
            )
            .map_err(db)?;
            insert_key_tx(tx, new)
        })
    }

    fn touch_key(&self, tenant: &TenantId, id: &str, now: i64) -> Result<()> {
        self.write_with(super::Durability::Relaxed, "touching an API key", |tx| {
            tx.execute(
                "UPDATE api_keys SET last_used_at = ?3 WHERE tenant_id = ?1 AND id = ?2",
                (tenant.as_str(), id, now),
            )
            .map_err(db)?;
            Ok(())
        })
    }
}
