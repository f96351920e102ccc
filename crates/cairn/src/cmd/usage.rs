//! `cairn usage`: the tenant's requests, errors, tokens, cost and p50/p95 latency by
//! day, model and route (what `GET /api/v1/tenant/usage` reports). Usage the server
//! still holds in memory (at most a tenth of a second) is not in it yet.

use super::{Context, eng};
use serde_json::Value;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Days back, today included.
    #[arg(long, default_value_t = 31)]
    days: u32,
}

fn ms(v: &Value) -> String {
    v.as_f64().map_or("-".into(), |m| format!("{m:.0}"))
}

fn table(title: &str, key: &str, rows: &Value) {
    outln!("{title}");
    outln!(
        "  {:<34} {:>9} {:>7} {:>10} {:>10} {:>10} {:>8} {:>8}",
        key,
        "requests",
        "errors",
        "tokens in",
        "tokens out",
        "cost $",
        "p50 ms",
        "p95 ms"
    );
    for r in rows.as_array().into_iter().flatten() {
        outln!(
            "  {:<34} {:>9} {:>7} {:>10} {:>10} {:>10.4} {:>8} {:>8}",
            r[key].as_str().unwrap_or("-"),
            r["requests"],
            r["errors"],
            r["input_tokens"],
            r["output_tokens"],
            r["cost_usd"].as_f64().unwrap_or(0.0),
            ms(&r["p50_ms"]),
            ms(&r["p95_ms"])
        );
    }
}

pub fn run(ctx: &Context, a: Args) -> anyhow::Result<ExitCode> {
    if !(1..=400).contains(&a.days) {
        anyhow::bail!("[invalid_input] --days must be 1 to 400");
    }
    let engine = ctx.engine()?;
    let report = cairn_server::usage_report::report(
        engine.store(),
        &ctx.tenant,
        a.days,
        cairn_server::gate::now_ms(),
    )
    .map_err(|e| eng(e.into()))?;
    if ctx.json {
        ctx.print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "tenant `{}` since {}: today {} requests, ${:.4}; this month {} requests, ${:.4}",
        ctx.tenant,
        report["since"].as_str().unwrap_or("-"),
        report["day"]["requests"],
        report["day"]["cost_usd"].as_f64().unwrap_or(0.0),
        report["month"]["requests"],
        report["month"]["cost_usd"].as_f64().unwrap_or(0.0)
    );
    table("by day", "day", &report["requests"]["by_day"]);
    table("by model", "model", &report["requests"]["by_model"]);
    table("by route", "route", &report["requests"]["by_route"]);
    Ok(ExitCode::SUCCESS)
}
