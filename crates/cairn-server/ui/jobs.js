// Ingestion jobs (`jobs:read`): each file's job with its state, attempts, chunks and
// error, filtered by collection and state; refreshed every two seconds while any job
// is queued or running.

import { h } from "./vendor/preact.mjs";
import { useEffect, useState } from "./vendor/hooks.mjs";
import htm from "./vendor/htm.mjs";
import { api } from "./api.js";

const html = htm.bind(h);
const STATES = ["queued", "running", "succeeded", "dead"];
const when = (ms) => (ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 19) : "—");

/** The file a job ingests (the last part of its path). */
function fileOf(job) {
  const kind = job.kind ?? {};
  const path = kind.path ?? Object.values(kind)[0]?.path ?? "";
  return path.split("/").pop() || path || job.id;
}

export function Jobs({ collections }) {
  const [collection, setCollection] = useState("");
  const [state, setState] = useState("");
  const [jobs, setJobs] = useState(null);
  const [error, setError] = useState(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const q = new URLSearchParams({ limit: "200" });
    if (collection) q.set("collection", collection);
    if (state) q.set("state", state);
    let live = true;
    api("GET", `/api/v1/jobs?${q}`)
      .then((r) => { if (live) { setJobs(r.data ?? []); setError(null); } })
      .catch((err) => live && setError(err.message));
    return () => { live = false; };
  }, [collection, state, tick]);
  const busy = (jobs ?? []).some((j) => j.state === "queued" || j.state === "running");
  useEffect(() => {
    if (!busy) return undefined;
    const timer = setTimeout(() => setTick((t) => t + 1), 2000);
    return () => clearTimeout(timer);
  }, [busy, jobs]);
  const counts = STATES.map((s) => [s, (jobs ?? []).filter((j) => j.state === s).length]);
  return html`<main class="admin">
    <h2>Ingestion jobs</h2>
    <div class="audit-tools">
      <label>Collection <select value=${collection} onChange=${(e) => setCollection(e.target.value)}>
        <option value="">all</option>
        ${collections.map((c) => html`<option value=${c.id}>${c.id}</option>`)}
      </select></label>
      <label>State <select value=${state} onChange=${(e) => setState(e.target.value)}>
        <option value="">all</option>
        ${STATES.map((s) => html`<option value=${s}>${s}</option>`)}
      </select></label>
      <button onClick=${() => setTick((t) => t + 1)}>Refresh</button>
    </div>
    ${jobs && html`<p role="status">${counts.filter(([, n]) => n).map(([s, n]) => `${n} ${s}`).join(" · ") || "No jobs"}${busy ? " (refreshing)" : ""}</p>`}
    ${error && html`<p role="alert" class="error">${error}</p>`}
    ${jobs && jobs.length > 0 && html`<table class="jobs">
      <caption>Latest jobs${collection ? ` in ${collection}` : ""}</caption>
      <thead><tr><th scope="col">File</th><th scope="col">Collection</th><th scope="col">State</th>
        <th scope="col">Attempts</th><th scope="col">Chunks</th><th scope="col">Updated (UTC)</th>
        <th scope="col">Error</th></tr></thead>
      <tbody>${jobs.map((j) => html`<tr>
        <td>${fileOf(j)}</td><td>${j.collection}</td><td>${j.state}</td>
        <td>${j.attempts}/${j.max_attempts}</td><td>${j.chunks}</td><td>${when(j.updated_at)}</td>
        <td class="target">${j.last_error ?? "—"}</td>
      </tr>`)}</tbody>
    </table>`}
  </main>`;
}
