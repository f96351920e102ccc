//! Agent runs in traces. Each drive of a run is an `invoke_agent` span: inside a
//! request's trace when a request drives it, else (an executor resuming or running it in
//! the background) the root of a trace of its own, sent where the engine sends
//! background traces. Each tool call is an `execute_tool` span beneath it; model turns
//! are the gateway's `chat` spans, and a delegated run nests its own `invoke_agent`.
//! Attributes follow the GenAI conventions (`gen_ai.operation.name`,
//! `gen_ai.agent.name`, `gen_ai.tool.name`, …) and OpenInference (`AGENT`, `TOOL`).
//! Tool arguments and outputs are not recorded: they are in the run's journal.

use cairn_engine::Engine;
use cairn_store::{AgentRun, RunState};
use cairn_telemetry::AttrValue;
use cairn_telemetry::names::kind;
use tracing::field::Empty;

/// The span of one drive of `run`, a trace root when nothing traces the caller.
pub(crate) fn run_span(engine: &Engine, run: &AgentRun) -> tracing::Span {
    let span = tracing::info_span!(
        target: "cairn::trace",
        "invoke_agent",
        otel.status_code = Empty,
        otel.status_message = Empty,
        cairn.run_state = Empty,
        cairn.run_reason = Empty,
    );
    if cairn_telemetry::layer::current_ids().is_none()
        && let Some(sink) = engine.trace_sink()
    {
        let ctx = cairn_telemetry::TraceContext {
            trace_id: cairn_telemetry::context::new_trace_id(),
            remote_parent: None,
        };
        cairn_telemetry::start_trace(&span, ctx, sink);
    }
    // Recorded once the span is in its trace (a new root only joins one here).
    let attr = |k: &str, v: &str| (k.to_owned(), AttrValue::Str(v.to_owned()));
    let mut attrs = vec![
        attr("otel.name", &format!("invoke_agent {}", run.agent)),
        attr("openinference.span.kind", kind::AGENT),
        attr("gen_ai.operation.name", "invoke_agent"),
        attr("gen_ai.agent.name", &run.agent),
        attr("gen_ai.agent.id", &run.id),
        attr("agent.name", &run.agent),
        attr("user.id", &run.owner),
        attr("cairn.tenant", run.tenant.as_str()),
        attr("cairn.run_id", &run.id),
    ];
    if let Some(parent) = &run.parent {
        attrs.push(attr("cairn.parent_run", parent));
    }
    cairn_telemetry::record_attrs(&span, attrs);
    span
}

/// Records how a drive ended.
pub(crate) fn end_run(span: &tracing::Span, run: &AgentRun) {
    span.record("cairn.run_state", run.state.as_str());
    if let Some(reason) = &run.reason {
        span.record("cairn.run_reason", reason.as_str());
    }
    if matches!(run.state, RunState::Failed | RunState::LimitReached) {
        span.record("otel.status_code", "ERROR");
        span.record(
            "otel.status_message",
            run.reason.as_deref().unwrap_or(run.state.as_str()),
        );
    }
}

/// The span of one tool call (`seq` in the run's journal).
pub(crate) fn tool_span(run_id: &str, seq: i64, tool: &str, delegated: bool) -> tracing::Span {
    tracing::info_span!(
        "execute_tool",
        otel.name = %format_args!("execute_tool {tool}"),
        otel.status_code = Empty,
        otel.status_message = Empty,
        openinference.span.kind = kind::TOOL,
        gen_ai.operation.name = "execute_tool",
        gen_ai.tool.name = tool,
        gen_ai.tool.call.id = %format_args!("{run_id}:{seq}"),
        gen_ai.tool.type = if delegated { "agent" } else { "function" },
        tool.name = tool,
    )
}

/// Marks a tool span failed.
pub(crate) fn tool_failed(span: &tracing::Span, message: &str) {
    span.record("otel.status_code", "ERROR");
    span.record("otel.status_message", message);
}
