//! Conversation memory: a sliding window of recent messages, a running summary of
//! older ones, and follow-up questions rewritten to stand alone before retrieval.

use super::prompt::{CONDENSE, SUMMARIZE, transcript};
use super::text::strip_citations;
use super::{AskRequest, Turn};
use crate::engine::now_ms;
use crate::{Engine, Error, Result};
use cairn_types::{
    AnswerId, CollectionId, Conversation, ConversationId, ErrorCode, Feedback, FeedbackId, Message,
    StoredAnswer, TenantId,
};

/// The history an answer is conditioned on.
pub(crate) struct History {
    pub summary: String,
    pub recent: Vec<Turn>,
}

impl History {
    pub fn is_empty(&self) -> bool {
        self.summary.trim().is_empty() && self.recent.is_empty()
    }
}

fn turn(m: &Message) -> Turn {
    Turn {
        role: m.role,
        content: strip_citations(&m.content),
    }
}

impl Engine {
    /// Loads (stored) or takes (caller-sent) the history, summarizing what falls out of
    /// the window. A stored conversation keeps its summary, so each turn is summarized
    /// once.
    pub(crate) fn history_for(&self, tenant: &TenantId, req: &AskRequest) -> Result<History> {
        let keep = self.config.answer.history_messages;
        if let Some(id) = &req.conversation {
            let owner = req.principal.as_ref().map(|p| p.owner.as_deref());
            let conv = self.owned_conversation(tenant, owner, id)?;
            let messages = self.store.list_messages(tenant, id)?;
            let split = messages.len().saturating_sub(keep);
            let (old, recent) = messages.split_at(split);
            let fresh: Vec<Turn> = old
                .iter()
                .filter(|m| m.seq > conv.summarized_through)
                .map(turn)
                .collect();
            let mut summary = conv.summary.clone();
            if let (false, Some(last)) = (fresh.is_empty(), old.last()) {
                summary = self.summarize(tenant, &summary, &fresh)?;
                self.store
                    .set_summary(tenant, id, &summary, last.seq, now_ms())?;
            }
            return Ok(History {
                summary,
                recent: recent.iter().map(turn).collect(),
            });
        }
        let split = req.history.len().saturating_sub(keep);
        let (old, recent) = req.history.split_at(split);
        let summary = if old.is_empty() {
            String::new()
        } else {
            self.summarize(tenant, "", old)?
        };
        Ok(History {
            summary,
            recent: recent
                .iter()
                .map(|t| Turn {
                    role: t.role,
                    content: strip_citations(&t.content),
                })
                .collect(),
        })
    }

    fn summarize(&self, tenant: &TenantId, previous: &str, turns: &[Turn]) -> Result<String> {
        self.ask_generator(tenant, SUMMARIZE, &transcript(previous, turns), 160, None)
    }

    /// The question rewritten to stand alone, or the question itself when there is no
    /// history (or the rewrite comes back empty).
    pub(crate) fn condense(
        &self,
        tenant: &TenantId,
        history: &History,
        question: &str,
    ) -> Result<String> {
        if history.is_empty() {
            return Ok(question.to_owned());
        }
        let prompt = format!(
            "{}\nLast question: {}",
            transcript(&history.summary, &history.recent),
            question.trim()
        );
        let line = self.ask_generator(tenant, CONDENSE, &prompt, 80, None)?;
        let line = line
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("");
        let line = line.trim_start_matches("Question:").trim();
        Ok(if line.is_empty() {
            question.to_owned()
        } else {
            line.to_owned()
        })
    }

    /// Starts a conversation owned by `owner` (`None`: the operator).
    pub fn create_conversation(
        &self,
        tenant: &TenantId,
        owner: Option<&str>,
        collection: Option<&CollectionId>,
        title: &str,
    ) -> Result<Conversation> {
        self.ensure_tenant(tenant)?;
        if let Some(c) = collection {
            self.store.get_collection(tenant, c)?;
        }
        check_title(title)?;
        let now = now_ms();
        let conv = Conversation {
            tenant: tenant.clone(),
            id: ConversationId::generate(),
            collection: collection.cloned(),
            title: title.trim().to_owned(),
            summary: String::new(),
            summarized_through: 0,
            owner: owner.map(str::to_owned),
            created_at: now,
            updated_at: now,
        };
        self.store.create_conversation(&conv)?;
        Ok(conv)
    }

    /// The conversation if `viewer` may read it: `None` is the operator (every
    /// conversation), `Some(owner)` only that owner's. Someone else's reads as
    /// `not_found`, exactly like an id that does not exist.
    pub(crate) fn owned_conversation(
        &self,
        tenant: &TenantId,
        viewer: Option<Option<&str>>,
        id: &ConversationId,
    ) -> Result<Conversation> {
        let conv = self.store.get_conversation(tenant, id)?;
        match viewer {
            Some(owner) if conv.owner.as_deref() != owner => Err(Error::new(
                ErrorCode::NotFound,
                format!("conversation `{id}` not found"),
            )),
            _ => Ok(conv),
        }
    }

