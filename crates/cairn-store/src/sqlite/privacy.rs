//! GDPR access (export) and erasure of everything one owner created in a tenant.

use super::commit::log_change;
use super::conversations::{ANSWER_COLS, CONV_COLS, FEEDBACK_COLS, answer, conversation, feedback};
use super::rows::{DOC_COLS, document};
use super::{SqliteStore, db};
use crate::Result;
use crate::repo::{ConversationRepo, DocumentRepo};
use crate::security::{ErasureReport, IdentityRepo, PrivacyRepo, UserExport};
use cairn_types::{CollectionId, DocumentId, TenantId};
use rusqlite::Connection;

fn rows<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    let mut st = conn.prepare_cached(sql).map_err(db)?;
    let out = st.query_map(params, map).map_err(db)?;
    out.collect::<rusqlite::Result<_>>().map_err(db)
}

fn count(conn: &Connection, sql: &str, tenant: &TenantId, owner: &str) -> Result<usize> {
    let n: i64 = conn
        .query_row(sql, (tenant.as_str(), owner), |r| r.get(0))
        .map_err(db)?;
    Ok(usize::try_from(n).unwrap_or(0))
}

impl PrivacyRepo for SqliteStore {
    fn export_owner(&self, tenant: &TenantId, owner: &str) -> Result<UserExport> {
        let user = match self.get_user(tenant, owner) {
            Ok(u) => Some(u),
            Err(crate::Error::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let api_keys = self
            .list_keys(tenant)?
            .into_iter()
            .filter(|k| k.user.as_deref() == Some(owner))
            .collect();
        let (convs, answers, feedback_rows, docs) =
            self.read(&format!("exporting `{owner}`"), |conn| {
                let p = (tenant.as_str(), owner);
                Ok((
                    rows(
                        conn,
                        &format!(
                            "SELECT {CONV_COLS} FROM conversations
                             WHERE tenant_id = ?1 AND owner = ?2 ORDER BY created_at, id"
                        ),
                        p,
                        conversation,
                    )?,
                    rows(
                        conn,
                        &format!(
                            "SELECT {ANSWER_COLS} FROM answers
                             WHERE tenant_id = ?1 AND owner = ?2 ORDER BY created_at, id"
                        ),
                        p,
                        answer,
                    )?,
                    rows(
                        conn,
                        &format!(
                            "SELECT {FEEDBACK_COLS} FROM feedback
                             WHERE tenant_id = ?1 AND owner = ?2 ORDER BY created_at, id"
                        ),
                        p,
                        feedback,
                    )?,
                    rows(
                        conn,
                        &format!(
                            "SELECT {DOC_COLS} FROM documents
                             WHERE tenant_id = ?1 AND owner = ?2 ORDER BY created_at, id"
                        ),
                        p,
                        document,
                    )?,
                ))
            })?;
        let mut conversations = Vec::with_capacity(convs.len());
        for c in convs {
            let messages = self.list_messages(tenant, &c.id)?;
            conversations.push((c, messages));
        }
        let mut documents = Vec::with_capacity(docs.len());
        for d in docs {
            let texts = self
                .list_chunks(tenant, &d.id)?
                .into_iter()
                .map(|c| c.text)
                .collect();
            documents.push((d, texts));
        }
        Ok(UserExport {
            tenant: tenant.clone(),
            user,
            api_keys,
            conversations,
            answers,
            feedback: feedback_rows,
            documents,
            uploads: crate::upload::owned_uploads(self, tenant, owner)?,
        })
    }

    fn erase_owner(&self, tenant: &TenantId, owner: &str) -> Result<ErasureReport> {
        self.write(&format!("erasing `{owner}`"), |tx| {
            if let Some(why) = super::lifecycle::erase_blocker(tx, tenant, owner)? {
                return Err(crate::Error::Conflict(why));
            }
            let mut r = ErasureReport {
                messages: count(
                    tx,
                    "SELECT COUNT(*) FROM messages m JOIN conversations c
                       ON c.tenant_id = m.tenant_id AND c.id = m.conversation_id
                     WHERE m.tenant_id = ?1 AND c.owner = ?2",
                    tenant,
                    owner,
                )?,
                chunks: count(
                    tx,
                    "SELECT COUNT(*) FROM chunks ch JOIN documents d
                       ON d.tenant_id = ch.tenant_id AND d.id = ch.document_id
                     WHERE ch.tenant_id = ?1 AND d.owner = ?2",
                    tenant,
                    owner,
                )?,
                ..ErasureReport::default()
            };
            let docs: Vec<(String, String)> = rows(
                tx,
                "DELETE FROM documents WHERE tenant_id = ?1 AND owner = ?2
                 RETURNING id, collection_id",
                (tenant.as_str(), owner),
                |row| Ok((row.get(0)?, row.get(1)?)),
            )?;
            for (id, coll) in &docs {
                log_change(
                    tx,
                    tenant,
                    &CollectionId::new(coll.clone()),
                    &DocumentId::new(id.clone()),
                )?;
            }
            r.documents = docs.len();
            let mut collections: Vec<CollectionId> = docs
                .into_iter()
                .map(|(_, c)| CollectionId::new(c))
                .collect();
            collections.sort();
            collections.dedup();
            r.collections = collections;
            let exec = |sql: &str| -> Result<usize> {
                tx.execute(sql, (tenant.as_str(), owner)).map_err(db)
            };
            // Feedback they gave, and feedback others gave on their answers.
            r.feedback = exec(
                "DELETE FROM feedback WHERE tenant_id = ?1 AND (owner = ?2 OR answer_id IN
                    (SELECT id FROM answers WHERE tenant_id = ?1 AND owner = ?2))",
            )?;
            r.answers = exec("DELETE FROM answers WHERE tenant_id = ?1 AND owner = ?2")?;
            // Their uploads' bytes, and the jobs of their uploads (which name them).
            r.uploads = exec("DELETE FROM uploads WHERE tenant_id = ?1 AND owner = ?2")?;
            r.jobs = exec(
                "DELETE FROM jobs WHERE tenant_id = ?1
                   AND json_extract(kind, '$.type') = 'ingest_upload'
                   AND json_extract(kind, '$.owner') = ?2",
            )?;
            r.conversations =
                exec("DELETE FROM conversations WHERE tenant_id = ?1 AND owner = ?2")?;
            r.api_keys = exec("DELETE FROM api_keys WHERE tenant_id = ?1 AND user_id = ?2")?;
            r.sessions = exec("DELETE FROM web_sessions WHERE tenant_id = ?1 AND user_id = ?2")?;
            r.users = exec("DELETE FROM users WHERE tenant_id = ?1 AND id = ?2")?;
            r.agent_runs = exec("DELETE FROM agent_runs WHERE tenant_id = ?1 AND owner = ?2")?;
            Ok(r)
        })
    }
}
