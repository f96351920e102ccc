//! Who a run acts for. A run never sees more than its caller: the same principal (ACL
//! identity), role and key scopes as the request that started it, kept with the run so
//! that a resumed run acts for the same person.

use cairn_auth::{Action, Role};
use cairn_types::{Principal, TenantId};
use serde::{Deserialize, Serialize};

/// The caller of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Caller {
    pub tenant: TenantId,
    pub principal: Principal,
    pub role: Role,
    /// Actions an API key is limited to; empty: everything the role allows.
    #[serde(default)]
    pub scopes: Vec<Action>,
    /// Names the caller in the audit log (`user:<id>`, `key:<id>`, `operator`).
    pub actor: String,
}

impl Caller {
    /// The local operator of `tenant` (the CLI): every document, every tool.
    pub fn operator(tenant: TenantId) -> Self {
        Self {
            tenant,
            principal: Principal::operator(),
            role: Role::Owner,
            scopes: Vec::new(),
            actor: "operator".into(),
        }
    }

    /// Whether the caller may do `action` (its role, then its key's scopes).
    pub fn can(&self, action: Action) -> bool {
        self.role.allows(action) && (self.scopes.is_empty() || self.scopes.contains(&action))
    }

    /// Whether the caller's role allows everything `least` allows (per-tool roles).
    pub fn has_role(&self, least: Role) -> bool {
        Action::all()
            .iter()
            .all(|a| !least.allows(*a) || self.role.allows(*a))
    }

    /// The owner key runs and memories are stamped with (`operator` for the CLI).
    pub fn owner(&self) -> String {
        self.principal
            .owner
            .clone()
            .unwrap_or_else(|| "operator".into())
    }

    /// A view of documents limited to the caller's own user key: what their long-term
    /// memory is searched with, even when they are an administrator who sees everything
    /// else.
    pub fn private_view(&self) -> Principal {
        Principal {
            owner: self.principal.owner.clone(),
            user: Some(self.owner()),
            groups: Vec::new(),
            all_documents: false,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn scopes_narrow_a_role_and_roles_follow_the_matrix() {
        let mut c = Caller::operator(TenantId::new("t"));
        c.role = Role::Member;
        assert!(c.can(Action::Ask));
        assert!(!c.can(Action::WriteDocuments));
        assert!(c.has_role(Role::Viewer) && c.has_role(Role::Member));
        assert!(!c.has_role(Role::Editor));
        c.scopes = vec![Action::Search];
        assert!(!c.can(Action::Ask));
        assert!(c.can(Action::Search));
    }
}
