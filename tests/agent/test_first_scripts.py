"""Replays of what went wrong in agents' first scripts, one test each, through the real server
(`terrarium serve` in a subprocess: HTTP `/v1/execute` and MCP at `/mcp`) and, for what only a
stdio client meets, `terrarium mcp`. Each shows the script now works, or is rejected before any
call with a message naming the fix."""

from __future__ import annotations

import os
import textwrap
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
import mcp_types as types
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from served import TERRARIUM, ServedTerrarium, clean_env

PROJECT = """\
    ws = (await client.workspaces.list()).workspaces[0].workspace_id
    project = (await client.projects.create(name="replay", workspace_id=ws)).project_id
"""


def script(body: str) -> str:
    """`body` (indented as one level inside `run`) in an `async def run(client)` that first
    finds a workspace (`ws`) and makes a project (`project`)."""
    return (
        "import asyncio\n\nasync def run(client):\n"
        + PROJECT
        + textwrap.indent(textwrap.dedent(body), "    ")
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    data_dir = tmp_path_factory.mktemp("agent") / "data"
    with ServedTerrarium(clean_env(TERRARIUM_BACKEND_SPEED="0"), data_dir) as served:
        yield served


def execute(server: ServedTerrarium, code: str, **fields: Any) -> dict[str, Any]:
    response = httpx.post(
        server.base + "/v1/execute",
        json={"code": textwrap.dedent(code), **fields},
        headers={"authorization": f"Bearer {server.key}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return response.json()


def rejected(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The problems of a script refused before it ran: no call was made."""
    assert body["status"] == "rejected", body
    assert body["calls"] == []
    return body["error"]["problems"]


@asynccontextmanager
async def mcp_http(server: ServedTerrarium):
    headers = {"Authorization": f"Bearer {server.key}"}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60)) as http:
        async with streamable_http_client(server.base + "/mcp", http_client=http) as (r, w):
            async with ClientSession(r, w) as session:
                await session.initialize()
                yield session


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


# --- records: fields FLORA leaves out ---------------------------------------------------------


def test_fields_flora_omits_read_as_none(server):
    """`Run.error_message`, `TechniqueIo.optional`, `Model.beta`: FLORA leaves them out of an
    answer; reading them was an AttributeError, and is None now."""
    body = execute(
        server,
        script("""\
        gen = await client.generations.create(type="image", prompt="a fox", workspace_id=ws,
                                              project_id=project)
        while (done := await client.generations.retrieve(gen.run_id)).status not in (
                "completed", "failed"):
            await asyncio.sleep(0.05)
        page = await client.techniques.list()
        technique = await client.techniques.retrieve(page.techniques[0].technique_id)
        model = (await client.models.list(type="image")).models[0]
        return [done.status, done.error_message, technique.inputs[0].optional, model.beta]
    """),
    )
    assert body["status"] == "ok", body["error"]
    assert body["result"] == ["completed", None, None, None]


# --- docs -----------------------------------------------------------------------------------


async def test_search_docs_describes_node_fields(server):
    """A node's `url`, `width`, `height` came back blank and the docs did not say when they
    are filled: search_docs now describes each field."""
    async with mcp_http(server) as session:
        docs = await session.call_tool("search_docs", {"query": "list nodes of a project"})
    text = text_of(docs)
    assert "### client.projects.list_nodes" in text
    assert "url: str | None  # None when FLORA omits it; The output's URL once its run " in text
    assert "(a text node: the text itself)" in text
    assert "width: float | None  # None when FLORA omits it; Pixels" in text


async def test_a_text_generations_text_is_in_outputs_url(server):
    """FLORA answers a text generation's text in `outputs[0].url`: the docs say so (search_docs
    and the execute description) and the script reads it there."""
    async with mcp_http(server) as session:
        tools = {t.name: t for t in (await session.list_tools()).tools}
        docs = await session.call_tool("search_docs", {"query": "retrieve run outputs"})
    assert "url (text: the text)" in (tools["execute"].description or "")
    assert "for a text output (type text), the text itself" in text_of(docs)
    body = execute(
        server,
        script("""\
        gen = await client.generations.create(type="text", prompt="a haiku about foxes",
                                              workspace_id=ws, project_id=project)
        while (done := await client.generations.retrieve(gen.run_id)).status != "completed":
            await asyncio.sleep(0.05)
        return done.outputs[0].url
    """),
    )
    assert body["status"] == "ok", body["error"]
    assert isinstance(body["result"], str) and body["result"]
    assert not body["result"].startswith("http")


# --- rejected before any call, naming the fix ------------------------------------------------


def test_a_record_as_a_dict_key(server):
    """`totals[g.model] += ...` with `g.model` a record: "unhashable" once generations were
    paid for; now refused before the first call, naming the id field to key by."""
    [problem] = rejected(
        execute(
            server,
            """\
        from collections import defaultdict

        async def run(client):
            ws = (await client.workspaces.list()).workspaces[0].workspace_id
            await client.generations.create(type="image", prompt="x", workspace_id=ws,
                                            project_id="prj_1")
            totals = defaultdict(float)
            async for g in client.generations.list(workspace_id=ws):
                totals[g.model] += g.charged_cost or 0
            return totals
    """,
        )
    )
    assert problem["line"] == 9 and "unhashable" in problem["message"]
    assert problem["hint"] == "key by one of its fields: `g.model.model_id`"


def test_a_workspace_has_no_credits(server):
    """`Workspace.credits` is not in FLORA's workspace: refused naming the fields it has."""
    [problem] = rejected(
        execute(
            server,
            """\
        async def run(client):
            ws = (await client.workspaces.list()).workspaces[0]
            return ws.credits
    """,
        )
    )
    assert problem["message"] == "Workspace has no field 'credits'"
    assert "workspace_id, name, role, created_at" in problem["hint"]
    assert 'search_docs("Workspace")' in problem["hint"]


def test_projects_list_with_the_workspace_by_position(server):
    """`projects.list(workspace_id)` positional: refused naming the keyword."""
    problems = rejected(
        execute(
            server,
            """\
        async def run(client):
            ws = (await client.workspaces.list()).workspaces[0]
            return await client.projects.list(ws.workspace_id)
    """,
        )
    )
    assert any(p["hint"] == "pass the others by keyword, e.g. workspace_id=..." for p in problems)
    # held in a name the pre-flight cannot tell from an arguments dict: the run-time error (after
    # only a read) names the keyword too
    body = execute(
        server,
        """\
        async def run(client):
            w = (await client.workspaces.list()).workspaces[0].workspace_id
            return await client.projects.list(w)
    """,
    )
    assert body["status"] == "error"
    assert body["error"]["message"].endswith("pass the others by keyword, e.g. workspace_id=...")
    assert [c["method"] for c in body["calls"]] == ["workspaces.list"]


def test_a_literal_limit_over_the_maximum(server):
    """A literal `limit=500`: refused with the range and how to get more than a page."""
    [problem] = rejected(
        execute(
            server,
            """\
        async def run(client):
            ws = (await client.workspaces.list()).workspaces[0].workspace_id
            return [p.project_id for p in await client.projects.list(workspace_id=ws, limit=500)]
    """,
        )
    )
    assert "limit=500 is out of range" in problem["message"]
    assert "use 1 to 100" in problem["hint"] and "iterate the page" in problem["hint"]


def test_an_allowed_module_used_without_its_import(server):
    """A NameError at the first `asyncio.sleep`: now refused saying `import asyncio`."""
    [problem] = rejected(
        execute(
            server,
            """\
        async def run(client):
            ws = (await client.workspaces.list()).workspaces[0].workspace_id
            await asyncio.sleep(0.1)
            return ws
    """,
        )
    )
    assert problem["line"] == 3
    assert problem["hint"] == "add `import asyncio` at the top"


# --- everyday Python that failed in the sandbox ----------------------------------------------


def test_everyday_python_the_sandbox_refused(server):
    """`type(e).__name__`, `d[k] += v` and a script's own `defaultdict` written to."""
    body = execute(
        server,
        """\
        from collections import defaultdict

        async def run(client):
            counts = {"a": 1}
            counts["a"] += 2
            groups = defaultdict(list)
            groups["x"].append(1)
            groups["y"] += [2]
            try:
                await client.projects.retrieve("prj_doesnotexist0000000")
            except Exception as e:
                name = type(e).__name__
            return {"counts": counts, "groups": dict(groups), "error": name}
    """,
    )
    assert body["status"] == "ok", body["error"]
    assert body["result"] == {
        "counts": {"a": 3}, "groups": {"x": [1], "y": [2]}, "error": "NotFoundError"
    }  # fmt: skip


# --- limits and errors that said too little --------------------------------------------------


def test_a_memory_kill_says_which_limit_and_what_to_do(server):
    body = execute(server, """\
        def run(client):
            kept = []
            while True:
                kept.append(" " * 10_000_000)
    """, memory_mb=64)  # fmt: skip
    assert body["status"] == "limit_exceeded"
    error = body["error"]
    assert "64 MB memory limit (memory_mb)" in error["message"]
    assert "memory_mb" in (error["hint"] or "")


async def test_a_timeout_over_mcp_suggests_submit(server):
    """Over MCP a timeout suggested "async execution", which MCP had no way to do; it names
    the `submit` tool now."""
    async with mcp_http(server) as session:
        result = await session.call_tool(
            "execute",
            {"code": "import asyncio\nasync def run(client):\n    await asyncio.sleep(30)\n",
             "timeout_s": 1},
        )  # fmt: skip
    assert result.is_error and result.structured_content["status"] == "timeout"
    hint = result.structured_content["error"]["hint"]
    assert "`submit`" in hint and "POST /v1/executions" not in hint


def test_an_idempotency_duplicate_gives_the_run_id_as_a_field(server):
    """A 409 `idempotency_duplicate` had the run id only inside its message text."""
    body = execute(
        server,
        """\
        async def run(client):
            page = await client.techniques.list()
            technique = await client.techniques.retrieve(page.techniques[0].technique_id)
            inputs = [{"id": i.id, "type": i.type,
                       "value": "hello" if i.type == "text" else "https://example.com/a.png"}
                      for i in technique.inputs]
            first = await client.techniques.runs.create(
                technique.technique_id, inputs=inputs, mode="async", idempotency_key="replay-1")
            try:
                await client.techniques.runs.create(
                    technique.technique_id, inputs=inputs, mode="async",
                    idempotency_key="replay-1")
            except ConflictError as e:
                given = {f["field"]: f["message"] for f in e.fields}
                return {"first": first.run_id, "code": e.code, "run_id": given.get("run_id")}
    """,
    )
    assert body["status"] == "ok", body["error"]
    result = body["result"]
    assert result["code"] == "idempotency_duplicate"
    assert result["run_id"] == result["first"]


async def test_output_urls_over_stdio_can_be_fetched(tmp_path):
    """Over stdio, output URLs pointed at an HTTP server that was not running."""
    params = StdioServerParameters(
        command=TERRARIUM, args=["mcp"],
        env={"TERRARIUM_DATA_DIR": str(tmp_path / "data"), "TERRARIUM_BACKEND_SPEED": "0"},
    )  # fmt: skip
    code = script("""\
        gen = await client.generations.create(type="video", prompt="waves",
                                              workspace_id=ws, project_id=project)
        while (done := await client.generations.retrieve(gen.run_id)).status != "completed":
            await asyncio.sleep(0.05)
        return done.outputs[0].url
    """)
    with open(os.devnull, "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                result = await session.call_tool("execute", {"code": code, "timeout_s": 30})
                assert not result.is_error, text_of(result)
                url = result.structured_content["result"]
                async with httpx.AsyncClient(timeout=10) as http:
                    response = await http.get(url)
    assert response.status_code == 200 and len(response.content) > 100


def test_a_params_key_the_model_does_not_list_is_warned_of_before_the_call(server):
    """A misspelt params key is accepted by FLORA and silently ignored: the pre-flight warns of
    it from the literal call, even when the script fails before making it, with the model's
    params and search_docs; when the call is made the host's identical warning is not repeated."""
    call = """\
        gen = await client.generations.create(
            type="image", prompt="a fox", workspace_id=ws, project_id=project,
            model="t2i-flux-2-pro", params={"aspectRatio": "square_1_1"})
    """
    failed = execute(server, script("raise ValueError('stop here')\n" + textwrap.dedent(call)))
    assert failed["status"] == "error"
    assert [c["method"] for c in failed["calls"]] == ["workspaces.list", "projects.create"]
    [warning] = failed["warnings"]
    assert "'aspectRatio' (did you mean 'aspect_ratio'?)" in warning
    assert "Its params: aspect_ratio, seed" in warning and 'search_docs("models.list")' in warning
    made = execute(server, script(textwrap.dedent(call) + "return gen.run_id\n"))
    assert made["status"] == "ok", made["error"]
    assert made["warnings"] == [warning]
