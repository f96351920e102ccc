//! API keys: random bearer tokens that are shown once and stored only as a hash.
//!
//! A token looks like `cairn_<lookup>_<secret>`: 12 base62 characters of lookup id and
//! 40 base62 characters (≈238 bits) of secret. The store keeps the lookup id in clear
//! (indexed, unique) and an argon2id PHC string of the secret; authenticating a request
//! is one indexed lookup plus one argon2 verification. Because argon2 is deliberately
//! slow (tens of milliseconds), servers should cache successful verifications in memory
//! keyed by [`fingerprint`] (a SHA-256 of the whole token, so the cache holds nothing
//! that can be replayed) with a short TTL, and call [`dummy_verify`] when the lookup id
//! is unknown so that unknown and wrong keys take the same time.

use std::fmt;
use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::Rng;
use sha2::{Digest, Sha256};

use crate::{AuthError, Result};

/// Every Cairn API key starts with this.
pub const TOKEN_PREFIX: &str = "cairn_";
/// Length of the lookup id, in base62 characters.
pub const LOOKUP_LEN: usize = 12;
/// Length of the secret, in base62 characters.
pub const SECRET_LEN: usize = 40;

/// OWASP's argon2id recommendation: 19 MiB, 2 passes, 1 lane.
const M_COST_KIB: u32 = 19_456;
const T_COST: u32 = 2;
const P_COST: u32 = 1;
/// Hashes asking for more memory than this are refused at verification, so a
/// tampered row cannot make the server allocate gigabytes.
const MAX_VERIFY_M_COST_KIB: u32 = 256 * 1024;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A freshly generated key. `token` is given to the user once and never stored;
/// `lookup` and `hash` go to the store.
#[derive(Clone, PartialEq, Eq)]
pub struct GeneratedKey {
    /// The full bearer token, `cairn_<lookup>_<secret>`.
    pub token: String,
    /// The lookup id (the part between the prefix and the secret).
    pub lookup: String,
    /// argon2id PHC string of the secret part.
    pub hash: String,
}

impl fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("token", &"<redacted>")
            .field("lookup", &self.lookup)
            .field("hash", &self.hash)
            .finish()
    }
}

fn argon2id() -> Result<Argon2<'static>> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None)
        .map_err(|e| AuthError::Internal(format!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn random_base62(len: usize) -> String {
    // ThreadRng is a CSPRNG (ChaCha12) seeded and periodically reseeded from the OS.
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(BASE62[rng.random_range(0..BASE62.len())]))
        .collect()
}

/// Generates a new key from OS-seeded randomness and hashes its secret.
pub fn generate() -> Result<GeneratedKey> {
    let lookup = random_base62(LOOKUP_LEN);
    let secret = random_base62(SECRET_LEN);
    let hash = hash_secret(&secret)?;
    Ok(GeneratedKey {
        token: format!("{TOKEN_PREFIX}{lookup}_{secret}"),
        lookup,
        hash,
    })
}

fn is_base62(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Splits a token into `(lookup, secret)`, or `None` when it is not a well-formed
/// Cairn key (wrong prefix, wrong lengths, characters outside base62).
pub fn split(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    if rest.len() != LOOKUP_LEN + 1 + SECRET_LEN {
        return None;
    }
    let (lookup, rest) = rest.split_at_checked(LOOKUP_LEN)?;
    let secret = rest.strip_prefix('_')?;
    (is_base62(lookup) && is_base62(secret)).then_some((lookup, secret))
}

/// Hashes a secret with argon2id (m=19456 KiB, t=2, p=1) and a random 16-byte salt,
/// returning the PHC string (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`).
pub fn hash_secret(secret: &str) -> Result<String> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes)
        .map_err(|e| AuthError::Internal(format!("argon2 salt: {e}")))?;
    let hash = argon2id()?
        .hash_password(secret.as_bytes(), &salt)
        .map_err(|e| AuthError::Internal(format!("argon2 hashing failed: {e}")))?;
    Ok(hash.to_string())
}

