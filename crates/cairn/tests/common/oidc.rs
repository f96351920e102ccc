//! A small OpenID Connect provider for the single sign-on tests, on a loopback port:
//! discovery, an authorization endpoint with a username form, a token endpoint that
//! checks the code (once), the client, the redirect URI and the PKCE S256 verifier, and
//! a JWKS. ID tokens are RS256, signed with the test key in cairn-auth's fixtures.
//!
//! Users are `(username, tenant, groups)`; a test can make the next ID token carry other
//! claims (a wrong nonce, audience, issuer) with [`Provider::tamper_next`].

use serde_json::{Map, Value, json};
use sha2::Digest;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// The client id Cairn is registered under.
pub const CLIENT_ID: &str = "cairn-web";

struct Grant {
    user: String,
    redirect_uri: String,
    challenge: String,
    nonce: String,
}

#[derive(Default)]
struct Shared {
    users: HashMap<String, (String, Vec<String>)>,
    codes: HashMap<String, Grant>,
    tamper: Option<Map<String, Value>>,
    /// Token requests seen, with whether each passed.
    token_requests: Vec<bool>,
}

/// A running provider.
pub struct Provider {
    pub issuer: String,
    shared: Arc<Mutex<Shared>>,
}

fn fixture(name: &str) -> String {
    format!(
        "{}/../cairn-auth/tests/fixtures/{name}",
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned())
    )
}

fn form(text: &str) -> HashMap<String, String> {
    form_urlencoded::parse(text.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

struct Request {
    method: String,
    path: String,
    query: HashMap<String, String>,
    body: HashMap<String, String>,
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut length = 0;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    Some(Request {
        method,
        path: path.to_owned(),
        query: form(query),
        body: form(&String::from_utf8_lossy(&body)),
    })
}

fn respond(mut stream: &TcpStream, status: &str, headers: &[(&str, String)], body: &str) {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(body);
    let _ = stream.write_all(out.as_bytes());
}

fn json_reply(stream: &TcpStream, status: &str, v: &Value) {
    let ct = [("Content-Type", "application/json".to_owned())];
    respond(stream, status, &ct, &v.to_string());
}

fn login_page(q: &HashMap<String, String>, error: &str) -> String {
    let hidden: String = [
        "client_id",
        "redirect_uri",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "scope",
        "response_type",
    ]
    .iter()
    .map(|k| {
        format!(
            "<input type=\"hidden\" name=\"{k}\" value=\"{}\">",
            escape(q.get(*k).map_or("", String::as_str))
        )
    })
    .collect();
    format!(
        "<!doctype html><html lang=\"en\"><head><title>Test IdP</title></head><body><main>\
         <h1>Test identity provider</h1><p role=\"alert\">{}</p>\
         <form method=\"post\" action=\"/authorize\">{hidden}\
         <label>Username <input name=\"username\" autocomplete=\"username\"></label>\
         <button type=\"submit\">Sign in</button></form></main></body></html>",
        escape(error)
    )
}

impl Provider {
    /// Starts the provider; `users` are (username, tenant, groups).
    pub fn start(users: &[(&str, &str, &[&str])]) -> Provider {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Mutex::new(Shared::default()));
        for (name, tenant, groups) in users {
            shared.lock().unwrap().users.insert(
                (*name).to_owned(),
                (
                    (*tenant).to_owned(),
                    groups.iter().map(|g| (*g).to_owned()).collect(),
                ),
            );
        }
        let pem = std::fs::read(fixture("rsa-test-key.pem")).unwrap();
        let key = Arc::new(jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap());
        let jwks = std::fs::read_to_string(fixture("rsa-jwks.json")).unwrap();
        let (iss, sh) = (issuer.clone(), shared.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (iss, sh, key, jwks) = (iss.clone(), sh.clone(), key.clone(), jwks.clone());
                std::thread::spawn(move || {
                    if let Some(req) = read_request(&stream) {
                        serve(&stream, &req, &iss, &sh, &key, &jwks);
                    }
                });
            }
        });
        Provider { issuer, shared }
    }

    /// Claims merged into the next ID token only.
    pub fn tamper_next(&self, claims: Value) {
        self.shared.lock().unwrap().tamper = claims.as_object().cloned();
    }

    /// How many token requests came, and how many of them the provider accepted.
    pub fn token_requests(&self) -> (usize, usize) {
        let s = self.shared.lock().unwrap();
        (
            s.token_requests.len(),
            s.token_requests.iter().filter(|ok| **ok).count(),
        )
    }

    /// The `[auth.oidc]` section for a Cairn that uses this provider.
    pub fn config(&self, extra: &str) -> String {
        format!(
            "[auth.oidc]\nissuer = \"{}\"\nclient_id = \"{CLIENT_ID}\"\ndisplay_name = \"Test IdP\"\n{extra}\n",
            self.issuer
        )
    }
}

