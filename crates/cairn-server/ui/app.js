// Cairn's web application: sign in (single sign-on, or an API key), pick a collection, ask, read the
// streamed answer, open its sources. Preact + htm as ES modules, no build step; every
// call goes to the public /api/v1 API, so whatever the page does a script can do.

import { h, render } from "./vendor/preact.mjs";
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "./vendor/hooks.mjs";
import htm from "./vendor/htm.mjs";
import { api, askStream, ApiError, resumeSso, session, signOut as endSession } from "./api.js";
import { answerHtml, splitQuote } from "./render.js";
import { Library } from "./library.js";
import { Search } from "./search.js";
import { Keys } from "./admin.js";
import { Conversations, listConversations } from "./conversations.js";
import { Audit, Guardrails, Usage, Users } from "./manage.js";
import { Jobs } from "./jobs.js";
import { Traces } from "./traces.js";
import { Assistants, loadAssistants, loadModels } from "./assistants.js";
import { Attachments } from "./attachments.js";

const html = htm.bind(h);

/** The reason single sign-on failed, from the callback's redirect (then off the URL). */
function ssoError() {
  const params = new URLSearchParams(location.search);
  const why = params.get("sso_error");
  if (why) history.replaceState(null, "", location.pathname + location.hash);
  return why ? `Single sign-on failed: ${why}` : null;
}

function SsoButton() {
  const [sso, setSso] = useState(null);
  useEffect(() => {
    api("GET", "/api/v1/auth/config").then((c) => setSso(c.sso)).catch(() => setSso(null));
  }, []);
  if (!sso?.enabled) return null;
  const back = encodeURIComponent("/" + location.hash);
  return html`<div class="sso">
    <a class="button primary" href=${`${sso.login_url}?return_to=${back}`}>Sign in with ${sso.name}</a>
    <p class="divider"><span>or with an API key</span></p>
  </div>`;
}

function SignIn({ onSignedIn, notice }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState(() => ssoError() ?? notice);
  const [busy, setBusy] = useState(false);
  async function submit(e) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    session.set(key.trim());
    try {
      onSignedIn(await api("GET", "/api/v1/me"));
    } catch (err) {
      session.clear();
      setError(err.status === 401 ? "That key was not accepted." : err.message);
    } finally {
      setBusy(false);
    }
  }
  return html`<main class="signin">
    <h1>Cairn</h1>
    <${SsoButton} />
    <form onSubmit=${submit}>
      <label for="key">API key</label>
      <input id="key" type="password" autocomplete="off" aria-label="API key"
        value=${key} onInput=${(e) => setKey(e.target.value)} required />
      <button type="submit" disabled=${busy || !key.trim()}>Sign in</button>
      ${error && html`<p role="alert" class="error">${error}</p>`}
    </form>
    <p class="hint">The key stays in this tab (session storage) and is forgotten when you sign out.</p>
  </main>`;
}

function SourcePanel({ source, onClose }) {
  const ref = useRef(null);
  // A layout effect: the panel takes focus and Escape before anyone can press a key.
  useLayoutEffect(() => {
    if (!source) return undefined;
    // Focus moves into the panel, Escape (from anywhere) closes it, and focus goes back
    // to what opened it.
    const opener = document.activeElement;
    ref.current?.focus();
    const onKey = (e) => { if (e.key === "Escape") onClose(); };
    document.addEventListener("keydown", onKey);
    return () => {
      document.removeEventListener("keydown", onKey);
      if (opener?.isConnected) opener.focus();
    };
  }, [source]);
  if (!source) return null;
  const [before, quoted, after] = splitQuote(source.text ?? "", source.quote_start, source.quote_end);
  const where = [source.source, source.page ? `page ${source.page}` : null].filter(Boolean).join(", ");
  return html`<aside role="complementary" aria-label="Source" class="source" id=${`source-${source.n}`}>
    <header>
      <h2 tabindex="-1" ref=${ref}>[${source.n}] ${source.title || source.source}</h2>
      <button class="close" onClick=${onClose} aria-label="Close the source">×</button>
    </header>
    ${source.heading_path?.length > 0 && html`<p class="path">${source.heading_path.join(" › ")}</p>`}
    ${where && html`<p class="where">${where}</p>`}
    <p class="chunk">${before}${quoted && html`<mark>${quoted}</mark>`}${after}</p>
  </aside>`;
}

