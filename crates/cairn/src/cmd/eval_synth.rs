//! `cairn eval synth -c COLLECTION -n N`: a synthetic dev set written by the configured
//! generator from sampled chunks, each question kept only if it finds its own page in
//! the top five and is not a near-duplicate (JSON lines on stdout or `--out`).

use super::Context;
use super::eval::{bad, progress};
use cairn_types::CollectionId;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Collection to write questions about.
    #[arg(long, short)]
    pub collection: String,
    /// How many questions to keep (at most three passages are tried per question).
    #[arg(long, short = 'n', default_value_t = 50)]
    pub count: usize,
    /// Which passages are sampled.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The model that writes the questions (default: the generator role).
    #[arg(long)]
    pub model: Option<String>,
    /// Write the dev set here instead of stdout.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
}

pub fn run(ctx: &Context, a: Args) -> anyhow::Result<ExitCode> {
    let engine = ctx.engine()?;
    let collection = CollectionId::new(a.collection.clone());
    engine
        .sync_index(&ctx.tenant, &collection)
        .map_err(super::eng)?;
    let bar = progress(ctx, (a.count.saturating_mul(3)) as u64);
    let set = engine
        .synth_questions(
            &ctx.tenant,
            &collection,
            a.count,
            a.seed,
            a.model.as_deref(),
            &mut |tried, kept| {
                bar.set_position(tried as u64);
                bar.set_message(format!("{kept} kept"));
            },
        )
        .map_err(super::eng)?;
    bar.finish_and_clear();
    let mut text = String::new();
    for q in &set.questions {
        text.push_str(&serde_json::to_string(q)?);
        text.push('\n');
    }
    let r = &set.report;
    let summary = format!(
        "{} questions kept of {} passages tried ({} did not find their page in the top 5, \
         {} near-duplicates, {} unusable replies)",
        r.kept, r.attempted, r.not_retrieved, r.near_duplicate, r.unusable
    );
    if let Some(path) = &a.out {
        std::fs::write(path, &text).map_err(|e| bad(format!("{}: {e}", path.display())))?;
    }
    if ctx.json {
        ctx.print_json(&serde_json::json!({"report": r, "out": a.out,
            "questions": set.questions}))?;
    } else {
        if a.out.is_none() {
            outln!("{}", text.trim_end());
        }
        eprintln!("{summary}");
    }
    Ok(ExitCode::SUCCESS)
}
