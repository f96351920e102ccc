//! Roles and the actions they allow.
//!
//! Roles are strictly ordered (`Viewer < Member < Editor < Admin < Owner`) and each role
//! allows everything the role below it allows plus a few actions of its own, so the
//! permission matrix is a ladder, written out once in [`Role::permissions`]. Checks go
//! through [`Role::allows`] (or [`Role::require`], which produces the 403 error), never
//! through comparisons of roles, so the matrix stays the one source of truth.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{AuthError, Result};

/// A principal's role within a tenant, ordered lowest to highest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Search and read documents.
    Viewer,
    /// Viewer, plus generation (ask, chat, embeddings) and own conversations.
    Member,
    /// Member, plus uploading and deleting documents, managing collections, reading jobs.
    Editor,
    /// Editor, plus API keys, users, the audit log and ACL bypass.
    Admin,
    /// Admin, plus tenant settings: quotas, guardrail policy, secrets.
    Owner,
}

/// Something a request wants to do. The string forms are stable (they appear in API key
/// scopes, audit entries and error messages).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    /// Search and read citations.
    #[serde(rename = "search")]
    Search,
    /// Generation: `/api/v1/ask`, `/v1/chat/completions`, `/v1/embeddings`.
    #[serde(rename = "ask")]
    Ask,
    /// List and read documents.
    #[serde(rename = "documents:read")]
    ReadDocuments,
    /// Upload documents.
    #[serde(rename = "documents:write")]
    WriteDocuments,
    /// Delete documents.
    #[serde(rename = "documents:delete")]
    DeleteDocuments,
    /// Create, change and delete collections.
    #[serde(rename = "collections:manage")]
    ManageCollections,
    /// Read ingestion jobs.
    #[serde(rename = "jobs:read")]
    ReadJobs,
    /// Own conversations and feedback.
    #[serde(rename = "conversations")]
    Converse,
    /// Create and revoke API keys.
    #[serde(rename = "keys:manage")]
    ManageKeys,
    /// Manage users and their roles.
    #[serde(rename = "users:manage")]
    ManageUsers,
    /// Read the audit log.
    #[serde(rename = "audit:read")]
    ReadAudit,
    /// Quotas, guardrail policy, secrets.
    #[serde(rename = "tenant:manage")]
    ManageTenant,
    /// See every document of the tenant regardless of its ACL.
    #[serde(rename = "acl:bypass")]
    BypassAcl,
}

const ROLES: &[Role] = &[
    Role::Viewer,
    Role::Member,
    Role::Editor,
    Role::Admin,
    Role::Owner,
];

const ACTIONS: &[Action] = &[
    Action::Search,
    Action::Ask,
    Action::ReadDocuments,
    Action::WriteDocuments,
    Action::DeleteDocuments,
    Action::ManageCollections,
    Action::ReadJobs,
    Action::Converse,
    Action::ManageKeys,
    Action::ManageUsers,
    Action::ReadAudit,
    Action::ManageTenant,
    Action::BypassAcl,
];

impl Role {
    /// Parses `viewer`, `member`, `editor`, `admin` or `owner` (case-insensitive,
    /// surrounding whitespace ignored).
    pub fn parse(s: &str) -> Option<Role> {
        let s = s.trim();
        ROLES
            .iter()
            .copied()
            .find(|r| r.as_str().eq_ignore_ascii_case(s))
    }

    /// The stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Member => "member",
            Role::Editor => "editor",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    /// Every role, lowest first.
    pub fn all() -> &'static [Role] {
        ROLES
    }

    /// The actions this role adds on top of the role below it.
    fn own_actions(self) -> &'static [Action] {
        match self {
            Role::Viewer => &[Action::Search, Action::ReadDocuments],
            Role::Member => &[Action::Ask, Action::Converse],
            Role::Editor => &[
                Action::WriteDocuments,
                Action::DeleteDocuments,
                Action::ManageCollections,
                Action::ReadJobs,
            ],
            Role::Admin => &[
                Action::ManageKeys,
                Action::ManageUsers,
                Action::ReadAudit,
                Action::BypassAcl,
            ],
            Role::Owner => &[Action::ManageTenant],
        }
    }

    /// Whether this role may perform `action`.
    pub fn allows(self, action: Action) -> bool {
        ROLES
            .iter()
            .take_while(|r| **r <= self)
            .any(|r| r.own_actions().contains(&action))
    }

    /// Every action this role may perform, in [`Action::all`] order.
    pub fn permissions(self) -> Vec<Action> {
        ACTIONS
            .iter()
            .copied()
            .filter(|a| self.allows(*a))
            .collect()
    }

    /// `Ok(())` when the role allows `action`, else [`AuthError::Forbidden`] naming both.
    pub fn require(self, action: Action) -> Result<()> {
        if self.allows(action) {
            Ok(())
        } else {
            Err(AuthError::Forbidden(format!(
                "role `{}` may not perform `{}`",
                self.as_str(),
                action.as_str()
            )))
        }
    }

    /// The lowest role that allows `action`.
    pub fn minimum_for(action: Action) -> Role {
        ROLES
            .iter()
            .copied()
            .find(|r| r.allows(action))
            .unwrap_or(Role::Owner)
    }
}

