//! Agent definitions and runs with their step journals (`crate::agent`).
//!
//! Several servers share the runs: claims take rows `FOR UPDATE SKIP LOCKED`, a save is
//! guarded by the lease holder and the `running` state, and a step's sequence number is
//! assigned under a row lock on its run, so two writers never get the same one.

use super::rows::{get, json};
use super::{PostgresStore, db, insert_err, not_found, to_i64};
use crate::agent::{AgentRepo, AgentRun, AgentStep, RunState, SavedSpec, Specs};
use crate::{Error, Result};
use cairn_types::TenantId;
use postgres::{GenericClient, Row};

const RUN_COLS: &str = "tenant_id, id, agent, parent_id, owner, task, state, context, output, \
     reason, usage, lease_owner, lease_until, created_at, updated_at";

fn run(row: &Row) -> Result<AgentRun> {
    let state: String = get(row, 6, "state")?;
    Ok(AgentRun {
        tenant: TenantId::new(get::<String>(row, 0, "tenant_id")?),
        id: get(row, 1, "id")?,
        agent: get(row, 2, "agent")?,
        parent: get(row, 3, "parent_id")?,
        owner: get(row, 4, "owner")?,
        task: get(row, 5, "task")?,
        state: RunState::parse(&state)
            .ok_or_else(|| Error::Corrupt(format!("agent run state `{state}`")))?,
        context: json(row, 7, "context")?,
        output: get(row, 8, "output")?,
        reason: get(row, 9, "reason")?,
        usage: json(row, 10, "usage")?,
        lease_owner: get(row, 11, "lease_owner")?,
        lease_until: get(row, 12, "lease_until")?,
        created_at: get(row, 13, "created_at")?,
        updated_at: get(row, 14, "updated_at")?,
    })
}

fn load_run(
    c: &mut impl GenericClient,
    tenant: &TenantId,
    id: &str,
    lock: bool,
) -> Result<AgentRun> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    let row = c
        .query_opt(
            &format!("SELECT {RUN_COLS} FROM agent_runs WHERE tenant_id = $1 AND id = $2{lock}"),
            &[&tenant.as_str(), &id],
        )
        .map_err(db)?
        .ok_or_else(|| not_found(format!("agent run `{id}`")))?;
    run(&row)
}

fn saved(row: &Row) -> Result<SavedSpec> {
    Ok(SavedSpec {
        tenant: TenantId::new(get::<String>(row, 0, "tenant_id")?),
        name: get(row, 1, "name")?,
        spec: json(row, 2, "spec")?,
        updated_by: get(row, 3, "updated_by")?,
        created_at: get(row, 4, "created_at")?,
        updated_at: get(row, 5, "updated_at")?,
    })
}

const SPEC_COLS: &str = "tenant_id, name, spec, updated_by, created_at, updated_at";

impl PostgresStore {
    fn put_spec(&self, table: Specs, a: &SavedSpec) -> Result<SavedSpec> {
        let spec = a.spec.to_string();
        self.write(&format!("saving {} `{}`", table.what(), a.name), |tx| {
            let row = tx
                .query_one(
                    &format!(
                        "INSERT INTO {}({SPEC_COLS}) VALUES ($1, $2, $3, $4, $5, $6)
                         ON CONFLICT(tenant_id, name) DO UPDATE SET spec = excluded.spec,
                            updated_by = excluded.updated_by, updated_at = excluded.updated_at
                         RETURNING {SPEC_COLS}",
                        table.table()
                    ),
                    &[
                        &a.tenant.as_str(),
                        &a.name,
                        &spec,
                        &a.updated_by,
                        &a.created_at,
                        &a.updated_at,
                    ],
                )
                .map_err(|e| insert_err(e, String::new, || format!("tenant `{}`", a.tenant)))?;
            saved(&row)
        })
    }

