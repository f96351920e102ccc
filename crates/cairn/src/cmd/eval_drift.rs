//! `cairn eval drift -c COLLECTION [--weeks 8]`: week by week, how far the questions
//! asked of a collection and the scores of their best sources moved from the first week
//! (population stability index; above 0.2 is flagged and logged).

use super::Context;
use cairn_engine::eval::drift::PSI_ALERT;
use cairn_types::CollectionId;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Collection whose questions are compared.
    #[arg(long, short)]
    pub collection: String,
    /// Weeks back from now (the first one with questions is the reference).
    #[arg(long, default_value_t = 8)]
    pub weeks: usize,
}

pub fn run(ctx: &Context, a: Args) -> anyhow::Result<ExitCode> {
    let engine = ctx.engine()?;
    let report = engine
        .drift(
            &ctx.tenant,
            &CollectionId::new(a.collection.clone()),
            a.weeks,
            cairn_types::now_ms(),
        )
        .map_err(super::eng)?;
    if ctx.json {
        ctx.print_json(&serde_json::to_value(&report)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if report.weeks.is_empty() {
        outln!(
            "no questions asked of `{}` in the last {} weeks",
            a.collection,
            a.weeks
        );
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "{:<12} {:>9} {:>9} {:>9} {:>10}  (PSI against the first week; {} query clusters)",
        "week of",
        "questions",
        "query PSI",
        "score PSI",
        "mean score",
        report.clusters
    );
    for w in &report.weeks {
        let (y, m, d) = cairn_types::civil_from_ms(w.week_start);
        outln!(
            "{y:04}-{m:02}-{d:02}   {:>9} {:>9.3} {:>9.3} {:>10.3}  {}",
            w.questions,
            w.query_psi,
            w.score_psi,
            w.mean_score,
            if w.drifted {
                format!("drift (PSI > {PSI_ALERT})")
            } else {
                String::new()
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}
