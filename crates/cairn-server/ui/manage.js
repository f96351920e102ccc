// Administration beyond keys: users and their roles with their web sessions
// (`users:manage`), usage and cost per day and model, and the audit log with a check
// of its hash chain (`audit:read`), the guardrail policy (`tenant:manage`). The server
// checks every call again.

import { h } from "./vendor/preact.mjs";
import { useEffect, useState } from "./vendor/hooks.mjs";
import htm from "./vendor/htm.mjs";
import { api } from "./api.js";

const html = htm.bind(h);
const ROLES = ["viewer", "member", "editor", "admin", "owner"];
const when = (ms) => (ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 16) : "—");
const count = (n) => Number(n ?? 0).toLocaleString("en");
const dollars = (n) => `$${Number(n ?? 0).toFixed(4)}`;

function useLoad(load, deps = []) {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const reload = () => load().then((d) => { setData(d); setError(null); }).catch((e) => setError(e.message));
  useEffect(() => { reload(); }, deps);
  return [data, error, reload, setError];
}

function Sessions({ onError }) {
  const [sessions, error, reload] = useLoad(() =>
    api("GET", "/api/v1/auth/sessions").then((r) => r.data ?? []));
  async function revoke(s) {
    if (!window.confirm(`Sign ${s.user} out of this browser now?`)) return;
    try {
      await api("DELETE", `/api/v1/auth/sessions/${encodeURIComponent(s.id)}`);
      reload();
    } catch (err) {
      onError(err.message);
    }
  }
  if (error) return html`<p role="alert" class="error">${error}</p>`;
  if (!sessions) return null;
  const state = (s) => (s.revoked_at ? "signed out" : s.live ? "active" : "expired");
  return html`<table class="sessions">
    <caption>Browser sessions (single sign-on)</caption>
    <thead><tr><th scope="col">User</th><th scope="col">Role</th><th scope="col">Signed in</th>
      <th scope="col">Until</th><th scope="col">State</th><th scope="col">Browser</th>
      <th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
    <tbody>${sessions.length === 0 && html`<tr><td colspan="7">No sessions yet.</td></tr>`}
      ${sessions.map((s) => html`<tr>
      <td>${s.user}</td><td>${s.role}</td><td>${when(s.created_at)}</td><td>${when(s.expires_at)}</td>
      <td>${state(s)}</td><td class="agent">${s.user_agent}</td>
      <td>${s.live && html`<button aria-label=${`Sign out ${s.user} (session ${s.id})`}
        onClick=${() => revoke(s)}>Sign out</button>`}</td>
    </tr>`)}</tbody>
  </table>`;
}

/** Users and roles, and where they are signed in. */
export function Users({ me }) {
  const [users, loadError, reload, setError] = useLoad(() =>
    api("GET", "/api/v1/users").then((r) => r.data ?? r));
  const [id, setId] = useState("");
  const [role, setRole] = useState("member");
  const [groups, setGroups] = useState("");
  const [done, setDone] = useState(null);
  const rank = ROLES.indexOf(me.role);
  const list = (text) => text.split(",").map((g) => g.trim()).filter(Boolean);
  async function save(e) {
    e.preventDefault();
    setDone(null);
    try {
      await api("POST", "/api/v1/users", { id: id.trim(), role, groups: list(groups) });
      setDone(`Saved ${id.trim()} as ${role}.`);
      setId("");
      setGroups("");
      reload();
    } catch (err) {
      setError(err.message);
    }
  }
  function edit(u) {
    setId(u.id);
    setRole(u.role);
    setGroups((u.groups ?? []).join(", "));
  }
  async function erase(u) {
    if (!window.confirm(`Erase ${u.id} and everything they own (conversations, answers, documents, keys)? This cannot be undone.`)) return;
    try {
      await api("DELETE", `/api/v1/users/${encodeURIComponent(u.id)}`);
      setDone(`Erased ${u.id}.`);
      reload();
    } catch (err) {
      setError(err.message);
    }
  }
  return html`<main class="admin">
    <h2>Users and roles</h2>
    <form class="new-key" onSubmit=${save}>
      <label>User id <input value=${id} onInput=${(e) => setId(e.target.value)} required /></label>
      <label>Role <select value=${role} onChange=${(e) => setRole(e.target.value)}>
        ${ROLES.filter((r, i) => rank < 0 || i <= rank).map((r) => html`<option value=${r}>${r}</option>`)}
      </select></label>
      <label>Groups (comma-separated) <input value=${groups} onInput=${(e) => setGroups(e.target.value)} /></label>
      <button type="submit">Save user</button>
    </form>
    ${done && html`<p role="status">${done}</p>`}
    ${loadError && html`<p role="alert" class="error">${loadError}</p>`}
    ${users && html`<table class="users">
      <caption>Users of ${me.tenant}</caption>
      <thead><tr><th scope="col">User</th><th scope="col">Role</th><th scope="col">Groups</th>
        <th scope="col">Since</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
      <tbody>${users.map((u) => html`<tr>
        <td>${u.id}${u.disabled ? " (disabled)" : ""}</td><td>${u.role}</td>
        <td>${(u.groups ?? []).join(", ") || "—"}</td><td>${when(u.created_at)}</td>
        <td><div class="actions">
          <button aria-label=${`Edit ${u.id}`} onClick=${() => edit(u)}>Edit</button>
          <button aria-label=${`Erase ${u.id}`} onClick=${() => erase(u)}>Erase</button>
        </div></td>
      </tr>`)}</tbody>
    </table>`}
    <${Sessions} onError=${setError} />
  </main>`;
}

