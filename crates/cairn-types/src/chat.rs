//! Conversations, recorded answers and feedback: what the answer pipeline stores.

use crate::{CollectionId, TenantId};
use serde::{Deserialize, Serialize};

macro_rules! generated_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// Wraps an existing id string.
            pub fn new(s: impl Into<String>) -> Self {
                Self(s.into())
            }
            /// A fresh, time-ordered id.
            pub fn generate() -> Self {
                Self(uuid::Uuid::now_v7().to_string())
            }
            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

generated_id!(
    /// A conversation id (UUIDv7).
    ConversationId
);
generated_id!(
    /// A recorded answer id (UUIDv7); also the answer's trace id.
    AnswerId
);
generated_id!(
    /// A feedback id (UUIDv7).
    FeedbackId
);

/// A conversation: an ordered list of messages plus a running summary of older turns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    pub tenant: TenantId,
    pub id: ConversationId,
    /// The collection its questions are answered from, if any.
    pub collection: Option<CollectionId>,
    pub title: String,
    /// Summary of the messages with `seq <= summarized_through`.
    pub summary: String,
    pub summarized_through: i64,
    /// Who created it (a user id, or `key:<id>` for a service key); `None` for the
    /// local operator (CLI). Only its owner reads it back over the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Who wrote a stored message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageRole {
    User,
    Assistant,
}

impl MessageRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(Self::User),
            "assistant" => Some(Self::Assistant),
            _ => None,
        }
    }
}

/// One stored message of a conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Position in the conversation, from 1.
    pub seq: i64,
    pub role: MessageRole,
    pub content: String,
    /// The recorded answer an assistant message came from.
    pub answer: Option<AnswerId>,
    pub created_at: i64,
}

/// A recorded answer. `record` is the engine's full answer (citations, grounding,
/// confidence, timings) as JSON; the store does not interpret it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredAnswer {
    pub tenant: TenantId,
    pub id: AnswerId,
    pub conversation: Option<ConversationId>,
    pub collection: Option<CollectionId>,
    pub question: String,
    pub answer: String,
    pub prompt_version: String,
    pub record: serde_json::Value,
    /// Who created it (a user id, or `key:<id>` for a service key); `None` for the
    /// local operator (CLI). Only its owner reads it back over the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    pub created_at: i64,
}

/// Thumbs up or down on an answer, with an optional comment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Feedback {
    pub tenant: TenantId,
    pub id: FeedbackId,
    pub answer: AnswerId,
    /// +1 (thumbs up) or -1 (thumbs down).
    pub rating: i8,
    pub comment: String,
    /// Who created it (a user id, or `key:<id>` for a service key); `None` for the
    /// local operator (CLI). Only its owner reads it back over the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    pub created_at: i64,
}