    fn get_spec(&self, table: Specs, tenant: &TenantId, name: &str) -> Result<SavedSpec> {
        self.read(&format!("reading {} `{name}`", table.what()), |c| {
            let row = c
                .query_opt(
                    &format!(
                        "SELECT {SPEC_COLS} FROM {} WHERE tenant_id = $1 AND name = $2",
                        table.table()
                    ),
                    &[&tenant.as_str(), &name],
                )
                .map_err(db)?
                .ok_or_else(|| not_found(format!("{} `{name}`", table.what())))?;
            saved(&row)
        })
    }

    fn list_specs(&self, table: Specs, tenant: &TenantId) -> Result<Vec<SavedSpec>> {
        self.read(&format!("listing {}s", table.what()), |c| {
            c.query(
                &format!(
                    "SELECT {SPEC_COLS} FROM {} WHERE tenant_id = $1 ORDER BY name",
                    table.table()
                ),
                &[&tenant.as_str()],
            )
            .map_err(db)?
            .iter()
            .map(saved)
            .collect()
        })
    }

    fn delete_spec(&self, table: Specs, tenant: &TenantId, name: &str) -> Result<()> {
        self.write(&format!("deleting {} `{name}`", table.what()), |tx| {
            let n = tx
                .execute(
                    &format!(
                        "DELETE FROM {} WHERE tenant_id = $1 AND name = $2",
                        table.table()
                    ),
                    &[&tenant.as_str(), &name],
                )
                .map_err(db)?;
            if n == 0 {
                return Err(not_found(format!("{} `{name}`", table.what())));
            }
            Ok(())
        })
    }
}

fn states(list: &[RunState]) -> Vec<&'static str> {
    list.iter().map(|s| s.as_str()).collect()
}

