//! Users and API keys on PostgreSQL.
//!
//! Every write is one statement except a rotation, which locks the old key's row
//! (`FOR UPDATE`) before checking that it is not revoked: two nodes rotating one key at
//! once cannot both pass the check and leave two successors. A key's `lookup` is unique
//! across tenants by index, so a taken lookup is a `Conflict` whichever tenant holds it.

use super::rows::{get, json};
use super::{PostgresStore, db, insert_err, not_found};
use crate::columns::to_json;
use crate::security::IdentityRepo;
use crate::{Error, Result};
use cairn_types::{ApiKey, TenantId, User};
use postgres::{GenericClient, Row, Transaction};

pub(super) const USER_COLS: &str =
    "tenant_id, id, email, name, role, groups, disabled, created_at, updated_at";
pub(super) const KEY_COLS: &str = "tenant_id, id, lookup, hash, name, user_id, role, scopes, rpm, tpm, \
     expires_at, revoked_at, rotated_from, last_used_at, created_at";

pub(super) fn user(r: &Row) -> Result<User> {
    Ok(User {
        tenant: TenantId::new(get::<String>(r, 0, "tenant_id")?),
        id: get(r, 1, "id")?,
        email: get(r, 2, "email")?,
        name: get(r, 3, "name")?,
        role: get(r, 4, "role")?,
        groups: json(r, 5, "groups")?,
        disabled: get::<i64>(r, 6, "disabled")? != 0,
        created_at: get(r, 7, "created_at")?,
        updated_at: get(r, 8, "updated_at")?,
    })
}

pub(super) fn key(r: &Row) -> Result<ApiKey> {
    Ok(ApiKey {
        tenant: TenantId::new(get::<String>(r, 0, "tenant_id")?),
        id: get(r, 1, "id")?,
        lookup: get(r, 2, "lookup")?,
        hash: get(r, 3, "hash")?,
        name: get(r, 4, "name")?,
        user: get(r, 5, "user_id")?,
        role: get(r, 6, "role")?,
        scopes: json(r, 7, "scopes")?,
        rpm: get(r, 8, "rpm")?,
        tpm: get(r, 9, "tpm")?,
        expires_at: get(r, 10, "expires_at")?,
        revoked_at: get(r, 11, "revoked_at")?,
        rotated_from: get(r, 12, "rotated_from")?,
        last_used_at: get(r, 13, "last_used_at")?,
        created_at: get(r, 14, "created_at")?,
    })
}

