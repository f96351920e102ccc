//! Saved assistants.
//!
//! Saving is one `INSERT … ON CONFLICT DO UPDATE … RETURNING`: two nodes saving one
//! assistant at once both succeed, the later write wins, and `created_at` stays the
//! first save's.

use super::rows::get;
use super::{PostgresStore, db, insert_err, not_found};
use crate::Result;
use crate::assistant::{Assistant, AssistantRepo};
use cairn_types::{CollectionId, TenantId};
use postgres::{GenericClient, Row};

/// (assistant, collection) beyond the first, in order: of one assistant, or of all.
fn further_collections(
    client: &mut impl GenericClient,
    tenant: &TenantId,
    assistant: Option<&str>,
) -> Result<Vec<(String, CollectionId)>> {
    client
        .query(
            "SELECT assistant_id, collection_id FROM assistant_collections
             WHERE tenant_id = $1 AND ($2::text IS NULL OR assistant_id = $2)
             ORDER BY assistant_id, position",
            &[&tenant.as_str(), &assistant],
        )
        .map_err(db)?
        .iter()
        .map(|row| {
            Ok((
                get::<String>(row, 0, "assistant_id")?,
                CollectionId::new(get::<String>(row, 1, "collection_id")?),
            ))
        })
        .collect()
}

/// `a` with its further collections read.
fn with_collections(client: &mut impl GenericClient, mut a: Assistant) -> Result<Assistant> {
    a.collections = further_collections(client, &a.tenant, Some(&a.id))?
        .into_iter()
        .map(|(_, c)| c)
        .collect();
    Ok(a)
}

const COLS: &str = "tenant_id, id, name, description, collection_id, instructions, model, \
     updated_by, created_at, updated_at";

fn assistant(row: &Row) -> Result<Assistant> {
    Ok(Assistant {
        tenant: TenantId::new(get::<String>(row, 0, "tenant_id")?),
        id: get(row, 1, "id")?,
        name: get(row, 2, "name")?,
        description: get(row, 3, "description")?,
        collection: CollectionId::new(get::<String>(row, 4, "collection_id")?),
        collections: Vec::new(),
        instructions: get(row, 5, "instructions")?,
        model: get(row, 6, "model")?,
        updated_by: get(row, 7, "updated_by")?,
        created_at: get(row, 8, "created_at")?,
        updated_at: get(row, 9, "updated_at")?,
    })
}

impl AssistantRepo for PostgresStore {
    fn put_assistant(&self, a: &Assistant) -> Result<Assistant> {
        self.write(&format!("saving assistant `{}`", a.id), |tx| {
            let row = tx
                .query_one(
                    &format!(
                        "INSERT INTO assistants({COLS})
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                         ON CONFLICT(tenant_id, id) DO UPDATE SET name = excluded.name,
                            description = excluded.description,
                            collection_id = excluded.collection_id,
                            instructions = excluded.instructions, model = excluded.model,
                            updated_by = excluded.updated_by, updated_at = excluded.updated_at
                         RETURNING {COLS}"
                    ),
                    &[
                        &a.tenant.as_str(),
                        &a.id,
                        &a.name,
                        &a.description,
                        &a.collection.as_str(),
                        &a.instructions,
                        &a.model,
                        &a.updated_by,
                        &a.created_at,
                        &a.updated_at,
                    ],
                )
                .map_err(|e| {
                    insert_err(
                        e,
                        || format!("assistant `{}` already exists", a.id),
                        || format!("collection `{}`", a.collection),
                    )
                })?;
            tx.execute(
                "DELETE FROM assistant_collections WHERE tenant_id = $1 AND assistant_id = $2",
                &[&a.tenant.as_str(), &a.id],
            )
            .map_err(db)?;
            for (position, c) in a.collections.iter().enumerate() {
                if *c == a.collection {
                    continue;
                }
                tx.execute(
                    "INSERT INTO assistant_collections(tenant_id, assistant_id, collection_id,
                        position) VALUES ($1, $2, $3, $4)
                     ON CONFLICT DO NOTHING",
                    &[&a.tenant.as_str(), &a.id, &c.as_str(), &(position as i64)],
                )
                .map_err(|e| {
                    insert_err(
                        e,
                        || format!("assistant `{}` already exists", a.id),
                        || format!("collection `{c}`"),
                    )
                })?;
            }
            with_collections(tx, assistant(&row)?)
        })
    }

    fn get_assistant(&self, tenant: &TenantId, id: &str) -> Result<Assistant> {
        self.read(&format!("reading assistant `{id}`"), |client| {
            let row = client
                .query_opt(
                    &format!("SELECT {COLS} FROM assistants WHERE tenant_id = $1 AND id = $2"),
                    &[&tenant.as_str(), &id],
                )
                .map_err(db)?
                .ok_or_else(|| not_found(format!("assistant `{id}`")))?;
            with_collections(client, assistant(&row)?)
        })
    }

    fn list_assistants(&self, tenant: &TenantId) -> Result<Vec<Assistant>> {
        self.read("listing assistants", |client| {
            // Byte order, as SQLite sorts text, whatever the database's locale.
            let mut all = client
                .query(
                    &format!(
                        "SELECT {COLS} FROM assistants WHERE tenant_id = $1
                         ORDER BY name COLLATE \"C\", id COLLATE \"C\""
                    ),
                    &[&tenant.as_str()],
                )
                .map_err(db)?
                .iter()
                .map(assistant)
                .collect::<Result<Vec<_>>>()?;
            for (id, c) in further_collections(client, tenant, None)? {
                if let Some(a) = all.iter_mut().find(|a| a.id == id) {
                    a.collections.push(c);
                }
            }
            Ok(all)
        })
    }

    fn delete_assistant(&self, tenant: &TenantId, id: &str) -> Result<()> {
        self.write(&format!("deleting assistant `{id}`"), |tx| {
            let n = tx
                .execute(
                    "DELETE FROM assistants WHERE tenant_id = $1 AND id = $2",
                    &[&tenant.as_str(), &id],
                )
                .map_err(db)?;
            if n == 0 {
                return Err(not_found(format!("assistant `{id}`")));
            }
            Ok(())
        })
    }
}
