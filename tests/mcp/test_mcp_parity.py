"""MCP gets what HTTP has: inputs, async executions as tools (submit, then poll), the execution
id in every answer, idempotency keys and a cost cap; image outputs come back as image content
blocks (size-capped thumbnails), over stdio with the built-in backend too."""

from __future__ import annotations

import asyncio
import base64

import mcp_types as types
from mcp_sessions import RECIPE, http_session, stdio_session

from runtime.adapters.mcp.media import MAX_BLOCK_BYTES, THUMBNAIL_PX, media_urls
from runtime.adapters.mcp.tools import execute_description
from runtime.settings import Settings

SLOW_SEVEN = (
    "import asyncio\n\nasync def run(client):\n    await asyncio.sleep(0.3)\n    return 7\n"
)


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


async def check_images(result: types.CallToolResult) -> None:
    assert not result.is_error, text_of(result)
    images = [c for c in result.content if isinstance(c, types.ImageContent)]
    assert len(images) == 3, result.content
    from io import BytesIO

    from PIL import Image

    for image in images:
        data = base64.b64decode(image.data)
        assert len(data) <= MAX_BLOCK_BYTES and image.mime_type in ("image/png", "image/jpeg")
        with Image.open(BytesIO(data)) as opened:
            assert max(opened.size) <= THUMBNAIL_PX


async def test_stdio_shows_images_inline(tmp_path):
    async with stdio_session(tmp_path / "data") as session:
        result = await session.call_tool("execute", {"code": RECIPE.read_text(), "timeout_s": 20})
        await check_images(result)


async def test_http_parity(http_server):
    async with http_session(*http_server) as session:
        await check_images(
            await session.call_tool("execute", {"code": RECIPE.read_text(), "timeout_s": 20})
        )

        # inputs, and the execution id in the answer's text
        done = await session.call_tool("execute", {"code": "inputs['a'] * 2", "inputs": {"a": 21}})
        assert done.structured_content["result"] == 42
        assert f"execution_id: {done.structured_content['execution_id']}" in text_of(done)

        # a timeout names the id to read later and only tools MCP has
        slow = await session.call_tool("execute", {"code": "while True:\n    pass", "timeout_s": 1})
        assert slow.is_error and "execution_id: exe_" in text_of(slow)
        assert "`submit`" in text_of(slow) and "/v1/executions" not in text_of(slow)

        # submit, then poll
        queued = await session.call_tool("submit", {"code": SLOW_SEVEN})
        assert not queued.is_error, text_of(queued)
        execution_id = queued.structured_content["execution_id"]
        assert execution_id in text_of(queued)
        for _ in range(100):
            polled = await session.call_tool("get_execution", {"execution_id": execution_id})
            if polled.structured_content["state"] in ("done", "failed"):
                break
            await asyncio.sleep(0.1)
        assert polled.structured_content["result"] == 7 and not polled.is_error
        assert execution_id in text_of(polled)
        missing = await session.call_tool("get_execution", {"execution_id": "exe_none"})
        assert missing.is_error and "not_found" in text_of(missing)

        # the same idempotency key answers the same execution
        args = {"code": "[1, 2]", "idempotency_key": "mcp-retry"}
        first = await session.call_tool("execute", args)
        again = await session.call_tool("execute", args)
        assert again.structured_content["execution_id"] == first.structured_content["execution_id"]

        # a cost cap refuses the paid call before it leaves the host
        capped = await session.call_tool(
            "execute", {"code": RECIPE.read_text(), "max_cost_usd": 0.01, "timeout_s": 20}
        )
        assert capped.is_error and "max_cost_usd" in text_of(capped)
        assert capped.structured_content["cost_usd"] == 0.0


def test_media_urls_and_description_budget():
    assert media_urls({"a": ["https://x/1.png", 3, {"b": "https://x/1.png"}], "c": "no"}) == [
        "https://x/1.png"
    ]
    assert len(media_urls([f"https://x/{i}" for i in range(10)])) == 4
    # the execute tool's description: under about 2,500 tokens (characters / 4)
    assert len(execute_description(Settings())) / 4 < 2500
