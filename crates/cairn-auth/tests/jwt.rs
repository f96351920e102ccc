//! JWT verification against real RS256 (fixture) and ES256 (generated) keys.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cairn_auth::{AuthError, JwtSettings, JwtVerifier, Role, looks_like_jwt};
use cairn_types::ErrorCode;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

const ISSUER: &str = "https://idp.test/realms/cairn";
const AUDIENCE: &str = "cairn";
const RSA_KID: &str = "rsa-test-1";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
    )
    .join("tests/fixtures")
    .join(name)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn rsa_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(&std::fs::read(fixture("rsa-test-key.pem")).unwrap()).unwrap()
}

fn rsa_jwk() -> Value {
    let jwks: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("rsa-jwks.json")).unwrap()).unwrap();
    jwks["keys"][0].clone()
}

/// An ES256 key pair: the signing key and its public JWK.
struct EcKey {
    signing: EncodingKey,
    jwk: Value,
}

fn ec_key(kid: &str) -> EcKey {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let point = pair.public_key().as_ref();
    assert_eq!(point.len(), 65);
    assert_eq!(point[0], 0x04);
    EcKey {
        signing: EncodingKey::from_ec_der(pkcs8.as_ref()),
        jwk: json!({
            "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        }),
    }
}

fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "tenant": "acme",
        "groups": ["eng", "ops"],
        "role": "editor",
        "iat": now(),
        "exp": now() + 600,
    })
}

fn sign(alg: Algorithm, kid: Option<&str>, claims: &Value, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn rs256(claims: &Value) -> String {
    sign(Algorithm::RS256, Some(RSA_KID), claims, &rsa_key())
}

/// Writes a JWKS with `keys` and returns settings pointing at it.
fn settings_with(dir: &tempfile::TempDir, keys: Vec<Value>) -> JwtSettings {
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, json!({ "keys": keys }).to_string()).unwrap();
    JwtSettings {
        jwks_file: Some(path),
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        ..JwtSettings::default()
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    verifier: JwtVerifier,
    ec: EcKey,
}

fn fixture_verifier() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let ec = ec_key("ec-1");
    let settings = settings_with(&dir, vec![rsa_jwk(), ec.jwk.clone()]);
    let verifier = JwtVerifier::new(settings).unwrap();
    Fixture {
        _dir: dir,
        verifier,
        ec,
    }
}

#[track_caller]
fn assert_unauthorized(result: cairn_auth::Result<cairn_auth::TokenIdentity>, needle: &str) {
    let err: AuthError = result.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Unauthorized, "{err}");
    assert!(
        err.message().contains(needle),
        "expected {needle:?} in {:?}",
        err.message()
    );
}

#[test]
fn valid_rs256_token_maps_claims() {
    let f = fixture_verifier();
    assert_eq!(f.verifier.key_count(), 2);
    let c = claims();
    let id = f.verifier.verify(&rs256(&c)).unwrap();
    assert_eq!(id.tenant, "acme");
    assert_eq!(id.user, "alice");
    assert_eq!(id.groups, vec!["eng", "ops"]);
    assert_eq!(id.role, Role::Editor);
    assert_eq!(id.expires_at, c["exp"].as_i64());
    assert_eq!(id.issuer, ISSUER);
}

#[test]
fn valid_es256_token_with_and_without_kid() {
    let f = fixture_verifier();
    let mut c = claims();
    c["role"] = json!(["viewer", "admin"]);
    let id = f
        .verifier
        .verify(&sign(Algorithm::ES256, Some("ec-1"), &c, &f.ec.signing))
        .unwrap();
    assert_eq!(id.role, Role::Admin);
    assert_eq!(id.user, "alice");
    // The key set holds exactly one ES256 key, so a token without kid uses it.
    let id = f
        .verifier
        .verify(&sign(Algorithm::ES256, None, &c, &f.ec.signing))
        .unwrap();
    assert_eq!(id.tenant, "acme");
}