fn insert_key_tx(tx: &mut Transaction<'_>, k: &ApiKey) -> Result<()> {
    let scopes = to_json(&k.scopes)?;
    tx.execute(
        &format!(
            "INSERT INTO api_keys({KEY_COLS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        ),
        &[
            &k.tenant.as_str(),
            &k.id,
            &k.lookup,
            &k.hash,
            &k.name,
            &k.user,
            &k.role,
            &scopes,
            &k.rpm,
            &k.tpm,
            &k.expires_at,
            &k.revoked_at,
            &k.rotated_from,
            &k.last_used_at,
            &k.created_at,
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

/// The key `id` of `tenant`; `lock` adds `FOR UPDATE` (inside a write transaction).
fn load_key(
    client: &mut impl GenericClient,
    tenant: &TenantId,
    id: &str,
    lock: bool,
) -> Result<ApiKey> {
    let sql = format!(
        "SELECT {KEY_COLS} FROM api_keys WHERE tenant_id = $1 AND id = $2{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    let row = client
        .query_opt(&sql, &[&tenant.as_str(), &id])
        .map_err(db)?
        .ok_or_else(|| not_found(format!("API key `{id}`")))?;
    key(&row)
}

impl IdentityRepo for PostgresStore {
    fn upsert_user(&self, u: &User) -> Result<User> {
        let groups = to_json(&u.groups)?;
        self.write(&format!("saving user `{}`", u.id), |tx| {
            // One statement: a concurrent upsert of the same user either inserts first
            // (and this one updates it) or waits for this one.
            let row = tx
                .query_one(
                    &format!(
                        "INSERT INTO users({USER_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                         ON CONFLICT(tenant_id, id) DO UPDATE SET email = EXCLUDED.email,
                            name = EXCLUDED.name, role = EXCLUDED.role,
                            groups = EXCLUDED.groups, disabled = EXCLUDED.disabled,
                            updated_at = EXCLUDED.updated_at
                         RETURNING {USER_COLS}"
                    ),
                    &[
                        &u.tenant.as_str(),
                        &u.id,
                        &u.email,
                        &u.name,
                        &u.role,
                        &groups,
                        &i64::from(u.disabled),
                        &u.created_at,
                        &u.updated_at,
                    ],
                )
                .map_err(|e| {
                    insert_err(
                        e,
                        || format!("user `{}` already exists", u.id),
                        || format!("tenant `{}`", u.tenant),
                    )
                })?;
            user(&row)
        })
    }

    fn get_user(&self, tenant: &TenantId, id: &str) -> Result<User> {
        self.read(&format!("reading user `{id}`"), |client| {
            let row = client
                .query_opt(
                    &format!("SELECT {USER_COLS} FROM users WHERE tenant_id = $1 AND id = $2"),
                    &[&tenant.as_str(), &id],
                )
                .map_err(db)?
                .ok_or_else(|| not_found(format!("user `{id}`")))?;
            user(&row)
        })
    }

    fn list_users(&self, tenant: &TenantId) -> Result<Vec<User>> {
        self.read("listing users", |client| {
            client
                .query(
                    &format!("SELECT {USER_COLS} FROM users WHERE tenant_id = $1 ORDER BY id"),
                    &[&tenant.as_str()],
                )
                .map_err(db)?
                .iter()
                .map(user)
                .collect()
        })
    }

    fn insert_key(&self, k: &ApiKey) -> Result<()> {
        self.write(&format!("creating API key `{}`", k.id), |tx| {
            insert_key_tx(tx, k)
        })
    }

    fn find_key_by_lookup(&self, lookup: &str) -> Result<Option<ApiKey>> {
        self.read("looking up an API key", |client| {
            client
                .query_opt(
                    &format!("SELECT {KEY_COLS} FROM api_keys WHERE lookup = $1"),
                    &[&lookup],
                )
                .map_err(db)?
                .as_ref()
                .map(key)
                .transpose()
        })
    }

    fn get_key(&self, tenant: &TenantId, id: &str) -> Result<ApiKey> {
        self.read(&format!("reading API key `{id}`"), |client| {
            load_key(client, tenant, id, false)
        })
    }

    fn list_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKey>> {
        self.read("listing API keys", |client| {
            client
                .query(
                    &format!(
                        "SELECT {KEY_COLS} FROM api_keys WHERE tenant_id = $1
                         ORDER BY created_at, id"
                    ),
                    &[&tenant.as_str()],
                )
                .map_err(db)?
                .iter()
                .map(key)
                .collect()
        })
    }

    fn revoke_key(&self, tenant: &TenantId, id: &str, now: i64) -> Result<ApiKey> {
        self.write(&format!("revoking API key `{id}`"), |tx| {
            // `COALESCE` in the update itself: of two concurrent revocations the first
            // time wins, the second finds it set.
            let row = tx
                .query_opt(
                    &format!(
                        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3)
                         WHERE tenant_id = $1 AND id = $2 RETURNING {KEY_COLS}"
                    ),
                    &[&tenant.as_str(), &id, &now],
                )
                .map_err(db)?
                .ok_or_else(|| not_found(format!("API key `{id}`")))?;
            key(&row)
        })
    }

    fn rotate_key(&self, tenant: &TenantId, old_id: &str, new: &ApiKey, now: i64) -> Result<()> {
        self.write(&format!("rotating API key `{old_id}`"), |tx| {
            // The row lock makes check-then-revoke atomic: a concurrent rotation or
            // revocation of the same key waits here and then sees it revoked.
            let old = load_key(tx, tenant, old_id, true)?;
            if old.revoked_at.is_some() {
                return Err(Error::Conflict(format!(
                    "API key `{old_id}` is revoked; create a new one instead"
                )));
            }
            tx.execute(
                "UPDATE api_keys SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2",
                &[&tenant.as_str(), &old_id, &now],
            )
            .map_err(db)?;
            insert_key_tx(tx, new)
        })
    }

    fn touch_key(&self, tenant: &TenantId, id: &str, now: i64) -> Result<()> {
        self.write("touching an API key", |tx| {
            // Best-effort bookkeeping, like SQLite's relaxed durability: the commit does
            // not wait for the WAL flush (a crash may lose the last touches, never
            // anything else, and never leaves a half-written row).
            tx.batch_execute("SET LOCAL synchronous_commit TO OFF")
                .map_err(db)?;
            tx.execute(
                "UPDATE api_keys SET last_used_at = $3 WHERE tenant_id = $1 AND id = $2",
                &[&tenant.as_str(), &id, &now],
            )
            .map_err(db)?;
            Ok(())
        })
    }
}
