//! Authorization in the handler's signature: `Can<perm::Ask>` extracts the caller and
//! fails with `403 forbidden` unless its role and scopes allow the action. A handler
//! without such an argument cannot reach a caller at all.

use super::Identity;
use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use cairn_auth::Action;
use cairn_types::ErrorCode;
use std::marker::PhantomData;

/// A permission marker: the action it stands for.
pub trait Permission: Send + Sync + 'static {
    const ACTION: Action;
}

/// The caller, proven allowed to do `P`.
pub struct Can<P: Permission>(pub Identity, PhantomData<P>);

impl<P: Permission> std::ops::Deref for Can<P> {
    type Target = Identity;
    fn deref(&self) -> &Identity {
        &self.0
    }
}

/// The caller of a request that passed authentication.
pub fn caller(parts: &Parts) -> Result<Identity, ApiError> {
    parts.extensions.get::<Identity>().cloned().ok_or_else(|| {
        ApiError::new(
            ErrorCode::Unauthorized,
            "this route needs credentials: send `Authorization: Bearer <API key or JWT>`",
        )
    })
}

/// The `403` for an identity lacking `action`.
pub fn forbidden(id: &Identity, action: Action) -> ApiError {
    let why = if id.role.allows(action) {
        format!("this key's scopes do not include `{}`", action.as_str())
    } else {
        format!(
            "role `{}` may not `{}` (see GET /api/v1/me for your permissions)",
            id.role.as_str(),
            action.as_str()
        )
    };
    ApiError::new(ErrorCode::Forbidden, why)
}

impl<S: Send + Sync, P: Permission> FromRequestParts<S> for Can<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let id = caller(parts)?;
        if !id.can(P::ACTION) {
            return Err(forbidden(&id, P::ACTION));
        }
        Ok(Self(id, PhantomData))
    }
}

/// Any authenticated caller (for `/api/v1/me`).
pub struct Authenticated(pub Identity);

impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Ok(Self(caller(parts)?))
    }
}

/// One marker type per action.
pub mod perm {
    use super::Permission;
    use cairn_auth::Action;

    macro_rules! permissions {
        ($($name:ident),* $(,)?) => {$(
            #[doc = concat!("Marker for `Action::", stringify!($name), "`.")]
            pub struct $name;
            impl Permission for $name {
                const ACTION: Action = Action::$name;
            }
        )*};
    }

    permissions!(
        Search,
        Ask,
        ReadDocuments,
        WriteDocuments,
        DeleteDocuments,
        ManageCollections,
        ReadJobs,
        Converse,
        ManageKeys,
        ManageUsers,
        ReadAudit,
        ManageTenant,
    );
}
