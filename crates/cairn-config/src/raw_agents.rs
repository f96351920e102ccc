//! `[[agents]]`: agents defined in the configuration file. The same [`AgentSpec`] is
//! what the API takes to save an agent per tenant, and [`AgentSpec::check`] validates
//! both, naming the key at fault.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The built-in tools an agent may name (besides `agent:<name>` for another agent).
pub const BUILTIN_TOOLS: &[&str] = &[
    "search",
    "ask",
    "get_document",
    "calculator",
    "sql",
    "http_get",
    "memory_search",
    "memory_write",
];

/// `[[mcp_servers]]`: an external MCP server whose tools agents may call (`mcp:<name>`
/// for all of them, `mcp:<name>.<tool>` for one). Over streamable HTTP (`url`), or a
/// command Cairn starts and talks to over stdio (`command`, `args`): only the
/// configuration file (its administrators) can name a command; it runs with no
/// environment but `PATH` and `env`, so none of the server's secrets, and is killed at
/// the time limit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct McpServerSpec {
    /// A slug.
    pub name: String,
    /// `http(s)://…/mcp` (streamable HTTP).
    pub url: String,
    /// The tenant secret sent as `Authorization: Bearer` to `url` (each tenant its own).
    pub bearer_secret: String,
    /// A stdio server: the program and its arguments.
    pub command: String,
    pub args: Vec<String>,
    /// The stdio server's whole environment (besides `PATH`).
    pub env: BTreeMap<String, String>,
    /// Tenants whose agents may use it (empty: every tenant).
    pub tenants: Vec<String>,
    /// Limit on one connection and call, in milliseconds. Default: 30000.
    pub timeout_ms: u64,
}

impl Default for McpServerSpec {
    fn default() -> Self {
        Self {
            name: String::new(),
            url: String::new(),
            bearer_secret: String::new(),
            command: String::new(),
            args: Vec::new(),
            env: BTreeMap::new(),
            tenants: Vec::new(),
            timeout_ms: 30_000,
        }
    }
}

impl McpServerSpec {
    /// Whether `tenant`'s agents may use it.
    pub fn serves(&self, tenant: &str) -> bool {
        serves(&self.tenants, tenant)
    }

    /// Checks every setting; errors name `<key>.<field>`.
    pub fn check(&self, key: &str) -> Result<()> {
        let k = |f: &str| format!("{key}.{f}");
        check_source_name(&self.name, key)?;
        match (self.url.is_empty(), self.command.is_empty()) {
            (false, true) => {
                if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
                    return Err(invalid(k("url"), "an http:// or https:// URL"));
                }
            }
            (true, false) => {
                if !self.bearer_secret.is_empty() {
                    return Err(invalid(k("bearer_secret"), "only for `url` servers"));
                }
            }
            _ => return Err(invalid(key.to_owned(), "give either `url` or `command`")),
        }
        if self.timeout_ms == 0 {
            return Err(invalid(k("timeout_ms"), "must be at least 1"));
        }
        Ok(())
    }
}

/// Checks `[[mcp_servers]]`: each server, unique names.
pub(crate) fn check_mcp(servers: &[McpServerSpec]) -> Result<()> {
    let mut names = std::collections::BTreeSet::new();
    for (i, s) in servers.iter().enumerate() {
        s.check(&format!("mcp_servers[{i}]"))?;
        if !names.insert(s.name.as_str()) {
            return Err(invalid(
                format!("mcp_servers[{i}].name"),
                format!("`{}` is defined twice", s.name),
            ));
        }
    }
    Ok(())
}

/// The MCP server (and tool) an `mcp:<server>[.<tool>]` tool names.
pub fn mcp_tool_ref(tool: &str) -> Option<(&str, Option<&str>)> {
    source_tool_ref("mcp:", tool)
}