#[test]
fn token_without_kid_is_ambiguous_with_several_keys() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (ec_key("a"), ec_key("b"));
    let verifier = JwtVerifier::new(settings_with(&dir, vec![a.jwk, b.jwk])).unwrap();
    assert!(
        verifier
            .verify(&sign(Algorithm::ES256, Some("b"), &claims(), &b.signing))
            .is_ok()
    );
    assert_unauthorized(
        verifier.verify(&sign(Algorithm::ES256, None, &claims(), &a.signing)),
        "several ES256 keys",
    );
}

#[test]
fn expired_and_not_yet_valid_tokens() {
    let f = fixture_verifier();
    let mut c = claims();
    c["exp"] = json!(now() - 3600);
    assert_unauthorized(f.verifier.verify(&rs256(&c)), "token expired");

    // Within the default 60 s leeway.
    c["exp"] = json!(now() - 20);
    assert!(f.verifier.verify(&rs256(&c)).is_ok());

    let mut c = claims();
    c["nbf"] = json!(now() + 3600);
    assert_unauthorized(f.verifier.verify(&rs256(&c)), "not valid yet");

    let mut c = claims();
    c.as_object_mut().unwrap().remove("exp");
    assert_unauthorized(f.verifier.verify(&rs256(&c)), "no `exp` claim");
}

#[test]
fn zero_leeway_is_respected() {
    let dir = tempfile::tempdir().unwrap();
    let settings = JwtSettings {
        leeway_secs: 0,
        ..settings_with(&dir, vec![rsa_jwk()])
    };
    let verifier = JwtVerifier::new(settings).unwrap();
    let mut c = claims();
    c["exp"] = json!(now() - 20);
    assert_unauthorized(verifier.verify(&rs256(&c)), "token expired");
}

#[test]
fn wrong_issuer_and_audience() {
    let f = fixture_verifier();
    let mut c = claims();
    c["iss"] = json!("https://evil.test");
    assert_unauthorized(f.verifier.verify(&rs256(&c)), "wrong issuer");

    let mut c = claims();
    c.as_object_mut().unwrap().remove("iss");
    assert_unauthorized(f.verifier.verify(&rs256(&c)), "no `iss` claim");

    let mut c = claims();
    c["aud"] = json!("other-app");
    assert_unauthorized(f.verifier.verify(&rs256(&c)), "wrong audience");

    let mut c = claims();
    c.as_object_mut().unwrap().remove("aud");
    assert_unauthorized(f.verifier.verify(&rs256(&c)), "no `aud` claim");

    // An audience list containing ours is fine.
    let mut c = claims();
    c["aud"] = json!(["account", AUDIENCE]);
    assert!(f.verifier.verify(&rs256(&c)).is_ok());
}

#[test]
fn tampered_tokens_fail_signature_check() {
    let f = fixture_verifier();
    let token = rs256(&claims());
    let parts: Vec<&str> = token.split('.').collect();

    // Swap in other claims, keeping the original signature.
    let mut c = claims();
    c["role"] = json!("owner");
    let forged_payload = URL_SAFE_NO_PAD.encode(c.to_string());
    let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    assert_unauthorized(f.verifier.verify(&forged), "bad signature");

    // Flip bits in the signature.
    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    sig[10] ^= 0x01;
    let forged = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(&sig));
    assert_unauthorized(f.verifier.verify(&forged), "bad signature");

    // ES256 too.
    let token = sign(Algorithm::ES256, Some("ec-1"), &claims(), &f.ec.signing);
    let parts: Vec<&str> = token.split('.').collect();
    let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    assert_unauthorized(f.verifier.verify(&forged), "bad signature");

    // A token signed by a key that is not in the set, under a known kid.
    let stranger = ec_key("ec-1");
    let token = sign(Algorithm::ES256, Some("ec-1"), &claims(), &stranger.signing);
    assert_unauthorized(f.verifier.verify(&token), "bad signature");
}

#[test]
fn alg_none_is_rejected() {
    let f = fixture_verifier();
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims().to_string());
    for token in [
        format!("{header}.{payload}."),
        format!("{header}.{payload}.c2ln"),
    ] {
        assert_unauthorized(f.verifier.verify(&token), "alg `none`");
    }
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"NONE"}"#);
    assert_unauthorized(
        f.verifier.verify(&format!("{header}.{payload}.")),
        "alg `none`",
    );
}