/** Tokens per day as bars (an SVG with a title per bar), the table beside it. */
/** Tokens or cost (`metric`) per day over the last `days` days, as bars. */
function DailyChart({ rows, days, metric }) {
  const byDay = new Map();
  for (const r of rows) {
    const t = byDay.get(r.day) ?? { tokens: 0, cost: 0 };
    t.tokens += (r.input_tokens ?? 0) + (r.output_tokens ?? 0);
    t.cost += r.cost_usd ?? 0;
    byDay.set(r.day, t);
  }
  const today = new Date();
  const series = [];
  for (let i = days - 1; i >= 0; i--) {
    const d = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - i));
    const key = d.toISOString().slice(0, 10);
    series.push({ day: key, ...(byDay.get(key) ?? { tokens: 0, cost: 0 }) });
  }
  const cost = metric === "cost";
  const value = (s) => (cost ? s.cost : s.tokens);
  const shown = (v) => (cost ? dollars(v) : `${count(v)} tokens`);
  const max = Math.max(cost ? 1e-9 : 1, ...series.map(value));
  const width = 640, height = 160, gap = 2, bar = width / series.length;
  const what = cost ? "Cost" : "Tokens";
  return html`<figure class="chart">
    <svg viewBox=${`0 0 ${width} ${height}`} preserveAspectRatio="none" role="img"
      aria-label=${`${what} per day over the last ${days} days; the largest day: ${shown(max)}`}>
      ${series.map((s, i) => {
        const hgt = Math.round((value(s) / max) * (height - 4));
        return html`<rect class=${cost ? "bar cost" : "bar"} x=${i * bar + gap / 2} y=${height - hgt}
          width=${Math.max(1, bar - gap)} height=${hgt}>
          <title>${s.day}: ${count(s.tokens)} tokens, ${dollars(s.cost)}</title></rect>`;
      })}
    </svg>
    <figcaption>${what} per day (UTC), ${series[0]?.day} to ${series[series.length - 1]?.day}</figcaption>
  </figure>`;
}

/** Tokens per model (input and output), as horizontal bars with the cost beside. */
function ModelChart({ models }) {
  if (models.length === 0) return null;
  const total = (m) => (m.input_tokens ?? 0) + (m.output_tokens ?? 0);
  const max = Math.max(1, ...models.map(total));
  const row = 22, width = 640, label = 200;
  return html`<figure class="chart models">
    <svg viewBox=${`0 0 ${width} ${row * models.length}`} role="img"
      aria-label=${`Tokens per model: ${models.map((m) => `${m.model} ${count(total(m))}`).join(", ")}`}>
      ${models.map((m, i) => {
        const inW = ((m.input_tokens ?? 0) / max) * (width - label - 90);
        const outW = ((m.output_tokens ?? 0) / max) * (width - label - 90);
        return html`<g>
          <text x="0" y=${i * row + 15} class="label">${m.model}</text>
          <rect class="bar" x=${label} y=${i * row + 4} width=${Math.max(inW, 0.5)} height=${row - 8}>
            <title>${m.model}: ${count(m.input_tokens)} input tokens</title></rect>
          <rect class="bar out" x=${label + inW} y=${i * row + 4} width=${Math.max(outW, 0.5)} height=${row - 8}>
            <title>${m.model}: ${count(m.output_tokens)} output tokens</title></rect>
          <text x=${label + inW + outW + 6} y=${i * row + 15} class="label">${dollars(m.cost_usd)}</text>
        </g>`;
      })}
    </svg>
    <figcaption>Tokens per model (input, then output) and cost</figcaption>
  </figure>`;
}