/// The tool source (and tool) a `<prefix><source>[.<tool>]` tool names.
pub(crate) fn source_tool_ref<'a>(
    prefix: &str,
    tool: &'a str,
) -> Option<(&'a str, Option<&'a str>)> {
    let rest = tool.strip_prefix(prefix)?;
    match rest.split_once('.') {
        Some((server, name)) if is_slug(server) && !name.is_empty() => Some((server, Some(name))),
        Some(_) => None,
        None => is_slug(rest).then_some((rest, None)),
    }
}

/// How an agent works through a task.
pub const STRATEGIES: &[&str] = &["react", "plan_execute"];

/// How the model proposes tool calls: `auto` (native calls where the model supports
/// them: constrained JSON locally, the provider's tools remotely), `native`, or
/// `react` (the Thought / Action / Action Input text protocol, for models without tool
/// calling).
pub const PROTOCOLS: &[&str] = &["auto", "native", "react"];

/// One agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentSpec {
    /// A slug: letters, digits, `-` and `_` (the API's `/agents/{name}`, the model name
    /// `cairn-agent:<name>`).
    pub name: String,
    /// What it is for (shown to people, and to a supervisor agent that may call it).
    pub description: String,
    /// The system prompt.
    pub instructions: String,
    /// The model or route it thinks with (empty: `models.generator`).
    pub model: String,
    /// `react` (default) or `plan_execute`.
    pub strategy: String,
    /// `auto` (default), `native` or `react`.
    pub protocol: String,
    /// Tools it may call: built-ins ([`BUILTIN_TOOLS`]), `agent:<name>`,
    /// `mcp:<server>[.<tool>]` and `openapi:<source>[.<operationId>]`.
    pub tools: Vec<String>,
    /// Collections its `search`, `ask`, `get_document` and `sql` may use (empty: any
    /// the caller may read). The caller's ACLs apply either way.
    pub collections: Vec<String>,
    /// Tools whose calls wait for a person's approval.
    pub requires_approval: Vec<String>,
    /// The least role a caller needs for each tool (`viewer`, `member`, `editor`,
    /// `admin`, `owner`). Not listed: `search`, `get_document`, `calculator` and `sql`
    /// need `viewer`; `ask`, the memory tools and other agents `member`; `http_get`
    /// `editor`.
    pub tool_roles: BTreeMap<String, String>,
    /// Hosts `http_get` may fetch (exact names, or `*.example.com`). Empty: `http_get`
    /// cannot be enabled.
    pub http_allow_hosts: Vec<String>,
    /// Whether `http_get` may reach loopback, link-local and private addresses.
    pub http_allow_private: bool,
    /// Model turns per run. Default: 10.
    pub max_steps: usize,
    /// Tool calls per run. Default: 16.
    pub max_tool_calls: usize,
    /// Tokens (prompt and completion) per run, delegated runs included. Default: 100000.
    pub max_tokens: usize,
    /// Dollars per run at the models' prices; 0: no limit. Default: 0.
    pub max_cost_usd: f64,
    /// Wall-clock seconds per run (time waiting for approval excluded). Default: 600.
    pub max_seconds: u64,
    /// Tokens per model turn. Default: 384.
    pub max_turn_tokens: usize,
    /// Sampling temperature of its model turns. Default: 0.
    pub temperature: f32,
}

impl Default for AgentSpec {
    fn default() -> Self {
        Self {
            name: String::new(),
            description: String::new(),
            instructions: String::new(),
            model: String::new(),
            strategy: "react".into(),
            protocol: "auto".into(),
            tools: Vec::new(),
            collections: Vec::new(),
            requires_approval: Vec::new(),
            tool_roles: BTreeMap::new(),
            http_allow_hosts: Vec::new(),
            http_allow_private: false,
            max_steps: 10,
            max_tool_calls: 16,
            max_tokens: 100_000,
            max_cost_usd: 0.0,
            max_seconds: 600,
            max_turn_tokens: 384,
            temperature: 0.0,
        }
    }
}

/// Whether a tool source listing `tenants` serves `tenant` (an empty list: every one).
pub(crate) fn serves(tenants: &[String], tenant: &str) -> bool {
    tenants.is_empty() || tenants.iter().any(|t| t == tenant)
}