/** The citation `n` of `answer` joined with its source's text. */
function sourceFor(answer, n) {
  const cite = answer.citations?.find((c) => c.n === n);
  const src = answer.sources?.find((s) => s.n === n);
  if (!cite && !src) return null;
  return { ...src, ...cite, text: src?.text ?? cite?.quote ?? "" };
}

function Feedback({ answerId }) {
  const [sent, setSent] = useState(null);
  const [error, setError] = useState(null);
  const [comment, setComment] = useState("");
  async function rate(rating) {
    const body = comment.trim() ? { rating, comment: comment.trim() } : { rating };
    try {
      await api("POST", `/api/v1/answers/${encodeURIComponent(answerId)}/feedback`, body);
      setSent(rating);
    } catch (err) {
      setError(err.message);
    }
  }
  if (sent) return html`<p class="feedback" role="status">Thanks for the feedback.</p>`;
  return html`<div class="feedback" role="group" aria-label="Was this answer useful?">
    <input class="comment" aria-label="Comment on this answer (optional)" placeholder="Comment (optional)"
      value=${comment} maxlength="2000" onInput=${(e) => setComment(e.target.value)} />
    <button onClick=${() => rate("up")}>Useful</button>
    <button onClick=${() => rate("down")}>Not useful</button>
    ${error && html`<span class="error">${error}</span>`}
  </div>`;
}

function Copy({ text }) {
  const [copied, setCopied] = useState(false);
  async function copy() {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(true);
      setTimeout(() => setCopied(false), 2000);
    } catch (_) { /* no clipboard (insecure context): nothing to do */ }
  }
  return html`<button onClick=${copy}>${copied ? "Copied" : "Copy"}</button>`;
}

/**
 * Where an answer's time went, as a waterfall: each stage from where it started to where
 * it ended against the whole answer (the stages run one after another; a retrieval
 * step is drawn from the start of retrieval; the first token is counted from the start).
 */
