//! Saved assistants.

use super::{SqliteStore, db, insert_err, not_found};
use crate::Result;
use crate::assistant::{Assistant, AssistantRepo};
use cairn_types::{CollectionId, TenantId};
use rusqlite::{Connection, OptionalExtension, Row};

const COLS: &str = "tenant_id, id, name, description, collection_id, instructions, model, \
     updated_by, created_at, updated_at";

fn assistant(r: &Row<'_>) -> rusqlite::Result<Assistant> {
    Ok(Assistant {
        tenant: TenantId::new(r.get::<_, String>(0)?),
        id: r.get(1)?,
        name: r.get(2)?,
        description: r.get(3)?,
        collection: CollectionId::new(r.get::<_, String>(4)?),
        collections: Vec::new(),
        instructions: r.get(5)?,
        model: r.get(6)?,
        updated_by: r.get(7)?,
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
    })
}

fn load(conn: &Connection, tenant: &TenantId, id: &str) -> Result<Assistant> {
    let mut a = conn
        .query_row(
            &format!("SELECT {COLS} FROM assistants WHERE tenant_id = ?1 AND id = ?2"),
            (tenant.as_str(), id),
            assistant,
        )
        .optional()
        .map_err(db)?
        .ok_or_else(|| not_found(format!("assistant `{id}`")))?;
    a.collections = further_collections(conn, tenant, Some(id))?
        .into_iter()
        .map(|(_, c)| c)
        .collect();
    Ok(a)
}

/// (assistant, collection) beyond the first, in order: of one assistant, or of all.
fn further_collections(
    conn: &Connection,
    tenant: &TenantId,
    assistant: Option<&str>,
) -> Result<Vec<(String, CollectionId)>> {
    let mut st = conn
        .prepare_cached(
            "SELECT assistant_id, collection_id FROM assistant_collections
             WHERE tenant_id = ?1 AND (?2 IS NULL OR assistant_id = ?2)
             ORDER BY assistant_id, position",
        )
        .map_err(db)?;
    let rows = st
        .query_map((tenant.as_str(), assistant), |r| {
            Ok((r.get(0)?, CollectionId::new(r.get::<_, String>(1)?)))
        })
        .map_err(db)?;
    rows.collect::<rusqlite::Result<_>>().map_err(db)
}

impl AssistantRepo for SqliteStore {
    fn put_assistant(&self, a: &Assistant) -> Result<Assistant> {
        self.write(&format!("saving assistant `{}`", a.id), |tx| {
            tx.execute(
                &format!(
                    "INSERT INTO assistants({COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                     ON CONFLICT(tenant_id, id) DO UPDATE SET name = excluded.name,
                        description = excluded.description, collection_id = excluded.collection_id,
                        instructions = excluded.instructions, model = excluded.model,
                        updated_by = excluded.updated_by, updated_at = excluded.updated_at"
                ),
                rusqlite::params![
                    a.tenant.as_str(),
                    a.id,
                    a.name,
                    a.description,
                    a.collection.as_str(),
                    a.instructions,
                    a.model,
                    a.updated_by,
                    a.created_at,
                    a.updated_at,
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
                "DELETE FROM assistant_collections WHERE tenant_id = ?1 AND assistant_id = ?2",
                (a.tenant.as_str(), &a.id),
            )
            .map_err(db)?;
            for (position, c) in a.collections.iter().enumerate() {
                if *c == a.collection {
                    continue;
                }
                tx.execute(
                    "INSERT INTO assistant_collections(tenant_id, assistant_id, collection_id,
                        position) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT DO NOTHING",
                    (a.tenant.as_str(), &a.id, c.as_str(), position as i64),
                )
                .map_err(|e| {
                    insert_err(
                        e,
                        || format!("assistant `{}` already exists", a.id),
                        || format!("collection `{c}`"),
                    )
                })?;
            }
            load(tx, &a.tenant, &a.id)
        })
    }

    fn get_assistant(&self, tenant: &TenantId, id: &str) -> Result<Assistant> {
        self.read(&format!("reading assistant `{id}`"), |conn| {
            load(conn, tenant, id)
        })
    }

    fn list_assistants(&self, tenant: &TenantId) -> Result<Vec<Assistant>> {
        self.read("listing assistants", |conn| {
            let mut st = conn
                .prepare_cached(&format!(
                    "SELECT {COLS} FROM assistants WHERE tenant_id = ?1 ORDER BY name, id"
                ))
                .map_err(db)?;
            let rows = st.query_map([tenant.as_str()], assistant).map_err(db)?;
            let mut all: Vec<Assistant> = rows.collect::<rusqlite::Result<_>>().map_err(db)?;
            for (id, c) in further_collections(conn, tenant, None)? {
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
                    "DELETE FROM assistants WHERE tenant_id = ?1 AND id = ?2",
                    (tenant.as_str(), id),
                )
                .map_err(db)?;
            if n == 0 {
                return Err(not_found(format!("assistant `{id}`")));
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::{CollectionRepo, TenantRepo};

    fn bot(tenant: &str, id: &str, collection: &str, at: i64) -> Assistant {
        Assistant {
            tenant: TenantId::new(tenant),
            id: id.into(),
            name: format!("{id} bot"),
            description: String::new(),
            collection: CollectionId::new(collection),
            collections: Vec::new(),
            instructions: "Answer in French.".into(),
            model: None,
            updated_by: "user:ann".into(),
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn assistants_are_saved_per_tenant_over_their_collection() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("cairn.db")).unwrap();
        for t in ["acme", "globex"] {
            let t = TenantId::new(t);
            s.ensure_tenant(&t, t.as_str(), 0).unwrap();
            let chunking = cairn_types::ChunkingSpec {
                kind: cairn_types::ChunkerKind::Recursive,
                max_tokens: 256,
                overlap_tokens: 32,
                child_tokens: 64,
            };
            s.create_collection(&t, &CollectionId::new("kb"), "", &chunking, 0)
                .unwrap();
        }
        let acme = TenantId::new("acme");
        s.put_assistant(&bot("acme", "fr", "kb", 10)).unwrap();
        let mut changed = bot("acme", "fr", "kb", 20);
        changed.model = Some("fake".into());
        let saved = s.put_assistant(&changed).unwrap();
        assert_eq!(
            (saved.created_at, saved.updated_at),
            (10, 20),
            "keeps created_at"
        );
        assert_eq!(saved.model.as_deref(), Some("fake"));
        assert!(
            s.put_assistant(&bot("acme", "x", "nope", 1)).is_err(),
            "unknown collection"
        );
        assert_eq!(s.list_assistants(&acme).unwrap().len(), 1);
        let globex = TenantId::new("globex");
        assert!(s.list_assistants(&globex).unwrap().is_empty());
        assert!(s.get_assistant(&globex, "fr").is_err());
        assert!(s.delete_assistant(&globex, "fr").is_err());
        // Deleting the collection deletes its assistants.
        s.delete_collection(&acme, &CollectionId::new("kb"))
            .unwrap();
        assert!(s.list_assistants(&acme).unwrap().is_empty());
    }
}
