//! Secrets at rest (remote providers' API keys) sealed with AES-256-GCM.
//!
//! A sealed value is text, so it fits any column: `v1:` followed by standard base64 of
//! a fresh random 96-bit nonce, the ciphertext and the 128-bit tag. The caller passes
//! associated data (for example `tenant/secret-name`) that is authenticated but not
//! stored, so a sealed value copied to another row or tenant does not open there.
//! Random nonces are safe for far more than any realistic number of seals under one
//! key (the bound for 96-bit random nonces is ~2^32 messages).
//!
//! The master key is 32 bytes, given as base64 or hex text in an environment variable
//! or a file (see [`SecretBox::from_env_or_file`]); [`SecretBox::key_id`] identifies
//! which key sealed a value without revealing it, which makes key rotation traceable.

use std::fmt;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

use crate::{AuthError, Result};

const VERSION_PREFIX: &str = "v1:";
const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// An AES-256-GCM key for sealing and opening secrets. Its `Debug` shows only the key id.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
    key_id: String,
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretBox")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn decode_key_text(text: &str) -> Option<Vec<u8>> {
    if text.len() == KEY_LEN * 2
        && let Some(bytes) = decode_hex(text)
    {
        return Some(bytes);
    }
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
}

impl SecretBox {
    /// A box from raw key bytes.
    pub fn from_key_bytes(key: &[u8; KEY_LEN]) -> SecretBox {
        let digest = Sha256::digest(key);
        let key_id = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        SecretBox {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)),
            key_id,
        }
    }

    /// Parses a 32-byte key written as base64 (standard or URL-safe, padded or not) or
    /// as 64 hex characters. Surrounding whitespace is ignored.
    pub fn from_key_text(text: &str) -> Result<Self> {
        let text = text.trim();
        if text.is_empty() {
            return Err(AuthError::config(
                "the secret key is empty: expected 32 bytes as base64 or 64 hex characters \
                 (generate one with `openssl rand -base64 32`)",
            ));
        }
        let bytes = decode_key_text(text).ok_or_else(|| {
            AuthError::config(
                "the secret key is neither base64 nor hex: expected 32 bytes as base64 \
                 or 64 hex characters (generate one with `openssl rand -base64 32`)",
            )
        })?;
        let key: [u8; KEY_LEN] = bytes.as_slice().try_into().map_err(|_| {
            AuthError::config(format!(
                "the secret key decodes to {} bytes; AES-256 needs exactly {KEY_LEN}",
                bytes.len()
            ))
        })?;
        Ok(SecretBox::from_key_bytes(&key))
    }

    /// Loads the key from the environment variable `env_var` (when set and not blank),
    /// else from `file` (when given). `Ok(None)` when neither is set. A named file that
    /// cannot be read is an error, not `None`: a configured key must not silently vanish.
    pub fn from_env_or_file(env_var: &str, file: Option<&Path>) -> Result<Option<Self>> {
        SecretBox::from_sources(env_var, std::env::var(env_var).ok(), file)
    }

    /// [`SecretBox::from_env_or_file`] with the variable's value already read.
    fn from_sources(
        env_var: &str,
        env_value: Option<String>,
        file: Option<&Path>,
    ) -> Result<Option<Self>> {
        if let Some(text) = env_value
            && !text.trim().is_empty()
        {
            return SecretBox::from_key_text(&text)
                .map(Some)
                .map_err(|e| AuthError::config(format!("{env_var}: {}", e.message())));
        }
        let Some(path) = file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            AuthError::config(format!(
                "cannot read secret key file {}: {e}",
                path.display()
            ))
        })?;
        SecretBox::from_key_text(&text)
            .map(Some)
            .map_err(|e| AuthError::config(format!("{}: {}", path.display(), e.message())))
    }

    /// A new random key as standard base64 (for `cairn keygen`-style commands).
    pub fn generate_key_text() -> String {
        let key: [u8; KEY_LEN] = rand::random();
        STANDARD.encode(key)
    }

    /// Seals `plaintext` bound to `aad`: `"v1:" + base64(nonce || ciphertext || tag)`.
    ///
    /// # Panics
    ///
    /// Only for plaintexts over 64 GiB, which AES-GCM cannot encrypt; use
    /// [`SecretBox::try_seal`] when that can happen.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> String {
        match self.try_seal(plaintext, aad) {
            Ok(sealed) => sealed,
            Err(e) => panic!("{e}"),
        }
    }

    /// [`SecretBox::seal`] that reports the (only theoretical) failure instead.
    pub fn try_seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<String> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let ciphertext = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| AuthError::Internal("AES-GCM refused to seal the value".into()))?;
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(format!("{VERSION_PREFIX}{}", STANDARD.encode(out)))
    }

    /// Opens a value from [`SecretBox::seal`]. A malformed value is
    /// [`AuthError::InvalidInput`]; a wrong key, wrong `aad` or tampered value is
    /// [`AuthError::Internal`] (the server's key or data is wrong, not the request).
    pub fn open(&self, sealed: &str, aad: &[u8]) -> Result<Vec<u8>> {
        let body = sealed.trim().strip_prefix(VERSION_PREFIX).ok_or_else(|| {
            AuthError::InvalidInput("sealed value does not start with `v1:`".into())
        })?;
        let raw = STANDARD
            .decode(body)
            .map_err(|_| AuthError::InvalidInput("sealed value is not valid base64".into()))?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return Err(AuthError::InvalidInput("sealed value is too short".into()));
        }
        let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map_err(|_| {
                AuthError::Internal(format!(
                    "sealed value does not open with key {}: wrong key, wrong context, or tampered data",
                    self.key_id
                ))
            })
    }

    /// The first 8 hex digits of SHA-256 of the key: names the key, reveals nothing.
    pub fn key_id(&self) -> String {
        self.key_id.clone()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use cairn_types::ErrorCode;

    const HEX_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn sample() -> SecretBox {
        SecretBox::from_key_text(&SecretBox::generate_key_text()).unwrap()
    }

    #[test]
    fn seal_then_open_round_trips() {
        let sb = sample();
        let sealed = sb.seal(b"sk-provider-key", b"acme/openai");
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("sk-provider-key"));
        assert_eq!(
            sb.open(&sealed, b"acme/openai").unwrap(),
            b"sk-provider-key"
        );
        assert_eq!(sb.open(&sb.seal(b"", b""), b"").unwrap(), b"");
    }

    #[test]
    fn nonces_differ_between_seals() {
        let sb = sample();
        assert_ne!(sb.seal(b"x", b"a"), sb.seal(b"x", b"a"));
    }

    #[test]
    fn wrong_key_aad_or_tampering_fail_cleanly() {
        let sb = sample();
        let other = sample();
        let sealed = sb.seal(b"secret", b"acme/hook");
        let err = other.open(&sealed, b"acme/hook").unwrap_err();
        assert_eq!(err.code(), ErrorCode::Internal);
        assert!(err.message().contains(&other.key_id()));
        assert_eq!(
            sb.open(&sealed, b"other/hook").unwrap_err().code(),
            ErrorCode::Internal
        );

        let mut raw = STANDARD.decode(&sealed[3..]).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        let tampered = format!("v1:{}", STANDARD.encode(&raw));
        assert_eq!(
            sb.open(&tampered, b"acme/hook").unwrap_err().code(),
            ErrorCode::Internal
        );
        raw[last] ^= 1;
        raw[NONCE_LEN] ^= 0x80;
        let tampered = format!("v1:{}", STANDARD.encode(&raw));
        assert!(sb.open(&tampered, b"acme/hook").is_err());
    }

    #[test]
    fn malformed_sealed_values_are_invalid_input() {
        let sb = sample();
        for bad in ["", "v2:AAAA", "v1:", "v1:!!!", "v1:AAAAAAAA", "plain text"] {
            let err = sb.open(bad, b"").unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidInput, "{bad}");
        }
    }

    #[test]
    fn key_text_formats() {
        let from_hex = SecretBox::from_key_text(HEX_KEY).unwrap();
        let bytes: Vec<u8> = (0u8..32).collect();
        let std_b64 = STANDARD.encode(&bytes);
        let url_b64 = URL_SAFE_NO_PAD.encode(&bytes);
        let upper_hex = HEX_KEY.to_uppercase();
        for text in [
            std_b64.as_str(),
            url_b64.as_str(),
            upper_hex.as_str(),
            &format!("  {std_b64}\n"),
        ] {
            let sb = SecretBox::from_key_text(text).unwrap();
            assert_eq!(sb.key_id(), from_hex.key_id(), "{text}");
        }
        // Values sealed under one spelling open under another.
        let sealed = from_hex.seal(b"v", b"");
        let sb = SecretBox::from_key_text(&std_b64).unwrap();
        assert_eq!(sb.open(&sealed, b"").unwrap(), b"v");
    }

    #[test]
    fn bad_key_text_is_invalid_config() {
        for bad in [
            "",
            "   ",
            "not base64 at all!",
            &STANDARD.encode([0u8; 16]),
            &HEX_KEY[..62],
        ] {
            let err = SecretBox::from_key_text(bad).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidConfig, "{bad:?}");
        }
        let err = SecretBox::from_key_text(&STANDARD.encode([0u8; 16])).unwrap_err();
        assert!(err.message().contains("16 bytes"), "{}", err.message());
    }

    #[test]
    fn key_id_is_sha256_prefix_and_debug_hides_key() {
        let sb = SecretBox::from_key_text(HEX_KEY).unwrap();
        let digest = Sha256::digest((0u8..32).collect::<Vec<_>>());
        let want: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(sb.key_id(), want);
        assert_eq!(sb.key_id().len(), 8);
        let shown = format!("{sb:?}");
        assert!(shown.contains(&want));
        assert!(!shown.contains("0001020304"));
        assert_ne!(sb.key_id(), sample().key_id());
    }

    #[test]
    fn generated_key_text_is_32_bytes_of_base64() {
        let text = SecretBox::generate_key_text();
        assert_eq!(STANDARD.decode(&text).unwrap().len(), 32);
        assert_ne!(text, SecretBox::generate_key_text());
    }

    #[test]
    fn loads_from_env_then_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret.key");
        std::fs::write(&file, format!("{HEX_KEY}\n")).unwrap();
        let from_file = SecretBox::from_env_or_file("CAIRN_AUTH_TEST_UNSET_VAR_1", Some(&file))
            .unwrap()
            .unwrap();
        assert_eq!(
            from_file.key_id(),
            SecretBox::from_key_text(HEX_KEY).unwrap().key_id()
        );
        assert!(
            SecretBox::from_env_or_file("CAIRN_AUTH_TEST_UNSET_VAR_1", None)
                .unwrap()
                .is_none()
        );
        let missing = dir.path().join("absent.key");
        let err =
            SecretBox::from_env_or_file("CAIRN_AUTH_TEST_UNSET_VAR_1", Some(&missing)).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidConfig);
        std::fs::write(&file, "garbage").unwrap();
        let err =
            SecretBox::from_env_or_file("CAIRN_AUTH_TEST_UNSET_VAR_1", Some(&file)).unwrap_err();
        assert!(err.message().contains("secret.key"), "{}", err.message());

        // The variable wins over the file; a blank variable falls through to the file.
        let b64 = STANDARD.encode([7u8; 32]);
        let from_env = SecretBox::from_sources("K", Some(b64.clone()), Some(&file))
            .unwrap()
            .unwrap();
        assert_eq!(
            from_env.key_id(),
            SecretBox::from_key_text(&b64).unwrap().key_id()
        );
        std::fs::write(&file, HEX_KEY).unwrap();
        let blank = SecretBox::from_sources("K", Some("  ".into()), Some(&file))
            .unwrap()
            .unwrap();
        assert_eq!(blank.key_id(), from_file.key_id());
        let err =
            SecretBox::from_sources("CAIRN_SECRET_KEY", Some("short".into()), None).unwrap_err();
        assert!(
            err.message().starts_with("CAIRN_SECRET_KEY:"),
            "{}",
            err.message()
        );
    }
}
