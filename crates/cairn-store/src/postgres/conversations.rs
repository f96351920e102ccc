//! Conversations, messages, recorded answers and feedback.
//!
//! Concurrency: a message's `seq` is the conversation's last one plus one. Every append
//! first locks the conversation's row (`SELECT … FOR UPDATE`), so appends to one
//! conversation from any number of nodes run one after another: the next one reads the
//! last `seq` only once the previous one has committed (READ COMMITTED takes a fresh
//! snapshot per statement), and no two messages get one `seq`. The lock also orders an
//! append against `delete_conversation`: an append that waited on a deleted row finds
//! nothing and fails with `NotFound`, rolling back the answer it was recording.
//!
//! Text ordering (`id` tie-breaks) and the search's case folding use the "C" collation,
//! so results match SQLite's byte order and ASCII-only `LIKE` whatever the database's
//! locale.

use super::rows::{get, json, text_enum};
use super::{PostgresStore, db, not_found, to_i64};
use crate::columns::to_json;
use crate::repo::{AnswerRepo, ConversationRepo};
use crate::{Error, Result};
use cairn_types::{
    AnswerId, CollectionId, Conversation, ConversationId, Feedback, FeedbackId, Message,
    MessageRole, StoredAnswer, TenantId,
};
use postgres::{GenericClient, Row, Transaction};

pub(crate) const CONV_COLS: &str = "tenant_id, id, collection_id, title, summary, \
     summarized_through, created_at, updated_at, owner";
pub(crate) const ANSWER_COLS: &str = "tenant_id, id, conversation_id, collection_id, question, \
     answer, prompt_version, record, created_at, owner";
pub(crate) const FEEDBACK_COLS: &str =
    "tenant_id, id, answer_id, rating, comment, created_at, owner";
const MESSAGE_COLS: &str = "seq, role, content, answer_id, created_at";

pub(crate) fn conversation(row: &Row) -> Result<Conversation> {
    Ok(Conversation {
        tenant: TenantId::new(get::<String>(row, 0, "tenant_id")?),
        id: ConversationId::new(get::<String>(row, 1, "id")?),
        collection: get::<Option<String>>(row, 2, "collection_id")?.map(CollectionId::new),
        title: get(row, 3, "title")?,
        summary: get(row, 4, "summary")?,
        summarized_through: get(row, 5, "summarized_through")?,
        created_at: get(row, 6, "created_at")?,
        updated_at: get(row, 7, "updated_at")?,
        owner: get(row, 8, "owner")?,
    })
}

pub(crate) fn message(row: &Row) -> Result<Message> {
    Ok(Message {
        seq: get(row, 0, "seq")?,
        role: text_enum(row, 1, "role", MessageRole::parse)?,
        content: get(row, 2, "content")?,
        answer: get::<Option<String>>(row, 3, "answer_id")?.map(AnswerId::new),
        created_at: get(row, 4, "created_at")?,
    })
}

pub(crate) fn answer(row: &Row) -> Result<StoredAnswer> {
    Ok(StoredAnswer {
        tenant: TenantId::new(get::<String>(row, 0, "tenant_id")?),
        id: AnswerId::new(get::<String>(row, 1, "id")?),
        conversation: get::<Option<String>>(row, 2, "conversation_id")?.map(ConversationId::new),
        collection: get::<Option<String>>(row, 3, "collection_id")?.map(CollectionId::new),
        question: get(row, 4, "question")?,
        answer: get(row, 5, "answer")?,
        prompt_version: get(row, 6, "prompt_version")?,
        record: json(row, 7, "record")?,
        created_at: get(row, 8, "created_at")?,
        owner: get(row, 9, "owner")?,
    })
}

