//! Conversations, messages, recorded answers and feedback.

use super::rows::to_json;
use super::{SqliteStore, db, not_found};
use crate::Result;
use crate::repo::{AnswerRepo, ConversationRepo};
use cairn_types::{
    AnswerId, CollectionId, Conversation, ConversationId, Feedback, FeedbackId, Message,
    MessageRole, StoredAnswer, TenantId,
};
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, Transaction};

pub(crate) const CONV_COLS: &str = "tenant_id, id, collection_id, title, summary, summarized_through, \
     created_at, updated_at, owner";
pub(crate) const ANSWER_COLS: &str = "tenant_id, id, conversation_id, collection_id, question, answer, \
     prompt_version, record, created_at, owner";
pub(crate) const FEEDBACK_COLS: &str =
    "tenant_id, id, answer_id, rating, comment, created_at, owner";

pub(crate) fn conversation(r: &Row<'_>) -> rusqlite::Result<Conversation> {
    Ok(Conversation {
        tenant: TenantId::new(r.get::<_, String>(0)?),
        id: ConversationId::new(r.get::<_, String>(1)?),
        collection: r.get::<_, Option<String>>(2)?.map(CollectionId::new),
        title: r.get(3)?,
        summary: r.get(4)?,
        summarized_through: r.get(5)?,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
        owner: r.get(8)?,
    })
}

pub(crate) fn message(r: &Row<'_>) -> rusqlite::Result<Message> {
    let role: String = r.get(1)?;
    Ok(Message {
        seq: r.get(0)?,
        role: MessageRole::parse(&role).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                1,
                Type::Text,
                format!("message role: unknown value `{role}`").into(),
            )
        })?,
        content: r.get(2)?,
        answer: r.get::<_, Option<String>>(3)?.map(AnswerId::new),
        created_at: r.get(4)?,
    })
}

pub(crate) fn answer(r: &Row<'_>) -> rusqlite::Result<StoredAnswer> {
    let record: String = r.get(7)?;
    Ok(StoredAnswer {
        tenant: TenantId::new(r.get::<_, String>(0)?),
        id: AnswerId::new(r.get::<_, String>(1)?),
        conversation: r.get::<_, Option<String>>(2)?.map(ConversationId::new),
        collection: r.get::<_, Option<String>>(3)?.map(CollectionId::new),
        question: r.get(4)?,
        answer: r.get(5)?,
        prompt_version: r.get(6)?,
        record: serde_json::from_str(&record)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(7, Type::Text, Box::new(e)))?,
        created_at: r.get(8)?,
        owner: r.get(9)?,
    })
}

pub(crate) fn feedback(r: &Row<'_>) -> rusqlite::Result<Feedback> {
    Ok(Feedback {
        tenant: TenantId::new(r.get::<_, String>(0)?),
        id: FeedbackId::new(r.get::<_, String>(1)?),
        answer: AnswerId::new(r.get::<_, String>(2)?),
        rating: r.get(3)?,
        comment: r.get(4)?,
        created_at: r.get(5)?,
        owner: r.get(6)?,
    })
}

fn load_conversation(
    conn: &Connection,
    tenant: &TenantId,
    id: &ConversationId,
) -> Result<Conversation> {
    conn.query_row(
        &format!("SELECT {CONV_COLS} FROM conversations WHERE tenant_id = ?1 AND id = ?2"),
        (tenant.as_str(), id.as_str()),
        conversation,
    )
    .optional()
    .map_err(db)?
    .ok_or_else(|| not_found(format!("conversation `{id}`")))
}

/// Appends messages after the conversation's last one; returns the new messages.
fn append(
    tx: &Transaction<'_>,
    tenant: &TenantId,
    id: &ConversationId,
    messages: &[(MessageRole, String, Option<AnswerId>)],
    now: i64,
) -> Result<Vec<Message>> {
    load_conversation(tx, tenant, id)?;
    let last: i64 = tx
        .query_row(
            "SELECT COALESCE(MAX(seq), 0) FROM messages WHERE tenant_id = ?1 AND conversation_id = ?2",
            (tenant.as_str(), id.as_str()),
            |r| r.get(0),
        )
        .map_err(db)?;
    let mut out = Vec::with_capacity(messages.len());
    for (i, (role, content, answer)) in messages.iter().enumerate() {
        let seq = last + 1 + i64::try_from(i).unwrap_or(i64::MAX - last - 1);
        tx.execute(
            "INSERT INTO messages(tenant_id, conversation_id, seq, role, content, answer_id, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            (
                tenant.as_str(),
                id.as_str(),
                seq,
                role.as_str(),
                content.as_str(),
                answer.as_ref().map(AnswerId::as_str),
                now,
            ),
        )
        .map_err(db)?;
        out.push(Message {
            seq,
            role: *role,
            content: content.clone(),
            answer: answer.clone(),
            created_at: now,
        });
    }
    tx.execute(
        "UPDATE conversations SET updated_at = ?3 WHERE tenant_id = ?1 AND id = ?2",
        (tenant.as_str(), id.as_str(), now),
    )
    .map_err(db)?;
    Ok(out)
}

