//! Agents over HTTP: the tenant's agents (configured and saved), runs started as JSON
//! (waited for up to the request timeout, then `202` with the run to poll), as
//! server-sent events (`run_started`, `step_started`, `delta`, `plan`, `tool_call`,
//! `tool_result`, `approval_needed`, `final`), or asynchronously (`Prefer:
//! respond-async`: `202` and an executor runs it), and the runs themselves: read with
//! their trajectory, approved or denied, cancelled. A run acts as its caller (principal,
//! role, key scopes) and is seen only by its owner and administrators. Runs continue
//! when the client goes away: they are durable.

use super::library::audit;
use crate::auth::{Can, Identity, perm};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::settings::TenantSettings;
use crate::state::{AppState, blocking};
use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cairn_agent::{Caller, HistoryTurn, StartRequest};
use cairn_config::AgentSpec;
use cairn_store::{AgentRun, AgentStep, RunState};
use cairn_types::ErrorCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// The caller a run acts for.
pub(crate) fn caller(who: &Identity) -> Caller {
    Caller {
        tenant: who.tenant.clone(),
        principal: who.principal.clone(),
        role: who.role,
        scopes: who.scopes.clone(),
        actor: who.actor.clone(),
    }
}

/// A run as the API shows it (its stored context stays inside).
pub(crate) fn run_json(run: &AgentRun, steps: Option<&[AgentStep]>) -> Value {
    let mut v = json!({
        "id": run.id,
        "object": "agent.run",
        "agent": run.agent,
        "parent": run.parent,
        "owner": run.owner,
        "task": run.task,
        "state": run.state,
        "output": run.output,
        "reason": run.reason,
        "usage": run.usage,
        "created_at": run.created_at,
        "updated_at": run.updated_at,
    });
    if let Some(steps) = steps {
        if run.state == RunState::WaitingApproval
            && let Some(s) = steps.iter().rev().find(|s| s.status == "waiting_approval")
        {
            v["pending_approval"] = json!({
                "seq": s.seq,
                "tool": s.payload["name"],
                "arguments": s.payload["arguments"],
                "approve": format!("/api/v1/agent-runs/{}/approve", run.id),
                "deny": format!("/api/v1/agent-runs/{}/deny", run.id),
            });
        }
        v["steps"] = json!(steps);
    }
    v
}

/// The tenant's agents: the configuration's and its own.
#[utoipa::path(get, path = "/api/v1/agents", tag = "agents",
    responses((status = 200, description = "`{\"data\": [agent...]}`", body = Object)))]
pub async fn list_agents(
    State(state): State<AppState>,
    caller: Can<perm::Ask>,
) -> ApiResult<Json<Value>> {
    let tenant = caller.tenant.clone();
    blocking(&state, move |e, _| {
        Ok(Json(
            json!({ "data": cairn_agent::registry::list(e, &tenant)? }),
        ))
    })
    .await
}

/// Saves one of the tenant's own agents (created, or replaced whole). Editors and above;
/// an agent with `http_get` needs an administrator.
#[utoipa::path(put, path = "/api/v1/agents/{name}", tag = "agents",
    params(("name" = String, Path)), request_body = crate::schemas::AgentBody,
    responses((status = 200, body = Object), (status = 400, body = Object), (status = 409, body = Object)))]
pub async fn put_agent(
    State(state): State<AppState>,
    caller: Can<perm::ManageCollections>,
    Path(name): Path<String>,
    ApiJson(mut spec): ApiJson<AgentSpec>,
) -> ApiResult<Json<Value>> {
    let who = caller.0;
    if spec.name.is_empty() {
        spec.name = name.clone();
    }
    if spec.name != name {
        return Err(ApiError::invalid(format!(
            "the body names `{}`, the path `{name}`",
            spec.name
        ))
        .with_param("name"));
    }
    if spec.tools.iter().any(|t| t == "http_get") && !who.can(cairn_auth::Action::ManageUsers) {
        return Err(crate::auth::forbidden(
            &who,
            cairn_auth::Action::ManageUsers,
        ));
    }
    blocking(&state, move |e, _| {
        let saved =
            cairn_agent::registry::save(e, &who.tenant, &spec, &who.actor, crate::gate::now_ms())?;
        audit(
            e,
            &who,
            "agents.save",
            &saved.name,
            json!({"tools": saved.tools}),
        );
        Ok(Json(json!(saved)))
    })
    .await
}

/// Deletes one of the tenant's own agents (its runs stay).
#[utoipa::path(delete, path = "/api/v1/agents/{name}", tag = "agents",
    params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = Object), (status = 409, body = Object)))]
