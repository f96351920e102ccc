//! SSO: RS256 tokens against a JWKS file, mapped to tenant, user and groups.

use super::world::*;
use crate::common::server::Server;
use serde_json::{Value, json};

fn jwt(claims: Value) -> String {
    let pem = std::fs::read(format!(
        "{}/../cairn-auth/tests/fixtures/rsa-test-key.pem",
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned())
    ))
    .unwrap();
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("rsa-test-1".into());
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

#[test]
fn sso_tokens_map_to_tenant_user_and_groups() {
    // At run time, so a test binary built from another checkout reads this one's.
    let jwks = format!(
        "{}/../cairn-auth/tests/fixtures/rsa-jwks.json",
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned())
    );
    let w = world(&format!(
        "[auth.jwt]\njwks_file = \"{jwks}\"\nissuer = \"https://idp.test/\"\naudience = \"cairn\"\n\
         groups_claim = \"org.groups\"\n"
    ));
    let s = Server::start(w.home.path());
    let exp = cairn_server::gate::now_ms() / 1000 + 600;
    let claims = |sub: &str, tenant: &str, groups: &[&str], aud: &str, exp: i64| {
        json!({"sub": sub, "tenant": tenant, "org": {"groups": groups}, "role": "member",
               "iss": "https://idp.test/", "aud": aud, "exp": exp})
    };
    let bob = jwt(claims("sso-bob", "acme", &["hr"], "cairn", exp));
    let me = get(&s, "/api/v1/me", &bob);
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["user"], "sso-bob");
    assert_eq!(me.body["groups"], json!(["hr"]));
    assert_eq!(me.body["via"]["kind"], "jwt");
    // hr.md names the user `bob`, not the group: the SSO user in group hr does not see it,
    // but does see the group-eng document once the token says eng.
    let t = search_text(&s, &bob, "kb", "salary band quokka", json!({}));
    assert!(!t.contains("quokka"), "{t}");
    let eng = jwt(claims("sso-eve", "acme", &["eng"], "cairn", exp));
    assert!(search_text(&s, &eng, "kb", "Zephyrine codeword", json!({})).contains("BLUEFALCON"));
    // The same subject in another tenant sees that tenant only.
    let other = jwt(claims("sso-eve", "globex", &["eng"], "cairn", exp));
    let r = post(
        &s,
        "/api/v1/search",
        &other,
        json!({"collection": "kb", "query": "BLUEFALCON"}),
    );
    assert!(
        r.status == 404 || !r.body["hits"].to_string().contains("BLUEFALCON"),
        "{}",
        r.text
    );
    // Expired, wrong audience, tampered: 401 with the reason.
    for (bad, why) in [
        (
            jwt(claims("sso-bob", "acme", &["hr"], "cairn", exp - 7_200)),
            "expired",
        ),
        (
            jwt(claims("sso-bob", "acme", &["hr"], "someone-else", exp)),
            "audience",
        ),
        (format!("{}x", &bob[..bob.len() - 2]), "signature"),
    ] {
        let r = get(&s, "/api/v1/me", &bad);
        assert_eq!(r.status, 401, "{why}: {}", r.text);
        assert_eq!(code(&r), "unauthorized");
    }
    // The first token made a user row, so the SSO user can be exported and erased.
    let users = get(&s, "/api/v1/users", &w.admin);
    assert!(users.text.contains("sso-bob"), "{}", users.text);
}

/// `/mcp` with single sign-on: the OAuth protected-resource metadata names the token
/// issuer, a client without credentials is pointed at it, and an SSO token works there
/// as it does on the API.
#[test]
fn mcp_points_clients_at_the_authorization_server_and_takes_its_tokens() {
    let jwks = format!(
        "{}/../cairn-auth/tests/fixtures/rsa-jwks.json",
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned())
    );
    let w = world(&format!(
        "[auth.jwt]\njwks_file = \"{jwks}\"\nissuer = \"https://idp.test/\"\naudience = \"cairn\"\n"
    ));
    let s = Server::start(w.home.path());
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let meta = agent
        .get(format!(
            "{}/.well-known/oauth-protected-resource/mcp",
            s.url
        ))
        .call()
        .unwrap();
    assert_eq!(meta.status(), 200);
    let meta: Value = meta.into_body().read_json().unwrap();
    assert_eq!(meta["authorization_servers"], json!(["https://idp.test/"]));
    assert_eq!(meta["resource"], json!(format!("{}/mcp", s.url)));
    assert_eq!(meta["bearer_methods_supported"], json!(["header"]));

    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"}}});
    let mcp = |token: Option<&str>| {
        let mut r = agent
            .post(format!("{}/mcp", s.url))
            .header("Accept", "application/json, text/event-stream");
        if let Some(t) = token {
            r = r.header("Authorization", &format!("Bearer {t}"));
        }
        r.send_json(&initialize).unwrap()
    };
    let refused = mcp(None);
    assert_eq!(refused.status(), 401);
    let challenge = refused
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        challenge.contains(&format!(
            "resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"",
            s.url
        )),
        "{challenge}"
    );
    let exp = cairn_server::gate::now_ms() / 1000 + 600;
    let token = jwt(json!({"sub": "sso-bob", "tenant": "acme", "role": "member",
                          "iss": "https://idp.test/", "aud": "cairn", "exp": exp}));
    let ok = mcp(Some(&token));
    assert_eq!(ok.status(), 200);
    let body: Value = ok.into_body().read_json().unwrap();
    assert_eq!(body["result"]["serverInfo"]["name"], "cairn", "{body}");
    // Without [auth.jwt] there is no authorization server to name.
    let plain = world("");
    let s = Server::start(plain.home.path());
    let missing = agent
        .get(format!("{}/.well-known/oauth-protected-resource", s.url))
        .call()
        .unwrap();
    assert_eq!(missing.status(), 404);
}
