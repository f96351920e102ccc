//! One execution of a run: a state machine over its journal.
//!
//! Before every model turn the last journaled step of the current phase says what is
//! pending: a tool call waiting for approval (pause), approved (run it), `started` by an
//! executor that died (run it again if it is read-only; otherwise mark its outcome
//! unknown and never repeat it), or a model decision whose call was never journaled
//! (propose it). Only then is the model asked again. Everything the model sees is
//! rebuilt from the journal, so a resumed run continues where it stopped.

use crate::budget::{Budget, Limit};
use crate::caller::Caller;
use crate::event::AgentEvent;
use crate::models::ModelHandle;
use crate::protocol::{self, Decision, Flavor, Turn};
use crate::run::Runtime;
use crate::tools::{self, Tool, ToolCtx, ToolSpec};
use crate::{Error, Result};
use cairn_config::AgentSpec;
use cairn_engine::security::AuditEvent;
use cairn_models::{Completion, GenerateRequest, StreamEvent};
use cairn_store::{AgentRun, AgentStep, RunState};
use cairn_types::ErrorCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a lease lasts; a heartbeat renews it while the run executes.
pub(crate) const LEASE_MS: i64 = 60_000;
/// How deep agents may delegate to agents.
pub(crate) const MAX_DEPTH: usize = 3;

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// One earlier turn of the conversation a run continues.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryTurn {
    /// `user` or `assistant`.
    pub role: String,
    pub content: String,
}

/// What a run keeps to be resumed: the agent as it was, who it acts for, its
/// conversation, how deep in a delegation it is.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct RunContext {
    pub spec: AgentSpec,
    pub caller: Caller,
    #[serde(default)]
    pub history: Vec<HistoryTurn>,
    #[serde(default)]
    pub depth: usize,
}

/// How a phase ended.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum PhaseEnd {
    Final(String),
    Paused,
    Limit(Limit),
    /// The phase used its turns without a final answer (plan steps).
    Exhausted,
}

/// A run being executed.
pub(crate) struct Exec<'a> {
    pub rt: &'a Runtime,
    pub run: AgentRun,
    pub ctx: RunContext,
    pub budget: Arc<Budget>,
    pub model: ModelHandle,
    pub tools: Vec<Arc<dyn Tool>>,
    /// Tool name → agent name, for `agent:<name>` tools.
    pub delegates: Vec<(String, String, String)>,
    pub flavor: Flavor,
    pub steps: Vec<AgentStep>,
    pub sink: &'a mut dyn FnMut(AgentEvent),
    pub guard: Option<Arc<cairn_guard::Guard>>,
}

fn cancelled(run: &str) -> Error {
    Error::new(
        ErrorCode::Cancelled,
        format!("agent run `{run}` was cancelled or taken over"),
    )
}

