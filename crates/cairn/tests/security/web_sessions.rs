//! Single sign-on against a real OpenID provider (tests/common/oidc.rs): the code flow
//! with PKCE into a cookie session, then everything that must stop it. CSRF on every
//! state-changing request, state and code replay, tampered ID tokens (nonce, audience,
//! expiry, tenant), group-mapped roles, revocation by an admin and by signing out,
//! expiry, erasure and disabled users, and other tenants' sessions out of reach.

use super::world::*;
use crate::common::oidc::Provider;
use crate::common::server::Server;
use serde_json::{Value, json};
use std::collections::HashMap;

/// One hop of a browser that follows no redirects: status, headers, body.
struct Hop {
    status: u16,
    headers: HashMap<String, String>,
    text: String,
}

impl Hop {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    fn location(&self) -> &str {
        self.headers.get("location").map_or("", String::as_str)
    }
}

fn hop(
    method: &str,
    url: &str,
    cookie: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> Hop {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let cookie = cookie.map(|c| format!("theme=dark; cairn_session={c}"));
    let mut resp = match body {
        None => {
            let mut r = if method == "DELETE" {
                agent.delete(url)
            } else {
                agent.get(url)
            };
            if let Some(c) = &cookie {
                r = r.header("Cookie", c);
            }
            for (k, v) in headers {
                r = r.header(*k, *v);
            }
            r.call()
        }
        Some(b) => {
            let mut r = agent.post(url);
            if let Some(c) = &cookie {
                r = r.header("Cookie", c);
            }
            let form = b.contains('=') && !b.starts_with('{');
            let ct = if form {
                "application/x-www-form-urlencoded"
            } else {
                "application/json"
            };
            r = r.header("Content-Type", ct);
            for (k, v) in headers {
                r = r.header(*k, *v);
            }
            r.send(b.as_bytes())
        }
    }
    .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    // Repeated headers (Set-Cookie) are joined by newlines.
    let mut headers: HashMap<String, String> = HashMap::new();
    for (k, v) in resp.headers() {
        let v = v.to_str().unwrap_or("").to_owned();
        headers
            .entry(k.as_str().to_owned())
            .and_modify(|old| *old = format!("{old}\n{v}"))
            .or_insert(v);
    }
    Hop {
        status: resp.status().as_u16(),
        headers,
        text: resp.body_mut().read_to_string().unwrap_or_default(),
    }
}

fn query(url: &str) -> HashMap<String, String> {
    let q = url.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

/// Where a sign-in ended: the session token (when one was set) and the landing URL.
struct Landing {
    token: Option<String>,
    location: String,
    set_cookie: String,
}

/// The value a response sets for cookie `name`.
fn set_cookie_value(h: &Hop, name: &str) -> Option<String> {
    h.headers
        .get("set-cookie")?
        .lines()
        .find_map(|c| c.strip_prefix(&format!("{name}=")))
        .and_then(|rest| rest.split(';').next())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// Cairn's login route and the provider's form: the callback URL the provider sends
/// the browser to, and the login cookie Cairn set.
fn to_provider_and_back(s: &Server, idp: &Provider, user: &str) -> (String, String) {
    let start = hop(
        "GET",
        &format!(
            "{}/api/v1/auth/oidc/login?return_to=%2F%23%2Flibrary",
            s.url
        ),
        None,
        &[],
        None,
    );
    assert_eq!(start.status, 303, "{}", start.text);
    let login_cookie = set_cookie_value(&start, "cairn_oidc_state").expect("a login cookie");
    let raw = &start.headers["set-cookie"];
    for flag in [
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
        "Path=/api/v1/auth/oidc",
        "Max-Age=600",
    ] {
        assert!(raw.contains(flag), "{raw}");
    }
    let authorize = start.location().to_owned();
    assert!(
        authorize.starts_with(&format!("{}/authorize?", idp.issuer)),
        "{authorize}"
    );
    let q = query(&authorize);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert!(q["state"].len() >= 43 && q["nonce"].len() >= 43, "{q:?}");
    assert!(
        !authorize.contains("code_verifier"),
        "the verifier never leaves the server"
    );
    assert_eq!(
        q["redirect_uri"],
        format!("{}/api/v1/auth/oidc/callback", s.url)
    );
    let page = hop("GET", &authorize, None, &[], None);
    assert_eq!(page.status, 200, "{}", page.text);
    let mut fields: Vec<(String, String)> = q.into_iter().collect();
    fields.push(("username".into(), user.into()));
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let back = hop(
        "POST",
        &format!("{}/authorize", idp.issuer),
        None,
        &[],
        Some(body),
    );
    assert_eq!(back.status, 302, "{}", back.text);
    assert_eq!(query(back.location())["state"], login_cookie);
    (back.location().to_owned(), login_cookie)
}

/// A browser's whole sign-in.
fn sign_in(s: &Server, idp: &Provider, user: &str) -> Landing {
    let (back, login_cookie) = to_provider_and_back(s, idp, user);
    callback(&back, Some(&login_cookie))
}

fn callback(url: &str, login_cookie: Option<&str>) -> Landing {
    let cookie = login_cookie.map(|c| format!("cairn_oidc_state={c}"));
    let headers: Vec<(&str, &str)> = cookie.iter().map(|c| ("Cookie", c.as_str())).collect();
    let done = hop("GET", url, None, &headers, None);
    assert_eq!(done.status, 303, "{}", done.text);
    let set_cookie = done.headers.get("set-cookie").cloned().unwrap_or_default();
    assert!(
        set_cookie.contains("cairn_oidc_state=; Path=/api/v1/auth/oidc"),
        "the login cookie is dropped either way: {set_cookie}"
    );
    Landing {
        token: set_cookie_value(&done, "cairn_session"),
        location: done.location().to_owned(),
        set_cookie,
    }
}

fn refused(l: &Landing, why: &str) {
    assert!(l.token.is_none(), "no session may start: {}", l.set_cookie);
    assert!(l.location.starts_with("/?sso_error="), "{}", l.location);
    let reason = &query(&l.location)["sso_error"];
    assert!(reason.contains(why), "want `{why}` in: {reason}");
}

fn me(s: &Server, token: &str) -> Hop {
    hop(
        "GET",
        &format!("{}/api/v1/me", s.url),
        Some(token),
        &[],
        None,
    )
}

fn csrf(s: &Server, token: &str) -> (String, String) {
    let r = hop(
        "GET",
        &format!("{}/api/v1/auth/session", s.url),
        Some(token),
        &[],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let b = r.json();
    (
        b["csrf_token"].as_str().unwrap().to_owned(),
        b["session"]["id"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn sso_signs_in_with_pkce_into_a_session_that_csrf_revocation_and_expiry_guard() {
    let idp = Provider::start(&[
        ("sso-bob", "acme", &["eng"]),
        ("sso-root", "acme", &["acme-admins"]),
        ("gx-root", "globex", &["acme-admins"]),
    ]);
    let w = world(&idp.config("[auth.oidc.group_roles]\n\"acme-admins\" = \"admin\"\n"));
    let s = Server::start(w.home.path());
    let cfg = hop(
        "GET",
        &format!("{}/api/v1/auth/config", s.url),
        None,
        &[],
        None,
    )
    .json();
    assert_eq!(
        cfg["sso"],
        json!({"enabled": true, "name": "Test IdP", "login_url": "/api/v1/auth/oidc/login"})
    );

    // The flow: a session cookie that is HttpOnly, Secure, SameSite=Lax, and lands
    // where the login asked.
    let bob = sign_in(&s, &idp, "sso-bob");
    assert_eq!(bob.location, "/#/library");
    for flag in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(bob.set_cookie.contains(flag), "{}", bob.set_cookie);
    }
    let bob = bob.token.unwrap();
    let m = me(&s, &bob).json();
    assert_eq!(
        (m["user"].as_str(), m["role"].as_str()),
        (Some("sso-bob"), Some("member"))
    );
    assert_eq!(
        (m["groups"].clone(), m["via"]["kind"].clone()),
        (json!(["eng"]), json!("session"))
    );
    // The database holds the token's hash only.
    let db = std::fs::read(w.home.path().join("data/cairn.db")).unwrap();
    assert!(
        !db.windows(bob.len()).any(|win| win == bob.as_bytes()),
        "token stored in clear"
    );

    // CSRF: a cookie alone changes nothing; with the session's token it does, and the
    // ACL follows the ID token's groups (eng yes, bob-only hr no).
    let search =
        json!({"collection": "kb", "query": "Zephyrine codeword salary quokka", "top_k": 10})
            .to_string();
    let url = format!("{}/api/v1/search", s.url);
    let r = hop("POST", &url, Some(&bob), &[], Some(search.clone()));
    assert_eq!(
        (r.status, r.json()["error"]["code"].clone()),
        (403, json!("forbidden")),
        "{}",
        r.text
    );
    assert!(r.text.contains("X-CSRF-Token"), "{}", r.text);
    let r = hop(
        "POST",
        &url,
        Some(&bob),
        &[("X-CSRF-Token", "guessed")],
        Some(search.clone()),
    );
    assert_eq!(r.status, 403, "{}", r.text);
    let (bob_csrf, bob_session) = csrf(&s, &bob);
    let r = hop(
        "POST",
        &url,
        Some(&bob),
        &[("X-CSRF-Token", &bob_csrf)],
        Some(search.clone()),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let hits = r.json()["hits"].to_string();
    assert!(
        hits.contains("BLUEFALCON") && !hits.contains("97000"),
        "{hits}"
    );
    // An Authorization header wins over the cookie: a bad one is refused.
    let r = hop(
        "GET",
        &format!("{}/api/v1/me", s.url),
        Some(&bob),
        &[("Authorization", "Bearer cairn_bad_x")],
        None,
    );
    assert_eq!(r.status, 401, "{}", r.text);
    // An API key has no session.
    assert_eq!(get(&s, "/api/v1/auth/session", &w.alice).status, 404);

    // Login CSRF: a callback URL from a login this browser did not start (no login
    // cookie, or another login's) is refused before anything is spent; the browser that
    // did start it still signs in. Replays: the same callback again (state used), a
    // made-up state. The provider sees no token request for any refused one.
    let (back, login_cookie) = to_provider_and_back(&s, &idp, "sso-bob");
    let before = idp.token_requests();
    refused(&callback(&back, None), "not started in this browser");
    let (_, other_cookie) = to_provider_and_back(&s, &idp, "sso-bob");
    refused(
        &callback(&back, Some(&other_cookie)),
        "not started in this browser",
    );
    assert_eq!(idp.token_requests(), before);
    assert!(callback(&back, Some(&login_cookie)).token.is_some());
    let before = idp.token_requests();
    refused(&callback(&back, Some(&login_cookie)), "already used");
    let forged = back.replace("state=", "state=x");
    refused(
        &callback(&forged, Some(&format!("x{login_cookie}"))),
        "already used",
    );
    assert_eq!(idp.token_requests(), before);
    refused(
        &callback(
            &format!(
                "{}/api/v1/auth/oidc/callback?error=access_denied&error_description=no",
                s.url
            ),
            None,
        ),
        "access_denied",
    );

    // Tampered ID tokens never make a session.
    let now = cairn_server::gate::now_ms() / 1000;
    for (claims, why) in [
        (json!({"nonce": "someone-elses-login"}), "nonce"),
        (json!({"aud": "another-app"}), "audience"),
        (json!({"iss": "http://127.0.0.1:9/evil"}), "issuer"),
        (json!({"exp": now - 3600}), "expired"),
        (json!({"tenant": "Not A Tenant"}), "tenant"),
    ] {
        idp.tamper_next(claims);
        refused(&sign_in(&s, &idp, "sso-bob"), why);
    }

    // Groups map to roles: the admin group's member administers sessions, in its own
    // tenant only.
    let root = sign_in(&s, &idp, "sso-root").token.unwrap();
    assert_eq!(me(&s, &root).json()["role"], "admin");
    let (root_csrf, root_session) = csrf(&s, &root);
    let list = hop(
        "GET",
        &format!("{}/api/v1/auth/sessions?user=sso-bob", s.url),
        Some(&root),
        &[],
        None,
    );
    assert!(list.text.contains(&bob_session), "{}", list.text);
    let gx = sign_in(&s, &idp, "gx-root").token.unwrap();
    let (gx_csrf, _) = csrf(&s, &gx);
    let gx_list = hop(
        "GET",
        &format!("{}/api/v1/auth/sessions", s.url),
        Some(&gx),
        &[],
        None,
    );
    assert!(
        gx_list.status == 200 && !gx_list.text.contains("sso-bob"),
        "{}",
        gx_list.text
    );
    let r = hop(
        "DELETE",
        &format!("{}/api/v1/auth/sessions/{bob_session}", s.url),
        Some(&gx),
        &[("X-CSRF-Token", &gx_csrf)],
        None,
    );
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(
        me(&s, &bob).status,
        200,
        "another tenant's admin revoked nothing"
    );
    // The member may not list or revoke sessions.
    assert_eq!(
        hop(
            "GET",
            &format!("{}/api/v1/auth/sessions", s.url),
            Some(&bob),
            &[],
            None
        )
        .status,
        403
    );
    let r = hop(
        "DELETE",
        &format!("{}/api/v1/auth/sessions/{bob_session}", s.url),
        Some(&root),
        &[("X-CSRF-Token", &root_csrf)],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let r = me(&s, &bob);
    assert_eq!(r.status, 401);
    assert!(r.text.contains("revoked"), "{}", r.text);

    // Signing out needs the CSRF token too, ends the session and clears the cookie.
    let out = hop(
        "DELETE",
        &format!("{}/api/v1/auth/session", s.url),
        Some(&root),
        &[],
        None,
    );
    assert_eq!(out.status, 403, "{}", out.text);
    let out = hop(
        "DELETE",
        &format!("{}/api/v1/auth/session", s.url),
        Some(&root),
        &[("X-CSRF-Token", &root_csrf)],
        None,
    );
    assert_eq!(out.status, 200, "{}", out.text);
    assert!(out.headers["set-cookie"].contains("Max-Age=0"));
    assert_eq!(me(&s, &root).status, 401);
    assert!(!root_session.is_empty());

    // Expiry, a disabled user, an erased user.
    let db = rusqlite::Connection::open(w.home.path().join("data/cairn.db")).unwrap();
    let again = sign_in(&s, &idp, "sso-bob").token.unwrap();
    db.execute(
        "UPDATE web_sessions SET expires_at = 1 WHERE user_id = 'sso-bob' AND revoked_at IS NULL",
        [],
    )
    .unwrap();
    let r = me(&s, &again);
    assert!(r.status == 401 && r.text.contains("expired"), "{}", r.text);
    let again = sign_in(&s, &idp, "sso-bob").token.unwrap();
    db.execute(
        "UPDATE users SET disabled = 1 WHERE tenant_id = 'acme' AND id = 'sso-bob'",
        [],
    )
    .unwrap();
    let r = me(&s, &again);
    assert!(r.status == 401 && r.text.contains("disabled"), "{}", r.text);
    refused(&sign_in(&s, &idp, "sso-bob"), "disabled");
    db.execute(
        "UPDATE users SET disabled = 0 WHERE tenant_id = 'acme' AND id = 'sso-bob'",
        [],
    )
    .unwrap();
    assert_eq!(me(&s, &again).status, 200);
    assert_eq!(del(&s, "/api/v1/users/sso-bob", &w.admin).status, 200);
    assert_eq!(
        me(&s, &again).status,
        401,
        "erasure ends the user's sessions"
    );

    // The audit log has the sign-ins, the revocation and the sign-out.
    let audit = get(&s, "/api/v1/audit?limit=200", &w.admin).text;
    for action in [
        "auth.session.create",
        "auth.session.revoke",
        "auth.session.end",
    ] {
        assert!(audit.contains(action), "{action}: {audit}");
    }

    // The sign-in routes are public and write a row each: one address gets a budget.
    let limited = (0..200).find_map(|_| {
        let r = hop(
            "GET",
            &format!("{}/api/v1/auth/oidc/login", s.url),
            None,
            &[],
            None,
        );
        let why = query(r.location()).get("sso_error").cloned();
        why.filter(|w| w.contains("too many sign-in attempts"))
    });
    assert!(
        limited.is_some(),
        "200 logins a minute from one address went through"
    );
}
