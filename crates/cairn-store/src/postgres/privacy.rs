//! GDPR access (export) and erasure of everything one owner created in a tenant, on
//! PostgreSQL.
//!
//! The export reads in one REPEATABLE READ, read-only transaction, so it is one
//! consistent snapshot even while other nodes write. The erasure is one transaction
//! that first takes a share lock on the tenant's row (in `erase_blocker`): placing or
//! lifting a legal hold locks that row for update, so a hold either commits before the
//! erasure's check (and refuses it) or waits until the erasure has committed in full.
//! Its index change log entries are appended last (`log_change`), so the log's lock is
//! held only for the commit.

use super::commit::log_change;
use super::conversations::{
    ANSWER_COLS, CONV_COLS, FEEDBACK_COLS, answer, conversation, feedback, message,
};
use super::identity::{KEY_COLS, USER_COLS, key, user};
use super::lifecycle::erase_blocker;
use super::rows::{document, get};
use super::{PostgresStore, db};
use crate::columns::DOC_COLS;
use crate::security::{ErasureReport, PrivacyRepo, UserExport};
use crate::{Error, Result};
use cairn_types::{CollectionId, DocumentId, TenantId};
use postgres::{GenericClient, IsolationLevel, Row};

/// The rows `sql` selects for `(tenant, owner)`, decoded.
fn owned<T>(
    client: &mut impl GenericClient,
    sql: &str,
    tenant: &TenantId,
    owner: &str,
    decode: fn(&Row) -> Result<T>,
) -> Result<Vec<T>> {
    client
        .query(sql, &[&tenant.as_str(), &owner])
        .map_err(db)?
        .iter()
        .map(decode)
        .collect()
}

fn count(
    client: &mut impl GenericClient,
    sql: &str,
    tenant: &TenantId,
    owner: &str,
) -> Result<usize> {
    let row = client
        .query_one(sql, &[&tenant.as_str(), &owner])
        .map_err(db)?;
    Ok(usize::try_from(get::<i64>(&row, 0, "count")?).unwrap_or(0))
}

impl PrivacyRepo for PostgresStore {
    fn export_owner(&self, tenant: &TenantId, owner: &str) -> Result<UserExport> {
        let mut export = self.read(&format!("exporting `{owner}`"), |client| {
            let mut tx = client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .map_err(db)?;
            let t = tenant.as_str();
            let user = tx
                .query_opt(
                    &format!("SELECT {USER_COLS} FROM users WHERE tenant_id = $1 AND id = $2"),
                    &[&t, &owner],
                )
                .map_err(db)?
                .as_ref()
                .map(user)
                .transpose()?;
            let api_keys = owned(
                &mut tx,
                &format!(
                    "SELECT {KEY_COLS} FROM api_keys WHERE tenant_id = $1 AND user_id = $2
                     ORDER BY created_at, id"
                ),
                tenant,
                owner,
                key,
            )?;
            let convs = owned(
                &mut tx,
                &format!(
                    "SELECT {CONV_COLS} FROM conversations
                     WHERE tenant_id = $1 AND owner = $2 ORDER BY created_at, id"
                ),
                tenant,
                owner,
                conversation,
            )?;
            let answers = owned(
                &mut tx,
                &format!(
                    "SELECT {ANSWER_COLS} FROM answers
                     WHERE tenant_id = $1 AND owner = $2 ORDER BY created_at, id"
                ),
                tenant,
                owner,
                answer,
            )?;
            let feedback_rows = owned(
                &mut tx,
                &format!(
                    "SELECT {FEEDBACK_COLS} FROM feedback
                     WHERE tenant_id = $1 AND owner = $2 ORDER BY created_at, id"
                ),
                tenant,
                owner,
                feedback,
            )?;
            let docs = owned(
                &mut tx,
                &format!(
                    "SELECT {DOC_COLS} FROM documents
                     WHERE tenant_id = $1 AND owner = $2 ORDER BY created_at, id"
                ),
                tenant,
                owner,
                document,
            )?;
            let messages_of = tx
                .prepare(
                    "SELECT seq, role, content, answer_id, created_at FROM messages
                     WHERE tenant_id = $1 AND conversation_id = $2 ORDER BY seq",
                )
                .map_err(db)?;
            let mut conversations = Vec::with_capacity(convs.len());
            for c in convs {
                let messages = tx
                    .query(&messages_of, &[&t, &c.id.as_str()])
                    .map_err(db)?
                    .iter()
                    .map(message)
                    .collect::<Result<Vec<_>>>()?;
                conversations.push((c, messages));
            }
            let texts_of = tx
                .prepare(
                    "SELECT text FROM chunks WHERE tenant_id = $1 AND document_id = $2
                     ORDER BY ordinal",
                )
                .map_err(db)?;
            let mut documents = Vec::with_capacity(docs.len());
            for d in docs {
                let texts = tx
                    .query(&texts_of, &[&t, &d.id.as_str()])
                    .map_err(db)?
                    .iter()
                    .map(|r| get::<String>(r, 0, "text"))
                    .collect::<Result<Vec<_>>>()?;
                documents.push((d, texts));
            }
            tx.commit().map_err(db)?;
            Ok(UserExport {
                tenant: tenant.clone(),
                user,
                api_keys,
                conversations,
                answers,
                feedback: feedback_rows,
                documents,
                uploads: Vec::new(),
            })
        })?;
        export.uploads = crate::upload::owned_uploads(self, tenant, owner)?;
        Ok(export)
    }

