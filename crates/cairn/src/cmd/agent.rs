//! `cairn agent run|list|show|approve|deny|cancel`: agents from the command line, as the
//! local operator. A run streams its steps to stderr and its answer to stdout; a run
//! that needs approval stops, printing how to approve it (`cairn agent approve RUN`
//! approves and drives it on).

use super::{Context, eng, time};
use cairn_agent::{AgentEvent, Caller, Runtime, StartRequest};
use cairn_store::{AgentRun, RunState};
use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(clap::Subcommand)]
pub enum AgentCmd {
    /// Run an agent on a task.
    Run {
        /// The agent (`[[agents]]` or saved through the API).
        name: String,
        /// What to do.
        task: String,
    },
    /// The tenant's agents, or its runs with `--runs`.
    List {
        #[arg(long)]
        runs: bool,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// A run and its trajectory.
    Show { run: String },
    /// Approve the call a run waits on, and drive it on.
    Approve { run: String },
    /// Deny the call a run waits on, and drive it on.
    Deny { run: String },
    /// Cancel a run.
    Cancel { run: String },
}

fn show_event(e: &AgentEvent) {
    let mut err = std::io::stderr().lock();
    let _ = match e {
        AgentEvent::RunStarted { run_id, agent } => writeln!(err, "run {run_id} ({agent})"),
        AgentEvent::StepStarted { step, phase } => writeln!(err, "step {step} [{phase}]"),
        AgentEvent::Plan { revision, steps } => writeln!(
            err,
            "  plan (revision {revision}):\n    {}",
            steps.join("\n    ")
        ),
        AgentEvent::ToolCall {
            name, arguments, ..
        } => writeln!(err, "  → {name} {arguments}"),
        AgentEvent::ToolResult { output, error, .. } => {
            let first: String = output
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(160)
                .collect();
            writeln!(err, "  {} {first}", if *error { "✗" } else { "←" })
        }
        AgentEvent::ApprovalNeeded {
            name, arguments, ..
        } => writeln!(err, "  ⏸ {name} {arguments} needs approval"),
        AgentEvent::Delta { .. } | AgentEvent::Final { .. } => Ok(()),
    };
}

fn report(ctx: &Context, run: &AgentRun) -> anyhow::Result<ExitCode> {
    if ctx.json {
        ctx.print_json(run)?;
    } else {
        match run.state {
            RunState::Succeeded => outln!("{}", run.output.as_deref().unwrap_or("")),
            RunState::WaitingApproval => {
                outln!(
                    "run {} waits for approval: cairn agent approve {} (or deny {})",
                    run.id,
                    run.id,
                    run.id
                );
            }
            other => {
                outln!(
                    "run {} ended {}: {}",
                    run.id,
                    other.as_str(),
                    run.reason.as_deref().unwrap_or("")
                );
                if let Some(o) = &run.output {
                    outln!("{o}");
                }
            }
        }
        eprintln!("usage: {}", run.usage);
    }
    Ok(match run.state {
        RunState::Succeeded | RunState::WaitingApproval => ExitCode::SUCCESS,
        _ => ExitCode::from(2),
    })
}

pub fn run(ctx: &Context, c: AgentCmd) -> anyhow::Result<ExitCode> {
    let engine = Arc::new(ctx.engine()?);
    engine.ensure_tenant(&ctx.tenant).map_err(eng)?;
    let rt = Runtime::new(engine.clone());
    let me = Caller::operator(ctx.tenant.clone());
    let mut events = |e: AgentEvent| {
        if !ctx.json {
            show_event(&e);
        }
    };
    match c {
        AgentCmd::Run { name, task } => {
            let req = StartRequest {
                agent: name,
                task,
                caller: me,
                history: Vec::new(),
            };
            let run = rt.start(req, &mut events).map_err(eng)?;
            report(ctx, &run)
        }
        AgentCmd::List { runs: false, .. } => {
            let agents = cairn_agent::registry::list(&engine, &ctx.tenant).map_err(eng)?;
            if ctx.json {
                ctx.print_json(&agents)?;
            } else {
                for a in agents {
                    outln!(
                        "{:<20} {:<6} {:<13} tools: {}  {}",
                        a.spec.name,
                        a.source,
                        a.spec.strategy,
                        a.spec.tools.join(", "),
                        a.spec.description
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AgentCmd::List { runs: true, limit } => {
            let runs = rt.list(&me, limit).map_err(eng)?;
            if ctx.json {
                ctx.print_json(&runs)?;
            } else {
                for r in runs {
                    outln!(
                        "{}  {}  {:<16} {:<12} {}",
                        r.id,
                        time(r.created_at),
                        r.state.as_str(),
                        r.agent,
                        r.task.chars().take(60).collect::<String>()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AgentCmd::Show { run } => {
            let (run, steps) = rt.get(&me, &run).map_err(eng)?;
            if ctx.json {
                ctx.print_json(&serde_json::json!({"run": run, "steps": steps}))?;
                return Ok(ExitCode::SUCCESS);
            }
            outln!(
                "run {} ({}) {}: {}",
                run.id,
                run.agent,
                run.state.as_str(),
                run.task
            );
            for s in &steps {
                outln!("{:>3} {:<9} {:<16} {}", s.seq, s.kind, s.status, s.payload);
            }
            report(ctx, &run)
        }
        AgentCmd::Approve { run } => decide_and_drive(ctx, &rt, &me, &run, true, &mut events),
        AgentCmd::Deny { run } => decide_and_drive(ctx, &rt, &me, &run, false, &mut events),
        AgentCmd::Cancel { run } => {
            let run = rt.cancel(&me, &run).map_err(eng)?;
            report(ctx, &run)
        }
    }
}

fn decide_and_drive(
    ctx: &Context,
    rt: &Runtime,
    me: &Caller,
    id: &str,
    approve: bool,
    events: &mut dyn FnMut(AgentEvent),
) -> anyhow::Result<ExitCode> {
    rt.decide(me, id, approve).map_err(eng)?;
    let held = rt.claim(me, id).map_err(eng)?;
    let run = rt.drive(held, events).map_err(eng)?;
    report(ctx, &run)
}
