// Administration: the tenant's API keys. A new or rotated key's token is shown once,
// in the page only (never stored by it); revoking asks first. Shown to roles with
// `keys:manage`; the server checks every call again (a role can only hand out keys of
// its own rank or below).

import { h } from "./vendor/preact.mjs";
import { useEffect, useState } from "./vendor/hooks.mjs";
import htm from "./vendor/htm.mjs";
import { api } from "./api.js";

const html = htm.bind(h);
const ROLES = ["viewer", "member", "editor", "admin", "owner"];
const day = (ms) => (ms ? new Date(ms).toISOString().slice(0, 10) : "—");

/** A token shown once, with a way to copy it. */
function Reveal({ token, onDone }) {
  const [copied, setCopied] = useState(false);
  async function copy() {
    try {
      await navigator.clipboard.writeText(token);
      setCopied(true);
    } catch (_) { /* no clipboard: the token is selectable */ }
  }
  return html`<div class="reveal" role="alert">
    <p>Copy this token now: it is shown once and cannot be read again.</p>
    <code class="token">${token}</code>
    <div class="actions">
      <button onClick=${copy}>${copied ? "Copied" : "Copy token"}</button>
      <button onClick=${onDone}>Done</button>
    </div>
  </div>`;
}

export function Keys({ me }) {
  const [keys, setKeys] = useState(null);
  const [error, setError] = useState(null);
  const [token, setToken] = useState(null);
  const [name, setName] = useState("");
  const [role, setRole] = useState("member");
  const [user, setUser] = useState("");
  const [days, setDays] = useState("");
  const [scopes, setScopes] = useState([]);
  const [rpm, setRpm] = useState("");
  const [tpm, setTpm] = useState("");
  const toggle = (s) => setScopes((all) => (all.includes(s) ? all.filter((x) => x !== s) : [...all, s]));
  const rank = ROLES.indexOf(me.role);
  const load = () => api("GET", "/api/v1/keys").then((r) => setKeys(r.data ?? [])).catch((e) => setError(e.message));
  useEffect(() => { load(); }, []);

  async function create(e) {
    e.preventDefault();
    setError(null);
    try {
      const body = { name: name.trim(), role };
      if (user.trim()) body.user = user.trim();
      if (Number(days) > 0) body.expires_in_days = Number(days);
      if (scopes.length) body.scopes = scopes;
      if (Number(rpm) > 0) body.rpm = Number(rpm);
      if (Number(tpm) > 0) body.tpm = Number(tpm);
      const made = await api("POST", "/api/v1/keys", body);
      setToken(made.token);
      setName("");
      setScopes([]);
      load();
    } catch (err) {
      setError(err.message);
    }
  }
  async function rotate(k) {
    try {
      const made = await api("POST", `/api/v1/keys/${encodeURIComponent(k.id)}/rotate`);
      setToken(made.token);
      load();
    } catch (err) {
      setError(err.message);
    }
  }
  async function revoke(k) {
    if (!window.confirm(`Revoke the key "${k.name}"? Clients using it stop working at once.`)) return;
    try {
      await api("DELETE", `/api/v1/keys/${encodeURIComponent(k.id)}`);
      load();
    } catch (err) {
      setError(err.message);
    }
  }
  return html`<main class="admin">
    <h2>API keys</h2>
    ${token && html`<${Reveal} token=${token} onDone=${() => setToken(null)} />`}
    <form class="new-key" onSubmit=${create}>
      <label>Name <input value=${name} onInput=${(e) => setName(e.target.value)} required /></label>
      <label>Role <select value=${role} onChange=${(e) => setRole(e.target.value)}>
        ${ROLES.filter((r, i) => rank < 0 || i <= rank).map((r) => html`<option value=${r}>${r}</option>`)}
      </select></label>
      <label>User (optional) <input value=${user} onInput=${(e) => setUser(e.target.value)} /></label>
      <label>Expires in days <input type="number" min="1" value=${days} onInput=${(e) => setDays(e.target.value)} /></label>
      <label>Requests per minute <input type="number" min="1" value=${rpm} onInput=${(e) => setRpm(e.target.value)} /></label>
      <label>Tokens per minute <input type="number" min="1" value=${tpm} onInput=${(e) => setTpm(e.target.value)} /></label>
      <fieldset class="scopes"><legend>Limit to (none: everything the role allows)</legend>
        ${(me.permissions ?? []).map((p) => html`<label class="check"><input type="checkbox"
          checked=${scopes.includes(p)} onChange=${() => toggle(p)} /> ${p}</label>`)}
      </fieldset>
      <button type="submit">Create key</button>
    </form>
    ${error && html`<p role="alert" class="error">${error}</p>`}
    ${keys && html`<table class="keys">
      <caption>Keys of ${me.tenant}</caption>
      <thead><tr><th scope="col">Name</th><th scope="col">Role</th><th scope="col">User</th>
        <th scope="col">Scopes</th><th scope="col">Limits</th>
        <th scope="col">Expires</th><th scope="col">State</th>
        <th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
      <tbody>${keys.map((k) => html`<tr>
        <td>${k.name}</td><td>${k.role}</td><td>${k.user ?? "service"}</td>
        <td>${(k.scopes ?? []).join(", ") || "all of the role"}</td>
        <td>${[k.rpm && `${k.rpm} req/min`, k.tpm && `${k.tpm} tok/min`].filter(Boolean).join(", ") || "default"}</td>
        <td>${day(k.expires_at)}</td><td>${k.revoked_at ? `revoked ${day(k.revoked_at)}` : "active"}</td>
        <td>${!k.revoked_at && html`<div class="actions">
          <button aria-label=${`Rotate ${k.name}`} onClick=${() => rotate(k)}>Rotate</button>
          <button aria-label=${`Revoke ${k.name}`} onClick=${() => revoke(k)}>Revoke</button></div>`}</td>
      </tr>`)}</tbody>
    </table>`}
  </main>`;
}
