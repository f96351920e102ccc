// Assistants: saved combinations of collections, instructions and a model that people
// pick in the chat (anyone who may ask), managed here by editors and above. Also the
// models a tenant may answer with, for the chat's model picker.

import { h } from "./vendor/preact.mjs";
import { useEffect, useState } from "./vendor/hooks.mjs";
import htm from "./vendor/htm.mjs";
import { api } from "./api.js";

const html = htm.bind(h);

/** The tenant's assistants (empty when the caller may not list them). */
export function loadAssistants() {
  return api("GET", "/api/v1/assistants").then((r) => r.data ?? []).catch(() => []);
}

/** Models the tenant's callers may answer with besides its default: remote models and
 * routes its allow-list lets through (`GET /v1/models`). */
export function loadModels() {
  return api("GET", "/v1/models")
    .then((r) => (r.data ?? []).filter((m) => m.owned_by === "remote" || m.owned_by === "route").map((m) => m.id))
    .catch(() => []);
}

const EMPTY = { id: "", name: "", collections: [], instructions: "", model: "" };

/** Every collection an assistant answers from, its first first. */
const allOf = (a) => [a.collection, ...(a.collections ?? [])];

export function Assistants({ collections }) {
  const [list, setList] = useState(null);
  const [models, setModels] = useState([]);
  const fresh = () => ({ ...EMPTY, collections: collections[0] ? [collections[0].id] : [] });
  const [form, setForm] = useState(fresh);
  const [error, setError] = useState(null);
  const [done, setDone] = useState(null);
  const reload = () => api("GET", "/api/v1/assistants").then((r) => setList(r.data ?? []))
    .catch((e) => setError(e.message));
  useEffect(() => { reload(); loadModels().then(setModels); }, []);
  const set = (key) => (e) => setForm((f) => ({ ...f, [key]: e.target.value }));
  // Checked collections keep the order they were checked in.
  const toggle = (id) => (e) => setForm((f) => ({
    ...f,
    collections: e.target.checked ? [...f.collections.filter((c) => c !== id), id]
      : f.collections.filter((c) => c !== id),
  }));
  async function save(e) {
    e.preventDefault();
    setError(null);
    setDone(null);
    const id = form.id.trim();
    if (form.collections.length === 0) {
      setError("Pick at least one collection.");
      return;
    }
    try {
      await api("PUT", `/api/v1/assistants/${encodeURIComponent(id)}`, {
        name: form.name.trim(), collections: form.collections, instructions: form.instructions,
        model: form.model || null,
      });
      setDone(`Saved the assistant "${form.name.trim()}".`);
      setForm(fresh());
      reload();
    } catch (err) {
      setError(err.message);
    }
  }
  async function remove(a) {
    if (!window.confirm(`Delete the assistant "${a.name}"?`)) return;
    try {
      await api("DELETE", `/api/v1/assistants/${encodeURIComponent(a.id)}`);
      reload();
    } catch (err) {
      setError(err.message);
    }
  }
  return html`<main class="admin">
    <h2>Assistants</h2>
    <form class="guard" onSubmit=${save}>
      <label>Assistant id (a-z, 0-9, - and _) <input value=${form.id} onInput=${set("id")}
        pattern="[a-z0-9_\\-]+" required /></label>
      <label>Assistant name <input value=${form.name} onInput=${set("name")} required /></label>
      <fieldset class="collections"><legend>Answers from collections (up to 8)</legend>
        ${collections.map((c) => html`<label><input type="checkbox" checked=${form.collections.includes(c.id)}
          disabled=${!form.collections.includes(c.id) && form.collections.length >= 8}
          onChange=${toggle(c.id)} /> ${c.id}</label>`)}</fieldset>
      <label>Answers with model <select value=${form.model} onChange=${set("model")}>
        <option value="">the tenant's default</option>
        ${models.map((m) => html`<option value=${m}>${m}</option>`)}</select></label>
      <label>Instructions (added after the grounding rules)
        <textarea rows="4" maxlength="4000" value=${form.instructions} onInput=${set("instructions")}></textarea></label>
      <div><button type="submit">Save assistant</button></div>
    </form>
    ${done && html`<p role="status">${done}</p>`}
    ${error && html`<p role="alert" class="error">${error}</p>`}
    ${list && html`<table class="assistants">
      <caption>Assistants people can pick in the chat</caption>
      <thead><tr><th scope="col">Name</th><th scope="col">Collections</th><th scope="col">Model</th>
        <th scope="col">Instructions</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
      <tbody>${list.length === 0 && html`<tr><td colspan="5">No assistants yet.</td></tr>`}
        ${list.map((a) => html`<tr>
        <td>${a.name}<div class="hint">${a.id}</div></td><td>${allOf(a).join(", ")}</td><td>${a.model ?? "default"}</td>
        <td class="target">${a.instructions || "—"}</td>
        <td><div class="actions">
          <button aria-label=${`Edit ${a.name}`} onClick=${() => setForm({ ...a, collections: allOf(a), model: a.model ?? "" })}>Edit</button>
          <button aria-label=${`Delete ${a.name}`} onClick=${() => remove(a)}>Delete</button>
        </div></td>
      </tr>`)}</tbody>
    </table>`}
  </main>`;
}