pub(crate) fn feedback(row: &Row) -> Result<Feedback> {
    Ok(Feedback {
        tenant: TenantId::new(get::<String>(row, 0, "tenant_id")?),
        id: FeedbackId::new(get::<String>(row, 1, "id")?),
        answer: AnswerId::new(get::<String>(row, 2, "answer_id")?),
        rating: i8::try_from(get::<i64>(row, 3, "rating")?)
            .map_err(|e| Error::Corrupt(format!("column 3 (rating): {e}")))?,
        comment: get(row, 4, "comment")?,
        created_at: get(row, 5, "created_at")?,
        owner: get(row, 6, "owner")?,
    })
}

fn load_conversation(
    client: &mut impl GenericClient,
    tenant: &TenantId,
    id: &ConversationId,
) -> Result<Conversation> {
    let row = client
        .query_opt(
            &format!("SELECT {CONV_COLS} FROM conversations WHERE tenant_id = $1 AND id = $2"),
            &[&tenant.as_str(), &id.as_str()],
        )
        .map_err(db)?
        .ok_or_else(|| not_found(format!("conversation `{id}`")))?;
    conversation(&row)
}

/// Appends messages after the conversation's last one; returns the new messages. Takes
/// the conversation's row lock first (see the module comment).
fn append(
    tx: &mut Transaction<'_>,
    tenant: &TenantId,
    id: &ConversationId,
    messages: &[(MessageRole, String, Option<AnswerId>)],
    now: i64,
) -> Result<Vec<Message>> {
    tx.query_opt(
        "SELECT 1 FROM conversations WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
        &[&tenant.as_str(), &id.as_str()],
    )
    .map_err(db)?
    .ok_or_else(|| not_found(format!("conversation `{id}`")))?;
    let last: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(seq), 0) FROM messages
             WHERE tenant_id = $1 AND conversation_id = $2",
            &[&tenant.as_str(), &id.as_str()],
        )
        .map_err(db)
        .and_then(|row| get(&row, 0, "max(seq)"))?;
    let insert = tx
        .prepare(
            "INSERT INTO messages(tenant_id, conversation_id, seq, role, content, answer_id,
                 created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .map_err(db)?;
    let mut out = Vec::with_capacity(messages.len());
    for (i, (role, content, answer)) in messages.iter().enumerate() {
        let seq = last.saturating_add(to_i64(i)).saturating_add(1);
        tx.execute(
            &insert,
            &[
                &tenant.as_str(),
                &id.as_str(),
                &seq,
                &role.as_str(),
                &content.as_str(),
                &answer.as_ref().map(AnswerId::as_str),
                &now,
            ],
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
        "UPDATE conversations SET updated_at = $3 WHERE tenant_id = $1 AND id = $2",
        &[&tenant.as_str(), &id.as_str(), &now],
    )
    .map_err(db)?;
    Ok(out)
}

impl ConversationRepo for PostgresStore {
    fn create_conversation(&self, c: &Conversation) -> Result<()> {
        self.write(&format!("creating conversation `{}`", c.id), |tx| {
            tx.execute(
                &format!(
                    "INSERT INTO conversations({CONV_COLS})
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                ),
                &[
                    &c.tenant.as_str(),
                    &c.id.as_str(),
                    &c.collection.as_ref().map(CollectionId::as_str),
                    &c.title.as_str(),
                    &c.summary.as_str(),
                    &c.summarized_through,
                    &c.created_at,
                    &c.updated_at,
                    &c.owner.as_deref(),
                ],
            )
            .map_err(db)?;
            Ok(())
        })
    }

    fn get_conversation(&self, tenant: &TenantId, id: &ConversationId) -> Result<Conversation> {
        self.read(&format!("reading conversation `{id}`"), |client| {
            load_conversation(client, tenant, id)
        })
    }

    fn list_conversations(
        &self,
        tenant: &TenantId,
        owner: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Conversation>> {
        self.read("listing conversations", |client| {
            client
                .query(
                    &format!(
                        "SELECT {CONV_COLS} FROM conversations
                         WHERE tenant_id = $1 AND ($3::text IS NULL OR owner = $3)
                         ORDER BY updated_at DESC, id COLLATE \"C\" DESC LIMIT $2"
                    ),
                    &[&tenant.as_str(), &to_i64(limit), &owner],
                )
                .map_err(db)?
                .iter()
                .map(conversation)
                .collect()
        })
    }

    fn search_conversations(
        &self,
        tenant: &TenantId,
        owner: Option<&str>,
        query: &str,
        limit: usize,
    ) -> Result<Vec<Conversation>> {
        // As SQLite's LIKE: `%` and `_` in the query are literal (`\` escapes), and the
        // match ignores ASCII case only (lower() under the "C" collation folds ASCII
        // letters alone; the pattern is folded the same way here).
        let pattern = format!(
            "%{}%",
            query
                .to_ascii_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        self.read("searching conversations", |client| {
            client
                .query(
                    &format!(
                        "SELECT {CONV_COLS} FROM conversations c
                         WHERE c.tenant_id = $1 AND ($3::text IS NULL OR c.owner = $3)
                           AND (lower(c.title COLLATE \"C\") LIKE $4 ESCAPE '\\' OR EXISTS (
                                SELECT 1 FROM messages m
                                WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.id
                                  AND lower(m.content COLLATE \"C\") LIKE $4 ESCAPE '\\'))
                         ORDER BY c.updated_at DESC, c.id COLLATE \"C\" DESC LIMIT $2"
                    ),
                    &[&tenant.as_str(), &to_i64(limit), &owner, &pattern.as_str()],
                )
                .map_err(db)?
                .iter()
                .map(conversation)
                .collect()
        })
    }

    fn rename_conversation(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        title: &str,
    ) -> Result<Conversation> {
        self.write(&format!("renaming conversation `{id}`"), |tx| {
            let row = tx
                .query_opt(
                    &format!(
                        "UPDATE conversations SET title = $3 WHERE tenant_id = $1 AND id = $2
                         RETURNING {CONV_COLS}"
                    ),
                    &[&tenant.as_str(), &id.as_str(), &title],
                )
                .map_err(db)?
                .ok_or_else(|| not_found(format!("conversation `{id}`")))?;
            conversation(&row)
        })
    }

    /// The delete takes the conversation's row lock, so an append in flight either
    /// commits first (and its answer is then unlinked here) or fails with `NotFound`.
    fn delete_conversation(&self, tenant: &TenantId, id: &ConversationId) -> Result<()> {
        self.write(&format!("deleting conversation `{id}`"), |tx| {
            let n = tx
                .execute(
                    "DELETE FROM conversations WHERE tenant_id = $1 AND id = $2",
                    &[&tenant.as_str(), &id.as_str()],
                )
                .map_err(db)?;
            if n == 0 {
                return Err(not_found(format!("conversation `{id}`")));
            }
            tx.execute(
                "UPDATE answers SET conversation_id = NULL
                 WHERE tenant_id = $1 AND conversation_id = $2",
                &[&tenant.as_str(), &id.as_str()],
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
        self.read(&format!("reading conversation `{id}`"), |client| {
            load_conversation(client, tenant, id)?;
            client
                .query(
                    &format!(
                        "SELECT {MESSAGE_COLS} FROM messages
                         WHERE tenant_id = $1 AND conversation_id = $2 ORDER BY seq"
                    ),
                    &[&tenant.as_str(), &id.as_str()],
                )
                .map_err(db)?
                .iter()
                .map(message)
                .collect()
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
                    "UPDATE conversations SET summary = $3, summarized_through = $4,
                         updated_at = $5
                     WHERE tenant_id = $1 AND id = $2",
                    &[&tenant.as_str(), &id.as_str(), &summary, &through, &now],
                )
                .map_err(db)?;
            if n == 0 {
                return Err(not_found(format!("conversation `{id}`")));
            }
            Ok(())
        })
    }
}

impl AnswerRepo for PostgresStore {
    /// The answer row and its turn in the conversation commit together; the turn's
    /// `seq`s come from [`append`], under the conversation's row lock.
    fn record_answer(&self, a: &StoredAnswer) -> Result<()> {
        let record = to_json(&a.record)?;
        self.write(&format!("recording answer `{}`", a.id), |tx| {
            tx.execute(
                &format!(
                    "INSERT INTO answers({ANSWER_COLS})
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                ),
                &[
                    &a.tenant.as_str(),
                    &a.id.as_str(),
                    &a.conversation.as_ref().map(ConversationId::as_str),
                    &a.collection.as_ref().map(CollectionId::as_str),
                    &a.question.as_str(),
                    &a.answer.as_str(),
                    &a.prompt_version.as_str(),
                    &record.as_str(),
                    &a.created_at,
                    &a.owner.as_deref(),
                ],
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
        self.read(&format!("reading answer `{id}`"), |client| {
            let row = client
                .query_opt(
                    &format!("SELECT {ANSWER_COLS} FROM answers WHERE tenant_id = $1 AND id = $2"),
                    &[&tenant.as_str(), &id.as_str()],
                )
                .map_err(db)?
                .ok_or_else(|| not_found(format!("answer `{id}`")))?;
            answer(&row)
        })
    }

    /// The answer's existence is checked first for the error's message; an answer
    /// deleted between the check and the insert still fails it, through the foreign
    /// key (also `NotFound`).
    fn add_feedback(&self, f: &Feedback) -> Result<()> {
        self.write(
            &format!("recording feedback on answer `{}`", f.answer),
            |tx| {
                tx.query_opt(
                    "SELECT 1 FROM answers WHERE tenant_id = $1 AND id = $2",
                    &[&f.tenant.as_str(), &f.answer.as_str()],
                )
                .map_err(db)?
                .ok_or_else(|| not_found(format!("answer `{}`", f.answer)))?;
                tx.execute(
                    &format!(
                        "INSERT INTO feedback({FEEDBACK_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                    ),
                    &[
                        &f.tenant.as_str(),
                        &f.id.as_str(),
                        &f.answer.as_str(),
                        &i64::from(f.rating),
                        &f.comment.as_str(),
                        &f.created_at,
                        &f.owner.as_deref(),
                    ],
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
        self.read("listing answers", |client| {
            client
                .query(
                    &format!(
                        "SELECT {ANSWER_COLS} FROM answers WHERE tenant_id = $1 AND created_at >= $2
                         ORDER BY created_at, id COLLATE \"C\" LIMIT $3"
                    ),
                    &[&tenant.as_str(), &since, &(limit as i64)],
                )
                .map_err(db)?
                .iter()
                .map(answer)
                .collect()
        })
    }

    fn feedback_since(&self, tenant: &TenantId, since: i64, limit: usize) -> Result<Vec<Feedback>> {
        self.read("listing feedback", |client| {
            client
                .query(
                    &format!(
                        "SELECT {FEEDBACK_COLS} FROM feedback WHERE tenant_id = $1 AND created_at >= $2
                         ORDER BY created_at, id COLLATE \"C\" LIMIT $3"
                    ),
                    &[&tenant.as_str(), &since, &(limit as i64)],
                )
                .map_err(db)?
                .iter()
                .map(feedback)
                .collect()
        })
    }

    fn list_feedback(&self, tenant: &TenantId, answer_id: &AnswerId) -> Result<Vec<Feedback>> {
        self.read(
            &format!("reading feedback on answer `{answer_id}`"),
            |client| {
                client
                    .query(
                        &format!(
                            "SELECT {FEEDBACK_COLS} FROM feedback
                             WHERE tenant_id = $1 AND answer_id = $2
                             ORDER BY created_at, id COLLATE \"C\""
                        ),
                        &[&tenant.as_str(), &answer_id.as_str()],
                    )
                    .map_err(db)?
                    .iter()
                    .map(feedback)
                    .collect()
            },
        )
    }
}