/// A tool source's name: a slug without `__` (its tools are `<name>__<tool>`).
pub(crate) fn check_source_name(name: &str, key: &str) -> Result<()> {
    if !is_slug(name) || name.contains("__") {
        return Err(invalid(
            format!("{key}.name"),
            format!("`{name}` must be a slug without `__`"),
        ));
    }
    Ok(())
}

pub(crate) fn invalid(key: String, message: impl Into<String>) -> Error {
    Error::Invalid {
        key,
        message: message.into(),
    }
}

/// Whether `s` is a slug (1-64 characters of letters, digits, `-` and `_`).
pub fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl AgentSpec {
    /// The tool's least role: [`Self::tool_roles`], else its default (see the field).
    pub fn tool_role(&self, tool: &str) -> &str {
        match self.tool_roles.get(tool) {
            Some(r) => r,
            None if tool == "http_get" => "editor",
            None if matches!(tool, "search" | "get_document" | "calculator" | "sql") => "viewer",
            None => "member",
        }
    }

    /// Checks every field; errors name `<key>.<field>`.
    pub fn check(&self, key: &str) -> Result<()> {
        let k = |f: &str| format!("{key}.{f}");
        if !is_slug(&self.name) {
            return Err(invalid(
                k("name"),
                format!(
                    "`{}` must be 1-64 characters of letters, digits, - and _",
                    self.name
                ),
            ));
        }
        if !STRATEGIES.contains(&self.strategy.as_str()) {
            return Err(invalid(
                k("strategy"),
                format!("`{}`: expected one of {STRATEGIES:?}", self.strategy),
            ));
        }
        if !PROTOCOLS.contains(&self.protocol.as_str()) {
            return Err(invalid(
                k("protocol"),
                format!("`{}`: expected one of {PROTOCOLS:?}", self.protocol),
            ));
        }
        for t in &self.tools {
            let known = BUILTIN_TOOLS.contains(&t.as_str())
                || t.strip_prefix("agent:").is_some_and(is_slug)
                || mcp_tool_ref(t).is_some()
                || crate::openapi_tool_ref(t).is_some();
            if !known {
                return Err(invalid(
                    k("tools"),
                    format!(
                        "unknown tool `{t}`: expected one of {BUILTIN_TOOLS:?}, agent:<name>, \
                         mcp:<server>[.<tool>] or openapi:<source>[.<operationId>]"
                    ),
                ));
            }
            if t.strip_prefix("agent:") == Some(self.name.as_str()) {
                return Err(invalid(
                    k("tools"),
                    format!("`{t}`: an agent cannot call itself"),
                ));
            }
        }
        if self.tools.iter().any(|t| t == "http_get") && self.http_allow_hosts.is_empty() {
            return Err(invalid(
                k("http_allow_hosts"),
                "http_get needs an allow-list of hosts (it is off by default)",
            ));
        }
        for h in &self.http_allow_hosts {
            let bare = h.strip_prefix("*.").unwrap_or(h);
            if bare.is_empty() || bare.contains(['/', ':', '*', ' ']) {
                return Err(invalid(
                    k("http_allow_hosts"),
                    format!("`{h}`: a host name, or *.domain"),
                ));
            }
        }
        for t in self.requires_approval.iter().chain(self.tool_roles.keys()) {
            // `mcp:<server>.<tool>` is covered by `mcp:<server>`, and likewise for
            // `openapi:`.
            let server = mcp_tool_ref(t)
                .map(|(s, _)| format!("mcp:{s}"))
                .or_else(|| crate::openapi_tool_ref(t).map(|(s, _)| format!("openapi:{s}")));
            if !self.tools.contains(t) && !server.is_some_and(|s| self.tools.contains(&s)) {
                return Err(invalid(
                    k("requires_approval"),
                    format!("`{t}` is not one of the agent's tools"),
                ));
            }
        }
        for (t, r) in &self.tool_roles {
            if !matches!(
                r.as_str(),
                "viewer" | "member" | "editor" | "admin" | "owner"
            ) {
                return Err(invalid(
                    k("tool_roles"),
                    format!("`{t} = \"{r}\"`: expected viewer, member, editor, admin or owner"),
                ));
            }
        }
        for c in &self.collections {
            if !is_slug(c) {
                return Err(invalid(
                    k("collections"),
                    format!("`{c}` is not a collection id"),
                ));
            }
        }
        let positive = [
            ("max_steps", self.max_steps),
            ("max_tool_calls", self.max_tool_calls),
            ("max_tokens", self.max_tokens),
            ("max_turn_tokens", self.max_turn_tokens),
        ];
        for (f, v) in positive {
            if v == 0 {
                return Err(invalid(k(f), "must be at least 1"));
            }
        }
        if self.max_seconds == 0 {
            return Err(invalid(k("max_seconds"), "must be at least 1"));
        }
        if !(self.max_cost_usd >= 0.0 && self.max_cost_usd.is_finite()) {
            return Err(invalid(k("max_cost_usd"), "must be 0 (no limit) or more"));
        }
        if !(0.0..=2.0).contains(&self.temperature) {
            return Err(invalid(k("temperature"), "must be between 0 and 2"));
        }
        Ok(())
    }
}