    fn erase_owner(&self, tenant: &TenantId, owner: &str) -> Result<ErasureReport> {
        self.write(&format!("erasing `{owner}`"), |tx| {
            if let Some(why) = erase_blocker(tx, tenant, owner)? {
                return Err(Error::Conflict(why));
            }
            let t = tenant.as_str();
            let mut r = ErasureReport {
                messages: count(
                    tx,
                    "SELECT COUNT(*) FROM messages m JOIN conversations c
                       ON c.tenant_id = m.tenant_id AND c.id = m.conversation_id
                     WHERE m.tenant_id = $1 AND c.owner = $2",
                    tenant,
                    owner,
                )?,
                chunks: count(
                    tx,
                    "SELECT COUNT(*) FROM chunks ch JOIN documents d
                       ON d.tenant_id = ch.tenant_id AND d.id = ch.document_id
                     WHERE ch.tenant_id = $1 AND d.owner = $2",
                    tenant,
                    owner,
                )?,
                ..ErasureReport::default()
            };
            let docs = tx
                .query(
                    "DELETE FROM documents WHERE tenant_id = $1 AND owner = $2
                     RETURNING id, collection_id",
                    &[&t, &owner],
                )
                .map_err(db)?
                .iter()
                .map(|row| {
                    Ok((
                        get::<String>(row, 0, "id")?,
                        get::<String>(row, 1, "collection_id")?,
                    ))
                })
                .collect::<Result<Vec<(String, String)>>>()?;
            r.documents = docs.len();
            let mut exec = |sql: &str| -> Result<usize> {
                let n = tx.execute(sql, &[&t, &owner]).map_err(db)?;
                Ok(usize::try_from(n).unwrap_or(usize::MAX))
            };
            // Feedback they gave, and feedback others gave on their answers.
            r.feedback = exec(
                "DELETE FROM feedback WHERE tenant_id = $1 AND (owner = $2 OR answer_id IN
                    (SELECT id FROM answers WHERE tenant_id = $1 AND owner = $2))",
            )?;
            r.answers = exec("DELETE FROM answers WHERE tenant_id = $1 AND owner = $2")?;
            // Their uploads' bytes, and the jobs of their uploads (which name them).
            r.uploads = exec("DELETE FROM uploads WHERE tenant_id = $1 AND owner = $2")?;
            r.jobs = exec(
                "DELETE FROM jobs WHERE tenant_id = $1
                   AND kind::jsonb ->> 'type' = 'ingest_upload'
                   AND kind::jsonb ->> 'owner' = $2",
            )?;
            r.conversations =
                exec("DELETE FROM conversations WHERE tenant_id = $1 AND owner = $2")?;
            r.api_keys = exec("DELETE FROM api_keys WHERE tenant_id = $1 AND user_id = $2")?;
            r.sessions = exec("DELETE FROM web_sessions WHERE tenant_id = $1 AND user_id = $2")?;
            r.users = exec("DELETE FROM users WHERE tenant_id = $1 AND id = $2")?;
            r.agent_runs = exec("DELETE FROM agent_runs WHERE tenant_id = $1 AND owner = $2")?;
            // Last: a delete per document for the indexes, under the change log's lock.
            for (id, coll) in &docs {
                log_change(
                    tx,
                    tenant,
                    &CollectionId::new(coll.as_str()),
                    &DocumentId::new(id.as_str()),
                )?;
            }
            let mut collections: Vec<CollectionId> = docs
                .into_iter()
                .map(|(_, c)| CollectionId::new(c))
                .collect();
            collections.sort();
            collections.dedup();
            r.collections = collections;
            Ok(r)
        })
    }
}
