//! Loading a JWKS (from a file or a URL) into verification keys.
//!
//! Keys are parsed one by one, so a key set that also publishes encryption keys or
//! algorithms Cairn does not accept still yields its usable RS256/ES256 signing keys.
//! RSA keys under 2048 bits and EC keys not on P-256 are skipped.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use serde_json::Value;

use crate::{AuthError, Result};

/// Largest JWKS document accepted.
const MAX_JWKS_BYTES: u64 = 1024 * 1024;
/// Network timeout for fetching a JWKS.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
const MIN_RSA_BITS: usize = 2048;

/// One key usable for verification.
#[derive(Clone)]
pub(crate) struct VerifyKey {
    pub kid: Option<String>,
    pub alg: Algorithm,
    pub key: DecodingKey,
}

/// Where the key set comes from.
pub(crate) enum Source {
    File(PathBuf),
    Url { url: String, agent: ureq::Agent },
}

impl Source {
    pub fn file(path: PathBuf) -> Source {
        Source::File(path)
    }

    pub fn url(url: &str) -> Result<Source> {
        check_url("jwks_url", url)?;
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(FETCH_TIMEOUT))
            .http_status_as_error(false)
            // An https key set must not be redirected to plain http.
            .https_only(url.starts_with("https://"))
            .max_redirects(3)
            .build()
            .into();
        Ok(Source::Url {
            url: url.to_owned(),
            agent,
        })
    }

    pub fn is_url(&self) -> bool {
        matches!(self, Source::Url { .. })
    }

    pub fn describe(&self) -> String {
        match self {
            Source::File(path) => path.display().to_string(),
            Source::Url { url, .. } => url.clone(),
        }
    }

    /// Reads and parses the key set.
    pub fn load(&self, allowed: &[Algorithm]) -> Result<Vec<VerifyKey>> {
        let text = match self {
            Source::File(path) => std::fs::read_to_string(path).map_err(|e| {
                AuthError::config(format!("cannot read JWKS file {}: {e}", path.display()))
            })?,
            Source::Url { url, agent } => fetch(agent, url)?,
        };
        parse_jwks(&text, allowed)
            .map_err(|e| AuthError::config(format!("JWKS {}: {}", self.describe(), e.message())))
    }
}

/// `https://` anywhere, `http://` only to loopback: a key set fetched over plain HTTP
/// could be replaced by anyone on the path.
pub(crate) fn check_url(what: &str, url: &str) -> Result<()> {
    if url.starts_with("https://") {
        return Ok(());
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(AuthError::config(format!(
            "{what} `{url}` must start with https://"
        )));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(AuthError::config(format!(
            "{what} `{url}` uses plain http: only https:// is accepted (http:// only for loopback)"
        )))
    }
}

fn fetch(agent: &ureq::Agent, url: &str) -> Result<String> {
    let mut response = agent
        .get(url)
        .header("Accept", "application/json, application/jwk-set+json")
        .call()
        .map_err(|e| AuthError::config(format!("cannot fetch JWKS {url}: {e}")))?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(AuthError::config(format!(
            "cannot fetch JWKS {url}: HTTP {status}"
        )));
    }
    response
        .body_mut()
        .with_config()
        .limit(MAX_JWKS_BYTES)
        .read_to_string()
        .map_err(|e| AuthError::config(format!("cannot read JWKS {url}: {e}")))
}

#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    key_ops: Option<Vec<String>>,
    n: Option<String>,
    e: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

fn b64url(field: &str, value: Option<&String>) -> std::result::Result<Vec<u8>, String> {
    let value = value.ok_or_else(|| format!("missing `{field}`"))?;
    URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .map_err(|_| format!("`{field}` is not base64url"))
}

/// One JWK to a verification key, or why it is skipped.
fn convert(raw: &RawJwk, allowed: &[Algorithm]) -> std::result::Result<VerifyKey, String> {
    if raw.use_.as_deref().is_some_and(|u| u != "sig") {
        return Err("not a signing key (use != sig)".into());
    }
    if let Some(ops) = &raw.key_ops
        && !ops.iter().any(|op| op == "verify")
    {
        return Err("key_ops does not include verify".into());
    }
    let (alg, key) = match raw.kty.as_str() {
        "RSA" => {
            if raw.alg.as_deref().is_some_and(|a| a != "RS256") {
                return Err(format!("RSA key for {}", raw.alg.as_deref().unwrap_or("")));
            }
            let n = b64url("n", raw.n.as_ref())?;
            let e = b64url("e", raw.e.as_ref())?;
            let significant = n.iter().skip_while(|b| **b == 0).count();
            if significant * 8 < MIN_RSA_BITS {
                return Err(format!("RSA key shorter than {MIN_RSA_BITS} bits"));
            }
            (
                Algorithm::RS256,
                DecodingKey::from_rsa_raw_components(&n, &e),
            )
        }
        "EC" => {
            if raw.crv.as_deref() != Some("P-256") {
                return Err(format!(
                    "EC key on curve {} (only P-256)",
                    raw.crv.as_deref().unwrap_or("?")
                ));
            }
            if raw.alg.as_deref().is_some_and(|a| a != "ES256") {
                return Err(format!("EC key for {}", raw.alg.as_deref().unwrap_or("")));
            }
            let x = b64url("x", raw.x.as_ref())?;
            let y = b64url("y", raw.y.as_ref())?;
            if x.len() != 32 || y.len() != 32 {
                return Err("P-256 coordinates must be 32 bytes".into());
            }
            let mut point = Vec::with_capacity(65);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            (Algorithm::ES256, DecodingKey::from_ec_der(&point))
        }
        other => return Err(format!("key type {other}")),
    };
    if !allowed.contains(&alg) {
        return Err(format!("{alg:?} is not an allowed algorithm"));
    }
    Ok(VerifyKey {
        kid: raw.kid.clone(),
        alg,
        key,
    })
}

