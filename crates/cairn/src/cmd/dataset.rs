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

/// Milliseconds since the epoch, or `<n>s|m|h|d` before `now`.
fn since_ms(v: &str, now: i64) -> anyhow::Result<i64> {
    if let Ok(ms) = v.parse::<i64>() {
        return Ok(ms);
    }
    let at = v.char_indices().last().map_or(0, |(i, _)| i);
    let (n, unit) = v.split_at(at);
    let n: i64 = n
        .parse()
        .map_err(|_| bad(format!("--since `{v}`: milliseconds or an age like 7d")))?;
    let per = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad(format!("--since `{v}`: the unit is s, m, h or d"))),
    };
    Ok(now - n.saturating_mul(per))
}

pub fn run(ctx: &Context, cmd: DatasetCmd) -> anyhow::Result<ExitCode> {
    let DatasetCmd::Export(a) = cmd;
    let kind = DatasetKind::parse(&a.kind)
        .ok_or_else(|| bad(format!("--kind `{}`: sft, dpo or eval", a.kind)))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let since = a.since.as_deref().map_or(Ok(0), |v| since_ms(v, now))?;
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

#[cfg(test)]
mod tests {
    use super::since_ms;

    #[test]
    fn since_takes_epochs_and_ages() {
        assert_eq!(since_ms("1000", 5_000).unwrap(), 1_000);
        assert_eq!(since_ms("2d", 3 * 86_400_000).unwrap(), 86_400_000);
        assert!(since_ms("soon", 0).is_err());
        assert!(since_ms("5w", 0).is_err());
        assert!(since_ms("5é", 0).is_err() && since_ms("", 0).is_err());
    }
}
