"""`terrarium mcp` over stdio as a client starts it: every output URL in a result is fetchable
(a loopback file server of its own, read-only, files only), its data lives in the user's data
directory unless TERRARIUM_DATA_DIR says otherwise, and a directory it cannot write stops it at
start with a message naming the directory and the setting."""

from __future__ import annotations

import os
import subprocess
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from served import TERRARIUM, clean_env

VIDEO_AND_TEXT = """\
import asyncio

async def run(client):
    ws = (await client.workspaces.list()).workspaces[0].workspace_id
    project = await client.projects.create(name="files", workspace_id=ws)
    out = {}
    for kind, prompt in (("video", "waves at dusk"), ("text", "a haiku about foxes")):
        gen = await client.generations.create(type=kind, prompt=prompt, workspace_id=ws,
                                              project_id=project.project_id)
        while (run := await client.generations.retrieve(gen.run_id)).status not in (
                "completed", "failed"):
            await asyncio.sleep(0.05)
        out[kind] = run.outputs[0].url
    return out
"""


@asynccontextmanager
async def session_with(env: dict[str, str], cwd: Path | None = None):
    params = StdioServerParameters(command=TERRARIUM, args=["mcp"], env=env, cwd=cwd)
    with open(os.devnull, "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


async def test_stdio_output_urls_are_fetchable_and_only_files_are_served(tmp_path):
    env = {"TERRARIUM_DATA_DIR": str(tmp_path / "data"), "TERRARIUM_BACKEND_SPEED": "0"}
    async with session_with(env) as session:
        result = await session.call_tool("execute", {"code": VIDEO_AND_TEXT, "timeout_s": 30})
        assert not result.is_error, result.content
        body = result.structured_content["result"]
        video = body["video"]
        assert urlsplit(video).hostname == "127.0.0.1" and "/api/v1/files/" in video
        assert not body["text"].startswith("http")  # a text output is the text itself
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.get(video)  # while the stdio server runs
            assert response.status_code == 200, response.text
            # the built-in backend's video is an animated GIF
            assert response.headers["content-type"].startswith(("video/", "image/gif"))
            assert len(response.content) > 100
            base = video.split("/api/", 1)[0]
            assert (await http.head(video)).status_code == 200
            assert (await http.delete(video)).status_code == 405
            for path in ("/api/v1/workspaces", "/api/v1/files/../runtime-key", "/mcp", "/"):
                assert (await http.get(base + path)).status_code == 404, path
            # a Host other than the loopback address (a rebound name in a browser): refused
            forged = await http.get(video, headers={"host": "attacker.example"})
            assert forged.status_code == 404


async def test_stdio_data_dir_is_per_user_by_default(tmp_path):
    home, cwd = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    cwd.mkdir()
    env = {"HOME": str(home), "TERRARIUM_BACKEND_SPEED": "0"}
    async with session_with(env, cwd=cwd) as session:
        result = await session.call_tool("execute", {"code": "1 + 1"})
        assert result.structured_content["result"] == 2
    data = home / ".local" / "share" / "terrarium"
    assert (data / "terrarium.db").is_file()
    assert list(cwd.iterdir()) == []  # nothing in the directory the client started it in


def test_stdio_refuses_a_data_dir_it_cannot_write(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    data_dir = blocker / "terrarium"
    done = subprocess.run(
        [TERRARIUM, "mcp"],
        env=clean_env(TERRARIUM_DATA_DIR=str(data_dir)),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert str(data_dir) in done.stderr and "TERRARIUM_DATA_DIR" in done.stderr
    assert "Traceback" not in done.stderr
