"""An external MCP server for the agent tests, on the official Python SDK (PyPI `mcp`).

    python mcp_server.py stdio
    python mcp_server.py http PORT TOKEN     # streamable HTTP at /mcp; requests must carry the bearer TOKEN

Tools: `add` (read-only), `environment` (the names of the variables it was started
with, so a test sees what it was given), `record` (appends a note to the file named by
the RECORD_LOG variable or argument: a side effect a test can count).
"""
import os
import sys

from mcp.server.fastmcp import FastMCP
from mcp.types import ToolAnnotations

mode = sys.argv[1] if len(sys.argv) > 1 else "stdio"
port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
token = sys.argv[3] if len(sys.argv) > 3 else ""
log = os.environ.get("RECORD_LOG") or (sys.argv[4] if len(sys.argv) > 4 else "")

server = FastMCP("ops-tools", port=port, json_response=True, stateless_http=True, log_level="WARNING")


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def add(a: float, b: float) -> str:
    """Adds two numbers."""
    return f"{a + b:g}"


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def environment() -> str:
    """Names the environment variables this server was started with."""
    return ",".join(sorted(os.environ))


@server.tool()
def record(note: str) -> str:
    """Records a note (a side effect)."""
    with open(log, "a") as f:
        f.write(note + "\n")
    return f"recorded: {note}"


if mode == "http":
    import uvicorn
    from starlette.middleware.base import BaseHTTPMiddleware
    from starlette.responses import JSONResponse

    class Bearer(BaseHTTPMiddleware):
        async def dispatch(self, request, call_next):
            if request.headers.get("authorization") != f"Bearer {token}":
                return JSONResponse({"error": "unauthorized"}, status_code=401)
            return await call_next(request)

    app = server.streamable_http_app()
    app.add_middleware(Bearer)
    print("listening", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
else:
    server.run("stdio")