impl ConversationRepo for SqliteStore {
    fn create_conversation(&self, c: &Conversation) -> Result<()> {
        self.write(&format!("creating conversation `{}`", c.id), |tx| {
            tx.execute(
                &format!(
                    "INSERT INTO conversations({CONV_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                ),
                (
                    c.tenant.as_str(),
                    c.id.as_str(),
                    c.collection.as_ref().map(CollectionId::as_str),
                    c.title.as_str(),
                    c.summary.as_str(),
                    c.summarized_through,
                    c.created_at,
                    c.updated_at,
                    c.owner.as_deref(),
                ),
            )
            .map_err(db)?;
            Ok(())
        })
    }

    fn get_conversation(&self, tenant: &TenantId, id: &ConversationId) -> Result<Conversation> {
        self.read(&format!("reading conversation `{id}`"), |conn| {
            load_conversation(conn, tenant, id)
        })
    }

    fn list_conversations(
        &self,
        tenant: &TenantId,
        owner: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Conversation>> {
        self.read("listing conversations", |conn| {
            let mut st = conn
                .prepare_cached(&format!(
                    "SELECT {CONV_COLS} FROM conversations
                     WHERE tenant_id = ?1 AND (?3 IS NULL OR owner = ?3)
                     ORDER BY updated_at DESC, id DESC LIMIT ?2"
                ))
                .map_err(db)?;
            let rows = st
                .query_map(
                    (
                        tenant.as_str(),
                        i64::try_from(limit).unwrap_or(i64::MAX),
                        owner,
                    ),
                    conversation,
                )
                .map_err(db)?;
            rows.collect::<rusqlite::Result<_>>().map_err(db)
        })
    }

    fn search_conversations(
        &self,
        tenant: &TenantId,
        owner: Option<&str>,
        query: &str,
        limit: usize,
    ) -> Result<Vec<Conversation>> {
        // LIKE with `\` escaping, so `%` and `_` in the query are literal.
        let pattern = format!(
            "%{}%",
            query
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        self.read("searching conversations", |conn| {
            let mut st = conn
                .prepare_cached(&format!(
                    "SELECT {CONV_COLS} FROM conversations c
                     WHERE c.tenant_id = ?1 AND (?3 IS NULL OR c.owner = ?3)
                       AND (c.title LIKE ?4 ESCAPE '\\' OR EXISTS (
                            SELECT 1 FROM messages m
                            WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.id
                              AND m.content LIKE ?4 ESCAPE '\\'))
                     ORDER BY c.updated_at DESC, c.id DESC LIMIT ?2"
                ))
                .map_err(db)?;
            let rows = st
                .query_map(
                    (
                        tenant.as_str(),
                        i64::try_from(limit).unwrap_or(i64::MAX),
                        owner,
                        pattern.as_str(),
                    ),
                    conversation,
                )
                .map_err(db)?;
            rows.collect::<rusqlite::Result<_>>().map_err(db)
        })
    }

    fn rename_conversation(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        title: &str,
    ) -> Result<Conversation> {
        self.write(&format!("renaming conversation `{id}`"), |tx| {
            tx.execute(
                "UPDATE conversations SET title = ?3 WHERE tenant_id = ?1 AND id = ?2",
                (tenant.as_str(), id.as_str(), title),
            )
            .map_err(db)?;
            load_conversation(tx, tenant, id)
        })
    }

    fn delete_conversation(&self, tenant: &TenantId, id: &ConversationId) -> Result<()> {
        self.write(&format!("deleting conversation `{id}`"), |tx| {
            let n = tx
                .execute(
                    "DELETE FROM conversations WHERE tenant_id = ?1 AND id = ?2",
                    (tenant.as_str(), id.as_str()),
                )
                .map_err(db)?;
            if n == 0 {
                return Err(not_found(format!("conversation `{id}`")));
            }
            tx.execute(
                "UPDATE answers SET conversation_id = NULL WHERE tenant_id = ?1 AND conversation_id = ?2",
                (tenant.as_str(), id.as_str()),
            )
            .map_err(db)?;
            Ok(())
        })
    }

    fn append_messages(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        messages: &[(MessageRole, String, Option<AnswerId>)],
        now: i64,
    ) -> Result<Vec<Message>> {
        self.write(&format!("appending to conversation `{id}`"), |tx| {
            append(tx, tenant, id, messages, now)
        })
    }

    fn list_messages(&self, tenant: &TenantId, id: &ConversationId) -> Result<Vec<Message>> {
        self.read(&format!("reading conversation `{id}`"), |conn| {
            load_conversation(conn, tenant, id)?;
            let mut st = conn
                .prepare_cached(
                    "SELECT seq, role, content, answer_id, created_at FROM messages
                     WHERE tenant_id = ?1 AND conversation_id = ?2 ORDER BY seq",
                )
                .map_err(db)?;
            let rows = st
                .query_map((tenant.as_str(), id.as_str()), message)
                .map_err(db)?;
            rows.collect::<rusqlite::Result<_>>().map_err(db)
        })
    }

    fn set_summary(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        summary: &str,
        through: i64,
        now: i64,
    ) -> Result<()> {
        self.write(&format!("summarizing conversation `{id}`"), |tx| {
            let n = tx
                .execute(
                    "UPDATE conversations SET summary = ?3, summarized_through = ?4, updated_at = ?5
                     WHERE tenant_id = ?1 AND id = ?2",
                    (tenant.as_str(), id.as_str(), summary, through, now),
                )
                .map_err(db)?;
            if n == 0 {
                return Err(not_found(format!("conversation `{id}`")));
            }
            Ok(())
        })
    }
}

impl AnswerRepo for SqliteStore {
    fn record_answer(&self, a: &StoredAnswer) -> Result<()> {
        let record = to_json(&a.record)?;
        self.write(&format!("recording answer `{}`", a.id), |tx| {
            tx.execute(
                &format!(
                    "INSERT INTO answers({ANSWER_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                ),
                (
                    a.tenant.as_str(),
                    a.id.as_str(),
                    a.conversation.as_ref().map(ConversationId::as_str),
                    a.collection.as_ref().map(CollectionId::as_str),
                    a.question.as_str(),
                    a.answer.as_str(),
                    a.prompt_version.as_str(),
                    record.as_str(),
                    a.created_at,
                    a.owner.as_deref(),
                ),
            )
            .map_err(db)?;
            if let Some(conv) = &a.conversation {
                append(
                    tx,
                    &a.tenant,
                    conv,
                    &[
                        (MessageRole::User, a.question.clone(), None),
                        (MessageRole::Assistant, a.answer.clone(), Some(a.id.clone())),
                    ],
                    a.created_at,
                )?;
            }
            Ok(())
        })
    }

    fn get_answer(&self, tenant: &TenantId, id: &AnswerId) -> Result<StoredAnswer> {
        self.read(&format!("reading answer `{id}`"), |conn| {
            conn.query_row(
                &format!("SELECT {ANSWER_COLS} FROM answers WHERE tenant_id = ?1 AND id = ?2"),
                (tenant.as_str(), id.as_str()),
                answer,
            )
            .optional()
            .map_err(db)?
            .ok_or_else(|| not_found(format!("answer `{id}`")))
        })
    }

    fn add_feedback(&self, f: &Feedback) -> Result<()> {
        self.write(
            &format!("recording feedback on answer `{}`", f.answer),
            |tx| {
                let exists: Option<i64> = tx
                    .query_row(
                        "SELECT 1 FROM answers WHERE tenant_id = ?1 AND id = ?2",
                        (f.tenant.as_str(), f.answer.as_str()),
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(db)?;
                if exists.is_none() {
                    return Err(not_found(format!("answer `{}`", f.answer)));
                }
                tx.execute(
                    &format!(
                        "INSERT INTO feedback({FEEDBACK_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                    ),
                    (
                        f.tenant.as_str(),
                        f.id.as_str(),
                        f.answer.as_str(),
                        f.rating,
                        f.comment.as_str(),
                        f.created_at,
                        f.owner.as_deref(),
                    ),
                )
                .map_err(db)?;
                Ok(())
            },
        )
    }

    fn answers_since(
        &self,
        tenant: &TenantId,
        since: i64,
        limit: usize,
    ) -> Result<Vec<StoredAnswer>> {
        self.read("listing answers", |conn| {
            let mut st = conn
                .prepare_cached(&format!(
                    "SELECT {ANSWER_COLS} FROM answers WHERE tenant_id = ?1 AND created_at >= ?2
                     ORDER BY created_at, id LIMIT ?3"
                ))
                .map_err(db)?;
            let rows = st
                .query_map((tenant.as_str(), since, limit as i64), answer)
                .map_err(db)?;
            rows.collect::<rusqlite::Result<_>>().map_err(db)
        })
    }

    fn feedback_since(&self, tenant: &TenantId, since: i64, limit: usize) -> Result<Vec<Feedback>> {
        self.read("listing feedback", |conn| {
            let mut st = conn
                .prepare_cached(&format!(
                    "SELECT {FEEDBACK_COLS} FROM feedback WHERE tenant_id = ?1 AND created_at >= ?2
                     ORDER BY created_at, id LIMIT ?3"
                ))
                .map_err(db)?;
            let rows = st
                .query_map((tenant.as_str(), since, limit as i64), feedback)
                .map_err(db)?;
            rows.collect::<rusqlite::Result<_>>().map_err(db)
        })
    }

    fn list_feedback(&self, tenant: &TenantId, answer_id: &AnswerId) -> Result<Vec<Feedback>> {
        self.read(
            &format!("reading feedback on answer `{answer_id}`"),
            |conn| {
                let mut st = conn
                    .prepare_cached(&format!(
                    "SELECT {FEEDBACK_COLS} FROM feedback WHERE tenant_id = ?1 AND answer_id = ?2
                     ORDER BY created_at, id"
                ))
                    .map_err(db)?;
                let rows = st
                    .query_map((tenant.as_str(), answer_id.as_str()), feedback)
                    .map_err(db)?;
                rows.collect::<rusqlite::Result<_>>().map_err(db)
            },
        )
    }
}