pub async fn delete_agent(
    State(state): State<AppState>,
    caller: Can<perm::ManageCollections>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let who = caller.0;
    blocking(&state, move |e, _| {
        cairn_agent::registry::delete(e, &who.tenant, &name)?;
        audit(e, &who, "agents.delete", &name, json!({}));
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// `POST /api/v1/agents/{name}/runs`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunBody {
    /// What to do.
    pub task: String,
    /// Earlier turns of the conversation this run continues (`{"role", "content"}`).
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub history: Vec<HistoryTurn>,
    /// Stream the run as server-sent events (also `Accept: text/event-stream`).
    #[serde(default)]
    pub stream: bool,
    /// `false`: answer `202` at once and let an executor run it (as `Prefer:
    /// respond-async` does).
    #[serde(default)]
    pub wait: Option<bool>,
}

fn accepted(run: &AgentRun) -> Response {
    let mut headers = HeaderMap::new();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/agent-runs/{}", run.id)) {
        headers.insert(header::LOCATION, location);
    }
    (StatusCode::ACCEPTED, headers, Json(run_json(run, None))).into_response()
}

/// Starts a run of agent `name`.
#[utoipa::path(post, path = "/api/v1/agents/{name}/runs", tag = "agents",
    params(("name" = String, Path),
           ("Prefer" = Option<String>, Header, description = "`respond-async`: answer 202 and run it in the background")),
    request_body = RunBody,
    responses((status = 200, description = "the run, ended or waiting for approval", body = Object),
              (status = 202, description = "the run, still going: poll its Location", body = Object),
              (status = 403, body = Object), (status = 404, body = Object)))]
pub async fn start_run(
    State(state): State<AppState>,
    caller: Can<perm::Ask>,
    Extension(settings): Extension<Arc<TenantSettings>>,
    Extension(rid): Extension<crate::request_id::RequestId>,
    headers: HeaderMap,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<RunBody>,
) -> Response {
    let who = caller.0;
    if let Err(e) = crate::guardrails::screen_input(&state, &who, &settings, &body.task) {
        return e.into_response();
    }
    let req = StartRequest {
        agent: name.clone(),
        task: body.task,
        caller: self::caller(&who),
        history: body.history,
    };
    let rt = state.agents.clone();
    let meter = state.meter(&who, &settings);
    let model = format!("cairn-agent:{name}");
    if super::library::prefers_async(&headers) || body.wait == Some(false) {
        let rt = rt.clone();
        return match blocking(&state, move |_, _| Ok(rt.create(req, false)?)).await {
            Ok(run) => accepted(&run),
            Err(e) => e.into_response(),
        };
    }
    if body.stream || super::answers::wants_sse(&headers) {
        let slot = match state.streams.open(&who.bucket) {
            Ok(slot) => slot,
            Err(e) => return e.into_response(),
        };
        return crate::sse::stream(&state, slot, rid.0, false, move |_, em| {
            let run = rt.start(req, &mut |ev| {
                // A client that left does not stop the run: it is durable.
                let _ = em.send(Some(ev.name()), &json!(ev));
            })?;
            charge(&meter, &model, &run);
            Ok(())
        })
        .await;
    }
    match run_waiting(&state, req, meter, model).await {
        Ok(Waited::Ended(ended)) => {
            let steps = state
                .engine
                .store()
                .agent_steps(&ended.tenant, &ended.id)
                .unwrap_or_default();
            Json(run_json(&ended, Some(&steps))).into_response()
        }
        Ok(Waited::Running(run)) => accepted(&run),
        Err(e) => e.into_response(),
    }
}

/// A run waited for by a request.
pub(crate) enum Waited {
    /// Ended, or paused for an approval.
    Ended(AgentRun),
    /// Still going when the request's time was up (it finishes on its own).
    Running(AgentRun),
}

