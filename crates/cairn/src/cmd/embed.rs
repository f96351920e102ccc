//! `cairn embed "text"…`: prints embedding vectors.

use super::Context;
use cairn_models::{BertEmbedder, Embedder, EmbedderOptions};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Texts to embed.
    #[arg(required = true)]
    pub texts: Vec<String>,
    /// Model: a name under the model cache or a path (default: `models.embedder`).
    #[arg(long)]
    pub model: Option<String>,
}

pub fn run(ctx: &Context, a: Args) -> anyhow::Result<ExitCode> {
    let embedder = load_embedder(ctx, a.model.as_deref())?;
    let texts: Vec<&str> = a.texts.iter().map(String::as_str).collect();
    let out = embedder
        .embed(&texts)
        .map_err(|e| super::fail(e.code(), e))?;
    if ctx.json {
        let items: Vec<_> = texts
            .iter()
            .zip(out.vectors.iter().zip(&out.truncation))
            .map(|(text, (vector, t))| {
                serde_json::json!({"text": text, "tokens": t.kept_tokens, "truncated": t.truncated(), "embedding": vector})
            })
            .collect();
        ctx.print_json(&serde_json::json!({"model": embedder.model_id(), "dim": embedder.dim(), "data": items}))?;
        return Ok(ExitCode::SUCCESS);
    }
    for (text, (vector, t)) in texts.iter().zip(out.vectors.iter().zip(&out.truncation)) {
        let cut = if t.truncated() {
            format!(", truncated from {} tokens", t.input_tokens)
        } else {
            String::new()
        };
        eprintln!("# {:?}: {} tokens{cut}", text, t.kept_tokens);
        outln!("{}", serde_json::to_string(vector)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// Loads the embedder named by `model` (default: the config's).
pub fn load_embedder(ctx: &Context, model: Option<&str>) -> anyhow::Result<BertEmbedder> {
    let config = &ctx.loaded.config;
    let dir = model.map_or_else(|| config.embedder_dir(), |m| config.model_path(m));
    BertEmbedder::load(&dir, &EmbedderOptions::default()).map_err(|e| super::fail(e.code(), e))
}
