"""Schemathesis hooks and checks for the API fuzzing run (tests/api_fuzz.rs).

Loaded with SCHEMATHESIS_HOOKS=fuzz_hooks. Checks: no 5xx except a deliberate
`503 overloaded` with Retry-After, and every 4xx in Cairn's error envelope. Hooks: the
generation routes get a small `max_tokens` so they are fuzzed without exhausting the
run on two CPU cores.
"""

import json
import os
import zlib

import schemathesis

# Most tokens one fuzzed generation may produce.
MAX_TOKENS = 8

# Real identifiers of the test's tenant (path parameter name -> value), and the models:
# about two in three generated cases get them, so requests reach the handlers' logic
# instead of stopping at 404.
IDS = json.loads(os.environ.get("CAIRN_FUZZ_IDS", "{}"))
GENERATOR = os.environ.get("CAIRN_FUZZ_GENERATOR", "")
EMBEDDER = os.environ.get("CAIRN_FUZZ_EMBEDDER", "")


def _pick(value, salt, n=3):
    """A deterministic choice in range(n) from the generated value (reproducible runs)."""
    data = json.dumps(value, sort_keys=True, default=str) + salt
    return zlib.crc32(data.encode("utf-8", "surrogatepass")) % n


def _body(response):
    try:
        return json.loads(response.content or b"null")
    except ValueError:
        return None


@schemathesis.check
def no_server_error_but_overload(ctx, response, case):
    """5xx only as `503 overloaded` with Retry-After (admission queue full)."""
    status = response.status_code
    if status < 500:
        return None
    body = _body(response)
    code = body.get("error", {}).get("code") if isinstance(body, dict) else None
    if status == 503 and code == "overloaded" and "retry-after" in {
        k.lower() for k in response.headers
    }:
        return None
    raise AssertionError(f"server error {status}: {response.content[:500]!r}")


@schemathesis.check
def client_errors_use_the_envelope(ctx, response, case):
    """Every 4xx is `{"error": {"code": "<stable code>", "message": ...}}`."""
    status = response.status_code
    if not 400 <= status < 500:
        return None
    body = _body(response)
    error = body.get("error") if isinstance(body, dict) else None
    if not (
        isinstance(error, dict)
        and isinstance(error.get("code"), str)
        and error["code"]
        and isinstance(error.get("message"), str)
    ):
        raise AssertionError(
            f"{status} without the error envelope: {response.content[:500]!r}"
        )
    return None


def _clamp(body):
    for key in ("max_tokens", "max_completion_tokens"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > MAX_TOKENS:
            body[key] = MAX_TOKENS


@schemathesis.hook
def map_path_parameters(ctx, params):
    """Real ids for most cases; never for DELETE (the data must outlive the run) nor
    for keys (rotating the run's own key would end it)."""
    if not isinstance(params, dict) or ctx.operation is None:
        return params
    if ctx.operation.method.upper() == "DELETE":
        return params
    for name in list(params):
        real = IDS.get(name)
        if real is not None and _pick(params, name) != 0:
            params[name] = real
    return params


@schemathesis.hook
def map_body(ctx, body):
    """Caps generation: a large `max_tokens` becomes MAX_TOKENS, a missing one is set
    (the server's own default for /api/v1/ask is capped by the test's config), and
    at most one choice is asked for."""
    if not isinstance(body, dict):
        return body
    path = ctx.operation.path if ctx.operation is not None else ""
    choice = _pick(body, path)
    if path == "/v1/chat/completions":
        if choice != 0:
            # A real model and plain user turns, so the sampling options (temperature,
            # top_p, stop, seed, penalties, stream) reach the generator.
            if choice == 1:
                body["model"] = GENERATOR
            else:
                body["model"] = "cairn-rag:" + IDS.get("collection", "")
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages:
                messages = [{}]
            body["messages"] = [
                {
                    "role": "user",
                    "content": m.get("content")
                    if isinstance(m, dict) and isinstance(m.get("content"), str)
                    else "When do tours start?",
                }
                for m in messages[:4]
            ]
            for key in ("tools", "tool_choice", "response_format", "logprobs", "top_logprobs"):
                body.pop(key, None)
            if "n" in body:
                body["n"] = 1
            for key in ("max_tokens", "max_completion_tokens"):
                if not isinstance(body.get(key), int) or body[key] < 1:
                    body.pop(key, None)
        body.setdefault("max_tokens", MAX_TOKENS)
        if isinstance(body.get("n"), int) and body["n"] > 1:
            body["n"] = 1
    elif path == "/v1/embeddings" and choice != 0:
        body["model"] = EMBEDDER
    elif path in ("/api/v1/ask", "/api/v1/search", "/api/v1/conversations") and choice != 0:
        body["collection"] = IDS.get("collection", "")
    _clamp(body)
    return body
