"""Drives Cairn's /mcp endpoint with the official MCP Python SDK (PyPI `mcp`).

    python mcp_client.py BASE_URL KEY OTHER_TENANT_KEY

Connects over streamable HTTP with the key as a bearer token, lists the tools, calls
`list_collections`, `search` and `ask`, lists and reads a document resource, checks that
the other tenant's key sees none of it and that a connection without a key is refused.
Prints one JSON object with what it saw; exits non-zero on the first failed check.
"""

import asyncio
import json
import sys

import httpx
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import McpError


def text_of(result):
    return "".join(c.text for c in result.content if getattr(c, "type", "") == "text")


async def session_run(url, key, body):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(120.0)) as http:
        async with streamable_http_client(url, http_client=http) as (read, write, _):
            async with ClientSession(read, write) as session:
                info = await session.initialize()
                return await body(session, info)


async def main():
    base, key, other = sys.argv[1], sys.argv[2], sys.argv[3]
    url = f"{base}/mcp"
    seen = {}

    async def as_owner(session, info):
        seen["server"] = info.serverInfo.name
        tools = await session.list_tools()
        seen["tools"] = sorted(t.name for t in tools.tools)
        run = await session.call_tool("agent_keeper", {"task": "What is 6 times 7? Use the calculator."})
        assert not run.isError, text_of(run)
        r = json.loads(text_of(run))
        seen["agent_run"] = [r["agent"], r["state"], [s["kind"] for s in r["steps"]][:1]]
        cols = await session.call_tool("list_collections", {})
        assert not cols.isError, text_of(cols)
        seen["collections"] = [c["id"] for c in json.loads(text_of(cols))["data"]]
        hits = await session.call_tool(
            "search", {"collection": "kb", "query": "lighthouse keeper", "top_k": 3})
        assert not hits.isError, text_of(hits)
        found = json.loads(text_of(hits))["hits"]
        seen["search_top"] = found[0]["text"] if found else ""
        answer = await session.call_tool(
            "ask", {"collection": "kb", "question": "Who keeps the lighthouse?", "max_tokens": 24})
        assert not answer.isError, text_of(answer)
        a = json.loads(text_of(answer))
        seen["ask_sources"] = [s["text"] for s in a.get("sources", [])]
        missing = await session.call_tool("search", {"collection": "nope", "query": "x"})
        seen["missing_collection_error"] = missing.isError and "not_found" in text_of(missing)
        try:  # a malformed id is refused as invalid params before any route runs
            await session.call_tool("get_document", {"document": "../../etc/passwd"})
            seen["bad_id_error"] = False
        except McpError as e:
            seen["bad_id_error"] = "not an id" in str(e)
        resources = await session.list_resources()
        seen["resources"] = [(str(r.uri), r.name) for r in resources.resources]
        first = str(resources.resources[0].uri)
        read = await session.read_resource(first)
        seen["resource_text"] = read.contents[0].text
        doc_id = first.rsplit("/", 1)[1]
        doc = await session.call_tool("get_document", {"document": doc_id})
        assert not doc.isError, text_of(doc)
        seen["document_text"] = json.loads(text_of(doc))["text"]
        seen["document_id"] = doc_id

    await session_run(url, key, as_owner)

    async def as_other(session, info):
        cols = await session.call_tool("list_collections", {})
        seen["other_collections"] = [c["id"] for c in json.loads(text_of(cols))["data"]]
        hits = await session.call_tool("search", {"collection": "kb", "query": "lighthouse"})
        seen["other_search_error"] = hits.isError and "not_found" in text_of(hits)
        doc = await session.call_tool("get_document", {"document": seen["document_id"]})
        seen["other_document_error"] = doc.isError and "not_found" in text_of(doc)
        resources = await session.list_resources()
        seen["other_resources"] = [str(r.uri) for r in resources.resources]
        try:
            await session.read_resource(f"cairn://documents/{seen['document_id']}")
            seen["other_read_refused"] = False
        except McpError as e:
            seen["other_read_refused"] = "not found" in str(e)

    await session_run(url, other, as_other)

    try:
        await session_run(url, None, lambda s, i: asyncio.sleep(0))
        seen["anonymous_refused"] = False
    except BaseException as e:  # noqa: BLE001 - any failure to connect is the point
        flat = repr(e)
        seen["anonymous_refused"] = "401" in flat or "Unauthorized" in flat
        seen["anonymous_error"] = flat[:300]

    print(json.dumps(seen))


asyncio.run(main())
