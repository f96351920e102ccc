//! `cairn secrets init-key|set|list|rm`: secrets sealed at rest with AES-256-GCM under
//! the master key (`CAIRN_MASTER_KEY` or `auth.master_key_file`).

use super::{Context, eng, fail, st, time};
use cairn_auth::SecretBox;
use cairn_engine::security::AuditEvent;
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
    }
    Ok(ExitCode::SUCCESS)
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