#[test]
fn hs256_signed_with_the_public_key_is_rejected() {
    let f = fixture_verifier();
    let public_pem = std::fs::read(fixture("rsa-test-key.pub.pem")).unwrap();
    let token = sign(
        Algorithm::HS256,
        Some(RSA_KID),
        &claims(),
        &EncodingKey::from_secret(&public_pem),
    );
    assert_unauthorized(
        f.verifier.verify(&token),
        "algorithm `HS256` is not allowed",
    );
    let token = sign(
        Algorithm::HS512,
        None,
        &claims(),
        &EncodingKey::from_secret(b"x"),
    );
    assert_unauthorized(
        f.verifier.verify(&token),
        "algorithm `HS512` is not allowed",
    );
}

#[test]
fn algorithm_must_match_the_key_and_the_settings() {
    let f = fixture_verifier();
    // ES256 token claiming the RSA key's kid.
    let token = sign(Algorithm::ES256, Some(RSA_KID), &claims(), &f.ec.signing);
    assert_unauthorized(f.verifier.verify(&token), "algorithm mismatch");

    let dir = tempfile::tempdir().unwrap();
    let ec = ec_key("ec-only");
    let settings = JwtSettings {
        algorithms: vec!["ES256".into()],
        ..settings_with(&dir, vec![rsa_jwk(), ec.jwk.clone()])
    };
    let verifier = JwtVerifier::new(settings).unwrap();
    assert_eq!(verifier.key_count(), 1, "the RSA key is skipped");
    assert_unauthorized(
        verifier.verify(&rs256(&claims())),
        "algorithm `RS256` is not allowed",
    );
    assert!(
        verifier
            .verify(&sign(
                Algorithm::ES256,
                Some("ec-only"),
                &claims(),
                &ec.signing
            ))
            .is_ok()
    );
}

#[test]
fn critical_headers_are_rejected() {
    let f = fixture_verifier();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(RSA_KID.into());
    let mut header_json = serde_json::to_value(&header).unwrap();
    header_json["crit"] = json!(["exp"]);
    let h = URL_SAFE_NO_PAD.encode(header_json.to_string());
    let p = URL_SAFE_NO_PAD.encode(claims().to_string());
    assert_unauthorized(f.verifier.verify(&format!("{h}.{p}.AAAA")), "crit");
}

#[test]
fn unknown_kid_is_rejected() {
    let f = fixture_verifier();
    let token = sign(
        Algorithm::RS256,
        Some("rotated-away"),
        &claims(),
        &rsa_key(),
    );
    assert_unauthorized(f.verifier.verify(&token), "unknown signing key id");
}

#[test]
fn malformed_tokens() {
    let f = fixture_verifier();
    for token in ["", "abc", "a.b", "a.b.c.d", "!!!.e30.", "e30.e30.sig"] {
        let err = f.verifier.verify(token).unwrap_err();
        assert_eq!(err.code(), ErrorCode::Unauthorized, "{token}");
        assert!(err.message().contains("malformed"), "{token}: {err}");
    }
}

#[test]
fn claim_mapping_with_paths_and_string_groups() {
    let dir = tempfile::tempdir().unwrap();
    let settings = JwtSettings {
        tenant_claim: "org.id".into(),
        user_claim: "preferred_username".into(),
        groups_claim: "https://cairn.test/groups".into(),
        role_claim: "realm_access.roles".into(),
        ..settings_with(&dir, vec![rsa_jwk()])
    };
    let verifier = JwtVerifier::new(settings).unwrap();
    let mut c = claims();
    let obj = c.as_object_mut().unwrap();
    obj.remove("tenant");
    obj.remove("groups");
    obj.insert("org".into(), json!({"id": "globex", "name": "Globex"}));
    obj.insert("preferred_username".into(), json!("bob"));
    obj.insert(
        "https://cairn.test/groups".into(),
        json!("finance, legal hr"),
    );
    obj.insert(
        "realm_access".into(),
        json!({"roles": ["offline_access", "member", "viewer"]}),
    );
    let id = verifier.verify(&rs256(&c)).unwrap();
    assert_eq!(id.tenant, "globex");
    assert_eq!(id.user, "bob");
    assert_eq!(id.groups, vec!["finance", "legal", "hr"]);
    assert_eq!(id.role, Role::Member);
}

