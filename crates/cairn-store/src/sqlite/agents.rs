//! Agent definitions and runs with their step journals (`crate::agent`).

use super::{SqliteStore, db, insert_err, not_found, to_i64};
use crate::agent::{AgentRepo, AgentRun, AgentStep, RunState, SavedSpec, Specs};
use crate::{Error, Result};
use cairn_types::TenantId;
use rusqlite::{Connection, OptionalExtension, Row, params};

const RUN_COLS: &str = "tenant_id, id, agent, parent_id, owner, task, state, context, output, \
     reason, usage, lease_owner, lease_until, created_at, updated_at";

fn json(s: &str, what: &str) -> Result<serde_json::Value> {
    serde_json::from_str(s).map_err(|e| Error::Corrupt(format!("{what}: {e}")))
}

fn text(v: &serde_json::Value) -> String {
    v.to_string()
}

/// A run row with its JSON columns still text.
struct RawRun {
    run: AgentRun,
    state: String,
    context: String,
    usage: String,
}

fn raw_run(r: &Row<'_>) -> rusqlite::Result<RawRun> {
    Ok(RawRun {
        run: AgentRun {
            tenant: TenantId::new(r.get::<_, String>(0)?),
            id: r.get(1)?,
            agent: r.get(2)?,
            parent: r.get(3)?,
            owner: r.get(4)?,
            task: r.get(5)?,
            state: RunState::Queued,
            context: serde_json::Value::Null,
            output: r.get(8)?,
            reason: r.get(9)?,
            usage: serde_json::Value::Null,
            lease_owner: r.get(11)?,
            lease_until: r.get(12)?,
            created_at: r.get(13)?,
            updated_at: r.get(14)?,
        },
        state: r.get(6)?,
        context: r.get(7)?,
        usage: r.get(10)?,
    })
}

fn finish_run(raw: RawRun) -> Result<AgentRun> {
    let mut run = raw.run;
    run.state = RunState::parse(&raw.state)
        .ok_or_else(|| Error::Corrupt(format!("agent run state `{}`", raw.state)))?;
    run.context = json(&raw.context, "agent run context")?;
    run.usage = json(&raw.usage, "agent run usage")?;
    Ok(run)
}

fn load_run(conn: &Connection, tenant: &TenantId, id: &str) -> Result<AgentRun> {
    let raw = conn
        .query_row(
            &format!("SELECT {RUN_COLS} FROM agent_runs WHERE tenant_id = ?1 AND id = ?2"),
            (tenant.as_str(), id),
            raw_run,
        )
        .optional()
        .map_err(db)?
        .ok_or_else(|| not_found(format!("agent run `{id}`")))?;
    finish_run(raw)
}

const SPEC_COLS: &str = "name, spec, updated_by, created_at, updated_at";

