//! Plan-and-execute: the model writes a plan of a few steps first; each step is then
//! worked like a small ReAct run of its own (its own phase of the journal, a share of
//! the turns) whose final answer is the step's result; a step that runs out of turns
//! makes the model re-plan what remains (at most twice); a last turn answers the task
//! from the step results. The plan, each revision and each result are journaled, so a
//! resumed run picks up at the step it was on.

use crate::Result;
use crate::budget::Limit;
use crate::event::AgentEvent;
use crate::exec::{Exec, PhaseEnd};
use crate::protocol::{self, Flavor};
use cairn_models::{ChatMessage, GenerateRequest, OutputConstraint};
use serde_json::{Value, json};

/// Re-plans allowed after the first plan.
const MAX_REPLANS: usize = 2;

/// The latest plan in the journal: its revision and steps.
fn latest_plan(ex: &Exec<'_>) -> Option<(usize, Vec<String>)> {
    ex.steps.iter().rev().find(|s| s.kind == "plan").map(|s| {
        let rev = s.payload["revision"].as_u64().unwrap_or(0) as usize;
        let steps = s.payload["steps"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        (rev, steps)
    })
}

/// Results of revision `rev`'s steps, in order.
fn results(ex: &Exec<'_>, rev: usize) -> Vec<String> {
    let prefix = format!("plan{rev}:");
    ex.steps
        .iter()
        .filter(|s| {
            s.kind == "step_done"
                && s.payload["phase"]
                    .as_str()
                    .is_some_and(|p| p.starts_with(&prefix))
        })
        .map(|s| s.payload["result"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// Results of every earlier revision (what a re-plan starts from).
fn all_results(ex: &Exec<'_>) -> Vec<String> {
    ex.steps
        .iter()
        .filter(|s| s.kind == "step_done")
        .map(|s| s.payload["result"].as_str().unwrap_or("").to_owned())
        .collect()
}

fn numbered(items: &[String]) -> String {
    items
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{}. {s}", i + 1))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs the strategy to its end.
pub(crate) fn drive(ex: &mut Exec<'_>) -> Result<PhaseEnd> {
    loop {
        let Some((rev, steps)) = latest_plan(ex) else {
            if let Some(end) = make_plan(ex, 0, None)? {
                return Ok(end);
            }
            continue;
        };
        let done = results(ex, rev);
        let task = ex.task_text();
        if done.len() >= steps.len() {
            let phase = format!("plan{rev}:synthesis");
            let prompt = format!(
                "Task: {task}\n\nResults of the plan's steps:\n{}\n\nGive the final answer to the \
                 task from these results (call a tool only if something is missing).",
                numbered(&all_results(ex))
            );
            return match ex.react(&phase, &prompt, Some(2))? {
                PhaseEnd::Exhausted => Ok(PhaseEnd::Final(numbered(&all_results(ex)))),
                other => Ok(other),
            };
        }
        let i = done.len();
        let phase = format!("plan{rev}:step{}", i + 1);
        let prompt = format!(
            "Task: {task}\n\nPlan:\n{}\n\nResults so far:\n{}\n\nNow do step {}: {}\nWhen this step \
             is done, give its result (the facts and figures found) as your final answer.",
            numbered(&steps),
            if done.is_empty() {
                "(none yet)".into()
            } else {
                numbered(&done)
            },
            i + 1,
            steps[i]
        );
        let cap = (ex.ctx.spec.max_steps / (steps.len() + 1)).max(2);
        match ex.react(&phase, &prompt, Some(cap))? {
            PhaseEnd::Final(result) => {
                ex.append(
                    "step_done",
                    "done",
                    json!({"phase": phase, "index": i, "result": result}),
                )?;
                ex.save_progress()?;
            }
            PhaseEnd::Exhausted if rev < MAX_REPLANS => {
                let why = format!(
                    "step {} ({}) found no result in {cap} turns",
                    i + 1,
                    steps[i]
                );
                if let Some(end) = make_plan(ex, rev + 1, Some(&why))? {
                    return Ok(end);
                }
            }
            PhaseEnd::Exhausted => return Ok(PhaseEnd::Limit(Limit::Steps)),
            other => return Ok(other),
        }
    }
}

/// Asks for a plan (revision `rev`; `failure` says why the last one failed) and journals
/// it. `Some` when a limit ends the run first.
fn make_plan(ex: &mut Exec<'_>, rev: usize, failure: Option<&str>) -> Result<Option<PhaseEnd>> {
    if let Some(limit) = ex.budget.before_turn() {
        return Ok(Some(PhaseEnd::Limit(limit)));
    }
    let tools: Vec<String> = ex
        .tool_specs()
        .iter()
        .map(|t| format!("- {}: {}", t.name, t.description))
        .collect();
    let format = if ex.flavor == Flavor::ReactText {
        "Reply with a numbered list of steps, one per line."
    } else {
        "Reply with JSON: {\"steps\": [\"...\", \"...\"]}."
    };
    let mut system = String::new();
    if !ex.ctx.spec.instructions.trim().is_empty() {
        system.push_str(ex.ctx.spec.instructions.trim());
        system.push_str("\n\n");
    }
    system.push_str(&format!(
        "Plan how to do the user's task: at most 6 short steps, each one or two tool calls \
         with these tools:\n{}\nThe last step computes or states the answer. {format}",
        tools.join("\n")
    ));
    let mut user = ex.task_text();
    if let Some(why) = failure {
        let so_far = all_results(ex);
        user = format!(
            "{user}\n\nThe previous plan failed: {why}.\nResults so far:\n{}\nWrite a new plan for what remains.",
            if so_far.is_empty() {
                "(none)".into()
            } else {
                numbered(&so_far)
            }
        );
    }
    let mut req = GenerateRequest::chat(vec![ChatMessage::system(system), ChatMessage::user(user)]);
    req.sampling.temperature = ex.ctx.spec.temperature;
    req.sampling.max_tokens = Some(ex.budget.turn_tokens());
    req.sampling.seed = Some(7);
    if ex.flavor != Flavor::ReactText {
        req.constraint = Some(OutputConstraint::JsonSchema(protocol::plan_schema()));
    }
    let completion = ex.generate("plan", req)?;
    let (steps, note) = match protocol::parse_plan(&completion.text) {
        Ok(steps) => (steps, None),
        // A plan that cannot be read is the task itself as one step.
        Err(e) => (vec![ex.run.task.clone()], Some(e.message)),
    };
    (ex.sink)(AgentEvent::Plan {
        revision: rev,
        steps: steps.clone(),
    });
    ex.append(
        "model",
        "done",
        json!({"phase": "plan", "text": completion.text, "unreadable_plan": note,
               "prompt_tokens": completion.finish.usage.prompt_tokens,
               "completion_tokens": completion.finish.usage.completion_tokens}),
    )?;
    ex.append(
        "plan",
        "done",
        json!({"phase": "plan", "revision": rev, "steps": steps, "reason": failure}),
    )?;
    ex.save_progress()?;
    Ok(None)
}