#[test]
fn missing_tenant_and_default_role() {
    let f = fixture_verifier();
    let mut c = claims();
    c.as_object_mut().unwrap().remove("tenant");
    assert_unauthorized(f.verifier.verify(&rs256(&c)), "no `tenant`");
    let mut c = claims();
    c.as_object_mut().unwrap().remove("sub");
    assert_unauthorized(f.verifier.verify(&rs256(&c)), "no `sub`");

    let dir = tempfile::tempdir().unwrap();
    let settings = JwtSettings {
        default_tenant: Some("default".into()),
        default_role: Some(Role::Viewer),
        ..settings_with(&dir, vec![rsa_jwk()])
    };
    let verifier = JwtVerifier::new(settings).unwrap();
    let mut c = claims();
    let obj = c.as_object_mut().unwrap();
    obj.remove("tenant");
    obj.remove("role");
    obj.remove("groups");
    let id = verifier.verify(&rs256(&c)).unwrap();
    assert_eq!(id.tenant, "default");
    assert_eq!(id.role, Role::Viewer);
    assert!(id.groups.is_empty());

    // Without a configured default role, tokens without a role are members.
    let id = f.verifier.verify(&rs256(&{
        let mut c = claims();
        c.as_object_mut().unwrap().remove("role");
        c
    }));
    assert_eq!(id.unwrap().role, Role::Member);
}

#[test]
fn invalid_settings_are_invalid_config() {
    let dir = tempfile::tempdir().unwrap();
    let good = settings_with(&dir, vec![rsa_jwk()]);
    let bad_jwks = dir.path().join("bad.json");
    std::fs::write(&bad_jwks, "{ not json").unwrap();
    let cases = vec![
        (
            "no key set",
            JwtSettings {
                jwks_file: None,
                ..good.clone()
            },
        ),
        (
            "both",
            JwtSettings {
                jwks_url: Some("https://idp.test/jwks".into()),
                ..good.clone()
            },
        ),
        (
            "no issuer",
            JwtSettings {
                issuer: " ".into(),
                ..good.clone()
            },
        ),
        (
            "no audience",
            JwtSettings {
                audience: String::new(),
                ..good.clone()
            },
        ),
        (
            "hmac",
            JwtSettings {
                algorithms: vec!["HS256".into()],
                ..good.clone()
            },
        ),
        (
            "unreadable",
            JwtSettings {
                jwks_file: Some(dir.path().join("absent.json")),
                ..good.clone()
            },
        ),
        (
            "unparseable",
            JwtSettings {
                jwks_file: Some(bad_jwks),
                ..good.clone()
            },
        ),
        (
            "plain http",
            JwtSettings {
                jwks_file: None,
                jwks_url: Some("http://idp.example.com/jwks".into()),
                ..good.clone()
            },
        ),
    ];
    for (name, settings) in cases {
        let err = JwtVerifier::new(settings).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidConfig, "{name}: {err}");
    }
    assert!(JwtVerifier::new(good).is_ok());
}

#[test]
fn empty_claim_names_get_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let settings = JwtSettings {
        tenant_claim: String::new(),
        user_claim: String::new(),
        groups_claim: String::new(),
        role_claim: String::new(),
        jwks_refresh_secs: 0,
        ..settings_with(&dir, vec![rsa_jwk()])
    };
    let verifier = JwtVerifier::new(settings).unwrap();
    let s = verifier.settings();
    assert_eq!(
        (
            s.tenant_claim.as_str(),
            s.user_claim.as_str(),
            s.groups_claim.as_str(),
            s.role_claim.as_str(),
        ),
        ("tenant", "sub", "groups", "role")
    );
    assert_eq!(s.jwks_refresh_secs, 300);
    assert_eq!(verifier.verify(&rs256(&claims())).unwrap().user, "alice");

    // Settings deserialize with defaults for everything not given.
    let parsed: JwtSettings =
        serde_json::from_value(json!({"issuer": "i", "audience": "a"})).unwrap();
    assert_eq!(parsed.leeway_secs, 60);
    assert_eq!(parsed.tenant_claim, "tenant");
}

