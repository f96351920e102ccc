// The API client. Two ways in: an API key, which lives in memory and sessionStorage
// only (never a URL or localStorage), or single sign-on, whose session is an HttpOnly
// cookie the page never sees; then every request that changes something carries the
// session's CSRF token, kept in memory only. Errors become sentences a person can act
// on, and /api/v1/ask streams as server-sent events over fetch (so it can be aborted).

const KEY = "cairn.api_key";

export const session = {
  key: sessionStorage.getItem(KEY),
  /** The SSO session's CSRF token, when signed in with single sign-on. */
  csrf: null,
  set(key) {
    this.key = key;
    sessionStorage.setItem(KEY, key);
  },
  clear() {
    this.key = null;
    this.csrf = null;
    sessionStorage.removeItem(KEY);
  },
};

/** Whether a request with this method changes something (and so needs the CSRF token). */
const changes = (method) => !["GET", "HEAD", "OPTIONS"].includes(method);

/** The headers that prove who is asking, for `method`. */
export function credentials(method) {
  if (session.key) return { Authorization: `Bearer ${session.key}` };
  if (session.csrf && changes(method)) return { "X-CSRF-Token": session.csrf };
  return {};
}

/** Picks up a single sign-on session (the cookie), if this browser has one. */
export async function resumeSso() {
  const res = await fetch("/api/v1/auth/session", { headers: { Accept: "application/json" } });
  if (!res.ok) return false;
  const body = await res.json();
  session.csrf = body.csrf_token;
  return true;
}

/** Ends the single sign-on session on the server (best effort), then forgets everything. */
export async function signOut() {
  if (!session.key && session.csrf) {
    try { await api("DELETE", "/api/v1/auth/session"); } catch (_) { /* already over */ }
  }
  session.clear();
}

/** An API failure with what it means for the person using the page. */
export class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/** What a failed response means, in words (never the raw JSON). */
async function failure(res) {
  let code = "", message = "";
  try {
    const body = await res.json();
    code = body?.error?.code ?? "";
    message = body?.error?.message ?? "";
  } catch (_) { /* not JSON */ }
  const retry = Number(res.headers.get("retry-after")) || null;
  const wait = retry ? ` Try again in ${retry} s.` : " Try again shortly.";
  let text;
  if (res.status === 401) text = "You are signed out: sign in again.";
  else if (res.status === 403) text = `Not allowed: ${message || "your role cannot do this."}`;
  else if (res.status === 429) text = `Too many requests.${wait}`;
  else if (res.status === 503) text = `Cairn is busy right now.${wait}`;
  else if (res.status === 404) text = message || "Not found.";
  else text = message || `The server answered ${res.status}.`;
  return new ApiError(res.status, code, text, retry);
}

function headers(method, extra) {
  return { ...extra, ...credentials(method) };
}

/** A JSON request; throws ApiError on a non-2xx answer. */
export async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: headers(method, body === undefined ? {} : { "Content-Type": "application/json" }),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw await failure(res);
  return res.status === 204 ? null : res.json();
}

/**
 * Asks with streaming: `on(event, data)` sees `sources`, `delta` and `answer`; an
 * `error` event throws. `signal` aborts the request (the server then stops generating).
 */
export async function askStream(request, on, signal) {
  const res = await fetch("/api/v1/ask", {
    method: "POST",
    headers: headers("POST", { "Content-Type": "application/json", Accept: "text/event-stream" }),
    body: JSON.stringify({ ...request, stream: true }),
    signal,
  });
  if (!res.ok) throw await failure(res);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trimStart();
      }
      if (!data) continue;
      const parsed = JSON.parse(data);
      if (event === "error") {
        const e = parsed.error ?? parsed;
        throw new ApiError(500, e.code ?? "", e.message ?? "The answer failed.", null);
      }
      on(event, parsed);
    }
  }
}
