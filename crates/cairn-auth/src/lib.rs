//! Authentication and authorization for Cairn.
//!
//! This crate holds the security primitives the server composes; it does no HTTP and
//! owns no storage (Redis, for shared rate limits, is the one exception):
//!
//! - [`role`]: five ordered roles and the actions each allows (one matrix, tested in full).
//! - [`apikey`]: `cairn_<lookup>_<secret>` API keys, shown once, stored as an argon2id
//!   hash of the secret next to a clear lookup id.
//! - [`jwt`]: RS256/ES256 bearer tokens from an OIDC provider, verified against a JWKS
//!   (file or URL) with issuer and audience checks, mapped to tenant, user, groups, role.
//! - [`oidc`]: single sign-on for the web UI, the OpenID Connect authorization code flow
//!   with PKCE; its ID tokens go through the same verifier and claim mapping as [`jwt`].
//! - [`limit`]: token-bucket rate limiting behind the [`RateLimiter`] trait, with an
//!   in-memory implementation and a Redis one ([`RedisLimiter`], shared by every server
//!   process, each operation one atomic Lua script).
//! - [`secret`]: AES-256-GCM sealing of secrets at rest ([`SecretBox`]).
//! - [`audit`]: the hash chain that makes the append-only audit log tamper-evident.
//!
//! Design rules: every failure is an [`AuthError`] with a stable
//! [`cairn_types::ErrorCode`] (401 for bad credentials, 403 for missing permissions);
//! error messages and `Debug` output never contain keys, secrets or tokens; everything
//! that compares secrets does so in constant time (argon2 verification, AES-GCM tags);
//! randomness comes from OS-seeded CSPRNGs.

pub mod apikey;
pub mod audit;
mod error;
pub mod jwt;
pub mod limit;
mod limit_redis;
pub mod oidc;
mod redis_pool;
pub mod role;
pub mod secret;
#[doc(hidden)]
pub mod testing;

pub use error::{AuthError, Result};
pub use jwt::{JwtSettings, JwtVerifier, TokenIdentity, looks_like_jwt};
pub use limit::{Ask, MemoryLimiter, Rate, RateLimiter, Verdict};
pub use limit_redis::RedisLimiter;
pub use oidc::{OidcClient, OidcSettings};
pub use redis_pool::{RedisError, RedisPool};
pub use role::{Action, Role};
pub use secret::SecretBox;
