"""The agent's side of an MCP session over stdio and over streamable HTTP (the `mcp` client
library), and how to start Terrarium for it."""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from pathlib import Path

import httpx2
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from served import TERRARIUM

RECIPE = Path(__file__).resolve().parents[2] / "examples" / "generate_without_technique.py"


def server_env(data_dir: Path) -> dict[str, str]:
    return {"TERRARIUM_DATA_DIR": str(data_dir), "TERRARIUM_BACKEND_SPEED": "0"}


@asynccontextmanager
async def http_session(base: str, key: str | None):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    timeout = httpx2.Timeout(30, read=120)
    async with httpx2.AsyncClient(headers=headers, timeout=timeout) as http:
        async with streamable_http_client(base + "/mcp", http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


@asynccontextmanager
async def stdio_session(data_dir: Path):
    params = StdioServerParameters(command=TERRARIUM, args=["mcp"], env=server_env(data_dir))
    with open(os.devnull, "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session