/** Usage and cost per day and model. */
export function Usage() {
  const [days, setDays] = useState(31);
  const [usage, error] = useLoad(() => api("GET", `/api/v1/tenant/usage?days=${days}`), [days]);
  return html`<main class="admin">
    <h2>Usage and cost</h2>
    <label>Window <select value=${days} onChange=${(e) => setDays(Number(e.target.value))}>
      ${[7, 31, 90].map((d) => html`<option value=${d}>last ${d} days</option>`)}
    </select></label>
    ${error && html`<p role="alert" class="error">${error}</p>`}
    ${usage && html`
      <dl class="totals">
        <div><dt>Today</dt><dd>${count(usage.day.requests)} requests · ${count(usage.day.tokens)} tokens · ${dollars(usage.day.cost_usd)}</dd></div>
        <div><dt>This month</dt><dd>${count(usage.month.requests)} requests · ${count(usage.month.tokens)} tokens · ${dollars(usage.month.cost_usd)}</dd></div>
      </dl>
      <${DailyChart} rows=${usage.by_day ?? []} days=${days} metric="tokens" />
      <${DailyChart} rows=${usage.by_day ?? []} days=${days} metric="cost" />
      <${ModelChart} models=${usage.models ?? []} />
      <table class="usage">
        <caption>By model since ${usage.since}</caption>
        <thead><tr><th scope="col">Model</th><th scope="col">Requests</th><th scope="col">Input tokens</th>
          <th scope="col">Output tokens</th><th scope="col">Cost</th></tr></thead>
        <tbody>${(usage.models ?? []).length === 0 && html`<tr><td colspan="5">No model calls in this window.</td></tr>`}
          ${(usage.models ?? []).map((m) => html`<tr><td>${m.model}</td><td>${count(m.requests)}</td>
          <td>${count(m.input_tokens)}</td><td>${count(m.output_tokens)}</td><td>${dollars(m.cost_usd)}</td></tr>`)}</tbody>
      </table>`}
  </main>`;
}

/** The tenant's audit log, filterable, and a check of the whole chain. */
export function Audit() {
  const [rows, error] = useLoad(() => api("GET", "/api/v1/audit?limit=500").then((r) => r.data ?? []));
  const [filter, setFilter] = useState("");
  const [check, setCheck] = useState(null);
  const [checking, setChecking] = useState(false);
  async function verify() {
    setChecking(true);
    try {
      setCheck(await api("POST", "/api/v1/audit/verify"));
    } catch (err) {
      setCheck({ intact: false, reason: err.message });
    } finally {
      setChecking(false);
    }
  }
  const f = filter.trim().toLowerCase();
  const shown = (rows ?? []).filter((r) => !f ||
    [r.actor, r.action, r.target, r.outcome].some((v) => String(v ?? "").toLowerCase().includes(f)));
  return html`<main class="admin">
    <h2>Audit log</h2>
    <div class="audit-tools">
      <input type="search" aria-label="Filter the audit log" placeholder="Filter by actor, action, target"
        value=${filter} onInput=${(e) => setFilter(e.target.value)} />
      <button onClick=${verify} disabled=${checking}>${checking ? "Verifying…" : "Verify the chain"}</button>
    </div>
    ${check && (check.intact
      ? html`<p role="status" class="ok">The audit chain is intact (checked ${when(check.verified_at)} UTC).</p>`
      : html`<p role="alert" class="error">The audit chain is broken: ${check.reason}</p>`)}
    ${error && html`<p role="alert" class="error">${error}</p>`}
    ${rows && html`<table class="audit">
      <caption>${shown.length} of the latest ${rows.length} entries</caption>
      <thead><tr><th scope="col">When (UTC)</th><th scope="col">Actor</th><th scope="col">Action</th>
        <th scope="col">Target</th><th scope="col">Outcome</th></tr></thead>
      <tbody>${shown.map((r) => html`<tr>
        <td>${when(r.at)}</td><td>${r.actor}</td><td>${r.action}</td><td class="target">${r.target}</td><td>${r.outcome}</td>
      </tr>`)}</tbody>
    </table>`}
  </main>`;
}

