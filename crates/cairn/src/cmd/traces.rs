//! `cairn traces list|show`: request traces from the trace store
//! (`[telemetry] store_traces`), the tenant's only.

use super::{Context, time};
use cairn_telemetry::{TraceQuery, TraceStore};
use serde_json::Value;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum TracesCmd {
    /// The tenant's latest traces, newest first.
    List {
        /// Only this route template (e.g. `/api/v1/ask`).
        #[arg(long)]
        route: Option<String>,
        /// Only this HTTP status.
        #[arg(long)]
        status: Option<i64>,
        /// Only this model.
        #[arg(long)]
        model: Option<String>,
        /// Only this caller (`user:<id>`, `key:<id>`).
        #[arg(long)]
        user: Option<String>,
        /// Only requests at least this slow (ms).
        #[arg(long)]
        min_ms: Option<f64>,
        /// Only failed requests.
        #[arg(long)]
        errors: bool,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// One trace's span tree (by trace id or request id).
    Show { id: String },
}

fn open(ctx: &Context) -> anyhow::Result<TraceStore> {
    let config = &ctx.loaded.config;
    if !config.telemetry.store_traces {
        anyhow::bail!("traces are not stored (telemetry.store_traces = false)");
    }
    TraceStore::open(&config.traces_path).map_err(|e| anyhow::anyhow!("{e}"))
}

pub fn run(ctx: &Context, c: TracesCmd) -> anyhow::Result<ExitCode> {
    let store = open(ctx)?;
    match c {
        TracesCmd::List {
            route,
            status,
            model,
            user,
            min_ms,
            errors,
            limit,
        } => {
            let rows = store
                .list(&TraceQuery {
                    tenant: ctx.tenant.as_str().to_owned(),
                    route,
                    status,
                    model,
                    user,
                    min_ms,
                    error: errors.then_some(true),
                    limit,
                    ..TraceQuery::default()
                })
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if ctx.json {
                ctx.print_json(&rows)?;
                return Ok(ExitCode::SUCCESS);
            }
            for r in rows {
                outln!(
                    "{}  {}  {:>4} {:>9.1} ms  {:<28} {:<16} {:<14} {}",
                    r.trace_id,
                    time(r.started_ms),
                    r.status.map_or("-".into(), |s| s.to_string()),
                    r.duration_ms,
                    r.name,
                    r.user.as_deref().unwrap_or("-"),
                    r.model.as_deref().unwrap_or("-"),
                    r.kept
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        TracesCmd::Show { id } => {
            let trace_id = cairn_telemetry::parse_trace_id(&id)
                .unwrap_or_else(|| cairn_telemetry::context::trace_id_of(&id));
            let Some(t) = store
                .get(ctx.tenant.as_str(), trace_id)
                .map_err(|e| anyhow::anyhow!("{e}"))?
            else {
                anyhow::bail!(
                    "[not_found] trace `{id}` not found in tenant `{}`",
                    ctx.tenant
                );
            };
            if ctx.json {
                ctx.print_json(&t)?;
                return Ok(ExitCode::SUCCESS);
            }
            outln!(
                "trace {}  {}  {:.1} ms  kept: {}",
                t.summary.trace_id,
                t.started_at,
                t.summary.duration_ms,
                t.summary.kept
            );
            for s in &t.spans {
                print_span(s, 0);
            }
            for s in &t.scores {
                outln!("score {} = {} ({})", s.name, s.value, s.source);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_span(s: &Value, depth: usize) {
    let attrs = s["attributes"]
        .as_object()
        .map(|a| {
            a.iter()
                .filter(|(k, _)| {
                    !k.starts_with("retrieval.documents.") && !k.starts_with("reranker.")
                })
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    outln!(
        "{:indent$}{} +{:.1} ms {:.1} ms{} {}",
        "",
        s["name"].as_str().unwrap_or("?"),
        s["offset_ms"].as_f64().unwrap_or(0.0),
        s["duration_ms"].as_f64().unwrap_or(0.0),
        if s["status"] == "error" { " ERROR" } else { "" },
        attrs,
        indent = depth * 2
    );
    for c in s["children"].as_array().into_iter().flatten() {
        print_span(c, depth + 1);
    }
}