function Timings({ t }) {
  if (!t?.total_ms) return null;
  const s = t.search ?? {};
  const n = (v) => (typeof v === "number" && v > 0 ? v : 0);
  const retrievalAt = n(t.condense_ms);
  const compressAt = retrievalAt + n(t.retrieval_ms);
  const generationAt = compressAt + n(t.compress_ms);
  const groundingAt = generationAt + n(t.generation_ms);
  const stages = [
    ["Follow-up condensing", 0, t.condense_ms],
    ["Retrieval", retrievalAt, t.retrieval_ms],
    ["  query embedding", retrievalAt, s.embed_ms],
    ["  lexical search", retrievalAt, s.lexical_ms],
    ["  dense search", retrievalAt, s.dense_ms],
    ["  rerank", retrievalAt, s.rerank_ms],
    ["Context compression", compressAt, t.compress_ms],
    ["Time to first token", 0, t.first_token_ms],
    ["Generation", generationAt, t.generation_ms],
    ["Grounding check", groundingAt, t.grounding_ms],
  ].filter(([, , ms]) => typeof ms === "number" && ms > 0);
  const total = Math.max(t.total_ms, groundingAt + n(t.grounding_ms));
  const pct = (v) => `${Math.min((v / total) * 100, 100)}%`;
  return html`<details class="timings">
    <summary>Timings: ${Math.round(t.total_ms)} ms</summary>
    <table><tbody>${stages.map(([name, at, ms]) => html`<tr>
      <th scope="row" class=${name.startsWith("  ") ? "sub" : ""}>${name.trim()}</th>
      <td class="waterfall" role="img"
        aria-label=${`${name.trim()}: from ${Math.round(at)} ms for ${Math.round(ms)} ms`}>
        <span class="span-bar"><span style=${{ left: pct(at), width: pct(Math.max(ms, total / 200)) }}></span></span></td>
      <td>${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms</td>
    </tr>`)}</tbody></table>
  </details>`;
}

/** A streaming answer's text split into its finished Markdown blocks and the open one. */
function splitStreaming(text) {
  let cut = text.lastIndexOf("\n\n");
  // A code fence still open at the cut: the block goes on until it closes.
  while (cut > 0 && (text.slice(0, cut).match(/^```/gm) ?? []).length % 2 === 1) {
    cut = text.lastIndexOf("\n\n", cut - 1);
  }
  return cut > 0 ? [text.slice(0, cut), text.slice(cut + 2)] : ["", text];
}

function Turn({ turn, onCite, onRegenerate, onTrace }) {
  const a = turn.answer;
  // A finished answer's Markdown is rendered once, not again on every token of the
  // answer streaming below it.
  const rendered = useMemo(
    () => (a && !a.abstained ? answerHtml(a.answer, new Set((a.citations ?? []).map((c) => c.n))) : ""),
    [a]);
  // Streaming: the blocks already finished (up to the last blank line outside a code
  // fence) are Markdown, rendered once each time a block ends; the block still growing
  // is plain text, so a token costs no Markdown work.
  const [done, open] = a ? ["", ""] : splitStreaming(turn.text ?? "");
  const streamed = useMemo(() => (done ? answerHtml(done, new Set()) : ""), [done]);
  if (!a) {
    return html`<article class="turn">
      <p class="question">${turn.question}</p>
      <div class="answer streaming" aria-live="polite">
        ${streamed && html`<div class="streamed" dangerouslySetInnerHTML=${{ __html: streamed }}></div>`}
        <p class="growing">${open}${turn.error ? "" : "▍"}</p></div>
      ${turn.error && html`<p role="alert" class="error">${turn.error}</p>`}
    </article>`;
  }
  function click(e) {
    const link = e.target.closest("[data-citation]");
    if (!link) return;
    e.preventDefault();
    onCite(sourceFor(a, Number(link.getAttribute("data-citation"))));
  }
  const unsupported = a.unsupported ?? [];
  return html`<article class="turn" data-answer-id=${a.id}>
    <p class="question">${turn.question}</p>
    ${a.abstained
      ? html`<div class="answer abstained"><p>No answer from these sources (${a.abstain_reason}).</p>
          ${a.answer && html`<p>${a.answer}</p>`}</div>`
      : html`<div class="answer" onClick=${click}
          dangerouslySetInnerHTML=${{ __html: rendered }}></div>`}
    <p class="meta">
      ${typeof a.confidence === "number" && html`<span>Confidence ${Math.round(a.confidence * 100)}%</span>`}
      ${a.model && html`<span>${a.model}</span>`}
      ${a.cache?.hit && html`<span>cached (${a.cache.hit})</span>`}
      ${a.trace_id && onTrace && html`<button class="link" onClick=${() => onTrace(a.trace_id)}
        aria-label="Open this answer's trace">Trace</button>`}
    </p>
    <${Timings} t=${a.timings} />
    ${unsupported.length > 0 && html`<div class="unsupported"><p>Not supported by the sources:</p>
      <ul>${unsupported.map((text) => html`<li>${text}</li>`)}</ul></div>`}
    ${(a.sources?.length ?? 0) > 0 && a.abstained
      && html`<p class="hint" id=${`closest-${a.id}`}>The closest passages found (not enough to answer):</p>`}
    ${(a.sources?.length ?? 0) > 0 && html`<ol class="sources"
      aria-label=${a.abstained ? "Closest sources" : "Sources"}>
      ${a.sources.map((s) => html`<li><a href=${`#source-${s.n}`} data-citation=${s.n}
        onClick=${(e) => { e.preventDefault(); onCite(sourceFor(a, s.n)); }}>
        ${s.title || s.source}</a></li>`)}</ol>`}
    ${turn.error && html`<p role="alert" class="error">${turn.error}</p>`}
    <div class="actions">
      <${Copy} text=${a.answer ?? ""} />
      ${onRegenerate && html`<button onClick=${onRegenerate}>Regenerate</button>`}
      ${a.id && html`<${Feedback} answerId=${a.id} />`}
    </div>
  </article>`;
}

/** A stored conversation's messages as turns (each answer's record fetched). */
async function loadTurns(id) {
  const c = await api("GET", `/api/v1/conversations/${encodeURIComponent(id)}`);
  const turns = [];
  for (const m of c.messages ?? []) {
    if (m.role === "user") turns.push({ question: m.content, text: "", answer: null, error: null });
    else if (turns.length > 0) {
      const last = turns[turns.length - 1];
      last.text = m.content;
      // The recorded answer's full record: citations, sources, grounding.
      const stored = m.answer
        ? await api("GET", `/api/v1/answers/${encodeURIComponent(m.answer)}`).catch(() => null)
        : null;
      last.answer = stored?.record ? { ...stored.record, id: stored.id } : null;
      last.answer ??= { answer: m.content, citations: [], sources: [] };
    }
  }
  for (const t of turns) {
    if (!t.answer) t.error = "No answer was recorded for this question (stopped or failed).";
  }
  return { conversation: c, turns };
}

function Chat({ me, onSignOut, onExpired }) {
  // The role shapes the page; the server stays the authority on every call.
  const can = (p) => (me.permissions ?? []).includes(p);
  const canAsk = can("ask"), canConverse = can("conversations");
  const [collections, setCollections] = useState([]);
  const [collection, setCollection] = useState("");
  const [assistants, setAssistants] = useState([]);
  const [assistant, setAssistant] = useState("");
  const [models, setModels] = useState([]);
  const [model, setModel] = useState("");
  const [conversations, setConversations] = useState([]);
  const [conversation, setConversation] = useState(null);
  const [turns, setTurns] = useState([]);
  const [question, setQuestion] = useState("");
  const [source, setSource] = useState(null);
  const [error, setError] = useState(null);
  const [asking, setAsking] = useState(false);
  const [attaching, setAttaching] = useState(false);
  const [view, setView] = useState("chat");
  // A trace opened from an answer (the Traces view shows it first).
  const [traceOpen, setTraceOpen] = useState(null);
  function openTrace(id) {
    setTraceOpen(id);
    setView("traces");
  }
  const abort = useRef(null);
  const search = useRef("");

  function refreshConversations(query = search.current) {
    search.current = query;
    return listConversations(query)
      .then((list) => { if (search.current === query) setConversations(list); })
      .catch((err) => (err.status === 401 ? onExpired() : setError(err.message)));
  }

  async function open(c) {
    if (abort.current) return;
    try {
      const loaded = await loadTurns(c.id);
      setConversation(c.id);
      if (c.collection) setCollection(c.collection);
      setTurns(loaded.turns);
      setSource(null);
    } catch (err) {
      setError(err.message);
    }
  }
  function startNew() {
    if (abort.current) return;
    setConversation(null);
    setTurns([]);
    setSource(null);
  }
  async function remove(c) {
    if (!window.confirm(`Delete the conversation "${c.title || "Untitled"}"?`)) return;
    try {
      await api("DELETE", `/api/v1/conversations/${encodeURIComponent(c.id)}`);
      if (c.id === conversation) startNew();
      refreshConversations();
    } catch (err) {
      setError(err.message);
    }
  }

  function reloadCollections() {
    return api("GET", "/api/v1/collections")
      .then((list) => {
        const items = list.data ?? list;
        setCollections(items);
        setCollection((current) =>
          items.some((c) => c.id === current) ? current : (items[0]?.id ?? ""));
      })
      .catch((err) => (err.status === 401 ? onExpired() : setError(err.message)));
  }
  useEffect(() => { reloadCollections(); }, []);
  useEffect(() => {
    if (!canAsk || view !== "chat") return;
    loadAssistants().then(setAssistants);
    loadModels().then(setModels);
  }, [view]);
  // An assistant answers from its own collections.
  const picked = assistants.find((a) => a.id === assistant);
  const asked = picked ? picked.collection : collection;

  /** Starts a stored conversation (before its first question or file). */
  async function startConversation(title) {
    const c = await api("POST", "/api/v1/conversations", { collection: asked, title: title.slice(0, 80) });
    setConversation(c.id);
    refreshConversations();
    return c.id;
  }

  function update(i, change) {
    setTurns((ts) => ts.map((t, j) => (j === i ? { ...t, ...change(t) } : t)));
  }

  async function ask(e, again) {
    e?.preventDefault();
    const q = (again ?? question).trim();
    if (!q || abort.current || attaching) return;
    if (again === undefined) setQuestion("");
    const i = turns.length;
    setTurns((ts) => [...ts, { question: q, text: "", answer: null, error: null }]);
    const controller = new AbortController();
    abort.current = controller;
    setAsking(true);
    try {
      // The first question starts a stored conversation, so follow-ups use it.
      let id = conversation;
      if (!id && canConverse) id = await startConversation(q);
      const request = { collection: asked, question: q, conversation: id ?? undefined };
      if (picked) request.assistant = picked.id;
      if (model) request.model = model;
      await askStream(request, (event, data) => {
        if (event === "delta") update(i, (t) => ({ text: t.text + (data.text ?? "") }));
        else if (event === "answer") update(i, () => ({ answer: data }));
      }, controller.signal);
    } catch (err) {
      if (err.name === "AbortError") update(i, () => ({ error: "Stopped." }));
      else if (err instanceof ApiError && err.status === 401) onExpired();
      else update(i, () => ({ error: err.message }));
    } finally {
      abort.current = null;
      setAsking(false);
      if (canConverse) refreshConversations();
    }
  }

  const header = html`<header class="top">
    <h1>Cairn</h1>
    <div role="group" aria-label="View" class="views">
      <button aria-pressed=${view === "chat"} onClick=${() => setView("chat")}>Chat</button>
      ${can("search") && html`<button aria-pressed=${view === "search"}
        onClick=${() => setView("search")}>Search</button>`}
      ${can("documents:read") && html`<button aria-pressed=${view === "library"}
        onClick=${() => setView("library")}>Library</button>`}
      ${can("collections:manage") && html`<button aria-pressed=${view === "assistants"}
        onClick=${() => setView("assistants")}>Assistants</button>`}
      ${can("jobs:read") && html`<button aria-pressed=${view === "jobs"}
        onClick=${() => setView("jobs")}>Jobs</button>`}
      ${can("keys:manage") && html`<button aria-pressed=${view === "keys"}
        onClick=${() => setView("keys")}>Keys</button>`}
      ${can("users:manage") && html`<button aria-pressed=${view === "users"}
        onClick=${() => setView("users")}>Users</button>`}
      ${can("audit:read") && html`<button aria-pressed=${view === "usage"}
        onClick=${() => setView("usage")}>Usage</button>`}
      ${can("audit:read") && html`<button aria-pressed=${view === "audit"}
        onClick=${() => setView("audit")}>Audit</button>`}
      ${can("audit:read") && html`<button aria-pressed=${view === "traces"}
        onClick=${() => { setTraceOpen(null); setView("traces"); }}>Traces</button>`}
      ${can("tenant:manage") && html`<button aria-pressed=${view === "guard"}
        onClick=${() => setView("guard")}>Guardrails</button>`}
    </div>
    ${view === "chat" && assistants.length > 0 && html`<label>Assistant
      <select value=${assistant} onChange=${(e) => { setAssistant(e.target.value); startNew(); }}
        aria-label="Assistant">
        <option value="">none</option>
        ${assistants.map((a) => html`<option value=${a.id}>${a.name}</option>`)}
      </select>
    </label>`}
    ${view === "chat" && html`<label>Collection
      <select value=${asked} onChange=${(e) => { setCollection(e.target.value); startNew(); }}
        aria-label="Collection" disabled=${!!picked}
        title=${picked?.collections?.length ? `Also: ${picked.collections.join(", ")}` : undefined}>
        ${collections.map((c) => html`<option value=${c.id}>${c.id}</option>`)}
      </select>
    </label>`}
    ${view === "chat" && canAsk && models.length > 0 && html`<label>Model
      <select value=${model} onChange=${(e) => setModel(e.target.value)} aria-label="Model">
        <option value="">${picked?.model ? `${picked.model} (the assistant's)` : "default"}</option>
        ${models.map((m) => html`<option value=${m}>${m}</option>`)}
      </select>
    </label>`}
    <span class="who">${me.user ?? me.tenant} · ${me.role}</span>
    <button onClick=${onSignOut}>Sign out</button>
  </header>`;
  const admin = { keys: () => html`<${Keys} me=${me} />`, users: () => html`<${Users} me=${me} />`,
    usage: () => html`<${Usage} />`, audit: () => html`<${Audit} />`,
    traces: () => html`<${Traces} key=${traceOpen ?? ""} initial=${traceOpen} />`,
    guard: () => html`<${Guardrails} />`, jobs: () => html`<${Jobs} collections=${collections} />`,
    assistants: () => html`<${Assistants} collections=${collections} />` };
  if (admin[view]) {
    return html`<div class="layout library-view">
      ${header}
      ${admin[view]()}
    </div>`;
  }
  if (view === "search") {
    return html`<div class="layout library-view">
      ${header}
      <${Search} collections=${collections} />
    </div>`;
  }
  if (view === "library") {
    return html`<div class="layout library-view">
      ${header}
      <${Library} me=${me} collections=${collections} onChanged=${reloadCollections} />
    </div>`;
  }
  return html`<div class="layout">
    ${header}
    ${canConverse && html`<${Conversations} list=${conversations} current=${conversation}
      onOpen=${open} onNew=${startNew} onDelete=${remove}
      onSearch=${refreshConversations} onChanged=${() => refreshConversations()} />`}
    <main class="chat">
      ${error && html`<p role="alert" class="error">${error}</p>`}
      ${collections.length === 0 && !error && html`<p class="hint">No collection yet: ingest documents first.</p>`}
      <section class="turns" aria-label="Conversation">
        ${turns.map((t) => html`<${Turn} turn=${t} onCite=${setSource}
          onRegenerate=${asking ? null : () => ask(null, t.question)}
          onTrace=${can("audit:read") ? openTrace : null} />`)}
      </section>
      ${!canAsk && html`<p class="hint" role="note">Your role (${me.role}) can search and read
        documents but not ask questions.</p>`}
      ${canAsk && html`<form class="ask" onSubmit=${ask}>
        <textarea aria-label="Ask a question" rows="2" value=${question}
          placeholder="Ask a question about this collection"
          onInput=${(e) => setQuestion(e.target.value)}
          onKeyDown=${(e) => { if (e.key === "Enter" && !e.shiftKey) ask(e); }}></textarea>
        ${asking
          ? html`<button type="button" onClick=${() => abort.current?.abort()}>Stop</button>`
          : html`<button type="submit" disabled=${!collection || !question.trim() || attaching}>Ask</button>`}
      </form>`}
      ${canAsk && canConverse && collection && html`<${Attachments} conversation=${conversation}
        start=${startConversation} disabled=${asking} onBusy=${setAttaching} />`}
    </main>
    <${SourcePanel} source=${source} onClose=${() => setSource(null)} />
  </div>`;
}

function App() {
  const [me, setMe] = useState(null);
  const [notice, setNotice] = useState(null);
  const [ready, setReady] = useState(false);
  useEffect(() => {
    const resume = session.key ? Promise.resolve(true) : resumeSso().catch(() => false);
    resume
      .then((signedIn) => (signedIn ? api("GET", "/api/v1/me").then(setMe) : null))
      .catch(() => session.clear())
      .finally(() => setReady(true));
  }, []);
  async function signOut(message) {
    await endSession();
    setMe(null);
    setNotice(message ?? null);
  }
  if (!ready) return html`<main class="signin" aria-busy="true"><h1>Cairn</h1></main>`;
  if (!me) return html`<${SignIn} onSignedIn=${setMe} notice=${notice} />`;
  return html`<${Chat} me=${me} onSignOut=${() => signOut()}
    onExpired=${() => signOut("You are signed out: sign in again.")} />`;
}

render(html`<${App} />`, document.getElementById("app"));