/// Rows of `tenant` in `table` matching `and` (a condition on `name`, `?2`), by name.
fn specs(
    conn: &Connection,
    table: Specs,
    tenant: &TenantId,
    and: &str,
    name: &str,
) -> Result<Vec<SavedSpec>> {
    let mut st = conn
        .prepare_cached(&format!(
            "SELECT {SPEC_COLS} FROM {} WHERE tenant_id = ?1 AND ({and}) ORDER BY name",
            table.table()
        ))
        .map_err(db)?;
    let rows: Vec<(String, String, String, i64, i64)> = st
        .query_map((tenant.as_str(), name), |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .map_err(db)?
        .collect::<rusqlite::Result<_>>()
        .map_err(db)?;
    rows.into_iter()
        .map(|(name, spec, updated_by, created_at, updated_at)| {
            Ok(SavedSpec {
                tenant: tenant.clone(),
                name,
                spec: json(&spec, table.what())?,
                updated_by,
                created_at,
                updated_at,
            })
        })
        .collect()
}

fn load_spec(conn: &Connection, table: Specs, tenant: &TenantId, name: &str) -> Result<SavedSpec> {
    specs(conn, table, tenant, "name = ?2", name)?
        .pop()
        .ok_or_else(|| not_found(format!("{} `{name}`", table.what())))
}

impl SqliteStore {
    fn put_spec(&self, table: Specs, a: &SavedSpec) -> Result<SavedSpec> {
        self.write(&format!("saving {} `{}`", table.what(), a.name), |tx| {
            tx.execute(
                &format!(
                    "INSERT INTO {}(tenant_id, name, spec, updated_by, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT(tenant_id, name) DO UPDATE SET spec = excluded.spec,
                        updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                    table.table()
                ),
                params![
                    a.tenant.as_str(),
                    a.name,
                    text(&a.spec),
                    a.updated_by,
                    a.created_at,
                    a.updated_at
                ],
            )
            .map_err(db)?;
            load_spec(tx, table, &a.tenant, &a.name)
        })
    }

    fn get_spec(&self, table: Specs, tenant: &TenantId, name: &str) -> Result<SavedSpec> {
        self.read(&format!("reading {} `{name}`", table.what()), |conn| {
            load_spec(conn, table, tenant, name)
        })
    }

    fn list_specs(&self, table: Specs, tenant: &TenantId) -> Result<Vec<SavedSpec>> {
        // `?2` is bound but unused: one statement shape for both reads.
        self.read(&format!("listing {}s", table.what()), |conn| {
            specs(conn, table, tenant, "?2 = ?2", "")
        })
    }

    fn delete_spec(&self, table: Specs, tenant: &TenantId, name: &str) -> Result<()> {
        self.write(&format!("deleting {} `{name}`", table.what()), |tx| {
            let n = tx
                .execute(
                    &format!(
                        "DELETE FROM {} WHERE tenant_id = ?1 AND name = ?2",
                        table.table()
                    ),
                    (tenant.as_str(), name),
                )
                .map_err(db)?;
            if n == 0 {
                return Err(not_found(format!("{} `{name}`", table.what())));
            }
            Ok(())
        })
    }
}

fn states_sql(states: &[RunState]) -> String {
    states
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

impl AgentRepo for SqliteStore {
    fn put_agent(&self, a: &SavedSpec) -> Result<SavedSpec> {
        self.put_spec(Specs::Agents, a)
    }

    fn get_agent(&self, tenant: &TenantId, name: &str) -> Result<SavedSpec> {
        self.get_spec(Specs::Agents, tenant, name)
    }

    fn list_agents(&self, tenant: &TenantId) -> Result<Vec<SavedSpec>> {
        self.list_specs(Specs::Agents, tenant)
    }

    fn delete_agent(&self, tenant: &TenantId, name: &str) -> Result<()> {
        self.delete_spec(Specs::Agents, tenant, name)
    }

    fn put_tool_source(&self, a: &SavedSpec) -> Result<SavedSpec> {
        self.put_spec(Specs::ToolSources, a)
    }

    fn get_tool_source(&self, tenant: &TenantId, name: &str) -> Result<SavedSpec> {
        self.get_spec(Specs::ToolSources, tenant, name)
    }

    fn list_tool_sources(&self, tenant: &TenantId) -> Result<Vec<SavedSpec>> {
        self.list_specs(Specs::ToolSources, tenant)
    }

    fn delete_tool_source(&self, tenant: &TenantId, name: &str) -> Result<()> {
        self.delete_spec(Specs::ToolSources, tenant, name)
    }

    fn create_agent_run(&self, r: &AgentRun) -> Result<()> {
        self.write(&format!("creating agent run `{}`", r.id), |tx| {
            tx.execute(
                &format!(
                    "INSERT INTO agent_runs({RUN_COLS})
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
                ),
                params![
                    r.tenant.as_str(),
                    r.id,
                    r.agent,
                    r.parent,
                    r.owner,
                    r.task,
                    r.state.as_str(),
                    text(&r.context),
                    r.output,
                    r.reason,
                    text(&r.usage),
                    r.lease_owner,
                    r.lease_until,
                    r.created_at,
                    r.updated_at
                ],
            )
            .map_err(|e| {
                insert_err(
                    e,
                    || format!("agent run `{}` already exists", r.id),
                    || format!("tenant `{}`", r.tenant),
                )
            })?;
            Ok(())
        })
    }

    fn get_agent_run(&self, tenant: &TenantId, id: &str) -> Result<AgentRun> {
        self.read(&format!("reading agent run `{id}`"), |conn| {
            load_run(conn, tenant, id)
        })
    }

    fn list_agent_runs(
        &self,
        tenant: &TenantId,
        owner: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AgentRun>> {
        self.read("listing agent runs", |conn| {
            let mut st = conn
                .prepare_cached(&format!(
                    "SELECT {RUN_COLS} FROM agent_runs
                     WHERE tenant_id = ?1 AND (?2 IS NULL OR owner = ?2)
                     ORDER BY created_at DESC, id DESC LIMIT ?3"
                ))
                .map_err(db)?;
            let raws: Vec<RawRun> = st
                .query_map(params![tenant.as_str(), owner, to_i64(limit)], raw_run)
                .map_err(db)?
                .collect::<rusqlite::Result<_>>()
                .map_err(db)?;
            raws.into_iter().map(finish_run).collect()
        })
    }

    fn save_agent_run(&self, r: &AgentRun, holder: &str) -> Result<()> {
        self.write(&format!("saving agent run `{}`", r.id), |tx| {
            let n = tx
                .execute(
                    "UPDATE agent_runs SET state = ?4, context = ?5, output = ?6, reason = ?7,
                        usage = ?8, lease_owner = ?9, lease_until = ?10, updated_at = ?11
                     WHERE tenant_id = ?1 AND id = ?2 AND lease_owner = ?3 AND state = 'running'",
                    params![
                        r.tenant.as_str(),
                        r.id,
                        holder,
                        r.state.as_str(),
                        text(&r.context),
                        r.output,
                        r.reason,
                        text(&r.usage),
                        r.lease_owner,
                        r.lease_until,
                        r.updated_at
                    ],
                )
                .map_err(db)?;
            if n == 0 {
                let now = load_run(tx, &r.tenant, &r.id)?;
                return Err(Error::Conflict(format!(
                    "agent run `{}` is {} and not held by `{holder}`",
                    r.id,
                    now.state.as_str()
                )));
            }
            Ok(())
        })
    }

    fn transition_agent_run(
        &self,
        tenant: &TenantId,
        id: &str,
        from: &[RunState],
        to: RunState,
        reason: Option<&str>,
        lease: Option<(&str, i64)>,
        now: i64,
    ) -> Result<AgentRun> {
        let (holder, until) = lease.map_or((None, 0), |(h, u)| (Some(h), u));
        self.write(&format!("updating agent run `{id}`"), |tx| {
            let n = tx
                .execute(
                    &format!(
                        "UPDATE agent_runs SET state = ?3, reason = COALESCE(?4, reason),
                            lease_owner = ?6, lease_until = ?7, updated_at = ?5
                         WHERE tenant_id = ?1 AND id = ?2 AND state IN ({})",
                        states_sql(from)
                    ),
                    params![tenant.as_str(), id, to.as_str(), reason, now, holder, until],
                )
                .map_err(db)?;
            let run = load_run(tx, tenant, id)?;
            if n == 0 {
                return Err(Error::Conflict(format!(
                    "agent run `{id}` is {}",
                    run.state.as_str()
                )));
            }
            Ok(run)
        })
    }

    fn claim_agent_runs(
        &self,
        holder: &str,
        dead_holders: &[String],
        now: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<AgentRun>> {
        let dead =
            serde_json::to_string(dead_holders).map_err(|e| Error::Database(e.to_string()))?;
        self.write("claiming agent runs", |tx| {
            let mut st = tx
                .prepare_cached(
                    "SELECT tenant_id, id FROM agent_runs
                     WHERE state = 'queued' OR (state = 'running' AND (lease_until < ?1
                        OR lease_owner IN (SELECT value FROM json_each(?2))))
                     ORDER BY updated_at, id LIMIT ?3",
                )
                .map_err(db)?;
            let keys: Vec<(String, String)> = st
                .query_map(params![now, dead, to_i64(limit)], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .map_err(db)?
                .collect::<rusqlite::Result<_>>()
                .map_err(db)?;
            let mut runs = Vec::with_capacity(keys.len());
            for (tenant, id) in keys {
                tx.execute(
                    "UPDATE agent_runs SET state = 'running', lease_owner = ?3, lease_until = ?4,
                        updated_at = ?5 WHERE tenant_id = ?1 AND id = ?2",
                    params![tenant, id, holder, now.saturating_add(lease_ms), now],
                )
                .map_err(db)?;
                runs.push(load_run(tx, &TenantId::new(tenant), &id)?);
            }
            Ok(runs)
        })
    }

    fn renew_agent_run(
        &self,
        tenant: &TenantId,
        id: &str,
        holder: &str,
        until: i64,
    ) -> Result<bool> {
        self.write(&format!("renewing the lease of agent run `{id}`"), |tx| {
            let n = tx
                .execute(
                    "UPDATE agent_runs SET lease_until = ?4
                     WHERE tenant_id = ?1 AND id = ?2 AND lease_owner = ?3 AND state = 'running'",
                    params![tenant.as_str(), id, holder, until],
                )
                .map_err(db)?;
            Ok(n == 1)
        })
    }

    fn agent_run_holders(&self) -> Result<Vec<String>> {
        self.read("listing agent run holders", |conn| {
            let mut st = conn
                .prepare_cached(
                    "SELECT DISTINCT lease_owner FROM agent_runs
                     WHERE state = 'running' AND lease_owner IS NOT NULL ORDER BY 1",
                )
                .map_err(db)?;
            let rows = st.query_map([], |r| r.get(0)).map_err(db)?;
            rows.collect::<rusqlite::Result<_>>().map_err(db)
        })
    }

    fn append_agent_step(&self, tenant: &TenantId, run: &str, s: &AgentStep) -> Result<i64> {
        self.write(&format!("journaling a step of agent run `{run}`"), |tx| {
            load_run(tx, tenant, run)?;
            let seq: i64 = tx
                .query_row(
                    "SELECT COALESCE(MAX(seq), 0) + 1 FROM agent_steps
                     WHERE tenant_id = ?1 AND run_id = ?2",
                    (tenant.as_str(), run),
                    |r| r.get(0),
                )
                .map_err(db)?;
            tx.execute(
                "INSERT INTO agent_steps(tenant_id, run_id, seq, kind, status, payload,
                    created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    tenant.as_str(),
                    run,
                    seq,
                    s.kind,
                    s.status,
                    text(&s.payload),
                    s.created_at,
                    s.updated_at
                ],
            )
            .map_err(db)?;
            Ok(seq)
        })
    }

    fn update_agent_step(
        &self,
        tenant: &TenantId,
        run: &str,
        seq: i64,
        status: &str,
        payload: &serde_json::Value,
        now: i64,
    ) -> Result<()> {
        self.write(&format!("updating step {seq} of agent run `{run}`"), |tx| {
            let n = tx
                .execute(
                    "UPDATE agent_steps SET status = ?4, payload = ?5, updated_at = ?6
                     WHERE tenant_id = ?1 AND run_id = ?2 AND seq = ?3",
                    params![tenant.as_str(), run, seq, status, text(payload), now],
                )
                .map_err(db)?;
            if n == 0 {
                return Err(not_found(format!("step {seq} of agent run `{run}`")));
            }
            Ok(())
        })
    }

    fn agent_steps(&self, tenant: &TenantId, run: &str) -> Result<Vec<AgentStep>> {
        self.read(&format!("reading agent run `{run}`"), |conn| {
            load_run(conn, tenant, run)?;
            let mut st = conn
                .prepare_cached(
                    "SELECT seq, kind, status, payload, created_at, updated_at FROM agent_steps
                     WHERE tenant_id = ?1 AND run_id = ?2 ORDER BY seq",
                )
                .map_err(db)?;
            let rows: Vec<(i64, String, String, String, i64, i64)> = st
                .query_map((tenant.as_str(), run), |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                })
                .map_err(db)?
                .collect::<rusqlite::Result<_>>()
                .map_err(db)?;
            rows.into_iter()
                .map(|(seq, kind, status, payload, created_at, updated_at)| {
                    Ok(AgentStep {
                        seq,
                        kind,
                        status,
                        payload: json(&payload, "agent step payload")?,
                        created_at,
                        updated_at,
                    })
                })
                .collect()
        })
    }

    fn decide_agent_approval(
        &self,
        tenant: &TenantId,
        run: &str,
        seq: i64,
        approve: bool,
        by: &str,
        now: i64,
    ) -> Result<AgentRun> {
        self.write(&format!("deciding on agent run `{run}`"), |tx| {
            let current = load_run(tx, tenant, run)?;
            if current.state != RunState::WaitingApproval {
                return Err(Error::Conflict(format!(
                    "agent run `{run}` is {}, not waiting for approval",
                    current.state.as_str()
                )));
            }
            let step: Option<(String, String)> = tx
                .query_row(
                    "SELECT status, payload FROM agent_steps
                     WHERE tenant_id = ?1 AND run_id = ?2 AND seq = ?3",
                    params![tenant.as_str(), run, seq],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(db)?;
            let (status, payload) =
                step.ok_or_else(|| not_found(format!("step {seq} of agent run `{run}`")))?;
            if status != "waiting_approval" {
                return Err(Error::Conflict(format!(
                    "step {seq} of agent run `{run}` is {status}, not waiting for approval"
                )));
            }
            let mut payload = json(&payload, "agent step payload")?;
            payload["decided_by"] = serde_json::json!(by);
            payload["decided_at"] = serde_json::json!(now);
            let status = if approve { "approved" } else { "denied" };
            tx.execute(
                "UPDATE agent_steps SET status = ?4, payload = ?5, updated_at = ?6
                 WHERE tenant_id = ?1 AND run_id = ?2 AND seq = ?3",
                params![tenant.as_str(), run, seq, status, text(&payload), now],
            )
            .map_err(db)?;
            tx.execute(
                "UPDATE agent_runs SET state = 'queued', reason = NULL, lease_owner = NULL,
                    lease_until = 0, updated_at = ?3 WHERE tenant_id = ?1 AND id = ?2",
                params![tenant.as_str(), run, now],
            )
            .map_err(db)?;
            load_run(tx, tenant, run)
        })
    }
}
