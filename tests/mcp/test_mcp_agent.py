"""An agent's session over stdio and over streamable HTTP: list the tools, run the
"Generate without a Technique" recipe, read a rejected script's diagnostics, search the docs."""

from __future__ import annotations

import re

import httpx
import mcp_types as types
from mcp_sessions import RECIPE, http_session, stdio_session

from client_surface.table import SURFACE

URL = re.compile(r"^http://127\.0\.0\.1:\d+/api/v1/files/file_\w+$")
MISSPELLED = """\
async def run(client):
    ws = await client.workspaces.list()
    await client.generation.create(type="image", prompt="x")
    await client.project.create(name="p", workspace_id="ws_x")
    return 1
"""


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


async def agent_flow(session) -> list[str]:
    """What every transport must do; returns the recipe's image URLs."""
    init = session.initialize_result if hasattr(session, "initialize_result") else None
    if init is not None:
        assert "one script" in (init.instructions or "")

    tools = {t.name: t for t in (await session.list_tools()).tools}
    assert set(tools) == {"execute", "search_docs", "cancel", "submit", "get_execution"}
    assert tools["cancel"].input_schema["required"] == ["execution_id"]
    missing = await session.call_tool("cancel", {"execution_id": "exe_none"})
    assert missing.is_error and "not_found" in text_of(missing)
    assert "async def run(client)" in tools["execute"].description
    assert "generations.create(*, type, prompt" in tools["execute"].description
    assert tools["execute"].output_schema["properties"]["status"]
    assert tools["execute"].input_schema["required"] == ["code"]

    result = await session.call_tool(
        "execute", {"code": RECIPE.read_text(), "intent": "three images", "timeout_s": 20}
    )
    assert not result.is_error, text_of(result)
    body = result.structured_content
    assert body["status"] == "ok"
    images = body["result"]["images"]
    assert len(images) == 3 and all(URL.match(u) for u in images), images
    assert [c["method"] for c in body["calls"]].count("generations.create") == 3
    text = text_of(result)
    assert text.startswith("status: ok")
    assert images[0] in text
    assert "generations.create x3" in text

    rejected = await session.call_tool("execute", {"code": MISSPELLED})
    assert rejected.is_error
    assert rejected.structured_content["status"] == "rejected"
    assert rejected.structured_content["calls"] == []
    message = text_of(rejected)
    assert "client.generations.create" in message
    assert "client.projects.create" in message  # every problem, not only the first
    assert "line 3" in message and "line 4" in message
    assert "await client.generation.create(" in message  # the source line

    docs = await session.call_tool("search_docs", {"query": "generate image"})
    assert not docs.is_error
    assert docs.structured_content["methods"][0]["method"] == "generations.create"
    assert "### client.generations.create" in text_of(docs)
    return images


async def test_stdio_agent_session(tmp_path):
    async with stdio_session(tmp_path / "data") as session:
        await agent_flow(session)


async def test_http_agent_session_and_files_download(http_server):
    base, key = http_server
    async with http_session(base, key) as session:
        images = await agent_flow(session)
    async with httpx.AsyncClient() as http:
        for url in images:
            assert url.startswith(base + "/api/v1/files/")
            response = await http.get(url)
            assert response.status_code == 200
            assert response.content.startswith(b"\x89PNG\r\n\x1a\n")


async def test_http_failed_script_and_refused_request(http_server):
    async with http_session(*http_server) as session:
        failed = await session.call_tool("execute", {"code": "x = 1\nprint('before')\ny = x / 0\n"})
        assert failed.is_error
        assert failed.structured_content["error"]["line"] == 3
        text = text_of(failed)
        assert "ZeroDivisionError at line 3" in text
        assert "y = x / 0" in text and "before" in text

        too_long = await session.call_tool("execute", {"code": "1", "timeout_s": 10_000})
        assert too_long.is_error
        assert "limit_above_maximum" in text_of(too_long)

        missing = await session.call_tool("execute", {})
        assert missing.is_error and "code" in text_of(missing)

        everything = await session.call_tool("search_docs", {"query": "*"})
        assert all(m.full_name in text_of(everything) for m in SURFACE)

        nothing = await session.call_tool("search_docs", {"query": "zzqx"})
        assert not nothing.is_error and "generations.create" in text_of(nothing)


async def test_http_needs_the_runtime_key(http_server):
    base, key = http_server
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient() as http:
        for auth in (None, "Bearer trk_wrong"):
            sent = {**headers, "authorization": auth} if auth else headers
            response = await http.post(base + "/mcp", json=body, headers=sent)
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Bearer"
            error = response.json()["error"]
            assert error["code"] == "unauthorized" and error["fields"] == []
    assert key and key.startswith("trk_")
