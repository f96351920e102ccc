// Administration: the tenant's request traces (`GET /api/v1/traces`), filtered by route,
// slowness and errors, and one trace's spans as a waterfall: each span's start and
// length against the whole request, its attributes on demand. Shown to roles with
// `audit:read`; the server returns the caller's tenant only.

import { h } from "./vendor/preact.mjs";
import { useEffect, useState } from "./vendor/hooks.mjs";
import htm from "./vendor/htm.mjs";
import { api } from "./api.js";

const html = htm.bind(h);
const when = (ms) => new Date(ms).toISOString().replace("T", " ").slice(0, 19);
const ms = (v) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));

/** One span and its children, as rows of the waterfall. */
function SpanRows({ span, total, depth }) {
  const [open, setOpen] = useState(false);
  const left = total > 0 ? (span.offset_ms / total) * 100 : 0;
  const width = total > 0 ? Math.max((span.duration_ms / total) * 100, 0.5) : 100;
  const attrs = Object.entries(span.attributes ?? {});
  return html`
    <li class=${span.status === "error" ? "span error" : "span"}>
      <button class="span-name" style=${`padding-left: ${depth * 1.2}rem`} aria-expanded=${open}
        onClick=${() => setOpen(!open)}>${span.name}</button>
      <span class="span-bar" aria-hidden="true"><span style=${`left: ${left}%; width: ${width}%`}></span></span>
      <span class="span-ms">${ms(span.duration_ms)} ms</span>
      ${open && html`<div class="span-attrs" role="group" aria-label=${`Attributes of ${span.name}`}><dl>
        ${span.status_message && html`<dt>error</dt><dd>${span.status_message}</dd>`}
        ${attrs.map(([k, v]) => html`<dt>${k}</dt><dd>${typeof v === "string" ? v : JSON.stringify(v)}</dd>`)}
        ${(span.events ?? []).map((e) => html`<dt>${e.level}</dt><dd>${e.name}</dd>`)}
      </dl></div>`}
    </li>
    ${(span.children ?? []).map((c) => html`<${SpanRows} span=${c} total=${total} depth=${depth + 1} />`)}`;
}

function Trace({ id, onClose }) {
  const [trace, setTrace] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    api("GET", `/api/v1/traces/${encodeURIComponent(id)}`).then(setTrace, (e) => setError(e.message));
  }, [id]);
  if (error) return html`<p role="alert" class="error">${error}</p>`;
  if (!trace) return html`<p aria-busy="true">Loading the trace…</p>`;
  return html`<section class="trace" aria-label="Trace ${trace.trace_id}">
    <h3>${trace.name} <small>${ms(trace.duration_ms)} ms · ${trace.kept}</small></h3>
    <p class="trace-meta">trace ${trace.trace_id} · ${trace.started_at}
      ${trace.model && ` · ${trace.model} (${trace.input_tokens} in, ${trace.output_tokens} out)`}</p>
    ${trace.scores.length > 0 && html`<p>Scores: ${trace.scores.map((s) => `${s.name} ${s.value}`).join(", ")}</p>`}
    <ul class="waterfall">
      ${trace.spans.map((s) => html`<${SpanRows} span=${s} total=${trace.duration_ms} depth=${0} />`)}
    </ul>
    <button onClick=${onClose}>Back to the list</button>
  </section>`;
}

export function Traces({ initial = null } = {}) {
  const [rows, setRows] = useState(null);
  const [error, setError] = useState(null);
  const [route, setRoute] = useState("");
  const [slow, setSlow] = useState("");
  const [errors, setErrors] = useState(false);
  const [open, setOpen] = useState(initial);
  async function load() {
    const q = new URLSearchParams({ limit: "200" });
    if (route.trim()) q.set("route", route.trim());
    if (slow.trim()) q.set("min_ms", slow.trim());
    if (errors) q.set("error", "true");
    try {
      setRows((await api("GET", `/api/v1/traces?${q}`)).data ?? []);
      setError(null);
    } catch (e) {
      setError(e.message);
    }
  }
  useEffect(() => { load(); }, [errors]);
  if (open) return html`<main class="admin"><h2>Traces</h2><${Trace} id=${open} onClose=${() => setOpen(null)} /></main>`;
  return html`<main class="admin">
    <h2>Traces</h2>
    <form class="trace-tools" onSubmit=${(e) => { e.preventDefault(); load(); }}>
      <input type="search" aria-label="Route" placeholder="Route, e.g. /api/v1/ask" value=${route}
        onInput=${(e) => setRoute(e.target.value)} />
      <input type="number" min="0" aria-label="At least (ms)" placeholder="at least ms" value=${slow}
        onInput=${(e) => setSlow(e.target.value)} />
      <label><input type="checkbox" checked=${errors} onChange=${(e) => setErrors(e.target.checked)} /> Errors only</label>
      <button type="submit">Filter</button>
    </form>
    ${error && html`<p role="alert" class="error">${error}</p>`}
    ${rows && html`<table class="traces">
      <caption>${rows.length} traces, newest first</caption>
      <thead><tr><th scope="col">When (UTC)</th><th scope="col">Request</th><th scope="col">Status</th>
        <th scope="col">ms</th><th scope="col">Caller</th><th scope="col">Model</th><th scope="col">Kept</th></tr></thead>
      <tbody>${rows.map((t) => html`<tr class=${t.error ? "error" : ""}>
        <td>${when(t.started_ms)}</td>
        <td><button class="link" onClick=${() => setOpen(t.trace_id)}>${t.name}</button></td>
        <td>${t.status ?? "—"}</td><td>${ms(t.duration_ms)}</td><td>${t.user ?? "—"}</td>
        <td>${t.model ?? "—"}</td><td>${t.kept}</td>
      </tr>`)}</tbody>
    </table>`}
  </main>`;
}