impl Action {
    /// Parses the stable string form (`"documents:write"`, ...); case-insensitive,
    /// surrounding whitespace ignored.
    pub fn parse(s: &str) -> Option<Action> {
        let s = s.trim();
        ACTIONS
            .iter()
            .copied()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
    }

    /// The stable string form.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Search => "search",
            Action::Ask => "ask",
            Action::ReadDocuments => "documents:read",
            Action::WriteDocuments => "documents:write",
            Action::DeleteDocuments => "documents:delete",
            Action::ManageCollections => "collections:manage",
            Action::ReadJobs => "jobs:read",
            Action::Converse => "conversations",
            Action::ManageKeys => "keys:manage",
            Action::ManageUsers => "users:manage",
            Action::ReadAudit => "audit:read",
            Action::ManageTenant => "tenant:manage",
            Action::BypassAcl => "acl:bypass",
        }
    }

    /// Every action.
    pub fn all() -> &'static [Action] {
        ACTIONS
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = AuthError;

    fn from_str(s: &str) -> Result<Self> {
        Role::parse(s).ok_or_else(|| {
            AuthError::InvalidInput(format!(
                "unknown role `{s}`: expected one of viewer, member, editor, admin, owner"
            ))
        })
    }
}

impl FromStr for Action {
    type Err = AuthError;

    fn from_str(s: &str) -> Result<Self> {
        Action::parse(s).ok_or_else(|| AuthError::InvalidInput(format!("unknown action `{s}`")))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use Action::*;

    /// The full matrix, written out independently of the ladder in `own_actions`.
    fn expected(role: Role) -> &'static [Action] {
        match role {
            Role::Viewer => &[Search, ReadDocuments],
            Role::Member => &[Search, ReadDocuments, Ask, Converse],
            Role::Editor => &[
                Search,
                ReadDocuments,
                Ask,
                Converse,
                WriteDocuments,
                DeleteDocuments,
                ManageCollections,
                ReadJobs,
            ],
            Role::Admin => &[
                Search,
                ReadDocuments,
                Ask,
                Converse,
                WriteDocuments,
                DeleteDocuments,
                ManageCollections,
                ReadJobs,
                ManageKeys,
                ManageUsers,
                ReadAudit,
                BypassAcl,
            ],
            Role::Owner => &[
                Search,
                ReadDocuments,
                Ask,
                Converse,
                WriteDocuments,
                DeleteDocuments,
                ManageCollections,
                ReadJobs,
                ManageKeys,
                ManageUsers,
                ReadAudit,
                BypassAcl,
                ManageTenant,
            ],
        }
    }

    #[test]
    fn full_permission_matrix() {
        for &role in Role::all() {
            for &action in Action::all() {
                assert_eq!(
                    role.allows(action),
                    expected(role).contains(&action),
                    "{role} / {action}"
                );
                assert_eq!(role.require(action).is_ok(), role.allows(action));
            }
            let mut got = role.permissions();
            let mut want = expected(role).to_vec();
            got.sort_by_key(|a| a.as_str());
            want.sort_by_key(|a| a.as_str());
            assert_eq!(got, want, "{role}");
        }
    }

    #[test]
    fn higher_roles_allow_a_superset() {
        for pair in Role::all().windows(2) {
            let (low, high) = (pair[0], pair[1]);
            assert!(low < high);
            for &a in Action::all() {
                assert!(
                    !low.allows(a) || high.allows(a),
                    "{low} allows {a} but {high} does not"
                );
            }
            assert!(high.permissions().len() > low.permissions().len());
        }
    }

    #[test]
    fn every_action_has_a_minimum_role() {
        assert_eq!(Role::minimum_for(Search), Role::Viewer);
        assert_eq!(Role::minimum_for(Ask), Role::Member);
        assert_eq!(Role::minimum_for(ReadJobs), Role::Editor);
        assert_eq!(Role::minimum_for(BypassAcl), Role::Admin);
        assert_eq!(Role::minimum_for(ManageTenant), Role::Owner);
        for &a in Action::all() {
            assert!(Role::Owner.allows(a), "owner must allow {a}");
        }
    }

    #[test]
    fn names_round_trip_through_parse_serde_and_display() {
        for &role in Role::all() {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            assert_eq!(role.to_string().parse::<Role>().unwrap(), role);
            let json = serde_json::to_string(&role).unwrap();
            assert_eq!(json, format!("\"{}\"", role.as_str()));
            assert_eq!(serde_json::from_str::<Role>(&json).unwrap(), role);
        }
        for &action in Action::all() {
            assert_eq!(Action::parse(action.as_str()), Some(action));
            let json = serde_json::to_string(&action).unwrap();
            assert_eq!(json, format!("\"{}\"", action.as_str()));
            assert_eq!(serde_json::from_str::<Action>(&json).unwrap(), action);
        }
        assert_eq!(Action::all().len(), 13);
        assert_eq!(Role::parse("  ADMIN "), Some(Role::Admin));
        assert_eq!(Role::parse("root"), None);
        assert_eq!(Action::parse("Documents:Write"), Some(WriteDocuments));
        assert_eq!(Action::parse("documents"), None);
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn forbidden_error_names_role_and_action() {
        let err = Role::Viewer.require(WriteDocuments).unwrap_err();
        assert_eq!(err.code(), cairn_types::ErrorCode::Forbidden);
        assert!(err.message().contains("viewer"));
        assert!(err.message().contains("documents:write"));
    }
}
