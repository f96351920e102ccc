//! Files attached to a conversation. They are ingested into a private collection of
//! the conversation (`conv-<id>`), readable only by the conversation's owner (the
//! documents' ACL names them), searched beside the conversation's own collection for
//! every question asked in it, and deleted with the conversation.

use crate::ingest::UploadRequest;
use crate::{Engine, Error, Result};
use cairn_types::{Acl, CollectionId, ConversationId, Document, ErrorCode, Principal, TenantId};

/// The names of conversations' attachment collections start with this; other
/// collections cannot take such a name.
pub const PREFIX: &str = "conv-";

/// Most files one conversation may hold.
pub const MAX_ATTACHMENTS: usize = 20;

/// The collection holding `conversation`'s attachments.
pub fn attachments_collection(conversation: &ConversationId) -> CollectionId {
    CollectionId::new(format!(
        "{PREFIX}{}",
        conversation.as_str().to_ascii_lowercase().replace('-', "")
    ))
}

/// The conversation whose attachments `collection` holds.
pub fn conversation_of(collection: &str) -> Option<ConversationId> {
    let hex = collection.strip_prefix(PREFIX)?;
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let (a, rest) = hex.split_at(8);
    let (b, rest) = rest.split_at(4);
    let (c, rest) = rest.split_at(4);
    let (d, e) = rest.split_at(4);
    Some(ConversationId::new(format!("{a}-{b}-{c}-{d}-{e}")))
}

/// Whether `collection` is reserved for a conversation's attachments.
pub fn is_attachments_collection(collection: &str) -> bool {
    collection.starts_with(PREFIX)
}

impl Engine {
    /// Ingests a file into `conversation`'s attachments; `principal` must own the
    /// conversation. The document is readable by that user only, whatever `req.acl`
    /// says.
    pub fn attach(
        &self,
        tenant: &TenantId,
        principal: &Principal,
        conversation: &ConversationId,
        req: &UploadRequest<'_>,
    ) -> Result<Document> {
        self.owned_conversation(tenant, Some(principal.owner.as_deref()), conversation)?;
        // The reader the ACL names: the user; an administrator's key or the local
        // operator, who read every document anyway, by their owner name.
        let reader = principal
            .user
            .clone()
            .or_else(|| {
                principal
                    .all_documents
                    .then(|| principal.owner.clone().unwrap_or_else(|| "operator".into()))
            })
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::Forbidden,
                    "attachments are private to a user: sign in as one (or use a key \
                     issued to a user)",
                )
            })?;
        let collection = attachments_collection(conversation);
        let existing = match self.store.get_collection(tenant, &collection) {
            Ok(_) => self
                .store
                .list_documents(tenant, Some(&collection), 1_000, 0)?,
            Err(cairn_store::Error::NotFound { .. }) => {
                self.create_attachments_collection(tenant, conversation)?;
                Vec::new()
            }
            Err(e) => return Err(e.into()),
        };
        let replaces = existing
            .iter()
            .any(|d| d.source == format!("upload:{}", req.name));
        if !replaces && existing.len() >= MAX_ATTACHMENTS {
            return Err(Error::new(
                ErrorCode::TooLarge,
                format!("a conversation holds at most {MAX_ATTACHMENTS} files; remove one first"),
            ));
        }
        let private = UploadRequest {
            acl: Acl {
                users: vec![reader],
                groups: Vec::new(),
            },
            owner: principal.owner.clone(),
            ..req.clone()
        };
        self.ingest_bytes(tenant, &collection, &private)
    }

    /// The files attached to `conversation` (owned by `principal`), oldest first.
    pub fn attachments(
        &self,
        tenant: &TenantId,
        principal: &Principal,
        conversation: &ConversationId,
    ) -> Result<Vec<Document>> {
        self.owned_conversation(tenant, Some(principal.owner.as_deref()), conversation)?;
        match self.attached_collection(tenant, conversation)? {
            Some(c) => {
                let mut docs = self.store.list_documents(tenant, Some(&c), 1_000, 0)?;
                docs.retain(|d| principal.can_read(&d.acl));
                docs.sort_by_key(|d| d.created_at);
                Ok(docs)
            }
            None => Ok(Vec::new()),
        }
    }

    /// Removes one attached file.
    pub fn detach(
        &self,
        tenant: &TenantId,
        principal: &Principal,
        conversation: &ConversationId,
        document: &str,
    ) -> Result<()> {
        let found = self
            .attachments(tenant, principal, conversation)?
            .into_iter()
            .find(|d| d.id.as_str() == document)
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::NotFound,
                    format!("attachment `{document}` not found"),
                )
            })?;
        self.store.delete_document(tenant, &found.id)?;
        Ok(())
    }

    /// Deletes the attachment collections whose conversation is gone (a retention sweep
    /// deleted it); returns how many.
    pub fn prune_attachments(&self, tenant: &TenantId) -> Result<usize> {
        let mut pruned = 0;
        for c in self.store.list_collections(tenant)? {
            let Some(conversation) = conversation_of(c.id.as_str()) else {
                continue;
            };
            match self.store.get_conversation(tenant, &conversation) {
                Ok(_) => {}
                Err(cairn_store::Error::NotFound { .. }) => {
                    self.delete_collection(tenant, &c.id)?;
                    pruned += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(pruned)
    }

    /// `conversation`'s attachment collection, if a file was ever attached.
    pub(crate) fn attached_collection(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<Option<CollectionId>> {
        let c = attachments_collection(conversation);
        match self.store.get_collection(tenant, &c) {
            Ok(_) => Ok(Some(c)),
            Err(cairn_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn create_attachments_collection(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<()> {
        let c = attachments_collection(conversation);
        let description = format!("Files attached to conversation {conversation}");
        match self.store.create_collection(
            tenant,
            &c,
            &description,
            &self.config.chunking,
            crate::engine::now_ms(),
        ) {
            // Two files attached at once.
            Ok(_) | Err(cairn_store::Error::Conflict(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_collection_name_is_a_valid_reserved_slug() {
        let id = ConversationId::generate();
        let c = attachments_collection(&id);
        assert!(cairn_types::validate_slug(c.as_str()).is_ok(), "{c}");
        assert!(is_attachments_collection(c.as_str()));
        assert!(!is_attachments_collection("kb"));
        assert_eq!(conversation_of(c.as_str()), Some(id));
        assert_eq!(conversation_of("conv-notahex"), None);
        assert_eq!(conversation_of("kb"), None);
    }
}