/// Parses a JWKS document (`{"keys": [...]}`) into its usable keys.
pub(crate) fn parse_jwks(text: &str, allowed: &[Algorithm]) -> Result<Vec<VerifyKey>> {
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| AuthError::config(format!("not valid JSON: {e}")))?;
    let Some(entries) = doc.get("keys").and_then(Value::as_array) else {
        return Err(AuthError::config("no `keys` array"));
    };
    let mut keys = Vec::new();
    let mut skipped = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let converted = serde_json::from_value::<RawJwk>(entry.clone())
            .map_err(|e| format!("malformed: {e}"))
            .and_then(|raw| convert(&raw, allowed));
        match converted {
            Ok(key) => keys.push(key),
            Err(why) => {
                let kid = entry.get("kid").and_then(Value::as_str).unwrap_or("-");
                skipped.push(format!("key {i} (kid {kid}): {why}"));
            }
        }
    }
    if keys.is_empty() {
        let detail = if skipped.is_empty() {
            "the key set is empty".to_owned()
        } else {
            skipped.join("; ")
        };
        return Err(AuthError::config(format!(
            "no usable RS256/ES256 signing key ({detail})"
        )));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    const BOTH: &[Algorithm] = &[Algorithm::RS256, Algorithm::ES256];

    fn ec_jwk(kid: &str) -> Value {
        serde_json::json!({
            "kty": "EC", "crv": "P-256", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode([1u8; 32]),
            "y": URL_SAFE_NO_PAD.encode([2u8; 32]),
        })
    }

    #[test]
    fn loopback_http_only() {
        assert!(check_url("jwks_url", "https://idp.example.com/jwks").is_ok());
        assert!(check_url("jwks_url", "http://127.0.0.1:8080/jwks").is_ok());
        assert!(check_url("jwks_url", "http://localhost/jwks").is_ok());
        assert!(check_url("jwks_url", "http://[::1]:9000/jwks").is_ok());
        assert!(check_url("jwks_url", "http://idp.example.com/jwks").is_err());
        assert!(check_url("jwks_url", "http://127.0.0.1.evil.com/jwks").is_err());
        assert!(check_url("jwks_url", "ftp://x/jwks").is_err());
    }

    #[test]
    fn skips_unusable_keys_and_keeps_the_rest() {
        let doc = serde_json::json!({"keys": [
            {"kty": "oct", "k": "c2VjcmV0"},
            {"kty": "RSA", "kid": "short", "n": URL_SAFE_NO_PAD.encode([0xffu8; 128]), "e": "AQAB"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": URL_SAFE_NO_PAD.encode([0xffu8; 256]), "e": "AQAB"},
            {"kty": "EC", "crv": "P-384", "kid": "p384", "x": "AA", "y": "AA"},
            {"kty": "RSA", "kid": "ps", "alg": "PS256", "n": URL_SAFE_NO_PAD.encode([0xffu8; 256]), "e": "AQAB"},
            {"kty": 7},
            ec_jwk("good"),
        ]});
        let keys = parse_jwks(&doc.to_string(), BOTH).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid.as_deref(), Some("good"));
        assert_eq!(keys[0].alg, Algorithm::ES256);
    }

    #[test]
    fn disallowed_algorithm_keys_are_skipped() {
        let doc = serde_json::json!({"keys": [ec_jwk("a")]});
        let err = parse_jwks(&doc.to_string(), &[Algorithm::RS256])
            .err()
            .unwrap();
        assert!(err.message().contains("not an allowed algorithm"), "{err}");
    }

    #[test]
    fn empty_or_malformed_sets_are_errors() {
        for text in [
            "",
            "[]",
            "{}",
            r#"{"keys": []}"#,
            r#"{"keys": [{"kty": "oct"}]}"#,
        ] {
            let err = parse_jwks(text, BOTH).err().unwrap();
            assert_eq!(err.code(), cairn_types::ErrorCode::InvalidConfig, "{text}");
        }
    }
}
