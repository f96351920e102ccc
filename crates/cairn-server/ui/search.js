// The search playground: one query against a collection with the mode, reranker,
// result count and filters chosen here, and every hit's scores from each stage
// (lexical rank and score, dense rank and score, fused, rerank) with the stage timings,
// so a person can see why a chunk ranked where it did.

import { h } from "./vendor/preact.mjs";
import { useState } from "./vendor/hooks.mjs";
import htm from "./vendor/htm.mjs";
import { api } from "./api.js";

const html = htm.bind(h);

const num = (x, digits = 3) => (typeof x === "number" ? x.toFixed(digits) : "—");
const ranked = (s) => (s ? `#${s.rank} · ${num(s.score)}` : "—");
const list = (text) => text.split(",").map((t) => t.trim()).filter(Boolean);

export function Search({ collections }) {
  const [collection, setCollection] = useState(collections[0]?.id ?? "");
  const [query, setQuery] = useState("");
  const [mode, setMode] = useState("hybrid");
  const [rerank, setRerank] = useState("none");
  const [topK, setTopK] = useState(10);
  const [kinds, setKinds] = useState("");
  const [sources, setSources] = useState("");
  const [tags, setTags] = useState("");
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  async function run(e) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const filter = {};
    if (list(kinds).length) filter.kinds = list(kinds);
    if (list(sources).length) filter.sources = list(sources);
    if (list(tags).length) filter.tags = list(tags);
    // Document dates are inclusive bounds in Unix ms: the whole UTC day of each end.
    if (from) filter.date_from = Date.parse(`${from}T00:00:00Z`);
    if (to) filter.date_to = Date.parse(`${to}T23:59:59.999Z`);
    try {
      setResult(await api("POST", "/api/v1/search", {
        collection: collection || collections[0]?.id, query: query.trim(), mode, rerank,
        top_k: Number(topK) || 10, filter,
      }));
    } catch (err) {
      setError(err.message);
    } finally {
      setBusy(false);
    }
  }

  const t = result?.timings;
  return html`<main class="search">
    <form class="search-form" onSubmit=${run}>
      <input aria-label="Search query" placeholder="Search the collection" value=${query}
        onInput=${(e) => setQuery(e.target.value)} required />
      <label>Collection <select value=${collection} onChange=${(e) => setCollection(e.target.value)}>
        ${collections.map((c) => html`<option value=${c.id}>${c.id}</option>`)}</select></label>
      <label>Mode <select value=${mode} onChange=${(e) => setMode(e.target.value)}>
        <option value="hybrid">hybrid</option><option value="lexical">lexical</option>
        <option value="dense">dense</option></select></label>
      <label>Rerank <select value=${rerank} onChange=${(e) => setRerank(e.target.value)}>
        <option value="none">none</option><option value="maxsim">maxsim</option>
        <option value="cross-encoder">cross-encoder</option><option value="llm">llm</option></select></label>
      <label>Results <input type="number" min="1" max="50" value=${topK}
        onInput=${(e) => setTopK(e.target.value)} /></label>
      <label>Kinds <input placeholder="pdf, html" value=${kinds} onInput=${(e) => setKinds(e.target.value)} /></label>
      <label>Sources <input placeholder="file names" value=${sources} onInput=${(e) => setSources(e.target.value)} /></label>
      <label>Tags <input placeholder="policy, 2026" value=${tags} onInput=${(e) => setTags(e.target.value)} /></label>
      <label>Dated from <input type="date" value=${from} onInput=${(e) => setFrom(e.target.value)} /></label>
      <label>Dated to <input type="date" value=${to} onInput=${(e) => setTo(e.target.value)} /></label>
      <button type="submit" disabled=${busy || !query.trim()}>Run search</button>
    </form>
    ${error && html`<p role="alert" class="error">${error}</p>`}
    ${t && html`<p class="meta">${`${result.hits.length} hits in ${num(t.total_ms, 1)} ms: ` +
      `embedding ${num(t.embed_ms, 1)}, lexical ${num(t.lexical_ms, 1)}, ` +
      `dense ${num(t.dense_ms, 1)}, fusion ${num(t.fuse_ms, 1)}, rerank ${num(t.rerank_ms, 1)} ms`}</p>`}
    ${result && html`<table class="hits">
      <caption>Hits for “${result.query}” (${result.mode}, rerank ${result.rerank})</caption>
      <thead><tr><th scope="col">#</th><th scope="col">Chunk</th><th scope="col">Lexical</th>
        <th scope="col">Dense</th><th scope="col">Fused</th><th scope="col">Rerank</th></tr></thead>
      <tbody>${result.hits.map((hit, i) => html`<tr>
        <td>${i + 1}</td>
        <td><strong>${hit.title || hit.source}</strong>
          ${hit.heading_path?.length > 0 && html`<div class="path">${hit.heading_path.join(" › ")}</div>`}
          <p class="snippet">${hit.text.length > 400 ? `${hit.text.slice(0, 400)}…` : hit.text}</p></td>
        <td>${ranked(hit.scores?.lexical)}</td><td>${ranked(hit.scores?.dense)}</td>
        <td>${num(hit.scores?.fused, 4)}</td><td>${num(hit.scores?.rerank)}</td>
      </tr>`)}</tbody>
    </table>`}
  </main>`;
}
