//! Which routes the adversarial suite attacks, checked against the server's own
//! `/openapi.json` (which a cairn-server unit test keeps equal to the router's routes):
//! every authenticated operation needs a cross-tenant case and a wrong-role case, and
//! every operation that touches documents, answers, conversations or jobs a cross-ACL
//! case, or the suite fails naming what is missing.

use crate::common::server::{Reply, Server, call};
use serde_json::Value;
use std::collections::BTreeSet;

/// The kinds of attack a route needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    /// Another tenant's credentials against this tenant's data.
    CrossTenant,
    /// A same-tenant caller whose ACL or ownership does not cover the data.
    CrossAcl,
    /// A role or key scope without the route's permission: 403.
    WrongRole,
}

/// Routes any authenticated caller may use: there is no role to be wrong about.
const EVERY_ROLE: [(&str, &str); 3] = [
    ("get", "/api/v1/me"),
    ("get", "/api/v1/auth/session"),
    ("delete", "/api/v1/auth/session"),
];

/// Operations touching ACL'd or owned data: documents, answers, conversations, jobs,
/// and the retrieval and generation routes that read documents.
fn touches_acl_data(path: &str) -> bool {
    [
        "/documents",
        "/answers",
        "/conversations",
        "/jobs",
        "/agent-runs",
    ]
    .iter()
    .any(|p| path.contains(p))
        || [
            "/api/v1/search",
            "/api/v1/ask",
            "/v1/chat/completions",
            "/v1/responses",
        ]
        .contains(&path)
}

/// The attack cases run so far: (kind, METHOD, concrete path).
pub(crate) struct Attacks<'a> {
    pub(crate) s: &'a Server,
    done: Vec<(Kind, String, String)>,
}

impl<'a> Attacks<'a> {
    pub(crate) fn new(s: &'a Server) -> Self {
        Self {
            s,
            done: Vec::new(),
        }
    }

    /// Sends one attack and hands the reply to `check`, which asserts the outcome.
    pub(crate) fn run(
        &mut self,
        kind: Kind,
        method: &str,
        path: &str,
        key: &str,
        body: Option<Value>,
        check: impl FnOnce(&Reply),
    ) -> Reply {
        let r = call(
            method,
            &format!("{}{path}", self.s.url),
            Some(key),
            body.as_ref(),
        );
        eprintln!("[attack] {kind:?} {method} {path} -> {}", r.status);
        check(&r);
        self.done
            .push((kind, method.to_ascii_lowercase(), path.to_owned()));
        r
    }

    /// Records an attack made another way (a multipart upload).
    pub(crate) fn record(&mut self, kind: Kind, method: &str, path: &str) {
        self.done
            .push((kind, method.to_ascii_lowercase(), path.to_owned()));
    }

    /// Fails naming every (method, path) of `/openapi.json` without an attack case of
    /// each kind it needs.
    pub(crate) fn assert_every_route_attacked(&self) {
        let spec = call("GET", &format!("{}/openapi.json", self.s.url), None, None);
        assert_eq!(spec.status, 200, "{}", spec.text);
        let mut missing = Vec::new();
        let mut operations = 0;
        for (template, ops) in spec.body["paths"].as_object().unwrap() {
            for (method, op) in ops.as_object().unwrap() {
                let public = op["security"].as_array().is_some_and(|s| s.is_empty());
                if public {
                    continue;
                }
                operations += 1;
                let mut need = vec![Kind::CrossTenant];
                if !EVERY_ROLE.contains(&(method.as_str(), template.as_str())) {
                    need.push(Kind::WrongRole);
                }
                if touches_acl_data(template) {
                    need.push(Kind::CrossAcl);
                }
                let have: BTreeSet<Kind> = self
                    .done
                    .iter()
                    .filter(|(_, m, p)| m == method && matches(template, p))
                    .map(|(k, _, _)| *k)
                    .collect();
                for k in need {
                    if !have.contains(&k) {
                        missing.push(format!(
                            "{} {template}: no {k:?} case",
                            method.to_uppercase()
                        ));
                    }
                }
            }
        }
        assert!(
            operations >= 30,
            "the document lists {operations} operations"
        );
        assert!(
            missing.is_empty(),
            "routes of /openapi.json the adversarial suite does not attack:\n{}",
            missing.join("\n")
        );
    }
}

/// Whether a concrete path (query string ignored) is an instance of an OpenAPI path
/// template, each `{param}` standing for one non-empty segment.
fn matches(template: &str, path: &str) -> bool {
    let path = path.split('?').next().unwrap_or("");
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    t.len() == p.len()
        && t.iter().zip(&p).all(|(t, p)| {
            if t.starts_with('{') && t.ends_with('}') {
                !p.is_empty()
            } else {
                t == p
            }
        })
}

#[test]
fn templates_match_concrete_paths() {
    assert!(matches(
        "/api/v1/keys/{key}/rotate",
        "/api/v1/keys/k1/rotate"
    ));
    assert!(matches("/api/v1/audit", "/api/v1/audit?limit=5"));
    assert!(!matches("/api/v1/keys/{key}", "/api/v1/keys/k1/rotate"));
    assert!(!matches("/api/v1/users/{user}", "/api/v1/users/"));
    assert!(!matches("/api/v1/users", "/api/v1/usage"));
}
