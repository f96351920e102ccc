//! The runtime: starting, driving, approving, cancelling and reading runs.

use crate::budget::{Budget, Limit, Usage};
use crate::caller::Caller;
use crate::event::AgentEvent;
use crate::exec::{Exec, HistoryTurn, LEASE_MS, PhaseEnd, RunContext, now_ms};
use crate::models::{EngineModels, ModelSource};
use crate::protocol::Flavor;
use crate::tools;
use crate::{Error, Result};
use cairn_auth::Action;
use cairn_config::AgentSpec;
use cairn_engine::Engine;
use cairn_store::{AgentRun, AgentStep, RunState};
use cairn_types::ErrorCode;
use serde_json::json;
use std::sync::Arc;
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::Duration;

/// A new run.
#[derive(Clone, Debug)]
pub struct StartRequest {
    pub agent: String,
    pub task: String,
    pub caller: Caller,
    /// Earlier turns of the conversation this run continues.
    pub history: Vec<HistoryTurn>,
}

/// Runs agents for one process (its lease-holder id names it).
pub struct Runtime {
    engine: Arc<Engine>,
    models: Arc<dyn ModelSource>,
    holder: String,
}

fn forbidden(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::Forbidden, message)
}

impl Runtime {
    /// A runtime on the engine's models, holding leases as this process.
    pub fn new(engine: Arc<Engine>) -> Self {
        Self {
            models: Arc::new(EngineModels::new(engine.clone())),
            engine,
            holder: cairn_engine::ingest::holder_id(),
        }
    }

    /// Another model source (tests pin the loop with a scripted model).
    pub fn with_models(mut self, models: Arc<dyn ModelSource>) -> Self {
        self.models = models;
        self
    }

    /// Another lease-holder id (tests run several "processes" in one).
    pub fn with_holder(mut self, holder: impl Into<String>) -> Self {
        self.holder = holder.into();
        self
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }

    pub(crate) fn models(&self) -> &dyn ModelSource {
        &*self.models
    }

    /// Creates a run: `Running` under this runtime's lease (to drive it now) or `Queued`
    /// (for an executor to pick up).
    pub fn create(&self, req: StartRequest, run_now: bool) -> Result<AgentRun> {
        let caller = &req.caller;
        if !caller.can(Action::Ask) {
            return Err(forbidden(format!(
                "running an agent needs the `ask` permission, which this {} caller lacks",
                caller.role.as_str()
            )));
        }
        if req.task.trim().is_empty() {
            return Err(Error::new(ErrorCode::InvalidInput, "the task is empty"));
        }
        let spec = crate::registry::find(&self.engine, &caller.tenant, &req.agent)?;
        self.insert(None, &req.caller, spec, &req.task, req.history, 0, run_now)
    }

    #[allow(clippy::too_many_arguments)]
    fn insert(
        &self,
        parent: Option<&str>,
        caller: &Caller,
        spec: AgentSpec,
        task: &str,
        history: Vec<HistoryTurn>,
        depth: usize,
        run_now: bool,
    ) -> Result<AgentRun> {
        let now = now_ms();
        let agent = spec.name.clone();
        let ctx = RunContext {
            spec,
            caller: caller.clone(),
            history,
            depth,
        };
        let run = AgentRun {
            tenant: caller.tenant.clone(),
            id: format!("run_{}", uuid::Uuid::now_v7().simple()),
            agent,
            parent: parent.map(str::to_owned),
            owner: caller.owner(),
            task: task.to_owned(),
            state: if run_now {
                RunState::Running
            } else {
                RunState::Queued
            },
            context: serde_json::to_value(&ctx)
                .map_err(|e| Error::new(ErrorCode::Internal, e.to_string()))?,
            output: None,
            reason: None,
            usage: json!(Usage::default()),
            lease_owner: run_now.then(|| self.holder.clone()),
            lease_until: if run_now { now + LEASE_MS } else { 0 },
            created_at: now,
            updated_at: now,
        };
        self.engine.store().create_agent_run(&run)?;
        Ok(run)
    }

