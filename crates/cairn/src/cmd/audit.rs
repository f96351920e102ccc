//! `cairn audit verify|list`: the hash-chained audit log.

use super::{Context, eng, time};
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum AuditCmd {
    /// Recompute the chain; exit 1 on any edited, deleted or truncated entry.
    Verify,
    /// The tenant's latest entries.
    List {
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

pub fn run(ctx: &Context, c: AuditCmd) -> anyhow::Result<ExitCode> {
    let engine = ctx.engine()?;
    match c {
        AuditCmd::Verify => {
            let report = engine.verify_audit().map_err(eng)?;
            if ctx.json {
                ctx.print_json(&report)?;
            } else if let Some(b) = &report.broken {
                outln!(
                    "audit log BROKEN at entry {}: {} ({} entries checked)",
                    b.seq,
                    b.reason,
                    report.checked
                );
            } else {
                outln!(
                    "audit log intact: {} entries, head {} {}",
                    report.checked,
                    report.head_seq,
                    report.head_hash
                );
            }
            Ok(if report.broken.is_some() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        AuditCmd::List { limit } => {
            let rows = engine.tenant_audit(&ctx.tenant, limit).map_err(eng)?;
            if ctx.json {
                ctx.print_json(&rows)?;
                return Ok(ExitCode::SUCCESS);
            }
            for r in rows {
                outln!(
                    "{:>6}  {}  {:<18} {:<20} {:<8} {}",
                    r.seq,
                    time(r.at),
                    r.action,
                    r.actor,
                    r.outcome,
                    r.target
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
