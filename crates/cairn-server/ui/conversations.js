// The conversations sidebar: start a new one, reopen, search (titles and messages, on
// the server), rename in place, delete after confirming.

import { h } from "./vendor/preact.mjs";
import { useEffect, useRef, useState } from "./vendor/hooks.mjs";
import htm from "./vendor/htm.mjs";
import { api } from "./api.js";

const html = htm.bind(h);

/** The caller's conversations, or those matching `query` (titles and messages). */
export function listConversations(query) {
  const q = query ? `?q=${encodeURIComponent(query)}` : "";
  return api("GET", `/api/v1/conversations${q}`).then((list) => list.data ?? []);
}

function Rename({ conversation, onDone, onCancel }) {
  const [title, setTitle] = useState(conversation.title || "");
  const [error, setError] = useState(null);
  const input = useRef(null);
  useEffect(() => { input.current?.focus(); input.current?.select(); }, []);
  async function save(e) {
    e.preventDefault();
    try {
      await api("PATCH", `/api/v1/conversations/${encodeURIComponent(conversation.id)}`,
        { title: title.trim() });
      onDone();
    } catch (err) {
      setError(err.message);
    }
  }
  return html`<form class="rename" onSubmit=${save}
      onKeyDown=${(e) => { if (e.key === "Escape") onCancel(); }}>
    <input ref=${input} aria-label="Conversation title" value=${title} maxlength="200" required
      onInput=${(e) => setTitle(e.target.value)} />
    <button type="submit" disabled=${!title.trim()}>Save</button>
    <button type="button" onClick=${onCancel}>Cancel</button>
    ${error && html`<span role="alert" class="error">${error}</span>`}
  </form>`;
}

/**
 * `list` is what `onSearch(query)` last loaded; `onChanged` reloads it after a rename.
 */
export function Conversations({ list, current, onOpen, onNew, onDelete, onSearch, onChanged }) {
  const [query, setQuery] = useState("");
  const [editing, setEditing] = useState(null);
  const first = useRef(true);
  useEffect(() => {
    // The first load at once; typing waits for a pause.
    const wait = first.current ? 0 : 250;
    first.current = false;
    const timer = setTimeout(() => onSearch(query.trim()), wait);
    return () => clearTimeout(timer);
  }, [query]);
  return html`<nav class="conversations" aria-label="Conversations">
    <div class="conversation-tools">
      <button class="new" onClick=${onNew}>New conversation</button>
      <input type="search" aria-label="Search conversations" placeholder="Search conversations"
        value=${query} onInput=${(e) => setQuery(e.target.value)} />
    </div>
    ${query.trim() && list.length === 0 && html`<p class="hint" role="status">No conversation matches.</p>`}
    <ul>${list.map((c) => html`<li class=${c.id === current ? "current" : ""}>
      ${editing === c.id
        ? html`<${Rename} conversation=${c} onCancel=${() => setEditing(null)}
            onDone=${() => { setEditing(null); onChanged(); }} />`
        : html`<a href=${`#conversation-${c.id}`} aria-current=${c.id === current ? "page" : undefined}
            onClick=${(e) => { e.preventDefault(); onOpen(c); }}>${c.title || "Untitled"}</a>
          <button class="rename-button" aria-label=${`Rename ${c.title || "conversation"}`}
            onClick=${() => setEditing(c.id)}>✎</button>
          <button class="delete" aria-label=${`Delete ${c.title || "conversation"}`}
            onClick=${() => onDelete(c)}>×</button>`}
    </li>`)}</ul>
  </nav>`;
}