    pub(crate) fn create_child(
        &self,
        parent: &AgentRun,
        ctx: &RunContext,
        spec: AgentSpec,
        task: &str,
    ) -> Result<AgentRun> {
        self.insert(
            Some(&parent.id),
            &ctx.caller,
            spec,
            task,
            Vec::new(),
            ctx.depth + 1,
            true,
        )
    }

    /// Creates a run and drives it here until it ends or pauses.
    pub fn start(&self, req: StartRequest, sink: &mut dyn FnMut(AgentEvent)) -> Result<AgentRun> {
        let run = self.create(req, true)?;
        sink(AgentEvent::RunStarted {
            run_id: run.id.clone(),
            agent: run.agent.clone(),
        });
        self.drive(run, sink)
    }

    /// Drives a run this runtime holds (`Running` under its lease) until it ends or
    /// pauses; the final event is always sent.
    pub fn drive(&self, run: AgentRun, sink: &mut dyn FnMut(AgentEvent)) -> Result<AgentRun> {
        self.drive_with(run, None, sink)
    }

    pub(crate) fn drive_with(
        &self,
        run: AgentRun,
        parent: Option<Arc<Budget>>,
        sink: &mut dyn FnMut(AgentEvent),
    ) -> Result<AgentRun> {
        let span = crate::trace::run_span(&self.engine, &run);
        let _entered = span.enter();
        let (stop, stopped) = channel::<()>();
        let store = self.engine.store();
        let (tenant, id, holder) = (run.tenant.clone(), run.id.clone(), self.holder.clone());
        let result = std::thread::scope(|scope| {
            // Heartbeat: the lease outlives a long model turn or tool call.
            scope.spawn(move || {
                let every = Duration::from_millis(u64::try_from(LEASE_MS / 4).unwrap_or(15_000));
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    if !matches!(
                        store.renew_agent_run(&tenant, &id, &holder, now_ms() + LEASE_MS),
                        Ok(true)
                    ) {
                        break;
                    }
                }
            });
            let out = self.execute(run.clone(), parent, sink);
            let _ = stop.send(());
            out
        });
        let ended = match result {
            Ok(run) => run,
            // Cancelled or taken over: the store has the truth.
            Err(e) if e.code == ErrorCode::Cancelled => {
                store.get_agent_run(&run.tenant, &run.id)?
            }
            Err(e) => self.fail(run, &e)?,
        };
        crate::trace::end_run(&span, &ended);
        sink(AgentEvent::Final {
            run_id: ended.id.clone(),
            state: ended.state.as_str().to_owned(),
            output: ended.output.clone(),
            reason: ended.reason.clone(),
            usage: serde_json::from_value(ended.usage.clone()).unwrap_or_default(),
        });
        Ok(ended)
    }

    fn execute(
        &self,
        run: AgentRun,
        parent: Option<Arc<Budget>>,
        sink: &mut dyn FnMut(AgentEvent),
    ) -> Result<AgentRun> {
        let ctx: RunContext = serde_json::from_value(run.context.clone()).map_err(|e| {
            Error::new(
                ErrorCode::Internal,
                format!("run `{}` cannot be resumed: {e}", run.id),
            )
        })?;
        let used: Usage = serde_json::from_value(run.usage.clone()).unwrap_or_default();
        let budget = Budget::new(&ctx.spec, used, parent);
        let model = self.models.model(&ctx.caller, &ctx.spec.model)?;
        let mut tools = tools::builtin_tools(&ctx.spec, &self.engine, &ctx.caller);
        tools.extend(crate::sources::source_tools(
            &self.engine,
            &run.tenant,
            &ctx.spec.tools,
        ));
        let mut delegates = Vec::new();
        for name in crate::registry::delegates(&ctx.spec) {
            let description = crate::registry::find(&self.engine, &run.tenant, name)
                .map(|s| s.description)
                .unwrap_or_default();
            delegates.push((
                format!("agent_{name}"),
                name.to_owned(),
                format!("Hands a task to the `{name}` agent and returns its answer. {description}"),
            ));
        }
        let steps: Vec<AgentStep> = self.engine.store().agent_steps(&run.tenant, &run.id)?;
        let flavor = Flavor::choose(&ctx.spec, model.remote);
        let guard = self.engine.tenant_guard(&run.tenant).ok();
        let plan = ctx.spec.strategy == "plan_execute";
        let mut ex = Exec {
            rt: self,
            run,
            ctx,
            budget,
            model,
            tools,
            delegates,
            flavor,
            steps,
            sink,
            guard,
        };
        let end = if plan {
            crate::plan::drive(&mut ex)?
        } else {
            let task = ex.task_text();
            ex.react("react", &task, None)?
        };
        self.finish(ex, end)
    }

    fn finish(&self, mut ex: Exec<'_>, end: PhaseEnd) -> Result<AgentRun> {
        match end {
            PhaseEnd::Final(answer) => {
                ex.run.state = RunState::Succeeded;
                ex.run.output = Some(answer);
                ex.run.reason = None;
            }
            PhaseEnd::Paused => {
                ex.run.state = RunState::WaitingApproval;
                ex.run.reason =
                    Some("waiting_approval: a tool call needs a person's approval".into());
            }
            PhaseEnd::Limit(limit) => {
                // The wrap-up turn saves progress while the run is still `running`.
                let answered = match limit {
                    Limit::Steps | Limit::ToolCalls | Limit::Loop => ex.wrap_up(limit)?,
                    _ => None,
                };
                let u = ex.budget.usage();
                let s = &ex.ctx.spec;
                let why = match limit {
                    Limit::Steps => {
                        format!("the run used its {} model turns", s.max_steps)
                    }
                    Limit::ToolCalls => {
                        format!("the run made its {} tool calls", s.max_tool_calls)
                    }
                    Limit::Tokens => {
                        format!("the run used {} of its {} tokens", u.tokens(), s.max_tokens)
                    }
                    Limit::Cost => {
                        format!("the run cost ${:.4} of its ${}", u.cost_usd, s.max_cost_usd)
                    }
                    Limit::Time => format!(
                        "the run took {} s of its {} s",
                        u.elapsed_ms / 1000,
                        s.max_seconds
                    ),
                    Limit::Loop => {
                        "the model repeated the same tool call with the same arguments".into()
                    }
                };
                ex.run.state = RunState::LimitReached;
                ex.run.reason = Some(format!("{}: {why}", limit.code()));
                ex.run.output = match answered {
                    Some(a) => {
                        ex.run.reason = Some(format!(
                            "{}: {why}; it answered from what it had",
                            limit.code()
                        ));
                        Some(a)
                    }
                    None => ex.so_far(),
                };
            }
            PhaseEnd::Exhausted => {
                let answered = ex.wrap_up(Limit::Steps)?;
                ex.run.state = RunState::LimitReached;
                ex.run.reason = Some("max_steps: a plan step ran out of turns".into());
                ex.run.output = answered.or_else(|| ex.so_far());
            }
        }
        let holder = self.holder.clone();
        ex.run.usage = json!(ex.budget.usage());
        ex.run.lease_owner = None;
        ex.run.lease_until = 0;
        ex.run.updated_at = now_ms();
        match self.engine.store().save_agent_run(&ex.run, &holder) {
            Ok(()) => Ok(ex.run),
            Err(cairn_store::Error::Conflict(_)) => Ok(self
                .engine
                .store()
                .get_agent_run(&ex.run.tenant, &ex.run.id)?),
            Err(e) => Err(e.into()),
        }
    }

    /// Ends a run that failed with `e` (unless it was cancelled meanwhile).
    fn fail(&self, mut run: AgentRun, e: &Error) -> Result<AgentRun> {
        let latest = self.engine.store().get_agent_run(&run.tenant, &run.id)?;
        run.usage = latest.usage;
        run.state = RunState::Failed;
        run.reason = Some(format!("{}: {}", e.code.as_str(), e.message));
        run.lease_owner = None;
        run.lease_until = 0;
        run.updated_at = now_ms();
        match self.engine.store().save_agent_run(&run, &self.holder) {
            Ok(()) => Ok(run),
            Err(_) => Ok(self.engine.store().get_agent_run(&run.tenant, &run.id)?),
        }
    }

    /// A run and its journal, if `caller` may see it (its owner, or an administrator);
    /// `not_found` otherwise, exactly as for an id that does not exist.
    pub fn get(&self, caller: &Caller, id: &str) -> Result<(AgentRun, Vec<AgentStep>)> {
        let run = self.visible(caller, id)?;
        let steps = self.engine.store().agent_steps(&caller.tenant, id)?;
        Ok((run, steps))
    }

    fn visible(&self, caller: &Caller, id: &str) -> Result<AgentRun> {
        let not_found = || Error::new(ErrorCode::NotFound, format!("agent run `{id}` not found"));
        let run = match self.engine.store().get_agent_run(&caller.tenant, id) {
            Ok(r) => r,
            Err(cairn_store::Error::NotFound { .. }) => return Err(not_found()),
            Err(e) => return Err(e.into()),
        };
        if run.owner != caller.owner() && !caller.can(Action::ManageUsers) {
            return Err(not_found());
        }
        Ok(run)
    }

    /// The caller's runs (an administrator's: everyone's), newest first.
    pub fn list(&self, caller: &Caller, limit: usize) -> Result<Vec<AgentRun>> {
        let owner = (!caller.can(Action::ManageUsers)).then(|| caller.owner());
        Ok(self
            .engine
            .store()
            .list_agent_runs(&caller.tenant, owner.as_deref(), limit)?)
    }

    /// Approves or denies the call a run waits on. Its owner decides, or an administrator;
    /// the run is then `queued` for an executor (or [`Self::drive`]).
    pub fn decide(&self, caller: &Caller, id: &str, approve: bool) -> Result<AgentRun> {
        let run = self.visible(caller, id)?;
        let steps = self.engine.store().agent_steps(&caller.tenant, id)?;
        let waiting = steps
            .iter()
            .rev()
            .find(|s| s.status == "waiting_approval")
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::Conflict,
                    format!(
                        "agent run `{id}` is {}, not waiting for approval",
                        run.state.as_str()
                    ),
                )
            })?;
        let by = caller.actor.clone();
        let decided = self.engine.store().decide_agent_approval(
            &caller.tenant,
            id,
            waiting.seq,
            approve,
            &by,
            now_ms(),
        )?;
        self.engine
            .audit_or_log(cairn_engine::security::AuditEvent {
                tenant: &caller.tenant,
                actor: &caller.actor,
                action: if approve {
                    "agents.approve"
                } else {
                    "agents.deny"
                },
                target: id,
                outcome: "ok",
                detail: json!({"seq": waiting.seq, "tool": waiting.payload["name"]}),
            });
        Ok(decided)
    }

    /// Cancels a run that has not ended.
    pub fn cancel(&self, caller: &Caller, id: &str) -> Result<AgentRun> {
        self.visible(caller, id)?;
        let run = self.engine.store().transition_agent_run(
            &caller.tenant,
            id,
            &[
                RunState::Queued,
                RunState::Running,
                RunState::WaitingApproval,
            ],
            RunState::Cancelled,
            Some(&format!("cancelled: by {}", caller.actor)),
            None,
            now_ms(),
        )?;
        Ok(run)
    }

    /// Takes a queued run (after an approval) to drive it here; `Conflict` if another
    /// executor has it.
    pub fn claim(&self, caller: &Caller, id: &str) -> Result<AgentRun> {
        self.visible(caller, id)?;
        let now = now_ms();
        Ok(self.engine.store().transition_agent_run(
            &caller.tenant,
            id,
            &[RunState::Queued],
            RunState::Running,
            None,
            Some((&self.holder, now + LEASE_MS)),
            now,
        )?)
    }
}
