//! Which agents a tenant has: the configuration's `[[agents]]` (every tenant) and the
//! tenant's own, saved through the API. A saved agent cannot take a configured name,
//! and the agents it delegates to must exist.

use crate::{Error, Result};
use cairn_config::AgentSpec;
use cairn_engine::Engine;
use cairn_store::AgentDefinition;
use cairn_types::{ErrorCode, TenantId};
use serde::Serialize;

/// An agent and where it is defined.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Listed {
    #[serde(flatten)]
    pub spec: AgentSpec,
    /// `config` or `api`.
    pub source: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
}

fn from_store(d: &AgentDefinition) -> Result<AgentSpec> {
    serde_json::from_value(d.spec.clone()).map_err(|e| {
        Error::new(
            ErrorCode::Internal,
            format!("saved agent `{}` cannot be read: {e}", d.name),
        )
    })
}

/// The agent `name` of `tenant`; `not_found` naming it otherwise.
pub fn find(engine: &Engine, tenant: &TenantId, name: &str) -> Result<AgentSpec> {
    if let Some(a) = engine.config().agents.iter().find(|a| a.name == name) {
        return Ok(a.clone());
    }
    match engine.store().get_agent(tenant, name) {
        Ok(d) => from_store(&d),
        Err(cairn_store::Error::NotFound { .. }) => Err(Error::new(
            ErrorCode::NotFound,
            format!("agent `{name}` not found"),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Every agent of `tenant`, configured ones first, each group by name.
pub fn list(engine: &Engine, tenant: &TenantId) -> Result<Vec<Listed>> {
    let mut out: Vec<Listed> = engine
        .config()
        .agents
        .iter()
        .map(|a| Listed {
            spec: a.clone(),
            source: "config",
            updated_by: None,
        })
        .collect();
    out.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
    for d in engine.store().list_agents(tenant)? {
        out.push(Listed {
            spec: from_store(&d)?,
            source: "api",
            updated_by: Some(d.updated_by),
        });
    }
    Ok(out)
}

/// Saves `spec` as `tenant`'s own agent (checked; the agents it delegates to must
/// exist and must not lead back to it).
pub fn save(
    engine: &Engine,
    tenant: &TenantId,
    spec: &AgentSpec,
    by: &str,
    now: i64,
) -> Result<AgentSpec> {
    spec.check("agent")
        .map_err(|e| Error::new(ErrorCode::InvalidInput, e.to_string()))?;
    if engine.config().agents.iter().any(|a| a.name == spec.name) {
        return Err(Error::new(
            ErrorCode::Conflict,
            format!(
                "`{}` is an agent of the configuration file; pick another name",
                spec.name
            ),
        ));
    }
    // Tool sources: each one the tenant has, of the kind named.
    for t in &spec.tools {
        let named = cairn_config::mcp_tool_ref(t)
            .map(|(s, _)| ("mcp", s))
            .or_else(|| cairn_config::openapi_tool_ref(t).map(|(s, _)| ("openapi", s)));
        let Some((kind, name)) = named else { continue };
        match crate::sources::kind_of(engine, tenant, name)? {
            Some(k) if k == kind => {}
            Some(k) => {
                return Err(Error::new(
                    ErrorCode::InvalidInput,
                    format!("tool `{t}`: `{name}` is an {k} source; name it `{k}:{name}`"),
                ));
            }
            None => {
                return Err(Error::new(
                    ErrorCode::InvalidInput,
                    format!(
                        "tool `{t}`: tenant `{tenant}` has no tool source `{name}` (add one \
                         with PUT /api/v1/tool-sources/{name})"
                    ),
                ));
            }
        }
    }
    // Delegation: targets exist, and none reaches back to this agent.
    let mut stack: Vec<String> = delegates(spec).map(str::to_owned).collect();
    let mut seen = std::collections::BTreeSet::new();
    while let Some(next) = stack.pop() {
        if next == spec.name {
            return Err(Error::new(
                ErrorCode::InvalidInput,
                format!("`{}` can reach itself through delegated agents", spec.name),
            ));
        }
        if !seen.insert(next.clone()) {
            continue;
        }
        let target = find(engine, tenant, &next).map_err(|_| {
            Error::new(
                ErrorCode::InvalidInput,
                format!("tool `agent:{next}`: tenant `{tenant}` has no agent `{next}`"),
            )
        })?;
        stack.extend(delegates(&target).map(str::to_owned));
    }
    let def = AgentDefinition {
        tenant: tenant.clone(),
        name: spec.name.clone(),
        spec: serde_json::to_value(spec)
            .map_err(|e| Error::new(ErrorCode::Internal, e.to_string()))?,
        updated_by: by.to_owned(),
        created_at: now,
        updated_at: now,
    };
    from_store(&engine.store().put_agent(&def)?)
}

/// Deletes `tenant`'s own agent `name` (configured agents cannot be deleted here).
pub fn delete(engine: &Engine, tenant: &TenantId, name: &str) -> Result<()> {
    if engine.config().agents.iter().any(|a| a.name == name) {
        return Err(Error::new(
            ErrorCode::Conflict,
            format!("`{name}` is defined in the configuration file"),
        ));
    }
    Ok(engine.store().delete_agent(tenant, name)?)
}

/// The agents `spec` may delegate to.
pub fn delegates(spec: &AgentSpec) -> impl Iterator<Item = &str> {
    spec.tools.iter().filter_map(|t| t.strip_prefix("agent:"))
}
