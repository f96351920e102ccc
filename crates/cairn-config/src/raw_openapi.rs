//! `[[openapi_tools]]`: the operations of an OpenAPI 3 document offered to agents as
//! tools (`openapi:<name>` for all of them, `openapi:<name>.<operationId>` for one).
//! Each tenant authenticates with its own sealed secret, named here and never stored
//! in the configuration. Tenants add their own documents through the API (the same
//! settings, the document given inline).

use crate::Result;
use crate::raw_agents::{check_source_name, invalid};
use serde::{Deserialize, Serialize};

/// How a call authenticates: nothing, `Authorization: Bearer <secret>`, a header
/// (`auth_name: <secret>`), a query parameter (`?auth_name=<secret>`), or HTTP basic
/// (the secret is `user:password`).
pub const OPENAPI_AUTH: &[&str] = &["none", "bearer", "header", "query", "basic"];

/// One OpenAPI document's operations as tools.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpenApiToolsSpec {
    /// A slug without `__` (tools are exposed as `<name>__<operationId>`).
    pub name: String,
    /// The OpenAPI 3.0 or 3.1 document (JSON or YAML): a file path, relative to the
    /// working directory.
    pub document: String,
    /// Where the API is served (empty: the document's first absolute `servers` URL).
    pub base_url: String,
    /// One of [`OPENAPI_AUTH`]. Default: `none`.
    pub auth: String,
    /// The header or query parameter `header` and `query` authentication set.
    pub auth_name: String,
    /// The tenant secret holding the credential (each tenant stores its own).
    pub auth_secret: String,
    /// The `operationId`s offered (empty: every operation of the document).
    pub operations: Vec<String>,
    /// Tenants whose agents may use it (empty: every tenant).
    pub tenants: Vec<String>,
    /// Limit on one call, in milliseconds. Default: 30000.
    pub timeout_ms: u64,
    /// Whether calls may reach loopback, private and link-local addresses (an API on
    /// the same network). Default: false.
    pub allow_private: bool,
}

impl Default for OpenApiToolsSpec {
    fn default() -> Self {
        Self {
            name: String::new(),
            document: String::new(),
            base_url: String::new(),
            auth: "none".into(),
            auth_name: String::new(),
            auth_secret: String::new(),
            operations: Vec::new(),
            tenants: Vec::new(),
            timeout_ms: 30_000,
            allow_private: false,
        }
    }
}

impl OpenApiToolsSpec {
    /// Whether `tenant`'s agents may use it.
    pub fn serves(&self, tenant: &str) -> bool {
        crate::raw_agents::serves(&self.tenants, tenant)
    }

    /// Checks every setting but the document; errors name `<key>.<field>`.
    pub fn check(&self, key: &str) -> Result<()> {
        let k = |f: &str| format!("{key}.{f}");
        check_source_name(&self.name, key)?;
        let web = |u: &str| u.starts_with("http://") || u.starts_with("https://");
        if !self.base_url.is_empty() && !web(&self.base_url) {
            return Err(invalid(k("base_url"), "an http:// or https:// URL"));
        }
        if !OPENAPI_AUTH.contains(&self.auth.as_str()) {
            return Err(invalid(
                k("auth"),
                format!("`{}`: expected one of {OPENAPI_AUTH:?}", self.auth),
            ));
        }
        match (self.auth.as_str(), self.auth_secret.is_empty()) {
            ("none", false) => {
                return Err(invalid(k("auth_secret"), "set `auth` to use a secret"));
            }
            ("none", true) => {}
            (_, true) => {
                return Err(invalid(
                    k("auth_secret"),
                    format!(
                        "`auth = \"{}\"` needs the name of a tenant secret",
                        self.auth
                    ),
                ));
            }
            _ => {}
        }
        let named = matches!(self.auth.as_str(), "header" | "query");
        let has_name = !self.auth_name.is_empty();
        if named != has_name {
            return Err(invalid(
                k("auth_name"),
                "the header or query parameter name, for `header` and `query` only",
            ));
        }
        if self.timeout_ms == 0 {
            return Err(invalid(k("timeout_ms"), "must be at least 1"));
        }
        Ok(())
    }
}

