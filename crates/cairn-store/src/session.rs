//! Web sessions (the UI's single sign-on) and the logins in flight that create them.
//!
//! A session is found by the SHA-256 of its cookie token, never by the token itself;
//! the store holds no secret a database reader could replay except the CSRF token,
//! which is worthless without the cookie.

use crate::Result;
use cairn_types::TenantId;
use serde::Serialize;

/// One signed-in browser.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WebSession {
    pub tenant: TenantId,
    /// Public id (`ses_…`), for listing and revoking.
    pub id: String,
    /// Hex SHA-256 of the cookie's token.
    #[serde(skip)]
    pub token_hash: String,
    pub user: String,
    /// The role and groups the ID token granted at sign-in.
    pub role: String,
    pub groups: Vec<String>,
    /// The identity provider that vouched for the user.
    pub issuer: String,
    /// What state-changing requests must echo in `X-CSRF-Token`.
    #[serde(skip)]
    pub csrf: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// The browser's `User-Agent` at sign-in, for the sessions list.
    pub user_agent: String,
}

impl WebSession {
    /// Neither revoked nor expired at `now`.
    pub fn is_live(&self, now: i64) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// A login sent to the identity provider and not yet back. Keyed by the hash of its
/// `state`; the PKCE verifier and nonce stay here, never in the browser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingLogin {
    pub state_hash: String,
    pub code_verifier: String,
    pub nonce: String,
    /// The redirect URI the login was started with (the token request repeats it).
    pub redirect_uri: String,
    /// Where in the UI to land afterwards (a same-origin path).
    pub return_to: String,
    pub created_at: i64,
}

/// Web sessions and pending logins.
pub trait SessionRepo {
    /// Stores a new session (and drops sessions that ended more than a day ago).
    fn insert_session(&self, session: &WebSession) -> Result<()>;
    /// The session with this token hash, in whichever tenant holds it.
    fn find_session(&self, token_hash: &str) -> Result<Option<WebSession>>;
    /// A tenant's sessions, newest first; `user` narrows to one user's.
    fn list_sessions(&self, tenant: &TenantId, user: Option<&str>) -> Result<Vec<WebSession>>;
    /// Marks one session revoked at `now` (idempotent); `NotFound` outside its tenant.
    fn revoke_session(&self, tenant: &TenantId, id: &str, now: i64) -> Result<WebSession>;
    /// Revokes every live session of a user; returns how many.
    fn revoke_user_sessions(&self, tenant: &TenantId, user: &str, now: i64) -> Result<usize>;
    /// Remembers a login in flight (and drops ones older than `max_age_ms`).
    fn put_login(&self, login: &PendingLogin, max_age_ms: i64) -> Result<()>;
    /// Removes and returns the login with this state hash if it is younger than
    /// `max_age_ms`: each state is good for one callback only.
    fn take_login(
        &self,
        state_hash: &str,
        now: i64,
        max_age_ms: i64,
    ) -> Result<Option<PendingLogin>>;
}