impl Exec<'_> {
    fn phase_of(step: &AgentStep) -> &str {
        step.payload
            .get("phase")
            .and_then(Value::as_str)
            .unwrap_or("react")
    }

    /// The tools the model is offered.
    pub fn tool_specs(&self) -> Vec<ToolSpec> {
        let mut specs: Vec<ToolSpec> = self.tools.iter().map(|t| t.spec()).collect();
        for (tool, _, description) in &self.delegates {
            specs.push(ToolSpec {
                name: tool.clone(),
                description: description.clone(),
                parameters: json!({
                    "type": "object",
                    "properties": {"task": {"type": "string", "minLength": 1, "maxLength": 2000}},
                    "required": ["task"],
                    "additionalProperties": false
                }),
                side_effects: true,
            });
        }
        specs
    }

    // ---- the journal ----

    pub fn append(&mut self, kind: &str, status: &str, payload: Value) -> Result<i64> {
        let now = now_ms();
        let mut step = AgentStep {
            seq: 0,
            kind: kind.into(),
            status: status.into(),
            payload,
            created_at: now,
            updated_at: now,
        };
        step.seq =
            self.rt
                .engine()
                .store()
                .append_agent_step(&self.run.tenant, &self.run.id, &step)?;
        self.steps.push(step);
        Ok(self.steps.last().map_or(0, |s| s.seq))
    }

    fn update(&mut self, seq: i64, status: &str, payload: Value) -> Result<()> {
        let now = now_ms();
        self.rt.engine().store().update_agent_step(
            &self.run.tenant,
            &self.run.id,
            seq,
            status,
            &payload,
            now,
        )?;
        if let Some(s) = self.steps.iter_mut().find(|s| s.seq == seq) {
            s.status = status.into();
            s.payload = payload;
            s.updated_at = now;
        }
        Ok(())
    }

    fn step(&self, seq: i64) -> Option<&AgentStep> {
        self.steps.iter().find(|s| s.seq == seq)
    }

    /// Saves usage and renews the lease; `Cancelled` if the run is no longer ours.
    pub fn save_progress(&mut self) -> Result<()> {
        let now = now_ms();
        self.run.usage = json!(self.budget.usage());
        self.run.lease_until = now + LEASE_MS;
        self.run.updated_at = now;
        match self
            .rt
            .engine()
            .store()
            .save_agent_run(&self.run, self.rt.holder())
        {
            Ok(()) => Ok(()),
            Err(cairn_store::Error::Conflict(_)) => Err(cancelled(&self.run.id)),
            Err(e) => Err(e.into()),
        }
    }

    fn check_still_ours(&self) -> Result<()> {
        let now = self
            .rt
            .engine()
            .store()
            .get_agent_run(&self.run.tenant, &self.run.id)?;
        if now.state != RunState::Running || now.lease_owner.as_deref() != Some(self.rt.holder()) {
            return Err(cancelled(&self.run.id));
        }
        Ok(())
    }

    // ---- transcript ----

    /// The turns of `phase` as the model sees them again.
    pub fn turns(&self, phase: &str) -> Vec<Turn> {
        let mut out = Vec::new();
        let steps: Vec<&AgentStep> = self
            .steps
            .iter()
            .filter(|s| Self::phase_of(s) == phase)
            .collect();
        for (i, s) in steps.iter().enumerate() {
            if s.kind != "model" {
                continue;
            }
            if let Some(err) = s.payload.get("unreadable").and_then(Value::as_str) {
                out.push(Turn::Note {
                    reply: s.payload["text"].as_str().unwrap_or("").to_owned(),
                    note: format!(
                        "Your reply could not be read ({err}). Reply exactly in the format asked for."
                    ),
                });
                continue;
            }
            let Some(Decision::Call {
                thought,
                name,
                arguments,
            }) = Decision::from_json(&s.payload["decision"])
            else {
                continue;
            };
            let Some(tool) = steps.get(i + 1).filter(|t| t.kind == "tool") else {
                continue;
            };
            let Some(output) = tool.payload.get("output").and_then(Value::as_str) else {
                continue;
            };
            out.push(Turn::Call {
                call_id: format!("call_{}", tool.seq),
                thought,
                name,
                arguments,
                output: output.to_owned(),
            });
        }
        out
    }

    fn model_turns(&self, phase: Option<&str>) -> usize {
        self.steps
            .iter()
            .filter(|s| s.kind == "model" && phase.is_none_or(|p| Self::phase_of(s) == p))
            .count()
    }

    /// The task as the model is given it, with the conversation it continues.
    pub fn task_text(&self) -> String {
        if self.ctx.history.is_empty() {
            return self.run.task.clone();
        }
        let earlier: Vec<String> = self
            .ctx
            .history
            .iter()
            .map(|t| format!("{}: {}", t.role, t.content))
            .collect();
        format!(
            "Earlier in this conversation:\n{}\n\nNow: {}",
            earlier.join("\n"),
            self.run.task
        )
    }

    // ---- the loop ----

    /// Works on `task` in `phase` until a final answer, a pause or a limit; at most
    /// `cap` model turns in the phase when given.
    pub fn react(&mut self, phase: &str, task: &str, cap: Option<usize>) -> Result<PhaseEnd> {
        loop {
            if let Some(end) = self.resolve_pending(phase)? {
                return Ok(end);
            }
            self.check_still_ours()?;
            if let Some(limit) = self.budget.before_turn() {
                return Ok(PhaseEnd::Limit(limit));
            }
            if cap.is_some_and(|c| self.model_turns(Some(phase)) >= c) {
                return Ok(PhaseEnd::Exhausted);
            }
            self.decision_turn(phase, task)?;
        }
    }

    /// Settles what the phase's last step leaves pending; `Some` ends the phase.
    fn resolve_pending(&mut self, phase: &str) -> Result<Option<PhaseEnd>> {
        let Some(last) = self
            .steps
            .iter()
            .rev()
            .find(|s| Self::phase_of(s) == phase)
            .cloned()
        else {
            return Ok(None);
        };
        match (last.kind.as_str(), last.status.as_str()) {
            ("tool", "waiting_approval") => Ok(Some(PhaseEnd::Paused)),
            ("tool", "approved") => {
                self.execute(last.seq)?;
                self.resolve_pending(phase)
            }
            ("tool", "started") => {
                self.recover_started(last.seq)?;
                self.resolve_pending(phase)
            }
            ("tool", "denied") if last.payload.get("output").is_none() => {
                let by = last.payload["decided_by"]
                    .as_str()
                    .unwrap_or("a person")
                    .to_owned();
                let name = last.payload["name"].as_str().unwrap_or("").to_owned();
                let mut payload = last.payload.clone();
                let why = format!("{by} denied this call; it was not made. Do without it.");
                payload["output"] = json!(why);
                payload["error"] = json!(true);
                self.update(last.seq, "denied", payload)?;
                self.audit(
                    &name,
                    &last.payload["arguments"],
                    "denied",
                    json!({"by": by}),
                );
                (self.sink)(AgentEvent::ToolResult {
                    seq: last.seq,
                    name,
                    output: why,
                    error: true,
                });
                Ok(None)
            }
            ("model", _) => match Decision::from_json(&last.payload["decision"]) {
                Some(Decision::Final { answer, .. }) => Ok(Some(PhaseEnd::Final(answer))),
                Some(Decision::Call {
                    name, arguments, ..
                }) => self.propose(phase, &name, &arguments),
                None => Ok(None),
            },
            _ => Ok(None),
        }
    }

    /// Asks the model for its next move and journals it.
    fn decision_turn(&mut self, phase: &str, task: &str) -> Result<()> {
        let specs = self.tool_specs();
        let system = protocol::system_prompt(&self.ctx.spec, &specs, self.flavor);
        let messages = protocol::messages(&system, task, &self.turns(phase), self.flavor);
        let req = protocol::decision_request(
            messages,
            &specs,
            self.flavor,
            &self.ctx.spec,
            self.budget.turn_tokens(),
        );
        let completion = self.generate(phase, req)?;
        let mut payload = json!({"phase": phase, "model": completion.finish.model.clone().unwrap_or_else(|| self.model.name.clone()),
            "prompt_tokens": completion.finish.usage.prompt_tokens,
            "completion_tokens": completion.finish.usage.completion_tokens});
        match protocol::parse_decision(&completion, self.flavor) {
            Ok(d) => payload["decision"] = d.to_json(),
            Err(e) => {
                payload["unreadable"] = json!(e.message);
                payload["text"] = json!(tools::cap(&completion.text, 2_000));
            }
        }
        self.append("model", "done", payload)?;
        self.save_progress()
    }

    /// Runs one model turn, streaming its text as deltas, and charges it.
    pub fn generate(&mut self, phase: &str, req: GenerateRequest) -> Result<Completion> {
        let step = self.model_turns(None) + 1;
        (self.sink)(AgentEvent::StepStarted {
            step,
            phase: phase.to_owned(),
        });
        let mut text = String::new();
        let mut tokens = Vec::new();
        let mut finish = None;
        for event in self.model.generator.generate(req)? {
            match event? {
                StreamEvent::Token(delta) => {
                    if !delta.text.is_empty() {
                        (self.sink)(AgentEvent::Delta {
                            text: delta.text.clone(),
                        });
                    }
                    text.push_str(&delta.text);
                    tokens.push(delta);
                }
                StreamEvent::Done(f) => finish = Some(f),
            }
        }
        let finish = finish.ok_or_else(|| {
            Error::new(
                ErrorCode::ModelError,
                "the model's stream ended without finishing",
            )
        })?;
        let model = finish
            .model
            .clone()
            .unwrap_or_else(|| self.model.name.clone());
        let (p, c) = (finish.usage.prompt_tokens, finish.usage.completion_tokens);
        let cost = self.rt.models().cost(&self.ctx.caller, &model, p, c);
        self.budget.charge_turn(p, c, cost);
        Ok(Completion {
            text,
            tokens,
            finish,
        })
    }

    // ---- tool calls ----

    fn tool(&self, name: &str) -> Option<Arc<dyn Tool>> {
        self.tools.iter().find(|t| t.spec().name == name).cloned()
    }

    fn delegate(&self, name: &str) -> Option<String> {
        self.delegates
            .iter()
            .find(|(t, _, _)| t == name)
            .map(|(_, a, _)| a.clone())
    }

    /// The configuration's names for a tool, most specific first (`agent:<name>` for a
    /// delegate, `mcp:<server>.<tool>` then `mcp:<server>` for an MCP tool).
    fn configured_names(&self, name: &str) -> Vec<String> {
        match (self.delegate(name), self.tool(name)) {
            (Some(a), _) => vec![format!("agent:{a}")],
            (None, Some(t)) => t.configured_names(),
            (None, None) => vec![name.to_owned()],
        }
    }

    /// The least role for a tool: the first of its names with a `tool_roles` entry, else
    /// the default for its most specific name.
    fn least_role(&self, names: &[String]) -> cairn_auth::Role {
        let spec = &self.ctx.spec;
        let named = names
            .iter()
            .find(|n| spec.tool_roles.contains_key(*n))
            .or(names.first());
        named
            .and_then(|n| cairn_auth::Role::parse(spec.tool_role(n)))
            .unwrap_or(cairn_auth::Role::Owner)
    }

    /// Checks a proposed call and runs it, asks for approval, or refuses it (the model
    /// sees why).
    fn propose(&mut self, phase: &str, name: &str, arguments: &Value) -> Result<Option<PhaseEnd>> {
        let base = json!({"phase": phase, "name": name, "arguments": arguments});
        let specs = self.tool_specs();
        let Some(spec) = specs.iter().find(|s| s.name == name) else {
            let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
            self.reject(
                base,
                &format!("There is no tool `{name}`. Tools: {}.", names.join(", ")),
            )?;
            return Ok(None);
        };
        let configured = self.configured_names(name);
        let least = self.least_role(&configured);
        if !self.ctx.caller.has_role(least) {
            self.audit(name, arguments, "denied", json!({"reason": "role"}));
            self.reject(
                base,
                &format!(
                    "Your caller's role ({}) may not use `{name}` (it needs {}).",
                    self.ctx.caller.role.as_str(),
                    least.as_str()
                ),
            )?;
            return Ok(None);
        }
        if let Err(e) = tools::check_arguments(name, &spec.parameters, arguments) {
            self.reject(base, &e.message)?;
            return Ok(None);
        }
        let same = self
            .steps
            .iter()
            .filter(|s| {
                s.kind == "tool"
                    && s.payload["name"] == name
                    && s.payload["arguments"] == *arguments
            })
            .count();
        if same >= 2 {
            return Ok(Some(PhaseEnd::Limit(Limit::Loop)));
        }
        if same == 1 {
            self.reject(base, &format!(
                "You already called `{name}` with these arguments; its result is above. Use it, \
                 or try something different."
            ))?;
            return Ok(None);
        }
        if let Some(limit) = self.budget.before_tool_call() {
            return Ok(Some(PhaseEnd::Limit(limit)));
        }
        if configured
            .iter()
            .any(|c| self.ctx.spec.requires_approval.contains(c))
        {
            let seq = self.append("tool", "waiting_approval", base)?;
            (self.sink)(AgentEvent::ApprovalNeeded {
                run_id: self.run.id.clone(),
                seq,
                name: name.to_owned(),
                arguments: arguments.clone(),
            });
            return Ok(Some(PhaseEnd::Paused));
        }
        let seq = self.append("tool", "started", base)?;
        self.execute(seq)?;
        Ok(None)
    }

    fn reject(&mut self, mut payload: Value, why: &str) -> Result<()> {
        payload["output"] = json!(why);
        payload["error"] = json!(true);
        let seq = self.append("tool", "rejected", payload)?;
        let name = self
            .step(seq)
            .map(|s| s.payload["name"].as_str().unwrap_or("").to_owned())
            .unwrap_or_default();
        (self.sink)(AgentEvent::ToolResult {
            seq,
            name,
            output: why.to_owned(),
            error: true,
        });
        Ok(())
    }

    /// Runs the call journaled at `seq` (recording it `started` first).
    fn execute(&mut self, seq: i64) -> Result<()> {
        let Some(step) = self.step(seq).cloned() else {
            return Ok(());
        };
        let name = step.payload["name"].as_str().unwrap_or("").to_owned();
        let arguments = step.payload["arguments"].clone();
        if step.status == "approved" {
            self.audit(
                &name,
                &arguments,
                "approved",
                json!({"by": step.payload["decided_by"]}),
            );
        }
        if step.status != "started" {
            self.update(seq, "started", step.payload.clone())?;
        }
        (self.sink)(AgentEvent::ToolCall {
            seq,
            name: name.clone(),
            arguments: arguments.clone(),
        });
        self.budget.charge_tool_call();
        let call_key = format!("{}:{seq}", self.run.id);
        let span =
            crate::trace::tool_span(&self.run.id, seq, &name, self.delegate(&name).is_some());
        let entered = span.enter();
        let result = match self.delegate(&name) {
            Some(agent) => self.run_delegate(seq, &agent, &arguments),
            None => match self.tool(&name) {
                Some(tool) => {
                    let deadline = Instant::now()
                        + Duration::from_secs_f64(self.budget.seconds_left().max(1.0));
                    let ctx = ToolCtx {
                        engine: self.rt.engine(),
                        caller: &self.ctx.caller,
                        agent: &self.ctx.spec,
                        run_id: &self.run.id,
                        call_key: &call_key,
                        deadline,
                    };
                    tool.call(&ctx, &arguments)
                }
                None => Err(Error::new(ErrorCode::NotFound, format!("no tool `{name}`"))),
            },
        };
        drop(entered);
        if let Err(e) = &result {
            crate::trace::tool_failed(&span, e.code.as_str());
        }
        let (text, error) = match result {
            Ok(t) => (t, false),
            Err(e) if e.code == ErrorCode::Cancelled => return Err(e),
            Err(e) => (format!("error ({}): {}", e.code.as_str(), e.message), true),
        };
        let screened = tools::screen(self.guard.as_deref(), &text);
        let mut payload = self.step(seq).map_or(step.payload, |s| s.payload.clone());
        payload["output"] = json!(screened.text);
        payload["error"] = json!(error);
        if !screened.decisions.is_empty() {
            payload["guardrails"] = json!(screened.decisions);
        }
        self.update(seq, if error { "failed" } else { "done" }, payload)?;
        self.audit(
            &name,
            &arguments,
            if error { "error" } else { "ok" },
            json!({"withheld": screened.withheld}),
        );
        (self.sink)(AgentEvent::ToolResult {
            seq,
            name,
            output: screened.text,
            error,
        });
        self.save_progress()
    }

    /// A call an executor started and never finished: read-only tools run again; a call
    /// with side effects is not repeated.
    fn recover_started(&mut self, seq: i64) -> Result<()> {
        let Some(step) = self.step(seq).cloned() else {
            return Ok(());
        };
        let name = step.payload["name"].as_str().unwrap_or("").to_owned();
        let repeatable = self.tool(&name).is_some_and(|t| !t.spec().side_effects);
        if repeatable {
            return self.execute(seq);
        }
        let mut payload = step.payload.clone();
        let mut status = "unknown";
        let mut output = "This call was interrupted by a restart before its result was recorded. \
             It has side effects, so it was not repeated: its outcome is unknown."
            .to_owned();
        if let Some(child) = step.payload.get("child_run").and_then(Value::as_str) {
            let run = self
                .rt
                .engine()
                .store()
                .get_agent_run(&self.run.tenant, child)?;
            if run.state == RunState::Succeeded {
                status = "done";
                output = run.output.unwrap_or_default();
            } else {
                output = format!(
                    "The delegated run {child} is {}; its result is not known here.",
                    run.state.as_str()
                );
            }
        }
        payload["output"] = json!(output);
        payload["error"] = json!(status != "done");
        self.update(seq, status, payload)?;
        self.save_progress()
    }

    /// Delegates to another agent, sharing this run's budget.
    fn run_delegate(&mut self, seq: i64, agent: &str, arguments: &Value) -> Result<String> {
        if self.ctx.depth + 1 > MAX_DEPTH {
            return Err(Error::new(
                ErrorCode::Forbidden,
                format!("agents delegate at most {MAX_DEPTH} levels deep"),
            ));
        }
        let task = tools::str_arg(arguments, "task")?.to_owned();
        let spec = crate::registry::find(self.rt.engine(), &self.run.tenant, agent)?;
        let child = self.rt.create_child(&self.run, &self.ctx, spec, &task)?;
        let mut payload = self
            .step(seq)
            .map(|s| s.payload.clone())
            .unwrap_or_default();
        payload["child_run"] = json!(child.id);
        self.update(seq, "started", payload)?;
        let mut ignore = |_: AgentEvent| {};
        let done = self
            .rt
            .drive_with(child, Some(self.budget.clone()), &mut ignore)?;
        match done.state {
            RunState::Succeeded => Ok(done.output.unwrap_or_default()),
            other => Err(Error::new(
                ErrorCode::UpstreamError,
                format!(
                    "agent `{agent}` ended {} ({}){}",
                    other.as_str(),
                    done.reason.unwrap_or_default(),
                    done.output
                        .map(|o| format!("; it had: {o}"))
                        .unwrap_or_default()
                ),
            )),
        }
    }

    fn audit(&self, tool: &str, arguments: &Value, outcome: &str, mut detail: Value) {
        detail["agent"] = json!(self.ctx.spec.name);
        detail["run"] = json!(self.run.id);
        detail["arguments"] = json!(tools::cap(&arguments.to_string(), 500));
        self.rt.engine().audit_or_log(AuditEvent {
            tenant: &self.run.tenant,
            actor: &self.ctx.caller.actor,
            action: "agents.tool_call",
            target: &self
                .configured_names(tool)
                .into_iter()
                .next()
                .unwrap_or_default(),
            outcome,
            detail,
        });
    }

    /// One last turn with the tools put away, after a turn, call or loop limit: the model
    /// answers from what its calls found (as agent frameworks generate a final answer
    /// when an iteration limit stops them). `None` when no tokens, money or time are
    /// left for it, or the reply is not an answer.
    pub fn wrap_up(&mut self, limit: Limit) -> Result<Option<String>> {
        let spec = &self.ctx.spec;
        let u = self.budget.usage();
        let spent = u.tokens() >= spec.max_tokens
            || (spec.max_cost_usd > 0.0 && u.cost_usd >= spec.max_cost_usd)
            || self.budget.seconds_left() <= 0.0;
        if spent {
            return Ok(None);
        }
        let found: Vec<String> = self
            .steps
            .iter()
            .filter(|s| s.kind == "tool" && s.status == "done")
            .map(|s| {
                format!(
                    "- {} {}: {}",
                    s.payload["name"].as_str().unwrap_or(""),
                    s.payload["arguments"],
                    tools::cap(s.payload["output"].as_str().unwrap_or("").trim(), 1_200)
                )
            })
            .collect();
        if found.is_empty() {
            return Ok(None);
        }
        let system = protocol::system_prompt(spec, &[], self.flavor);
        let task = format!(
            "{}\n\nWhat your tool calls found:\n{}\n\nYou cannot call tools any more ({}). Give \
             the final answer now from these findings, and say what is missing if they do \
             not answer the task.",
            self.task_text(),
            found.join("\n"),
            limit.code()
        );
        let messages = protocol::messages(&system, &task, &[], self.flavor);
        let req = protocol::decision_request(
            messages,
            &[],
            self.flavor,
            spec,
            self.budget.wrap_up_tokens(),
        );
        let completion = self.generate("wrap_up", req)?;
        let decision = protocol::parse_decision(&completion, self.flavor).ok();
        let answer = match &decision {
            Some(protocol::Decision::Final { answer, .. }) if !answer.trim().is_empty() => {
                Some(answer.clone())
            }
            _ => None,
        };
        let mut payload = json!({"phase": "wrap_up", "limit": limit.code(),
            "prompt_tokens": completion.finish.usage.prompt_tokens,
            "completion_tokens": completion.finish.usage.completion_tokens});
        match decision {
            Some(d) => payload["decision"] = d.to_json(),
            None => payload["text"] = json!(tools::cap(&completion.text, 2_000)),
        }
        self.append("model", "done", payload)?;
        self.save_progress()?;
        Ok(answer)
    }

    /// What the run found, for a run that ends without a final answer.
    pub fn so_far(&self) -> Option<String> {
        let found: Vec<String> = self
            .steps
            .iter()
            .rev()
            .filter(|s| s.kind == "tool" && s.status == "done")
            .take(3)
            .map(|s| {
                format!(
                    "- {}: {}",
                    s.payload["name"].as_str().unwrap_or(""),
                    tools::cap(s.payload["output"].as_str().unwrap_or("").trim(), 300)
                )
            })
            .collect();
        (!found.is_empty()).then(|| {
            let mut found = found;
            found.reverse();
            format!("No final answer. What the run found:\n{}", found.join("\n"))
        })
    }
}
