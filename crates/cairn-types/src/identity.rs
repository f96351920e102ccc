//! Who is acting ([`Principal`]) and the identity rows the store keeps ([`User`],
//! [`ApiKey`]). Roles and scopes are plain strings here; `cairn-auth` gives them
//! meaning.

use crate::{Acl, TenantId};
use serde::{Deserialize, Serialize};

/// The caller of one request, as far as data access goes: whose rows it may read back
/// and which documents its ACL identity admits.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The owner key stamped on what this caller creates and required to read it back
    /// (conversations, answers, feedback, uploads): a user id, or `key:<id>` for a
    /// service key. `None` only for the local operator.
    pub owner: Option<String>,
    /// The user id documents' ACLs are matched against.
    pub user: Option<String>,
    pub groups: Vec<String>,
    /// Sees every document of the tenant regardless of ACLs (operator, admins).
    pub all_documents: bool,
}

impl Principal {
    /// The local operator (CLI): every document, rows without an owner.
    pub fn operator() -> Self {
        Self {
            owner: None,
            user: None,
            groups: Vec::new(),
            all_documents: true,
        }
    }

    /// Whether this caller may see a document with this ACL.
    pub fn can_read(&self, acl: &Acl) -> bool {
        self.all_documents || acl.allows(self.user.as_deref(), &self.groups)
    }
}

/// A user of a tenant. Users come from `cairn users add`, the admin API, or the first
/// verified JWT that names them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub tenant: TenantId,
    /// Stable id (the JWT subject for SSO users).
    pub id: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub name: String,
    /// `owner`, `admin`, `editor`, `member` or `viewer`.
    pub role: String,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A stored API key. The secret itself is never stored: only an argon2id hash of it,
/// found through the public `lookup` part of the token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    pub tenant: TenantId,
    pub id: String,
    /// The public part of the token (`cairn_<lookup>_<secret>`), unique across tenants.
    pub lookup: String,
    /// PHC string of the secret's hash. Never serialized into API responses.
    #[serde(skip_serializing, default)]
    pub hash: String,
    pub name: String,
    /// The user the key acts as (its ACL identity and owner); `None` for a service key.
    pub user: Option<String>,
    /// The key's role (at most its user's).
    pub role: String,
    /// Action names the key is limited to; empty = everything its role allows.
    pub scopes: Vec<String>,
    /// Requests and tokens per minute for this key (`None`: the configured default).
    pub rpm: Option<f64>,
    pub tpm: Option<f64>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// The key this one replaced (rotation).
    pub rotated_from: Option<String>,
    pub last_used_at: Option<i64>,
    pub created_at: i64,
}

impl ApiKey {
    /// Whether the key is usable at `now` (Unix ms).
    pub fn is_active(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| now < e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_read_what_their_acl_admits() {
        let acl = Acl {
            users: vec!["bob".into()],
            groups: vec!["hr".into()],
        };
        let alice = Principal {
            owner: Some("alice".into()),
            user: Some("alice".into()),
            groups: vec!["eng".into()],
            all_documents: false,
        };
        assert!(!alice.can_read(&acl));
        assert!(alice.can_read(&Acl::default()));
        assert!(Principal::operator().can_read(&acl));
    }
}
