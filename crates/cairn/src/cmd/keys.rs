//! `cairn keys create|list|revoke|rotate`: API keys for `cairn serve`. The token is
//! printed once, at creation; only its argon2id hash is stored.

use super::{Context, eng, fail, st, time};
use cairn_auth::Role;
use cairn_engine::security::{AuditEvent, KeySpec, NewKey};
use cairn_types::ErrorCode;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum KeysCmd {
    /// Create a key and print its token (shown this once).
    Create {
        /// What the key is for.
        #[arg(long)]
        name: String,
        /// owner | admin | editor | member | viewer
        #[arg(long, default_value = "member")]
        role: String,
        /// The user the key acts as (its ACL identity); omit for a service key.
        #[arg(long)]
        user: Option<String>,
        /// Limit the key to these actions (repeat; e.g. search, ask).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        #[arg(long)]
        expires_in_days: Option<u32>,
        /// Requests per minute for this key (default: limits.key_rpm).
        #[arg(long)]
        rpm: Option<f64>,
        /// Model tokens per minute for this key (default: limits.key_tpm).
        #[arg(long)]
        tpm: Option<f64>,
    },
    /// List the tenant's keys.
    List,
    /// Revoke a key at once.
    Revoke { id: String },
    /// Replace a key by a new one with the same settings (prints the new token).
    Rotate { id: String },
}

fn parse_role(s: &str) -> anyhow::Result<Role> {
    Role::parse(s).ok_or_else(|| {
        fail(
            ErrorCode::InvalidInput,
            format!("unknown role `{s}` (owner, admin, editor, member, viewer)"),
        )
    })
}

fn show_new(ctx: &Context, k: &NewKey) -> anyhow::Result<()> {
    if ctx.json {
        return ctx.print_json(k);
    }
    outln!("{}", k.token);
    eprintln!(
        "key {} ({}, role {}) created; the token above is shown only once",
        k.key.id, k.key.name, k.key.role
    );
    Ok(())
}

pub fn run(ctx: &Context, c: KeysCmd) -> anyhow::Result<ExitCode> {
    let engine = ctx.engine()?;
    let t = &ctx.tenant;
    let audit = |action: &str, target: &str, detail: serde_json::Value| {
        engine.audit_or_log(AuditEvent {
            tenant: t,
            actor: "operator",
            action,
            target,
            outcome: "ok",
            detail,
        });
    };
    match c {
        KeysCmd::Create {
            name,
            role,
            user,
            scopes,
            expires_in_days,
            rpm,
            tpm,
        } => {
            let spec = KeySpec {
                name,
                role: Some(parse_role(&role)?),
                user,
                scopes,
                expires_at: expires_in_days
                    .map(|d| cairn_server::gate::now_ms() + i64::from(d) * 86_400_000),
                rpm,
                tpm,
            };
            let k = engine.create_key(t, &spec, None).map_err(eng)?;
            audit(
                "keys.create",
                &k.key.id,
                serde_json::json!({"role": k.key.role}),
            );
            show_new(ctx, &k)?;
        }
        KeysCmd::List => {
            let keys = engine.store().list_keys(t).map_err(st)?;
            if ctx.json {
                ctx.print_json(&keys)?;
                return Ok(ExitCode::SUCCESS);
            }
            outln!(
                "{:<16} {:<20} {:<7} {:<12} {:<8}  CREATED (UTC)",
                "ID",
                "NAME",
                "ROLE",
                "USER",
                "STATE"
            );
            let now = cairn_server::gate::now_ms();
            for k in &keys {
                let state = if k.revoked_at.is_some() {
                    "revoked"
                } else if !k.is_active(now) {
                    "expired"
                } else {
                    "active"
                };
                outln!(
                    "{:<16} {:<20} {:<7} {:<12} {:<8}  {}",
                    k.id,
                    k.name,
                    k.role,
                    k.user.as_deref().unwrap_or("-"),
                    state,
                    time(k.created_at)
                );
            }
        }
        KeysCmd::Revoke { id } => {
            let k = engine
                .store()
                .revoke_key(t, &id, cairn_server::gate::now_ms())
                .map_err(st)?;
            audit("keys.revoke", &id, serde_json::json!({}));
            if ctx.json {
                ctx.print_json(&k)?;
            } else {
                outln!("revoked {}", k.id);
            }
        }
        KeysCmd::Rotate { id } => {
            let k = engine.rotate_key(t, &id, None).map_err(eng)?;
            audit("keys.rotate", &id, serde_json::json!({"new": k.key.id}));
            show_new(ctx, &k)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
