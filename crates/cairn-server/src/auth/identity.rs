//! The authenticated caller of one request.

use cairn_auth::{Action, Role};
use cairn_types::{Principal, TenantId};
use serde::Serialize;

/// How the caller proved who it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Via {
    /// `auth.mode = "off"` on a loopback listener: the local operator.
    Operator,
    ApiKey {
        id: String,
    },
    Jwt {
        issuer: String,
    },
    /// A browser's single sign-on session (`cairn_session` cookie).
    Session {
        id: String,
    },
}

/// Who is calling: tenant, data-access principal, role and scopes, and the keys its
/// rate limits and audit entries are filed under.
#[derive(Clone, Debug, Serialize)]
pub struct Identity {
    pub tenant: TenantId,
    pub principal: Principal,
    pub role: Role,
    /// Actions a key is limited to; empty = everything the role allows.
    pub scopes: Vec<Action>,
    pub via: Via,
    /// Names the caller in the audit log: `user:<id>`, `key:<id>` or `operator`.
    pub actor: String,
    /// The caller's own rate-limit bucket (per key, or per JWT user).
    pub bucket: String,
    /// Per-key overrides of the configured per-key rates.
    pub rpm: Option<f64>,
    pub tpm: Option<f64>,
}

impl Identity {
    /// The local operator of `tenant` (auth off).
    pub fn operator(tenant: TenantId) -> Self {
        Self {
            bucket: format!("operator:{tenant}"),
            tenant,
            principal: Principal::operator(),
            role: Role::Owner,
            scopes: Vec::new(),
            via: Via::Operator,
            actor: "operator".into(),
            rpm: None,
            tpm: None,
        }
    }

    /// Whether the role and the scopes both allow `action`.
    pub fn can(&self, action: Action) -> bool {
        self.role.allows(action) && (self.scopes.is_empty() || self.scopes.contains(&action))
    }

    /// The owner key rows are stamped with and filtered by (`None`: operator, sees all).
    pub fn owner(&self) -> Option<&str> {
        self.principal.owner.as_deref()
    }
}