/// Whether `secret` matches the argon2id PHC string `phc`. The comparison inside
/// argon2 is constant-time. Malformed hashes, other algorithms and hashes with
/// excessive memory cost verify as `false`.
pub fn verify_secret(secret: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    if parsed.algorithm != argon2::ARGON2ID_IDENT {
        return false;
    }
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    if params.m_cost() > MAX_VERIFY_M_COST_KIB {
        return false;
    }
    // Parameters, salt and version come from the PHC string; the output comparison
    // inside `verify_password` is constant-time.
    Argon2::default()
        .verify_password(secret.as_bytes(), &parsed)
        .is_ok()
}

/// Spends the time of one verification without a stored hash, so that a request with
/// an unknown lookup id takes as long as one with a wrong secret. Always `false`.
pub fn dummy_verify(secret: &str) -> bool {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    let phc = DUMMY.get_or_init(|| hash_secret(&random_base62(SECRET_LEN)).ok());
    if let Some(phc) = phc {
        let _ = verify_secret(secret, phc);
    }
    false
}

/// SHA-256 of the whole token: a cache key for verified tokens that is useless to
/// anyone who reads the cache.
pub fn fingerprint(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn generated_keys_split_and_verify() {
        let key = generate().unwrap();
        assert!(key.token.starts_with(TOKEN_PREFIX));
        assert_eq!(
            key.token.len(),
            TOKEN_PREFIX.len() + LOOKUP_LEN + 1 + SECRET_LEN
        );
        let (lookup, secret) = split(&key.token).unwrap();
        assert_eq!(lookup, key.lookup);
        assert!(
            key.hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            key.hash
        );
        assert!(verify_secret(secret, &key.hash));
        assert!(!key.hash.contains(secret));
    }

    #[test]
    fn keys_are_distinct() {
        let a = random_base62(SECRET_LEN);
        let b = random_base62(SECRET_LEN);
        assert_ne!(a, b);
        assert!(is_base62(&a));
    }

    #[test]
    fn wrong_secret_or_malformed_hash_does_not_verify() {
        let hash = hash_secret("right-secret").unwrap();
        assert!(verify_secret("right-secret", &hash));
        assert!(!verify_secret("wrong-secret", &hash));
        assert!(!verify_secret("right-secret", ""));
        assert!(!verify_secret("right-secret", "not a phc string"));
        assert!(!verify_secret(
            "right-secret",
            &hash.replace("argon2id", "argon2i")
        ));
        // A different salt gives a different hash of the same secret.
        assert_ne!(hash, hash_secret("right-secret").unwrap());
    }

    #[test]
    fn absurd_memory_cost_is_refused() {
        let hash = hash_secret("s").unwrap().replace("m=19456", "m=4194304");
        assert!(!verify_secret("s", &hash));
    }

    #[test]
    fn split_rejects_malformed_tokens() {
        let lookup = "A".repeat(LOOKUP_LEN);
        let secret = "b".repeat(SECRET_LEN);
        let good = format!("cairn_{lookup}_{secret}");
        assert_eq!(split(&good), Some((lookup.as_str(), secret.as_str())));
        assert_eq!(split(&format!("cairn-{lookup}_{secret}")), None);
        assert_eq!(split(&format!("cairn_{lookup}-{secret}")), None);
        assert_eq!(split(&format!("cairn_{lookup}_{secret}x")), None);
        assert_eq!(split(&format!("cairn_{lookup}_{}", &secret[1..])), None);
        assert_eq!(split(&format!("cairn_{}_{secret}é", &lookup[2..])), None);
        assert_eq!(split(&format!("cairn_{}!_{secret}", &lookup[1..])), None);
        assert_eq!(split(""), None);
        assert_eq!(split("cairn_"), None);
        assert_eq!(split("eyJhbGciOiJIUzI1NiJ9.e30.sig"), None);
    }

    #[test]
    fn fingerprint_is_sha256_of_token() {
        let fp = fingerprint("abc");
        assert_eq!(
            fp[..4],
            [0xba, 0x78, 0x16, 0xbf],
            "sha256(\"abc\") starts with ba7816bf"
        );
        assert_ne!(fingerprint("abc"), fingerprint("abd"));
    }

    #[test]
    fn dummy_verify_is_false() {
        assert!(!dummy_verify("anything"));
    }

    #[test]
    fn debug_redacts_token() {
        let key = generate().unwrap();
        let shown = format!("{key:?}");
        assert!(!shown.contains(&key.token));
        assert!(shown.contains(&key.lookup));
    }
}