const VERDICTS = ["allow", "flag", "redact", "block"];
const CHECKS = [
  ["injection", "Prompt injection in questions", ["allow", "flag", "block"]],
  ["chunk_injection", "Injection inside retrieved documents", ["allow", "flag", "block"]],
  ["topic_verdict", "A denied topic in a question", VERDICTS],
  ["pii_input", "Personal data in questions (local models)", VERDICTS],
  ["pii_remote", "Personal data sent to remote models", VERDICTS],
  ["pii_ingest", "Personal data in uploaded documents", VERDICTS],
  ["pii_output", "Personal data in answers", VERDICTS],
];

// What the personal-data checks can look for (cairn_guard::PiiKind).
const PII_KINDS = [
  ["email", "email addresses"], ["phone", "phone numbers"], ["credit_card", "card numbers"],
  ["iban", "IBANs"], ["ssn", "social security numbers"], ["ip_address", "IP addresses"],
  ["secret", "secrets and keys"], ["name", "names"],
];

/** The tenant's guardrail policy (`tenant:manage`): each check's verdict and limits. */
export function Guardrails() {
  const [settings, error, reload, setError] = useLoad(() => api("GET", "/api/v1/tenant/settings"));
  const [policy, setPolicy] = useState(null);
  const [topics, setTopics] = useState("");
  const [saved, setSaved] = useState(null);
  useEffect(() => {
    if (!settings) return;
    const g = settings.effective.guard;
    setPolicy(g);
    setTopics((g.denied_topics ?? []).join("\n"));
  }, [settings]);
  const set = (key, value) => setPolicy((p) => ({ ...p, [key]: value }));
  async function save(e) {
    e.preventDefault();
    setSaved(null);
    const guard = {
      ...policy,
      denied_topics: topics.split("\n").map((t) => t.trim()).filter(Boolean),
      injection_threshold: Number(policy.injection_threshold),
      max_input_chars: Number(policy.max_input_chars),
    };
    try {
      // The settings are replaced whole: keep the tenant's other overrides.
      await api("PUT", "/api/v1/tenant/settings", { ...settings.stored, guard });
      setSaved("Saved: the policy applies to the next request.");
      reload();
    } catch (err) {
      setError(err.message);
    }
  }
  return html`<main class="admin">
    <h2>Guardrails</h2>
    ${error && html`<p role="alert" class="error">${error}</p>`}
    ${policy && html`<form class="guard" onSubmit=${save}>
      <fieldset><legend>When a check fires</legend>
        ${CHECKS.map(([key, label, options]) => html`<label>${label}
          <select value=${policy[key]} onChange=${(e) => set(key, e.target.value)}>
            ${options.map((v) => html`<option value=${v}>${v}</option>`)}
          </select></label>`)}
      </fieldset>
      <fieldset><legend>Limits</legend>
        <label>Injection score threshold (0 to 1)
          <input type="number" min="0" max="1" step="0.01" value=${policy.injection_threshold}
            onInput=${(e) => set("injection_threshold", e.target.value)} /></label>
        <label>Longest question (characters)
          <input type="number" min="1" value=${policy.max_input_chars}
            onInput=${(e) => set("max_input_chars", e.target.value)} /></label>
        <label class="check"><input type="checkbox" checked=${policy.deny_control_chars}
          onChange=${(e) => set("deny_control_chars", e.target.checked)} /> Block invisible and control characters</label>
        <label class="check"><input type="checkbox" checked=${policy.canary}
          onChange=${(e) => set("canary", e.target.checked)} /> Canary in the system prompt (blocks answers that leak it)</label>
      </fieldset>
      <fieldset><legend>Personal data the checks look for</legend>
        ${PII_KINDS.map(([kind, label]) => html`<label class="check"><input type="checkbox"
          checked=${(policy.pii_kinds ?? []).includes(kind)}
          onChange=${(e) => set("pii_kinds", e.target.checked
            ? [...(policy.pii_kinds ?? []), kind]
            : (policy.pii_kinds ?? []).filter((k) => k !== kind))} /> ${label}</label>`)}
      </fieldset>
      <label>Denied topics, one per line (a phrase, or /regex/)
        <textarea rows="4" value=${topics} onInput=${(e) => setTopics(e.target.value)}></textarea></label>
      <div><button type="submit">Save guardrails</button></div>
      ${saved && html`<p role="status">${saved}</p>`}
    </form>`}
  </main>`;
}
