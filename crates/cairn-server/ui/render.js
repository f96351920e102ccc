// Turning model and document text into something safe to show. Answers are Markdown:
// rendered by marked (raw HTML in them escaped to text), then sanitized by DOMPurify
// before they touch the DOM, with each
// `[n]` marker made a citation link. Document text is never parsed as HTML at all: it
// is split into plain strings around the quoted span.

import { marked } from "./vendor/marked.mjs";
import DOMPurify from "./vendor/purify.mjs";

marked.setOptions({ gfm: true, breaks: false });

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const escapeHtml = (s) => s.replace(/[&<>"']/g, (c) => ESCAPES[c]);

// Raw HTML in an answer is shown as the text it is, never parsed: the sanitizer below
// would strip it anyway, but parsing `<img onerror=…>` at all makes the browser report
// the (blocked) handler against the page's CSP.
marked.use({ renderer: { html: ({ text }) => escapeHtml(text) } });

// Nothing a document or a model writes may run or load: no scripts, no event handlers,
// no forms, frames or images, links only to http(s), mail and in-page anchors.
const PURIFY = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select", "iframe", "object",
    "embed", "svg", "math", "img", "video", "audio", "picture", "source", "link", "meta", "base"],
  FORBID_ATTR: ["style"],
  ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|#)/i,
};

/** Sanitized HTML for an answer's Markdown, with `[n]` markers as citation links. */
export function answerHtml(markdown, citable) {
  const html = marked.parse(markdown ?? "");
  const clean = DOMPurify.sanitize(html, PURIFY);
  // Citations are added after sanitizing, into text only (never into tags or code).
  const doc = new DOMParser().parseFromString(`<div>${clean}</div>`, "text/html");
  const root = doc.body.firstChild;
  const walker = doc.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const texts = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (!n.parentElement.closest("code, pre, a")) texts.push(n);
  }
  for (const node of texts) {
    const parts = node.data.split(/(\[\d{1,3}\])/);
    if (parts.length === 1) continue;
    const frag = doc.createDocumentFragment();
    for (const part of parts) {
      const m = /^\[(\d{1,3})\]$/.exec(part);
      if (m && citable.has(Number(m[1]))) {
        const a = doc.createElement("a");
        a.href = `#source-${m[1]}`;
        a.className = "cite";
        a.setAttribute("data-citation", m[1]);
        a.setAttribute("aria-label", `Source ${m[1]}`);
        a.textContent = part;
        frag.append(a);
      } else if (part) {
        frag.append(doc.createTextNode(part));
      }
    }
    node.replaceWith(frag);
  }
  // Once more over the whole, so the links added above pass the same filter.
  return DOMPurify.sanitize(root.innerHTML, PURIFY);
}

/** UTF-8 byte offsets (the API's) to a string's code-unit offsets. */
function byteToIndex(text, byte) {
  const bytes = new TextEncoder().encode(text);
  return new TextDecoder().decode(bytes.slice(0, Math.min(byte, bytes.length))).length;
}

/** `text` as [before, quoted, after] by the quote's byte range (quoted may be empty). */
export function splitQuote(text, start, end) {
  if (!(end > start)) return [text, "", ""];
  const a = byteToIndex(text, start), b = byteToIndex(text, end);
  return [text.slice(0, a), text.slice(a, b), text.slice(b)];
}