impl AgentRepo for PostgresStore {
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
        let (context, usage) = (r.context.to_string(), r.usage.to_string());
        self.write(&format!("creating agent run `{}`", r.id), |tx| {
            tx.execute(
                &format!(
                    "INSERT INTO agent_runs({RUN_COLS})
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
                ),
                &[
                    &r.tenant.as_str(),
                    &r.id,
                    &r.agent,
                    &r.parent,
                    &r.owner,
                    &r.task,
                    &r.state.as_str(),
                    &context,
                    &r.output,
                    &r.reason,
                    &usage,
                    &r.lease_owner,
                    &r.lease_until,
                    &r.created_at,
                    &r.updated_at,
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
        self.read(&format!("reading agent run `{id}`"), |c| {
            load_run(c, tenant, id, false)
        })
    }

    fn list_agent_runs(
        &self,
        tenant: &TenantId,
        owner: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AgentRun>> {
        self.read("listing agent runs", |c| {
            c.query(
                &format!(
                    "SELECT {RUN_COLS} FROM agent_runs
                     WHERE tenant_id = $1 AND ($2::text IS NULL OR owner = $2)
                     ORDER BY created_at DESC, id DESC LIMIT $3"
                ),
                &[&tenant.as_str(), &owner, &to_i64(limit)],
            )
            .map_err(db)?
            .iter()
            .map(run)
            .collect()
        })
    }

    fn save_agent_run(&self, r: &AgentRun, holder: &str) -> Result<()> {
        let (context, usage) = (r.context.to_string(), r.usage.to_string());
        self.write(&format!("saving agent run `{}`", r.id), |tx| {
            let n = tx
                .execute(
                    "UPDATE agent_runs SET state = $4, context = $5, output = $6, reason = $7,
                        usage = $8, lease_owner = $9, lease_until = $10, updated_at = $11
                     WHERE tenant_id = $1 AND id = $2 AND lease_owner = $3 AND state = 'running'",
                    &[
                        &r.tenant.as_str(),
                        &r.id,
                        &holder,
                        &r.state.as_str(),
                        &context,
                        &r.output,
                        &r.reason,
                        &usage,
                        &r.lease_owner,
                        &r.lease_until,
                        &r.updated_at,
                    ],
                )
                .map_err(db)?;
            if n == 0 {
                let now = load_run(tx, &r.tenant, &r.id, false)?;
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
        let from = states(from);
        let (holder, until) = lease.map_or((None, 0), |(h, u)| (Some(h), u));
        self.write(&format!("updating agent run `{id}`"), |tx| {
            let row = tx
                .query_opt(
                    &format!(
                        "UPDATE agent_runs SET state = $3, reason = COALESCE($4, reason),
                            lease_owner = $7, lease_until = $8, updated_at = $5
                         WHERE tenant_id = $1 AND id = $2 AND state = ANY($6)
                         RETURNING {RUN_COLS}"
                    ),
                    &[
                        &tenant.as_str(),
                        &id,
                        &to.as_str(),
                        &reason,
                        &now,
                        &from,
                        &holder,
                        &until,
                    ],
                )
                .map_err(db)?;
            match row {
                Some(row) => run(&row),
                None => {
                    let current = load_run(tx, tenant, id, false)?;
                    Err(Error::Conflict(format!(
                        "agent run `{id}` is {}",
                        current.state.as_str()
                    )))
                }
            }
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
        self.write("claiming agent runs", |tx| {
            tx.query(
                &format!(
                    "WITH next AS (
                        SELECT tenant_id, id FROM agent_runs
                        WHERE state = 'queued' OR (state = 'running'
                            AND (lease_until < $1 OR lease_owner = ANY($2)))
                        ORDER BY updated_at, id LIMIT $3
                        FOR UPDATE SKIP LOCKED)
                     UPDATE agent_runs r SET state = 'running', lease_owner = $4,
                        lease_until = $5, updated_at = $1
                     FROM next WHERE r.tenant_id = next.tenant_id AND r.id = next.id
                     RETURNING {}",
                    RUN_COLS
                        .split(", ")
                        .map(|c| format!("r.{c}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                &[
                    &now,
                    &dead_holders,
                    &to_i64(limit),
                    &holder,
                    &now.saturating_add(lease_ms),
                ],
            )
            .map_err(db)?
            .iter()
            .map(run)
            .collect()
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
                    "UPDATE agent_runs SET lease_until = $4
                     WHERE tenant_id = $1 AND id = $2 AND lease_owner = $3 AND state = 'running'",
                    &[&tenant.as_str(), &id, &holder, &until],
                )
                .map_err(db)?;
            Ok(n == 1)
        })
    }

    fn agent_run_holders(&self) -> Result<Vec<String>> {
        self.read("listing agent run holders", |c| {
            c.query(
                "SELECT DISTINCT lease_owner FROM agent_runs
                 WHERE state = 'running' AND lease_owner IS NOT NULL ORDER BY 1",
                &[],
            )
            .map_err(db)?
            .iter()
            .map(|r| get(r, 0, "lease_owner"))
            .collect()
        })
    }

    fn append_agent_step(&self, tenant: &TenantId, run_id: &str, s: &AgentStep) -> Result<i64> {
        let payload = s.payload.to_string();
        self.write(
            &format!("journaling a step of agent run `{run_id}`"),
            |tx| {
                // The run's row lock orders concurrent appends, so each gets the next seq.
                load_run(tx, tenant, run_id, true)?;
                let row = tx
                    .query_one(
                        "INSERT INTO agent_steps(tenant_id, run_id, seq, kind, status, payload,
                        created_at, updated_at)
                     SELECT $1, $2, COALESCE(MAX(seq), 0) + 1, $3, $4, $5, $6, $7
                     FROM agent_steps WHERE tenant_id = $1 AND run_id = $2
                     RETURNING seq",
                        &[
                            &tenant.as_str(),
                            &run_id,
                            &s.kind,
                            &s.status,
                            &payload,
                            &s.created_at,
                            &s.updated_at,
                        ],
                    )
                    .map_err(db)?;
                get(&row, 0, "seq")
            },
        )
    }

    fn update_agent_step(
        &self,
        tenant: &TenantId,
        run_id: &str,
        seq: i64,
        status: &str,
        payload: &serde_json::Value,
        now: i64,
    ) -> Result<()> {
        let payload = payload.to_string();
        self.write(
            &format!("updating step {seq} of agent run `{run_id}`"),
            |tx| {
                let n = tx
                    .execute(
                        "UPDATE agent_steps SET status = $4, payload = $5, updated_at = $6
                     WHERE tenant_id = $1 AND run_id = $2 AND seq = $3",
                        &[&tenant.as_str(), &run_id, &seq, &status, &payload, &now],
                    )
                    .map_err(db)?;
                if n == 0 {
                    return Err(not_found(format!("step {seq} of agent run `{run_id}`")));
                }
                Ok(())
            },
        )
    }

    fn agent_steps(&self, tenant: &TenantId, run_id: &str) -> Result<Vec<AgentStep>> {
        self.read(&format!("reading agent run `{run_id}`"), |c| {
            load_run(c, tenant, run_id, false)?;
            c.query(
                "SELECT seq, kind, status, payload, created_at, updated_at FROM agent_steps
                 WHERE tenant_id = $1 AND run_id = $2 ORDER BY seq",
                &[&tenant.as_str(), &run_id],
            )
            .map_err(db)?
            .iter()
            .map(|r| {
                Ok(AgentStep {
                    seq: get(r, 0, "seq")?,
                    kind: get(r, 1, "kind")?,
                    status: get(r, 2, "status")?,
                    payload: json(r, 3, "payload")?,
                    created_at: get(r, 4, "created_at")?,
                    updated_at: get(r, 5, "updated_at")?,
                })
            })
            .collect()
        })
    }

    fn decide_agent_approval(
        &self,
        tenant: &TenantId,
        run_id: &str,
        seq: i64,
        approve: bool,
        by: &str,
        now: i64,
    ) -> Result<AgentRun> {
        self.write(&format!("deciding on agent run `{run_id}`"), |tx| {
            let current = load_run(tx, tenant, run_id, true)?;
            if current.state != RunState::WaitingApproval {
                return Err(Error::Conflict(format!(
                    "agent run `{run_id}` is {}, not waiting for approval",
                    current.state.as_str()
                )));
            }
            let row = tx
                .query_opt(
                    "SELECT status, payload FROM agent_steps
                     WHERE tenant_id = $1 AND run_id = $2 AND seq = $3",
                    &[&tenant.as_str(), &run_id, &seq],
                )
                .map_err(db)?
                .ok_or_else(|| not_found(format!("step {seq} of agent run `{run_id}`")))?;
            let status: String = get(&row, 0, "status")?;
            if status != "waiting_approval" {
                return Err(Error::Conflict(format!(
                    "step {seq} of agent run `{run_id}` is {status}, not waiting for approval"
                )));
            }
            let mut payload: serde_json::Value = json(&row, 1, "payload")?;
            payload["decided_by"] = serde_json::json!(by);
            payload["decided_at"] = serde_json::json!(now);
            let status = if approve { "approved" } else { "denied" };
            tx.execute(
                "UPDATE agent_steps SET status = $4, payload = $5, updated_at = $6
                 WHERE tenant_id = $1 AND run_id = $2 AND seq = $3",
                &[
                    &tenant.as_str(),
                    &run_id,
                    &seq,
                    &status,
                    &payload.to_string(),
                    &now,
                ],
            )
            .map_err(db)?;
            let row = tx
                .query_one(
                    &format!(
                        "UPDATE agent_runs SET state = 'queued', reason = NULL, lease_owner = NULL,
                            lease_until = 0, updated_at = $3 WHERE tenant_id = $1 AND id = $2
                         RETURNING {RUN_COLS}"
                    ),
                    &[&tenant.as_str(), &run_id, &now],
                )
                .map_err(db)?;
            run(&row)
        })
    }
}
