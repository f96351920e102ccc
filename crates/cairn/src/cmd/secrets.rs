//! `cairn secrets init-key|set|list|rm|rotate-key`: secrets sealed at rest with
//! AES-256-GCM under the master key (`CAIRN_MASTER_KEY` or `auth.master_key_file`);
//! `rotate-key` re-seals every tenant's secrets under a new one
//! (`cairn_engine::security::RotateKey`).

use super::{Context, eng, fail, st, time};
use cairn_auth::SecretBox;
use cairn_engine::security::{AuditEvent, RotateKey, RotationReport};
use cairn_types::ErrorCode;
use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum SecretsCmd {
    /// Write a new random master key (mode 0600); default `<data_dir>/master.key`.
    InitKey {
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Seal and store a secret; the value is read from stdin unless --value is given.
    Set {
        name: String,
        #[arg(long)]
        value: Option<String>,
    },
    /// List secret names (values are never shown).
    List,
    /// Delete a secret.
    Rm { name: String },
    /// Re-seal every secret of every tenant under a new master key (one transaction),
    /// then install the key, keeping the previous one as `<key file>.old`. Run again to
    /// finish a rotation that was interrupted.
    RotateKey {
        /// The new key (32 bytes as base64 or hex) instead of a random one; with the key
        /// in CAIRN_MASTER_KEY, the key to re-seal under.
        #[arg(long, value_name = "PATH")]
        new_key_file: Option<PathBuf>,
        /// A key secrets may still be sealed under besides the configured one
        /// (repeatable; CAIRN_MASTER_KEY_OLD is read too).
        #[arg(long, value_name = "PATH")]
        old_key_file: Vec<PathBuf>,
        /// Keep the previous key here instead of `<key file>.old`.
        #[arg(long, value_name = "PATH")]
        keep_old: Option<PathBuf>,
    },
}

pub fn run(ctx: &Context, c: SecretsCmd) -> anyhow::Result<ExitCode> {
    if let SecretsCmd::InitKey { out } = &c {
        let path = out
            .clone()
            .unwrap_or_else(|| ctx.loaded.config.data_dir.join("master.key"));
        if path.exists() {
            return Err(fail(
                ErrorCode::Conflict,
                format!(
                    "{} exists; a new key would make every sealed secret unreadable",
                    path.display()
                ),
            ));
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        write_private(&path, &SecretBox::generate_key_text())?;
        outln!("{}", path.display());
        return Ok(ExitCode::SUCCESS);
    }
    let engine = ctx.engine()?;
    let t = &ctx.tenant;
    match c {
        SecretsCmd::InitKey { .. } => {}
        SecretsCmd::Set { name, value } => {
            let value = match value {
                Some(v) => v,
                None => {
                    let mut s = String::new();
                    std::io::stdin().read_to_string(&mut s)?;
                    s.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            engine.put_secret(t, &name, &value).map_err(eng)?;
            engine.audit_or_log(AuditEvent {
                tenant: t,
                actor: "operator",
                action: "secrets.put",
                target: &name,
                outcome: "ok",
                detail: serde_json::json!({}),
            });
            outln!("sealed `{name}`");
        }
        SecretsCmd::List => {
            for (name, key_id, at) in engine.store().list_secrets(t).map_err(st)? {
                outln!("{name:<32} key {key_id}  {}", time(at));
            }
        }
        SecretsCmd::Rm { name } => {
            engine.store().delete_secret(t, &name).map_err(st)?;
            engine.audit_or_log(AuditEvent {
                tenant: t,
                actor: "operator",
                action: "secrets.delete",
                target: &name,
                outcome: "ok",
                detail: serde_json::json!({}),
            });
            outln!("deleted `{name}`");
        }
        SecretsCmd::RotateKey {
            new_key_file,
            old_key_file,
            keep_old,
        } => {
            let report = engine
                .rotate_master_key(&RotateKey {
                    new_key_file: new_key_file.clone(),
                    old_key_files: old_key_file,
                    keep_old,
                    operator_tenant: t.clone(),
                })
                .map_err(eng)?;
            if ctx.json {
                ctx.print_json(&report)?;
            } else {
                print_rotation(&report, new_key_file.as_deref());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What the rotation did and what is left to the operator.
fn print_rotation(r: &RotationReport, new_key_file: Option<&std::path::Path>) {
    let before: Vec<String> = r
        .by_previous_key
        .iter()
        .map(|(k, n)| format!("{n} under {k}"))
        .collect();
    outln!(
        "re-sealed {} secrets of {} tenants under master key {} (before: {}){}",
        r.resealed,
        r.tenants.len(),
        r.new_key_id,
        if before.is_empty() {
            "none".to_owned()
        } else {
            before.join(", ")
        },
        if r.resumed {
            "; finished an interrupted rotation"
        } else {
            ""
        }
    );
    match (&r.key_file, &r.old_key_kept) {
        (Some(key), Some(old)) => {
            outln!("installed the new key at {}", key.display());
            outln!(
                "kept the previous key {} at {}: delete it once every node has the new key \
                 (docs/security.md, \"Rotating the master key\")",
                r.old_key_id,
                old.display()
            );
        }
        _ if new_key_file.is_some() => {
            outln!(
                "the master key comes from CAIRN_MASTER_KEY: set it to the key in {} on every \
                 node and restart them; until then they cannot open the secrets",
                new_key_file
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            );
        }
        _ => {
            outln!(
                "every secret is under CAIRN_MASTER_KEY's key; remove CAIRN_MASTER_KEY_OLD \
                 from every node"
            );
        }
    }
}

fn write_private(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")?;
    Ok(())
}