    /// A conversation and its messages (`owner` as in [`Self::conversations`]).
    pub fn conversation(
        &self,
        tenant: &TenantId,
        owner: Option<&str>,
        id: &ConversationId,
    ) -> Result<(Conversation, Vec<Message>)> {
        let conv = self.owned_conversation(tenant, owner.map(Some), id)?;
        Ok((conv, self.store.list_messages(tenant, id)?))
    }

    /// Recent conversations, most recently updated first: `owner`'s only, or every
    /// conversation of the tenant for `None` (the operator).
    pub fn conversations(
        &self,
        tenant: &TenantId,
        owner: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Conversation>> {
        Ok(self
            .store
            .list_conversations(tenant, owner, limit.clamp(1, 1_000))?)
    }

    /// `owner`'s conversations (every one for `None`) whose title or messages contain
    /// `query`, most recently updated first.
    pub fn search_conversations(
        &self,
        tenant: &TenantId,
        owner: Option<&str>,
        query: &str,
        limit: usize,
    ) -> Result<Vec<Conversation>> {
        let query = query.trim();
        if query.chars().count() > 200 {
            return Err(Error::new(
                ErrorCode::InvalidInput,
                "the conversation search is longer than 200 characters",
            ));
        }
        Ok(self
            .store
            .search_conversations(tenant, owner, query, limit.clamp(1, 1_000))?)
    }

    /// Renames a conversation `owner` may read (`None`: the operator).
    pub fn rename_conversation(
        &self,
        tenant: &TenantId,
        owner: Option<&str>,
        id: &ConversationId,
        title: &str,
    ) -> Result<Conversation> {
        check_title(title)?;
        if title.trim().is_empty() {
            return Err(Error::new(ErrorCode::InvalidInput, "the title is empty"));
        }
        self.owned_conversation(tenant, owner.map(Some), id)?;
        Ok(self.store.rename_conversation(tenant, id, title.trim())?)
    }

    /// Deletes a conversation and its messages (recorded answers stay).
    pub fn delete_conversation(
        &self,
        tenant: &TenantId,
        owner: Option<&str>,
        id: &ConversationId,
    ) -> Result<()> {
        self.owned_conversation(tenant, owner.map(Some), id)?;
        self.store.delete_conversation(tenant, id)?;
        // Its attached files go with it.
        if let Some(files) = self.attached_collection(tenant, id)? {
            self.delete_collection(tenant, &files)?;
        }
        Ok(())
    }

    /// A recorded answer, if `owner` (`None`: the operator) may read it.
    pub fn recorded_answer(
        &self,
        tenant: &TenantId,
        owner: Option<&str>,
        id: &AnswerId,
    ) -> Result<StoredAnswer> {
        let a = self.store.get_answer(tenant, id)?;
        if owner.is_some() && a.owner.as_deref() != owner {
            return Err(Error::new(
                ErrorCode::NotFound,
                format!("answer `{id}` not found"),
            ));
        }
        Ok(a)
    }

    /// Thumbs up (`rating = 1`) or down (`-1`) on a recorded answer, with a comment.
    pub fn add_feedback(
        &self,
        tenant: &TenantId,
        owner: Option<&str>,
        answer: &AnswerId,
        rating: i8,
        comment: &str,
    ) -> Result<Feedback> {
        self.recorded_answer(tenant, owner, answer)?;
        if rating != 1 && rating != -1 {
            return Err(Error::new(
                ErrorCode::InvalidInput,
                format!("rating must be 1 (thumbs up) or -1 (thumbs down), got {rating}"),
            ));
        }
        if comment.len() > 10_000 {
            return Err(Error::new(
                ErrorCode::InvalidInput,
                "the comment is longer than 10000 bytes",
            ));
        }
        let fb = Feedback {
            tenant: tenant.clone(),
            id: FeedbackId::generate(),
            answer: answer.clone(),
            rating,
            comment: comment.to_owned(),
            owner: owner.map(str::to_owned),
            created_at: now_ms(),
        };
        self.store.add_feedback(&fb)?;
        Ok(fb)
    }

    /// Feedback recorded on an answer.
    pub fn feedback(
        &self,
        tenant: &TenantId,
        owner: Option<&str>,
        answer: &AnswerId,
    ) -> Result<Vec<Feedback>> {
        self.recorded_answer(tenant, owner, answer)?;
        Ok(self.store.list_feedback(tenant, answer)?)
    }
}

/// A conversation title: at most 500 bytes.
fn check_title(title: &str) -> Result<()> {
    if title.len() > 500 {
        return Err(Error::new(
            ErrorCode::InvalidInput,
            "the title is longer than 500 bytes",
        ));
    }
    Ok(())
}
