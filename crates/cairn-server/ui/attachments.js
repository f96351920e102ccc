// Files attached to a conversation: ingested into the conversation's private collection
// (readable by its owner only) and searched with every question asked in it. Attaching
// before the first question starts the conversation.

import { h } from "./vendor/preact.mjs";
import { useEffect, useRef, useState } from "./vendor/hooks.mjs";
import htm from "./vendor/htm.mjs";
import { api, credentials } from "./api.js";

const html = htm.bind(h);

const path = (conversation) => `/api/v1/conversations/${encodeURIComponent(conversation)}/attachments`;

/** The file name a document was attached as. */
const nameOf = (doc) => (doc.source ?? "").replace(/^upload:/, "") || doc.title;

/** Sends one file; resolves with the stored document, rejects with the API's message. */
async function send(conversation, file) {
  const form = new FormData();
  form.append("file", file, file.name);
  const res = await fetch(path(conversation), { method: "POST", headers: credentials("POST"), body: form });
  let body = null;
  try { body = await res.json(); } catch (_) { /* not JSON */ }
  if (res.ok) return body;
  if (res.status === 413) throw new Error("too large for this server's upload limit.");
  throw new Error(body?.error?.message ?? `the server answered ${res.status}.`);
}

/**
 * The files of `conversation` with a button to attach more. `start(title)` creates the
 * conversation when there is none yet and resolves with its id; `onBusy(true)` while
 * files are being attached (a question asked meanwhile would not see them).
 */
export function Attachments({ conversation, start, disabled, onBusy }) {
  const [files, setFiles] = useState([]);
  const [busy, setBusy] = useState(null);
  const [error, setError] = useState(null);
  const input = useRef(null);
  useEffect(() => {
    setError(null);
    if (!conversation) { setFiles([]); return; }
    api("GET", path(conversation)).then((r) => setFiles(r.data ?? []))
      .catch((err) => setError(err.message));
  }, [conversation]);

  async function attach(list) {
    setError(null);
    let id = conversation;
    const failed = [];
    onBusy?.(true);
    for (const file of list) {
      setBusy(file.name);
      try {
        id = id ?? (await start(file.name));
        const doc = await send(id, file);
        setFiles((fs) => [...fs.filter((f) => f.id !== doc.id && nameOf(f) !== nameOf(doc)), doc]);
      } catch (err) {
        failed.push(`${file.name}: ${err.message}`);
      }
    }
    setBusy(null);
    onBusy?.(false);
    if (failed.length) setError(`Not attached: ${failed.join("; ")}`);
    if (input.current) input.current.value = "";
  }
  async function remove(doc) {
    try {
      await api("DELETE", `${path(conversation)}/${encodeURIComponent(doc.id)}`);
      setFiles((fs) => fs.filter((f) => f.id !== doc.id));
    } catch (err) {
      setError(err.message);
    }
  }
  return html`<div class="attachments" role="group" aria-label="Attached files">
    ${files.length > 0 && html`<ul class="chips">${files.map((f) => html`<li class="chip">
      <span>${nameOf(f)}</span>
      <button type="button" aria-label=${`Remove ${nameOf(f)}`} onClick=${() => remove(f)}>×</button>
    </li>`)}</ul>`}
    <label class="attach">Attach files
      <input ref=${input} type="file" multiple disabled=${disabled || !!busy}
        onChange=${(e) => attach([...e.target.files])} /></label>
    ${busy && html`<span role="status">Attaching ${busy}…</span>`}
    ${error && html`<p role="alert" class="error">${error}</p>`}
  </div>`;
}