#[test]
fn looks_like_jwt_tells_tokens_apart() {
    let f = fixture_verifier();
    let _ = &f;
    assert!(looks_like_jwt(&rs256(&claims())));
    assert!(looks_like_jwt(&format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
        URL_SAFE_NO_PAD.encode("{}")
    )));
    assert!(!looks_like_jwt(&format!(
        "cairn_{}_{}",
        "a".repeat(12),
        "b".repeat(40)
    )));
    assert!(!looks_like_jwt("a.b"));
    assert!(!looks_like_jwt("abc.def.ghi"));
    assert!(!looks_like_jwt("eyJ.e30.x y"));
    assert!(!looks_like_jwt(""));
}

#[test]
fn verifier_is_send_sync_and_works_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<JwtVerifier>();
    let f = Arc::new(fixture_verifier());
    let token = rs256(&claims());
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let f = Arc::clone(&f);
            let token = token.clone();
            std::thread::spawn(move || f.verifier.verify(&token).unwrap().user)
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), "alice");
    }
}

/// A one-route HTTP server on loopback that serves whatever `body` holds.
struct JwksServer {
    url: String,
    body: Arc<Mutex<String>>,
    hits: Arc<AtomicUsize>,
}

fn serve_jwks(initial: Value) -> JwksServer {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let body = Arc::new(Mutex::new(initial.to_string()));
    let hits = Arc::new(AtomicUsize::new(0));
    let (b, h) = (Arc::clone(&body), Arc::clone(&hits));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            h.fetch_add(1, Ordering::SeqCst);
            let body = b.lock().unwrap().clone();
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    JwksServer { url, body, hits }
}

#[test]
fn jwks_from_url_and_refetch_on_unknown_kid() {
    let server = serve_jwks(json!({"keys": [rsa_jwk()]}));
    let settings = JwtSettings {
        jwks_url: Some(server.url.clone()),
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        ..JwtSettings::default()
    };
    let verifier = JwtVerifier::new(settings).unwrap();
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
    assert_eq!(verifier.verify(&rs256(&claims())).unwrap().user, "alice");
    assert_eq!(server.hits.load(Ordering::SeqCst), 1, "known kid: no fetch");

    // The provider rotates in an EC key; the first token using it triggers a refetch.
    let ec = ec_key("ec-new");
    *server.body.lock().unwrap() = json!({"keys": [rsa_jwk(), ec.jwk]}).to_string();
    let token = sign(Algorithm::ES256, Some("ec-new"), &claims(), &ec.signing);
    assert_eq!(verifier.verify(&token).unwrap().tenant, "acme");
    assert_eq!(server.hits.load(Ordering::SeqCst), 2);
    assert_eq!(verifier.key_count(), 2);

    // Made-up kids do not cause more fetches within the refresh interval.
    for i in 0..5 {
        let token = sign(
            Algorithm::RS256,
            Some(&format!("junk-{i}")),
            &claims(),
            &rsa_key(),
        );
        assert_unauthorized(verifier.verify(&token), "unknown signing key id");
    }
    assert_eq!(server.hits.load(Ordering::SeqCst), 2);

    // An explicit reload fetches regardless; a failing one keeps the keys.
    *server.body.lock().unwrap() = "garbage".into();
    assert!(verifier.reload().is_err());
    assert_eq!(server.hits.load(Ordering::SeqCst), 3);
    assert_eq!(verifier.key_count(), 2);
    assert!(verifier.verify(&rs256(&claims())).is_ok());
}

#[test]
fn unreachable_jwks_url_is_invalid_config() {
    // Bind then drop, so the port is (almost certainly) closed.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let settings = JwtSettings {
        jwks_url: Some(format!("http://127.0.0.1:{port}/jwks")),
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        ..JwtSettings::default()
    };
    let err = JwtVerifier::new(settings).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidConfig, "{err}");
}