/// Creates a run (its errors are the request's), drives it on its own thread and waits
/// for it as long as a request may take; its tokens are charged to the caller as
/// `model` when it ends.
pub(crate) async fn run_waiting(
    state: &AppState,
    req: StartRequest,
    meter: crate::state::Meter,
    model: String,
) -> ApiResult<Waited> {
    let rt = state.agents.clone();
    let run = {
        let rt = rt.clone();
        blocking(state, move |_, _| Ok(rt.create(req, true)?)).await?
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let driven = run.clone();
    std::thread::spawn(move || {
        let out = rt.drive(driven, &mut |_| {});
        if let Ok(r) = &out {
            charge(&meter, &model, r);
        }
        let _ = tx.send(out);
    });
    match tokio::time::timeout(state.request_timeout, rx).await {
        Ok(Ok(Ok(ended))) => Ok(Waited::Ended(ended)),
        Ok(Ok(Err(e))) => Err(e.into()),
        Ok(Err(_)) => Err(ApiError::new(
            ErrorCode::Internal,
            "the run's thread ended without a result",
        )),
        Err(_) => Ok(Waited::Running(run)),
    }
}

/// Charges a run's tokens to its caller's usage, under the model `cairn-agent:<name>`.
fn charge(meter: &crate::state::Meter, model: &str, run: &AgentRun) {
    let used = |k: &str| {
        run.usage[k]
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0)
    };
    meter.record(model, used("prompt_tokens"), used("completion_tokens"));
}

/// Paging of run listings.
#[derive(Debug, Deserialize, IntoParams)]
pub struct RunsQuery {
    /// At most this many (default 50, at most 500).
    pub limit: Option<usize>,
}

/// The caller's runs, newest first (an administrator's: everyone's).
#[utoipa::path(get, path = "/api/v1/agent-runs", tag = "agents", params(RunsQuery),
    responses((status = 200, description = "`{\"data\": [run...]}`", body = Object)))]
pub async fn list_runs(
    State(state): State<AppState>,
    caller: Can<perm::Ask>,
    Query(q): Query<RunsQuery>,
) -> ApiResult<Json<Value>> {
    let c = self::caller(&caller.0);
    let rt = state.agents.clone();
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    blocking(&state, move |_, _| {
        let runs: Vec<Value> = rt
            .list(&c, limit)?
            .iter()
            .map(|r| run_json(r, None))
            .collect();
        Ok(Json(json!({ "data": runs })))
    })
    .await
}

/// One run with its trajectory (every model turn, plan, tool call and result).
#[utoipa::path(get, path = "/api/v1/agent-runs/{id}", tag = "agents",
    params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = Object)))]
pub async fn get_run(
    State(state): State<AppState>,
    caller: Can<perm::Ask>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let c = self::caller(&caller.0);
    let rt = state.agents.clone();
    blocking(&state, move |_, _| {
        let (run, steps) = rt.get(&c, &id)?;
        Ok(Json(run_json(&run, Some(&steps))))
    })
    .await
}

async fn decide(
    state: AppState,
    who: Identity,
    id: String,
    approve: bool,
) -> ApiResult<Json<Value>> {
    let c = self::caller(&who);
    let rt = state.agents.clone();
    blocking(&state, move |_, _| {
        rt.decide(&c, &id, approve)?;
        // Driven from here at once (an executor would pick it up within a second).
        let run = match rt.claim(&c, &id) {
            Ok(held) => {
                let running = held.clone();
                let rt = rt.clone();
                std::thread::spawn(move || {
                    if let Err(e) = rt.drive(held, &mut |_| {}) {
                        tracing::warn!(run = %id, error = %e, "an approved run could not be driven");
                    }
                });
                running
            }
            // An executor took it first.
            Err(_) => rt.get(&c, &id)?.0,
        };
        Ok(Json(run_json(&run, None)))
    })
    .await
}

/// Approves the tool call a run waits on; the run goes on.
#[utoipa::path(post, path = "/api/v1/agent-runs/{id}/approve", tag = "agents",
    params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = Object), (status = 409, body = Object)))]
pub async fn approve_run(
    State(state): State<AppState>,
    caller: Can<perm::Ask>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    decide(state, caller.0, id, true).await
}

/// Denies the tool call a run waits on; the run goes on without it.
#[utoipa::path(post, path = "/api/v1/agent-runs/{id}/deny", tag = "agents",
    params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = Object), (status = 409, body = Object)))]
pub async fn deny_run(
    State(state): State<AppState>,
    caller: Can<perm::Ask>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    decide(state, caller.0, id, false).await
}

/// Cancels a run that has not ended.
#[utoipa::path(delete, path = "/api/v1/agent-runs/{id}", tag = "agents",
    params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = Object), (status = 409, body = Object)))]
pub async fn cancel_run(
    State(state): State<AppState>,
    caller: Can<perm::Ask>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let who = caller.0;
    let c = self::caller(&who);
    let rt = state.agents.clone();
    blocking(&state, move |e, _| {
        let run = rt.cancel(&c, &id)?;
        audit(e, &who, "agents.cancel", &id, json!({}));
        Ok(Json(run_json(&run, None)))
    })
    .await
}
