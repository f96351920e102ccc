//! `cairn config check`

use super::Context;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum ConfigCmd {
    /// Validate the configuration and print the effective values.
    Check,
}

pub fn run(ctx: &Context, c: ConfigCmd) -> anyhow::Result<ExitCode> {
    match c {
        ConfigCmd::Check => {
            let l = &ctx.loaded;
            if ctx.json {
                let v = serde_json::json!({
                    "file": l.file, "env_overrides": l.env_overrides, "config": l.config,
                });
                return ctx.print_json(&v).map(|()| ExitCode::SUCCESS);
            }
            let file = l.file.as_ref().map_or_else(
                || "none (built-in defaults)".to_owned(),
                |p| p.display().to_string(),
            );
            outln!("# config file: {file}");
            if !l.env_overrides.is_empty() {
                outln!("# environment overrides: {}", l.env_overrides.join(", "));
            }
            outln!("# configuration is valid; effective values:");
            let v = serde_json::to_value(&l.config)?;
            print_flat("", &v);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_flat(prefix: &str, v: &serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                print_flat(&key, v);
            }
        }
        other => outln!("{prefix} = {other}"),
    }
}
