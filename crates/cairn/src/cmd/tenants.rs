//! `cairn tenants list|delete|hold|sweep`: the data lifecycle from the operator's side:
//! offboarding a tenant (everything but the audit log, with counts of what went), legal
//! holds on a tenant or a user, and one retention sweep on demand. `cairn serve` runs
//! the same sweep every `retention.sweep_interval_secs` ([`spawn_sweeper`]).

use super::{Context, eng, fail, time};
use cairn_engine::Engine;
use cairn_engine::security::SweepReport;
use cairn_types::{ErrorCode, TenantId, now_ms};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Subcommand)]
pub enum TenantsCmd {
    /// List tenants with their retention periods and legal holds.
    List,
    /// Offboard a tenant: delete all its data (collections, documents, indexes,
    /// conversations, answers, feedback, users, keys, secrets, usage, settings); the
    /// audit log is kept and records the deletion. Irreversible.
    Delete {
        tenant: String,
        /// Required: confirms the deletion.
        #[arg(long)]
        yes: bool,
    },
    /// Put a tenant (or one of its users) under legal hold, or lift it with --off.
    /// While held, retention skips the data and erasure and offboarding refuse.
    Hold {
        tenant: String,
        /// Hold only this user's data.
        #[arg(long)]
        user: Option<String>,
        /// Lift the hold instead.
        #[arg(long)]
        off: bool,
        /// Why (kept with the hold and in the audit log).
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Run the retention sweep once, now, over every tenant.
    Sweep,
}

fn tenant_arg(t: &str) -> anyhow::Result<TenantId> {
    cairn_types::validate_slug(t).map_err(|m| fail(ErrorCode::InvalidInput, m))?;
    Ok(TenantId::new(t))
}

pub fn run(ctx: &Context, c: TenantsCmd) -> anyhow::Result<ExitCode> {
    let engine = ctx.engine()?;
    match c {
        TenantsCmd::List => list(ctx, &engine)?,
        TenantsCmd::Delete { tenant, yes } => {
            let t = tenant_arg(&tenant)?;
            if !yes {
                return Err(fail(
                    ErrorCode::InvalidInput,
                    format!("deleting tenant `{t}` removes all its data for good; pass --yes"),
                ));
            }
            let r = engine.offboard_tenant(&t, "operator").map_err(eng)?;
            if ctx.json {
                ctx.print_json(&r)?;
                return Ok(ExitCode::SUCCESS);
            }
            let n = &r.rows;
            outln!("deleted tenant {t} (the audit log is kept):");
            for (kind, count) in [
                ("collections", n.collections),
                ("index directories", r.index_dirs),
                ("documents", n.documents),
                ("chunks", n.chunks),
                ("index changes", n.index_changes),
                ("jobs", n.jobs),
                ("idempotency keys", n.idempotency_keys),
                ("conversations", n.conversations),
                ("messages", n.messages),
                ("answers", n.answers),
                ("feedback", n.feedback),
                ("users", n.users),
                ("api keys", n.api_keys),
                ("secrets", n.secrets),
                ("usage rows", n.usage_rows),
                ("settings", n.settings),
            ] {
                outln!("  {kind:<18} {count}");
            }
        }
        TenantsCmd::Hold {
            tenant,
            user,
            off,
            reason,
        } => {
            let t = tenant_arg(&tenant)?;
            let who = user.as_deref().map_or_else(
                || format!("tenant {t}"),
                |u| format!("user {u} of tenant {t}"),
            );
            if off {
                engine
                    .clear_legal_hold(&t, user.as_deref(), "operator")
                    .map_err(eng)?;
                outln!("legal hold lifted: {who}");
            } else {
                let h = engine
                    .set_legal_hold(&t, user.as_deref(), &reason, "operator")
                    .map_err(eng)?;
                if ctx.json {
                    ctx.print_json(&h)?;
                } else {
                    outln!("{}", h.describe());
                }
            }
        }
        TenantsCmd::Sweep => {
            let r = engine.sweep_retention(now_ms()).map_err(eng)?;
            let failed = r.tenants.iter().any(|t| t.error.is_some());
            if ctx.json {
                ctx.print_json(&r)?;
            } else {
                print_sweep(&r);
            }
            if failed {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn list(ctx: &Context, engine: &Engine) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for t in engine.store().list_tenants().map_err(super::st)? {
        let holds = engine.legal_holds(&t.id).map_err(eng)?;
        let retention = engine.tenant_retention(&t.id).ok();
        rows.push(serde_json::json!({
            "tenant": t.id, "created_at": t.created_at,
            "retention": retention, "legal_holds": holds,
        }));
    }
    if ctx.json {
        return ctx.print_json(&rows);
    }
    outln!(
        "{:<20} {:<20} {:<24} LEGAL HOLDS",
        "TENANT",
        "CREATED (UTC)",
        "RETENTION (DAYS c/a/f/l/d)"
    );
    for r in &rows {
        let days = |k: &str| r["retention"][k].as_u64().unwrap_or(0);
        let retention = if r["retention"].is_null() {
            "unusable settings".to_owned()
        } else {
            format!(
                "{}/{}/{}/{}/{}",
                days("conversations_days"),
                days("answers_days"),
                days("feedback_days"),
                days("logs_days"),
                days("documents_days")
            )
        };
        let holds: Vec<String> = r["legal_holds"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|h| {
                h["user"]
                    .as_str()
                    .map_or_else(|| "tenant".into(), |u| format!("user {u}"))
            })
            .collect();
        outln!(
            "{:<20} {:<20} {:<24} {}",
            r["tenant"].as_str().unwrap_or_default(),
            time(r["created_at"].as_i64().unwrap_or(0)),
            retention,
            if holds.is_empty() {
                "-".into()
            } else {
                holds.join(", ")
            }
        );
    }
    Ok(())
}

fn print_sweep(r: &SweepReport) {
    outln!("retention sweep at {} UTC", time(r.at));
    for t in &r.tenants {
        let d = &t.deleted;
        if let Some(why) = &t.skipped {
            outln!("  {}: skipped: {why}", t.tenant);
        } else if let Some(e) = &t.error {
            outln!("  {}: error: {e}", t.tenant);
        } else {
            outln!(
                "  {}: deleted {} conversations ({} messages), {} answers, {} feedback, {} documents ({} chunks), {} usage rows, {} idempotency keys, {} jobs",
                t.tenant,
                d.conversations,
                d.messages,
                d.answers,
                d.feedback,
                d.documents,
                d.chunks,
                d.usage_rows,
                d.idempotency_keys,
                d.jobs
            );
        }
        if !d.held_users.is_empty() {
            outln!(
                "  {}: kept the data of users under legal hold: {}",
                t.tenant,
                d.held_users.join(", ")
            );
        }
        for e in &t.index_errors {
            outln!("  {}: index not synced yet ({e})", t.tenant);
        }
    }
}

/// Runs the retention sweep on its own thread every `every`, first right away, for as
/// long as the process lives (`cairn serve`). Each sweep is a set of short store
/// transactions, so stopping the process mid-sweep loses nothing. A singleton duty:
/// when several servers share a PostgreSQL store, one of them sweeps each round. The
/// same thread then prunes the index change log (also one server at a time).
pub fn spawn_sweeper(engine: Arc<Engine>, every: Duration) -> anyhow::Result<()> {
    std::thread::Builder::new()
        .name("cairn-retention".into())
        .spawn(move || {
            loop {
                // One server at a time sweeps (on PostgreSQL the others skip this round).
                let ran = engine
                    .store()
                    .run_exclusive("retention-sweep", &mut || sweep_once(&engine));
                match ran {
                    Ok(true) => {}
                    Ok(false) => tracing::debug!("retention sweep running on another server"),
                    Err(e) => tracing::error!(error = %e, "retention sweep: cannot take its lock"),
                }
                let pruned = engine
                    .store()
                    .run_exclusive("index-log-pruning", &mut || prune_once(&engine));
                if let Err(e) = pruned {
                    tracing::error!(error = %e, "index log pruning: cannot take its lock");
                }
                std::thread::sleep(every);
            }
        })?;
    Ok(())
}

/// Index replicas that have not reported for this long are taken for gone: the change
/// log is pruned past them (they rebuild from the store if they come back).
const REPLICA_GONE_AFTER_MS: i64 = 7 * 24 * 3600 * 1000;

/// Deletes the index changes every live replica has applied, its outcome logged.
fn prune_once(engine: &Engine) {
    match engine
        .store()
        .prune_index_changes(now_ms() - REPLICA_GONE_AFTER_MS)
    {
        Ok(r) if r.changes + r.replicas_forgotten > 0 => tracing::info!(
            changes = r.changes,
            replicas_forgotten = r.replicas_forgotten,
            "pruned the index change log"
        ),
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "index log pruning failed"),
    }
}

/// One retention sweep over every tenant, its outcome logged.
fn sweep_once(engine: &Engine) {
    match engine.sweep_retention(now_ms()) {
        Ok(r) => {
            for t in &r.tenants {
                if let Some(why) = &t.skipped {
                    tracing::info!(tenant = %t.tenant, %why, "retention sweep skipped");
                }
                if let Some(e) = &t.error {
                    tracing::error!(tenant = %t.tenant, error = %e, "retention sweep failed");
                }
            }
            if r.deleted() > 0 {
                tracing::info!(rows = r.deleted(), "retention sweep deleted expired data");
            }
        }
        Err(e) => tracing::error!(error = %e.message, "retention sweep failed"),
    }
}
