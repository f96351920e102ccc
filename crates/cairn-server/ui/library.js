// The library: collections (create with their chunking settings, delete) and their
// documents (status, chunks, quality flags, who may read them, delete), and uploads of
// several files with per-file progress and an optional ACL: each file goes up as an
// asynchronous upload (`Prefer: respond-async`) and its ingest job is followed through
// the jobs API until the document is indexed or the job fails. Every control appears
// only for a role that may use it; the server checks again.

import { h } from "./vendor/preact.mjs";
import { useEffect, useState } from "./vendor/hooks.mjs";
import htm from "./vendor/htm.mjs";
import { api, credentials } from "./api.js";

const html = htm.bind(h);

/**
 * Uploads one file to `collection` with XMLHttpRequest (fetch reports no upload
 * progress); `progress(0..1)` as bytes go out. Resolves with the ingest job the server
 * stored the file with, rejects with the API's message.
 */
function upload(collection, file, acl, progress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/v1/collections/${encodeURIComponent(collection)}/documents`);
    for (const [name, value] of Object.entries(credentials("POST"))) xhr.setRequestHeader(name, value);
    xhr.setRequestHeader("Prefer", "respond-async");
    xhr.upload.onprogress = (e) => e.lengthComputable && progress(e.loaded / e.total);
    xhr.onerror = () => reject(new Error("The upload failed: the server could not be reached."));
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body?.job ?? body);
      else if (xhr.status === 413) reject(new Error("Too large for this server's upload limit."));
      else reject(new Error(body?.error?.message ?? `The server answered ${xhr.status}.`));
    };
    const form = new FormData();
    form.append("file", file, file.name);
    if (acl) form.append("acl", JSON.stringify(acl));
    xhr.send(form);
  });
}

/** How long to wait between two looks at an ingest job, in ms. */
const POLL_MS = 400;

/** A job's state in words, while it runs. */
function working(job) {
  if (job.state === "queued") return job.attempts > 0 ? `waiting to retry (${job.last_error ?? "failed"})` : "queued";
  if (job.state === "running") return job.attempts > 1 ? `indexing, attempt ${job.attempts}` : "indexing";
  return job.state;
}

/**
 * Follows ingest job `job` until it ends, reporting its state with `step(text)`;
 * resolves with the document it stored, rejects with the job's error.
 */
async function finished(job, step) {
  for (;;) {
    if (job.state === "succeeded") {
      return job.document ? api("GET", `/api/v1/documents/${encodeURIComponent(job.document)}`) : null;
    }
    if (job.state === "dead") throw new Error(job.last_error ?? "The ingest job failed.");
    step(working(job));
    await new Promise((r) => setTimeout(r, POLL_MS));
    job = await api("GET", `/api/v1/jobs/${encodeURIComponent(job.id)}`);
  }
}

/** What became of an uploaded file (the stored document the API returns). */
function outcome(doc) {
  if (doc?.status === "skipped") {
    const why = [doc.quality?.near_empty && "near-empty", doc.quality?.mostly_links && "mostly links",
      doc.quality?.duplicate_of && "a duplicate"].filter(Boolean).join(", ");
    return { ok: true, text: `stored but not indexed${why ? ` (${why})` : ""}` };
  }
  const n = doc?.chunk_count ?? 0;
  return { ok: true, text: `indexed, ${n} chunk${n === 1 ? "" : "s"}` };
}

/** `"a, b"` → `["a", "b"]`. */
const names = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);

/** Who may read a document, in words. */
function readers(acl) {
  const who = [...(acl?.users ?? []).map((u) => `user ${u}`), ...(acl?.groups ?? []).map((g) => `group ${g}`)];
  return who.length ? who.join(", ") : "everyone in the tenant";
}

function Uploads({ collection, onDone }) {
  const [files, setFiles] = useState([]);
  const [over, setOver] = useState(false);
  const [users, setUsers] = useState("");
  const [groups, setGroups] = useState("");
  function set(i, change) {
    setFiles((fs) => fs.map((f, j) => (j === i ? { ...f, ...change } : f)));
  }
  async function send(list) {
    const start = files.length;
    setFiles((fs) => [...fs, ...list.map((file) => ({ name: file.name, progress: 0, result: null }))]);
    const acl = names(users).length || names(groups).length
      ? { users: names(users), groups: names(groups) } : null;
    await Promise.all(list.map(async (file, k) => {
      const i = start + k;
      try {
        const job = await upload(collection, file, acl, (p) => set(i, { progress: p }));
        set(i, { progress: 1, step: "uploaded" });
        const doc = await finished(job, (step) => set(i, { step }));
        set(i, { step: null, result: outcome(doc) });
      } catch (err) {
        const text = err.message.includes(file.name) ? err.message : `${file.name}: ${err.message}`;
        set(i, { step: null, result: { ok: false, text } });
      }
    }));
    onDone();
  }
  function drop(e) {
    e.preventDefault();
    setOver(false);
    send([...e.dataTransfer.files]);
  }
  return html`<section class="uploads" aria-label="Upload">
    <div class=${`drop ${over ? "over" : ""}`} onDragOver=${(e) => { e.preventDefault(); setOver(true); }}
      onDragLeave=${() => setOver(false)} onDrop=${drop}>
      <label>Upload documents
        <input type="file" multiple aria-label="Upload documents"
          onChange=${(e) => { send([...e.target.files]); e.target.value = ""; }} />
      </label>
      <span class="hint">or drop files here</span>
    </div>
    <fieldset class="acl">
      <legend>Who may read these files (empty: everyone in the tenant)</legend>
      <label>Users <input value=${users} placeholder="alice, bob" onInput=${(e) => setUsers(e.target.value)} /></label>
      <label>Groups <input value=${groups} placeholder="eng, hr" onInput=${(e) => setGroups(e.target.value)} /></label>
    </fieldset>
    ${files.length > 0 && html`<ul class="upload-list">${files.map((f) => html`<li>
      <span class="name">${f.name}</span>
      <progress max="1" value=${f.progress} aria-label=${`Uploading ${f.name}`}></progress>
      ${f.step && !f.result && html`<span class="step">${f.step}</span>`}
      ${f.result && html`<span class=${f.result.ok ? "ok" : "error"} role=${f.result.ok ? "status" : "alert"}>
        ${f.result.text}</span>`}
    </li>`)}</ul>`}
  </section>`;
}

function Documents({ collection, can, version }) {
  const [docs, setDocs] = useState(null);
  const [error, setError] = useState(null);
  const load = () =>
    api("GET", `/api/v1/collections/${encodeURIComponent(collection)}/documents`)
      .then((r) => setDocs(r.data ?? []))
      .catch((err) => setError(err.message));
  useEffect(() => { setDocs(null); load(); }, [collection, version]);
  async function remove(d) {
    if (!window.confirm(`Delete "${d.title || d.source}" and its chunks?`)) return;
    try {
      await api("DELETE", `/api/v1/documents/${encodeURIComponent(d.id)}`);
      load();
    } catch (err) {
      setError(err.message);
    }
  }
  if (error) return html`<p role="alert" class="error">${error}</p>`;
  if (!docs) return html`<p class="hint">Loading documents…</p>`;
  if (docs.length === 0) return html`<p class="hint">No documents in this collection yet.</p>`;
  const flags = (q) => [
    q?.near_empty && "near-empty", q?.mostly_links && "mostly links",
    q?.duplicate_of && "duplicate", q?.near_duplicate_of && "near-duplicate",
  ].filter(Boolean).join(", ");
  return html`<table class="documents">
    <caption>Documents in ${collection}</caption>
    <thead><tr><th scope="col">Document</th><th scope="col">Status</th>
      <th scope="col">Chunks</th><th scope="col">Quality</th><th scope="col">Readable by</th>
      ${can("documents:delete") && html`<th scope="col"><span class="visually-hidden">Actions</span></th>`}</tr></thead>
    <tbody>${docs.map((d) => html`<tr>
      <td>${d.title || d.source}<div class="hint">${d.source}</div></td>
      <td>${d.status}</td><td>${d.chunk_count}</td><td>${flags(d.quality) || "—"}</td><td>${readers(d.acl)}</td>
      ${can("documents:delete") && html`<td><button aria-label=${`Delete ${d.title || d.source}`}
        onClick=${() => remove(d)}>Delete</button></td>`}
    </tr>`)}</tbody>
  </table>`;
}

const CHUNKERS = [
  ["recursive", "Recursive (paragraphs, then sentences)"],
  ["structure", "By heading section"],
  ["sliding", "Fixed windows"],
  ["parent_child", "Parent sections with small children"],
];

/** A new collection's chunking; `null` keeps the server's configured `[chunking]`. */
function Chunking({ value, onChange }) {
  const v = value ?? { kind: "recursive", max_tokens: 512, overlap_tokens: 64, child_tokens: 128 };
  const set = (key, raw) => onChange({ ...v, [key]: key === "kind" ? raw : Number(raw) });
  return html`<details class="chunking" open=${value !== null}>
    <summary>Chunking${value ? `: ${value.kind}, ${value.max_tokens} tokens` : " (server default)"}</summary>
    <label>Chunker <select value=${v.kind} onChange=${(e) => set("kind", e.target.value)}>
      ${CHUNKERS.map(([k, label]) => html`<option value=${k}>${label}</option>`)}
    </select></label>
    <label>Largest chunk (tokens) <input type="number" min="16" max="8192" value=${v.max_tokens}
      onInput=${(e) => set("max_tokens", e.target.value)} /></label>
    <label>Overlap (tokens) <input type="number" min="0" value=${v.overlap_tokens}
      onInput=${(e) => set("overlap_tokens", e.target.value)} /></label>
    ${v.kind === "parent_child" && html`<label>Child chunk (tokens) <input type="number" min="16"
      value=${v.child_tokens} onInput=${(e) => set("child_tokens", e.target.value)} /></label>`}
    ${value && html`<button type="button" onClick=${() => onChange(null)}>Use the server default</button>`}
  </details>`;
}

export function Library({ me, collections, onChanged }) {
  const can = (p) => (me.permissions ?? []).includes(p);
  const [selected, setSelected] = useState(collections[0]?.id ?? "");
  const [name, setName] = useState("");
  const [chunking, setChunking] = useState(null);
  const [error, setError] = useState(null);
  const [version, setVersion] = useState(0);
  useEffect(() => {
    if (!collections.some((c) => c.id === selected)) setSelected(collections[0]?.id ?? "");
  }, [collections]);
  async function create(e) {
    e.preventDefault();
    setError(null);
    try {
      const body = { id: name.trim() };
      if (chunking) body.chunking = chunking;
      const c = await api("POST", "/api/v1/collections", body);
      setName("");
      setChunking(null);
      await onChanged();
      setSelected(c.id);
    } catch (err) {
      setError(err.message);
    }
  }
  async function remove(c) {
    if (!window.confirm(`Delete the collection "${c.id}" and every document in it?`)) return;
    try {
      await api("DELETE", `/api/v1/collections/${encodeURIComponent(c.id)}`);
      await onChanged();
    } catch (err) {
      setError(err.message);
    }
  }
  return html`<main class="library">
    <section aria-label="Collections" class="collections">
      <h2>Collections</h2>
      <ul>${collections.map((c) => html`<li class=${c.id === selected ? "current" : ""}>
        <button class="pick" aria-pressed=${c.id === selected} onClick=${() => setSelected(c.id)}>${c.id}</button>
        ${can("collections:manage") && html`<button class="delete" aria-label=${`Delete collection ${c.id}`}
          onClick=${() => remove(c)}>×</button>`}
      </li>`)}</ul>
      ${can("collections:manage") && html`<form onSubmit=${create} class="create">
        <input aria-label="New collection name" placeholder="new-collection" value=${name}
          pattern="[a-z0-9_\\-]+" title="Lowercase letters, digits, - and _"
          onInput=${(e) => setName(e.target.value)} required />
        <button type="submit">Create</button>
        <${Chunking} value=${chunking} onChange=${setChunking} />
      </form>`}
      ${error && html`<p role="alert" class="error">${error}</p>`}
    </section>
    <section aria-label="Documents" class="docs">
      ${selected && can("documents:write") && html`<${Uploads} collection=${selected}
        onDone=${() => setVersion((v) => v + 1)} />`}
      ${selected && html`<${Documents} collection=${selected} can=${can} version=${version} />`}
      ${!selected && html`<p class="hint">No collection yet${can("collections:manage") ? ": create one." : "."}</p>`}
    </section>
  </main>`;
}
