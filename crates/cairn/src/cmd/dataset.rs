//! `cairn dataset export --kind sft|dpo|eval`: the answers people rated (and asked
//! again) as JSON lines: SFT chats, DPO preference pairs, or eval cases to review (see
//! `cairn_engine::eval::feedback`).

use super::Context;
use super::eval::bad;
use cairn_engine::eval::feedback::DatasetKind;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum DatasetCmd {
    /// Writes a dataset built from feedback as JSON lines.
    Export(ExportArgs),
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// `sft` (answers rated up, as chats), `dpo` (rated up against rated down or
    /// regenerated answers to the same question), `eval` (answers rated down, as dev-set
    /// cases to complete).
    #[arg(long)]
    pub kind: String,
    /// Only answers recorded since: milliseconds since the epoch, or an age such as
    /// `7d`, `12h` (default: all).
    #[arg(long)]
    pub since: Option<String>,
    /// Write here instead of stdout.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
}

pub fn run(ctx: &Context, cmd: DatasetCmd) -> anyhow::Result<ExitCode> {
    let DatasetCmd::Export(a) = cmd;
    let kind = DatasetKind::parse(&a.kind)
        .ok_or_else(|| bad(format!("--kind `{}`: sft, dpo or eval", a.kind)))?;
    let since = match a.since.as_deref() {
        Some(v) => cairn_types::time_bound(v, cairn_types::now_ms())
            .map_err(|m| bad(format!("--since {m}")))?,
        None => 0,
    };
    let engine = ctx.engine()?;
    let rows = engine
        .export_dataset(&ctx.tenant, kind, since)
        .map_err(super::eng)?;
    let mut text = String::new();
    for r in &rows {
        text.push_str(&serde_json::to_string(r)?);
        text.push('\n');
    }
    match &a.out {
        Some(path) => {
            std::fs::write(path, &text).map_err(|e| bad(format!("{}: {e}", path.display())))?;
            eprintln!("{} examples written to {}", rows.len(), path.display());
        }
        None => {
            let mut out = std::io::stdout().lock();
            if let Err(e) = out.write_all(text.as_bytes())
                && e.kind() != std::io::ErrorKind::BrokenPipe
            {
                return Err(e.into());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