/// Checks `[[agents]]`: each agent, unique names, `agent:<name>` tools that name a
/// configured agent, `mcp:` and `openapi:` tools that name a configured source, and
/// delegation without cycles.
pub(crate) fn check_all(
    agents: &[AgentSpec],
    servers: &[McpServerSpec],
    openapi: &[crate::OpenApiToolsSpec],
) -> Result<()> {
    for (i, a) in agents.iter().enumerate() {
        for t in &a.tools {
            if let Some((server, _)) = mcp_tool_ref(t)
                && !servers.iter().any(|s| s.name == server)
            {
                return Err(invalid(
                    format!("agents[{i}].tools"),
                    format!("`{t}`: no server `{server}` in [[mcp_servers]]"),
                ));
            }
            if let Some((source, _)) = crate::openapi_tool_ref(t)
                && !openapi.iter().any(|s| s.name == source)
            {
                return Err(invalid(
                    format!("agents[{i}].tools"),
                    format!("`{t}`: no source `{source}` in [[openapi_tools]]"),
                ));
            }
        }
    }
    let mut names = std::collections::BTreeSet::new();
    for (i, a) in agents.iter().enumerate() {
        a.check(&format!("agents[{i}]"))?;
        if !names.insert(a.name.as_str()) {
            return Err(invalid(
                format!("agents[{i}].name"),
                format!("`{}` is defined twice", a.name),
            ));
        }
    }
    let by_name: BTreeMap<&str, &AgentSpec> = agents.iter().map(|a| (a.name.as_str(), a)).collect();
    for (i, a) in agents.iter().enumerate() {
        for t in &a.tools {
            if let Some(other) = t.strip_prefix("agent:")
                && !by_name.contains_key(other)
            {
                return Err(invalid(
                    format!("agents[{i}].tools"),
                    format!("`{t}`: no agent `{other}` in [[agents]]"),
                ));
            }
        }
        // Depth-first from `a`: reaching `a` again is a cycle.
        let mut stack: Vec<&str> = vec![a.name.as_str()];
        let mut seen = std::collections::BTreeSet::new();
        while let Some(n) = stack.pop() {
            let Some(spec) = by_name.get(n) else { continue };
            for next in spec.tools.iter().filter_map(|t| t.strip_prefix("agent:")) {
                if next == a.name {
                    return Err(invalid(
                        format!("agents[{i}].tools"),
                        format!("`{}` can reach itself through delegated agents", a.name),
                    ));
                }
                if seen.insert(next) {
                    stack.push(next);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn agent(name: &str, tools: &[&str]) -> AgentSpec {
        AgentSpec {
            name: name.into(),
            tools: tools.iter().map(|t| (*t).to_owned()).collect(),
            ..AgentSpec::default()
        }
    }

    fn message(agents: &[AgentSpec]) -> String {
        check_all(agents, &[], &[]).unwrap_err().to_string()
    }

    #[test]
    fn mcp_servers_and_their_tools_are_checked() {
        let files = McpServerSpec {
            name: "files".into(),
            command: "python3".into(),
            ..McpServerSpec::default()
        };
        check_mcp(std::slice::from_ref(&files)).unwrap();
        check_all(
            &[agent("a", &["mcp:files", "mcp:files.read"])],
            std::slice::from_ref(&files),
            &[],
        )
        .unwrap();
        let m = check_all(
            &[agent("a", &["mcp:ghost"])],
            std::slice::from_ref(&files),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(m.contains("no server `ghost`"), "{m}");
        let m = check_all(&[agent("a", &["openapi:billing.pay"])], &[], &[])
            .unwrap_err()
            .to_string();
        assert!(m.contains("no source `billing`"), "{m}");
        let billing = crate::OpenApiToolsSpec {
            name: "billing".into(),
            ..Default::default()
        };
        let mut a = agent("a", &["openapi:billing"]);
        a.requires_approval = vec!["openapi:billing.pay".into()];
        check_all(&[a], &[], std::slice::from_ref(&billing)).unwrap();
        let both = McpServerSpec {
            url: "http://x/mcp".into(),
            ..files.clone()
        };
        assert!(
            check_mcp(&[both])
                .unwrap_err()
                .to_string()
                .contains("either `url` or `command`")
        );
        let ftp = McpServerSpec {
            url: "ftp://x".into(),
            command: String::new(),
            ..files
        };
        assert!(
            check_mcp(&[ftp])
                .unwrap_err()
                .to_string()
                .starts_with("mcp_servers[0].url")
        );
        assert_eq!(
            mcp_tool_ref("mcp:files.read"),
            Some(("files", Some("read")))
        );
        assert_eq!(mcp_tool_ref("mcp:files"), Some(("files", None)));
        assert_eq!(mcp_tool_ref("mcp:bad name"), None);
    }

    #[test]
    fn agents_are_checked_naming_the_key() {
        check_all(
            &[
                agent("a", &["search", "agent:b"]),
                agent("b", &["calculator"]),
            ],
            &[],
            &[],
        )
        .unwrap();
        let m = message(&[agent("bad name", &[])]);
        assert!(m.starts_with("agents[0].name:"), "{m}");
        let m = message(&[agent("a", &["shell"])]);
        assert!(m.contains("unknown tool `shell`"), "{m}");
        let m = message(&[agent("a", &["http_get"])]);
        assert!(m.starts_with("agents[0].http_allow_hosts:"), "{m}");
        let m = message(&[agent("a", &["agent:ghost"])]);
        assert!(m.contains("no agent `ghost`"), "{m}");
        let m = message(&[agent("a", &[]), agent("a", &[])]);
        assert!(m.contains("defined twice"), "{m}");
        let m = message(&[agent("a", &["agent:b"]), agent("b", &["agent:a"])]);
        assert!(m.contains("can reach itself"), "{m}");
        let mut a = agent("a", &["search"]);
        a.requires_approval = vec!["sql".into()];
        assert!(message(&[a]).contains("`sql` is not one of the agent's tools"));
        let mut a = agent("a", &["search"]);
        a.strategy = "tree".into();
        assert!(message(&[a]).starts_with("agents[0].strategy:"));
        let mut a = agent("a", &["search"]);
        a.max_steps = 0;
        assert!(message(&[a]).starts_with("agents[0].max_steps:"));
    }

    #[test]
    fn each_tool_has_a_least_role() {
        let mut a = agent("a", &["search", "http_get", "memory_write"]);
        a.http_allow_hosts = vec!["docs.example.com".into()];
        assert_eq!(a.tool_role("search"), "viewer");
        assert_eq!(a.tool_role("memory_write"), "member");
        assert_eq!(a.tool_role("http_get"), "editor");
        a.tool_roles.insert("http_get".into(), "admin".into());
        assert_eq!(a.tool_role("http_get"), "admin");
        check_all(&[a], &[], &[]).unwrap();
    }
}