/// The source (and tool) an `openapi:<source>[.<operationId>]` tool names.
pub fn openapi_tool_ref(tool: &str) -> Option<(&str, Option<&str>)> {
    crate::raw_agents::source_tool_ref("openapi:", tool)
}

/// Checks `[[openapi_tools]]`: each source (its document must be readable), and names
/// unique among themselves and `[[mcp_servers]]`.
pub(crate) fn check_openapi(
    sources: &[OpenApiToolsSpec],
    servers: &[crate::McpServerSpec],
) -> Result<()> {
    let mut names = std::collections::BTreeSet::new();
    for (i, s) in sources.iter().enumerate() {
        let key = format!("openapi_tools[{i}]");
        s.check(&key)?;
        if s.document.is_empty() {
            return Err(invalid(
                format!("{key}.document"),
                "the document's file path",
            ));
        }
        if let Err(e) = std::fs::metadata(&s.document) {
            return Err(invalid(
                format!("{key}.document"),
                format!("`{}` cannot be read: {e}", s.document),
            ));
        }
        if !names.insert(s.name.as_str()) || servers.iter().any(|m| m.name == s.name) {
            return Err(invalid(
                format!("{key}.name"),
                format!(
                    "`{}` is defined twice (tool sources share one namespace)",
                    s.name
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn spec(auth: &str, name: &str, secret: &str) -> OpenApiToolsSpec {
        OpenApiToolsSpec {
            name: "billing".into(),
            auth: auth.into(),
            auth_name: name.into(),
            auth_secret: secret.into(),
            ..OpenApiToolsSpec::default()
        }
    }

    #[test]
    fn authentication_settings_are_checked() {
        spec("none", "", "").check("o").unwrap();
        spec("bearer", "", "tok").check("o").unwrap();
        spec("header", "X-Api-Key", "tok").check("o").unwrap();
        let e = spec("bearer", "", "").check("o").unwrap_err().to_string();
        assert!(e.contains("o.auth_secret"), "{e}");
        let e = spec("query", "", "tok").check("o").unwrap_err().to_string();
        assert!(e.contains("o.auth_name"), "{e}");
        let e = spec("cookie", "", "tok")
            .check("o")
            .unwrap_err()
            .to_string();
        assert!(e.contains("o.auth"), "{e}");
        let e = spec("none", "", "tok").check("o").unwrap_err().to_string();
        assert!(e.contains("o.auth_secret"), "{e}");
        let mut bad = spec("none", "", "");
        bad.name = "a__b".into();
        assert!(bad.check("o").is_err());
        bad.name = "ok".into();
        bad.base_url = "ftp://x".into();
        assert!(bad.check("o").is_err());
    }

    #[test]
    fn tool_references_name_a_source_and_maybe_an_operation() {
        assert_eq!(openapi_tool_ref("openapi:billing"), Some(("billing", None)));
        assert_eq!(
            openapi_tool_ref("openapi:billing.getInvoice"),
            Some(("billing", Some("getInvoice")))
        );
        assert_eq!(openapi_tool_ref("openapi:"), None);
        assert_eq!(openapi_tool_ref("mcp:billing"), None);
    }

    #[test]
    fn names_are_unique_and_documents_readable() {
        let dir = tempfile::tempdir().unwrap();
        let doc = dir.path().join("api.json");
        std::fs::write(&doc, "{}").unwrap();
        let mut a = spec("none", "", "");
        a.document = doc.display().to_string();
        check_openapi(std::slice::from_ref(&a), &[]).unwrap();
        let e = check_openapi(&[a.clone(), a.clone()], &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("defined twice"), "{e}");
        let server = crate::McpServerSpec {
            name: "billing".into(),
            url: "http://x/mcp".into(),
            ..Default::default()
        };
        assert!(check_openapi(std::slice::from_ref(&a), &[server]).is_err());
        a.document = dir.path().join("missing.json").display().to_string();
        let e = check_openapi(&[a], &[]).unwrap_err().to_string();
        assert!(e.contains("cannot be read"), "{e}");
    }
}