fn serve(
    stream: &TcpStream,
    req: &Request,
    issuer: &str,
    shared: &Mutex<Shared>,
    key: &jsonwebtoken::EncodingKey,
    jwks: &str,
) {
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/.well-known/openid-configuration") => json_reply(
            stream,
            "200 OK",
            &json!({
                "issuer": issuer,
                "authorization_endpoint": format!("{issuer}/authorize"),
                "token_endpoint": format!("{issuer}/token"),
                "jwks_uri": format!("{issuer}/jwks"),
                "response_types_supported": ["code"],
                "code_challenge_methods_supported": ["S256"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }),
        ),
        ("GET", "/jwks") => respond(
            stream,
            "200 OK",
            &[("Content-Type", "application/json".into())],
            jwks,
        ),
        ("GET", "/authorize") => {
            let q = &req.query;
            let problem = if q.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
                "unknown client"
            } else if q.get("response_type").map(String::as_str) != Some("code") {
                "response_type must be code"
            } else if q.get("code_challenge_method").map(String::as_str) != Some("S256")
                || q.get("code_challenge").is_none_or(|c| c.len() != 43)
            {
                "PKCE S256 is required"
            } else if !q
                .get("scope")
                .is_some_and(|s| s.split(' ').any(|p| p == "openid"))
            {
                "scope must include openid"
            } else {
                ""
            };
            let ct = [("Content-Type", "text/html; charset=utf-8".to_owned())];
            if problem.is_empty() {
                respond(stream, "200 OK", &ct, &login_page(q, ""));
            } else {
                respond(stream, "400 Bad Request", &ct, problem);
            }
        }
        ("POST", "/authorize") => {
            let f = &req.body;
            let user = f.get("username").cloned().unwrap_or_default();
            let known = shared.lock().unwrap().users.contains_key(&user);
            if !known {
                let ct = [("Content-Type", "text/html; charset=utf-8".to_owned())];
                respond(stream, "200 OK", &ct, &login_page(f, "Unknown user"));
                return;
            }
            let code = format!("code-{}", rand_hex());
            let redirect_uri = f.get("redirect_uri").cloned().unwrap_or_default();
            shared.lock().unwrap().codes.insert(
                code.clone(),
                Grant {
                    user,
                    redirect_uri: redirect_uri.clone(),
                    challenge: f.get("code_challenge").cloned().unwrap_or_default(),
                    nonce: f.get("nonce").cloned().unwrap_or_default(),
                },
            );
            let q = form_urlencoded::Serializer::new(String::new())
                .append_pair("code", &code)
                .append_pair("state", f.get("state").map_or("", String::as_str))
                .finish();
            respond(
                stream,
                "302 Found",
                &[("Location", format!("{redirect_uri}?{q}"))],
                "",
            );
        }
        ("POST", "/token") => {
            let f = &req.body;
            let mut s = shared.lock().unwrap();
            let grant = f.get("code").and_then(|c| s.codes.remove(c));
            let verifier = f.get("code_verifier").cloned().unwrap_or_default();
            let challenge = base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                sha2::Sha256::digest(verifier.as_bytes()),
            );
            let refusal = match &grant {
                None => Some("unknown or used code"),
                Some(_)
                    if f.get("grant_type").map(String::as_str) != Some("authorization_code") =>
                {
                    Some("grant_type")
                }
                Some(_) if f.get("client_id").map(String::as_str) != Some(CLIENT_ID) => {
                    Some("client_id")
                }
                Some(g) if f.get("redirect_uri") != Some(&g.redirect_uri) => {
                    Some("redirect_uri differs")
                }
                Some(g) if challenge != g.challenge => Some("PKCE verifier does not match"),
                Some(_) => None,
            };
            s.token_requests.push(refusal.is_none());
            if let Some(why) = refusal {
                json_reply(
                    stream,
                    "400 Bad Request",
                    &json!({"error": "invalid_grant", "error_description": why}),
                );
                return;
            }
            let g = grant.unwrap();
            let (tenant, groups) = s.users[&g.user].clone();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let mut claims = json!({
                "iss": issuer, "aud": CLIENT_ID, "sub": g.user, "tenant": tenant,
                "groups": groups, "nonce": g.nonce, "iat": now, "exp": now + 300,
                "name": g.user,
            });
            if let Some(t) = s.tamper.take() {
                for (k, v) in t {
                    claims[k] = v;
                }
            }
            let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
            header.kid = Some("rsa-test-1".into());
            let id_token = jsonwebtoken::encode(&header, &claims, key).unwrap();
            json_reply(
                stream,
                "200 OK",
                &json!({"access_token": rand_hex(), "token_type": "Bearer", "expires_in": 300, "id_token": id_token}),
            );
        }
        _ => respond(stream, "404 Not Found", &[], "not found"),
    }
}

fn rand_hex() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    format!("{:016x}", h.finish())
}
