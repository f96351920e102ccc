//! `cairn users add|list|export|erase`: users of a tenant, and GDPR access and erasure
//! (everything one user owns: conversations, answers, feedback, uploads, keys).

use super::{Context, eng, fail, st, time};
use cairn_auth::Role;
use cairn_engine::security::AuditEvent;
use cairn_types::ErrorCode;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum UsersCmd {
    /// Add or update a user.
    Add {
        id: String,
        /// owner | admin | editor | member | viewer
        #[arg(long, default_value = "member")]
        role: String,
        /// Groups documents' ACLs can name (repeat).
        #[arg(long = "group")]
        groups: Vec<String>,
        #[arg(long, default_value = "")]
        email: String,
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List users.
    List,
    /// Write everything stored of a user as JSON (stdout, or --out).
    Export {
        id: String,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Erase a user and everything they own. Irreversible.
    Erase {
        id: String,
        /// Required: confirms the erasure.
        #[arg(long)]
        yes: bool,
    },
}

pub fn run(ctx: &Context, c: UsersCmd) -> anyhow::Result<ExitCode> {
    let engine = ctx.engine()?;
    let t = &ctx.tenant;
    match c {
        UsersCmd::Add {
            id,
            role,
            groups,
            email,
            name,
        } => {
            let role = Role::parse(&role)
                .ok_or_else(|| fail(ErrorCode::InvalidInput, format!("unknown role `{role}`")))?;
            let u = engine
                .put_user(t, &id, role, groups, &email, &name)
                .map_err(eng)?;
            engine.audit_or_log(AuditEvent {
                tenant: t,
                actor: "operator",
                action: "users.put",
                target: &u.id,
                outcome: "ok",
                detail: serde_json::json!({"role": u.role, "groups": u.groups}),
            });
            if ctx.json {
                ctx.print_json(&u)?;
            } else {
                outln!("user {} ({})", u.id, u.role);
            }
        }
        UsersCmd::List => {
            let users = engine.store().list_users(t).map_err(st)?;
            if ctx.json {
                ctx.print_json(&users)?;
                return Ok(ExitCode::SUCCESS);
            }
            outln!("{:<20} {:<7} {:<30}  CREATED (UTC)", "ID", "ROLE", "GROUPS");
            for u in &users {
                outln!(
                    "{:<20} {:<7} {:<30}  {}",
                    u.id,
                    u.role,
                    u.groups.join(","),
                    time(u.created_at)
                );
            }
        }
        UsersCmd::Export { id, out } => {
            let export = engine.export_user(t, &id, "operator").map_err(eng)?;
            let text = serde_json::to_string_pretty(&export)?;
            match out {
                Some(p) => {
                    std::fs::write(&p, text)?;
                    eprintln!("wrote {}", p.display());
                }
                None => outln!("{text}"),
            }
        }
        UsersCmd::Erase { id, yes } => {
            if !yes {
                return Err(fail(
                    ErrorCode::InvalidInput,
                    format!("erasing `{id}` deletes all their data for good; pass --yes"),
                ));
            }
            let r = engine.erase_user(t, &id, "operator").map_err(eng)?;
            if ctx.json {
                ctx.print_json(&r)?;
            } else {
                outln!(
                    "erased `{id}`: {} user row, {} keys, {} conversations ({} messages), {} answers, {} feedback, {} documents ({} chunks)",
                    r.users,
                    r.api_keys,
                    r.conversations,
                    r.messages,
                    r.answers,
                    r.feedback,
                    r.documents,
                    r.chunks
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
