"""Contract tests: every entry of the one table, called through the SDK against the built-in
backend, answering the shapes flora-surface.md describes."""

from __future__ import annotations

import asyncio
import io
import json
import re
import sys
import time
from typing import Any

import httpx
import pytest
from PIL import Image

from client_surface import AsyncFlora
from client_surface.table import SURFACE, Method, response_problems
from flora_backend.routes import HANDLERS

BASE = "http://backend/api/v1"
METHODS = {m.full_name: m for m in SURFACE}
ROUTES = [(m, re.compile("/api/v1" + re.sub(r"\{[a-z_]+\}", "[^/]+", m.path))) for m in SURFACE]


def method_of(request: httpx.Request) -> Method | None:
    path = request.url.path
    found = [m for m, rx in ROUTES if m.verb == request.method and rx.fullmatch(path)]
    return min(found, key=lambda m: m.path.count("{")) if found else None


class Checked(httpx.AsyncBaseTransport):
    """Every successful answer the SDK receives here is checked with response_problems (the
    strict checker) against its method's response model before the SDK parses it."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        method = method_of(request)
        if method is not None and response.status_code == method.success_status:
            body = json.loads(await response.aread())
            assert response_problems(method.response, body) == [], (method.full_name, body)
        return response


@pytest.fixture
async def client(backend, creds):
    c = AsyncFlora(
        api_key=creds[1], base_url=BASE, transport=Checked(backend.transport()), max_retries=0
    )
    yield c
    await c.close()


def is_ms(value: object) -> bool:
    """A timestamp as FLORA sends it: Unix milliseconds, within a minute of now."""
    return isinstance(value, int | float) and abs(value - time.time() * 1000) < 60_000


RUN_KEYS = {"run_id", "status", "progress", "created_at", "charged_cost", "poll_url"}
START_KEYS = {"run_id", "type", "charged_cost", "estimated_seconds", "poll_url", "project_id"}


def test_every_table_entry_has_a_handler():
    missing = [m.full_name for m in SURFACE if m.full_name not in HANDLERS]
    assert not missing, f"table entries without a backend handler: {missing}"
    assert set(HANDLERS) <= {m.full_name for m in SURFACE}


def test_every_table_entry_has_a_contract_test():
    names = set(dir(sys.modules[__name__]))
    missing = [
        m.full_name
        for m in SURFACE
        if "test_contract_" + m.full_name.replace(".", "_") not in names
    ]
    assert not missing, f"table entries without a contract test: {missing}"


def dump(obj) -> dict:
    return obj.model_dump(exclude_none=True)


async def start_image(client, creds, project, **extra):
    return await client.generations.create(
        type="image",
        prompt="a red fox in snow",
        workspace_id=creds[0],
        project_id=project.project_id,
        **extra,
    )


async def test_contract_workspaces_list(client, creds):
    out = await client.workspaces.list()
    [ws] = out.workspaces
    assert ws.workspace_id == creds[0] and ws.workspace_id.startswith("ws_")
    assert ws.name and ws.role == "owner" and is_ms(ws.created_at)
    assert set(dump(ws)) == {"workspace_id", "name", "role", "created_at"}


async def test_contract_projects_create(client, creds):
    p = await client.projects.create(name="Launch", workspace_id=creds[0])
    d = dump(p)
    assert set(d) >= {"project_id", "name", "workspace_id", "created_at", "last_modified", "origin"}
    assert p.project_id.startswith("prj_") and p.name == "Launch" and p.workspace_id == creds[0]
    assert is_ms(p.created_at) and p.last_modified == p.created_at


async def test_contract_projects_list(client, creds):
    for name in ("alpha", "beta", "gamma"):
        await client.projects.create(name=name, workspace_id=creds[0])
    page = await client.projects.list(workspace_id=creds[0], limit=2)
    assert [p.name for p in page.projects] == ["gamma", "beta"]  # newest activity first
    assert page.meta.next_cursor
    found = await client.projects.list(workspace_id=creds[0], query="ALP")
    assert [p.name for p in found.projects] == ["alpha"]
    assert found.meta.next_cursor is None


async def test_contract_projects_retrieve(client, project):
    got = await client.projects.retrieve(project.project_id)
    assert got.project_id == project.project_id and got.name == project.name


async def test_contract_projects_list_nodes(client, creds, project):
    start = await start_image(client, creds, project)
    page = await client.projects.list_nodes(project.project_id)
    [node] = page.nodes
    run = await client.generations.retrieve(start.run_id)
    assert node.node_id and not node.node_id.startswith("run_") and node.type == "image"
    assert node.url == run.outputs[0].url and (node.width, node.height) == (512, 512)
    assert node.asset_id is None and node.label == "a red fox in snow"
    assert set(dump(node)) <= {"node_id", "type", "asset_id", "url", "width", "height", "label"}
    assert page.meta.next_cursor is None


async def test_contract_models_list(client):
    out = await client.models.list()
    types = {m.type for m in out.models}
    assert types == {"image", "video", "audio", "text"}
    ids = {m.model_id for m in out.models}
    assert {"t2i-flux-2-pro", "t2i-flux-2-klein-4b", "t2i-imagen-4", "t2v-veo-3"} <= ids
    for m in out.models:
        assert m.provider and m.name and m.capabilities and m.estimated_credits > 0
        assert m.estimated_seconds > 0 and not m.model_id.startswith("model_")
    images = await client.models.list(type="image")
    assert images.models and all(m.type == "image" for m in images.models)
    flux = next(m for m in images.models if m.model_id == "t2i-flux-2-pro")
    aspect = next(p for p in flux.params if p.name == "aspect_ratio")
    assert [o.value for o in aspect.options] == [
        "square_1_1",
        "landscape_4_3",
        "portrait_3_4",
        "landscape_16_9",
        "portrait_9_16",
    ]
    assert any(p.name == "seed" and p.type == "seed" for p in flux.params)
    video = await client.models.list(type="video")
    assert all(any(p.name == "duration" for p in m.params) for m in video.models)
    audio = await client.models.list(type="audio")
    assert all(any(p.name == "duration" for p in m.params) for m in audio.models)


async def test_contract_generations_create(client, creds, project):
    start = await start_image(client, creds, project, model="t2i-imagen-4")
    d = dump(start)
    assert set(d) >= START_KEYS
    assert start.run_id.startswith("run_") and start.type == "generation"
    assert start.charged_cost == 0.04 and start.model.model_id == "t2i-imagen-4"  # USD
    assert start.project_id == project.project_id
    assert start.poll_url.endswith(f"/api/v1/runs/{start.run_id}")


async def test_contract_generations_retrieve(client, creds, project):
    start = await start_image(client, creds, project)
    run = await client.generations.retrieve(start.run_id)
    d = dump(run)
    assert set(d) >= RUN_KEYS | {"started_at", "completed_at", "outputs"}
    assert run.status == "completed" and run.progress == 100 and run.charged_cost == 0.05
    for key in ("created_at", "started_at", "completed_at"):
        assert is_ms(d[key])
    assert d["created_at"] <= d["started_at"] <= d["completed_at"]
    [out] = run.outputs
    assert out.type == "imageUrl" and out.output_id and not out.output_id.startswith("run_")
    assert out.url.startswith("http://127.0.0.1:8000/api/v1/files/")


async def test_contract_generations_list(client, creds, project):
    ids = [(await start_image(client, creds, project)).run_id for _ in range(3)]
    page = await client.generations.list(project_id=project.project_id, limit=2)
    assert [g.run_id for g in page.generations] == ids[::-1][:2]  # newest first
    g = page.generations[0]
    assert g.generation_id == g.run_id and g.workspace_id == creds[0]
    assert g.project_id == project.project_id and g.model and g.model.model_id
    assert "type" not in dump(g) and "prompt" not in dump(g)
    done = await client.generations.list(workspace_id=creds[0], status="completed")
    assert len(done.generations) == 3
    none = await client.generations.list(status="failed")
    assert none.generations == [] and none.meta.next_cursor is None


async def test_contract_techniques_list(client):
    page = await client.techniques.list()
    names = {t.name for t in page.techniques}
    assert "Thumbnail v3" in names and len(page.techniques) >= 2
    for t in page.techniques:
        assert t.technique_id.startswith("tech_") and t.inputs and t.outputs and t.run_cost > 0
        assert "slug" not in dump(t)
    found = await client.techniques.list(query="thumbnail")
    assert [t.name for t in found.techniques] == ["Thumbnail v3"]
    assert found.techniques[0].run_cost == 0.06  # USD
    first = await client.techniques.list(limit=1)
    assert len(first.techniques) == 1 and first.meta.next_cursor


async def test_contract_techniques_retrieve(client):
    by_slug = await client.techniques.retrieve("thumbnail-v3")
    by_id = await client.techniques.retrieve(by_slug.technique_id)
    assert dump(by_slug) == dump(by_id)
    assert {"technique_id", "name", "run_cost", "inputs", "outputs"} <= set(dump(by_slug))
    io = by_slug.inputs[0]
    assert io.id and io.name and io.type in ("imageUrl", "videoUrl", "audioUrl", "text")


async def test_contract_techniques_runs_create(client):
    run = await client.techniques.runs.create(
        "thumbnail-v3",
        inputs=[
            {"id": "title", "type": "text", "value": "Ten tips for foxes"},
            {"id": "image", "type": "imageUrl", "value": "https://example.com/fox.png"},
        ],
        mode="async",
    )
    assert set(dump(run)) >= RUN_KEYS
    assert not set(dump(run)) & {"technique_id", "workspace_id", "project_id"}
    assert run.run_id.startswith("run_") and run.status in ("pending", "running", "completed")
    assert run.charged_cost == 0.06 and is_ms(run.created_at)
    streamed = await client.techniques.runs.create(
        "product-shot", inputs=[{"id": "product", "type": "text", "value": "a mug"}], mode="stream"
    )
    assert set(dump(streamed)) >= RUN_KEYS  # answered as async


async def test_contract_techniques_runs_retrieve(client):
    tech = await client.techniques.retrieve("voiceover")
    run = await client.techniques.runs.create(
        tech.technique_id,
        inputs=[{"id": "script", "type": "text", "value": "Hello there"}],
        mode="async",
    )
    got = await client.techniques.runs.retrieve(run.run_id, technique_id="voiceover")
    assert got.status == "completed" and got.progress == 100
    assert is_ms(got.completed_at) and "technique_id" not in dump(got)
    assert got.outputs[0].type == "audioUrl"
    same = await client.techniques.runs.retrieve(run.run_id, technique_id=tech.technique_id)
    assert same.run_id == run.run_id


async def test_contract_techniques_runs_list(client):
    for title in ("one", "two"):
        await client.techniques.runs.create(
            "thumbnail-v3", inputs=[{"id": "title", "type": "text", "value": title}], mode="async"
        )
    await client.techniques.runs.create(
        "product-shot", inputs=[{"id": "product", "type": "text", "value": "a mug"}], mode="async"
    )
    page = await client.techniques.runs.list(technique_id="thumbnail-v3")
    assert len(page.technique_runs) == 2
    assert all(r.status == "completed" for r in page.technique_runs)
    item = page.technique_runs[0]
    assert item.technique_run_id == item.run_id and item.workspace_id
    assert item.technique.name == "Thumbnail v3" and item.technique.technique_id.startswith("tech_")
    assert item.project_id.startswith("prj_")  # a technique run works in a project of its own
    project = await client.projects.retrieve(item.project_id)
    assert project.name == "Thumbnail v3"
    in_project = await client.techniques.runs.list(project_id=item.project_id)
    assert [r.run_id for r in in_project.technique_runs] == [item.run_id]
    everything = await client.techniques.runs.list()
    assert len(everything.technique_runs) == 3


async def test_contract_runs_start_technique(client, creds):
    start = await client.runs.start_technique(
        technique_id="product-shot", workspace_id=creds[0], inputs={"product": "a teapot"}
    )
    assert set(dump(start)) >= {"run_id", "type", "charged_cost", "poll_url"}
    assert start.type == "technique" and start.technique.name == "Product shot"
    assert start.technique.technique_id.startswith("tech_") and start.charged_cost == 0.045
    assert start.project_id and start.project_id.startswith("prj_")
    run = await client.generations.retrieve(start.run_id)
    assert run.status == "completed" and run.outputs[0].type == "imageUrl"


async def test_contract_runs_start_generation(client, creds, project):
    start = await client.runs.start_generation(
        type="text",
        prompt="three taglines for a coffee brand",
        workspace_id=creds[0],
        project_id=project.project_id,
        model="llm-gpt-5",
    )
    assert start.type == "generation" and start.model.model_id == "llm-gpt-5"
    run = await client.generations.retrieve(start.run_id)
    [out] = run.outputs
    assert out.type == "text" and "coffee" in out.url  # text outputs carry the text itself


async def test_contract_feedback_record(client, creds, project):
    before = time.time() * 1000
    receipt = await client.feedback.record(
        kind="missing_capability",
        summary="Instagram CDN asset URLs",
        detail="upload-asset refused an image on cdninstagram.com",
        attempted_tools=["assets.upload"],
        workspace_id=creds[0],
        project_id=project.project_id,
    )
    assert set(dump(receipt)) == {"feedback_id", "received_at"}
    assert receipt.feedback_id.startswith("fb_")
    assert before - 1000 <= receipt.received_at <= time.time() * 1000 + 1000  # epoch ms


# ---------------------------------------------------------------- through HTTP, each answer
# checked with response_problems (the strict checker: no undeclared field, no stray null, no
# string for a number), besides the backend's own check before it answers.


async def answer(raw, full_name: str, /, **arguments: Any) -> dict[str, Any]:
    """`full_name` called over HTTP as the table declares it: its success status, and a body
    with no problem against its response model."""
    method = METHODS[full_name]
    path = method.path.format(**{p: arguments.pop(p) for p in method.path_params})
    sent = {"params": arguments} if method.verb in ("GET", "DELETE") else {"json": arguments}
    response = await raw.request(method.verb, path.lstrip("/"), **sent)
    assert response.status_code == method.success_status, response.text
    body = response.json()
    assert response_problems(method.response, body) == [], body
    return body


def png(size=(40, 20)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


async def ready_asset(raw, ws: str, size=(40, 20)) -> dict[str, Any]:
    made = await answer(raw, "assets.create", source="signed-url", workspace_id=ws,
                        file_name="fox.png", content_type="image/png")  # fmt: skip
    put = await raw.put(made["upload_url"].split("/api/v1/", 1)[1], content=png(size))
    assert put.status_code == 200, put.text
    return await answer(raw, "assets.complete", asset_id=made["asset_id"])


async def finished(raw, run_id: str) -> dict[str, Any]:
    for _ in range(100):
        run = await answer(raw, "generations.retrieve", run_id=run_id)
        if run["status"] in ("completed", "failed"):
            return run
        await asyncio.sleep(0.02)
    raise AssertionError("the run did not finish")


async def test_contract_workspaces_projects_create(raw, creds):
    p = await answer(raw, "workspaces.projects.create", workspace_id=creds[0], name="Spring")
    assert p["project_id"].startswith("prj_") and is_ms(p["created_at"])


async def test_contract_workspaces_folders_create_project(backend, raw, creds):
    [folder] = await backend.project_folders()
    p = await answer(raw, "workspaces.folders.create_project", workspace_id=creds[0],
                     folder_id=folder, name="Filed")  # fmt: skip
    assert p["name"] == "Filed" and p["workspace_id"] == creds[0]


async def changeset(raw, creds, project) -> dict[str, Any]:
    return await answer(
        raw, "workspaces.projects.canvas.apply_changeset", workspace_id=creds[0],
        project_id=project.project_id,
        add=[{"ref": "t", "type": "text", "prompt": "a fox poem"},
             {"ref": "i", "type": "image", "prompt": "a red fox"}],
        connect=[{"from": "t", "to": "i"}],
    )  # fmt: skip


async def test_contract_workspaces_projects_canvas_apply_changeset(raw, creds, project):
    done = await changeset(raw, creds, project)
    assert done["applied"]["added"] == 2 and done["applied"]["connected"] == 1
    assert set(done["created"]) == {"t", "i"} and done["revision"] == "1"


async def test_contract_workspaces_projects_graph(raw, creds, project):
    done = await changeset(raw, creds, project)
    graph = await answer(raw, "workspaces.projects.graph", workspace_id=creds[0],
                         project_id=project.project_id)  # fmt: skip
    assert {n["id"] for n in graph["nodes"]} == {c["id"] for c in done["created"].values()}
    assert graph["revision"] == done["revision"] and len(graph["edges"]) == 1


async def test_contract_workspaces_projects_run_nodes(raw, creds, project):
    done = await changeset(raw, creds, project)
    ran = await answer(raw, "workspaces.projects.run_nodes", workspace_id=creds[0],
                       project_id=project.project_id,
                       node_ids=[done["created"]["i"]["id"], "n404"])  # fmt: skip
    started, missing = ran["runs"]
    assert started["status"] == "started" and started["run_id"].startswith("run_")
    assert missing["status"] == "skipped" and missing["reason"] == "node_not_found"


async def test_contract_workspaces_projects_canvas_retrieve_definition(raw, creds, project):
    await changeset(raw, creds, project)
    got = await answer(raw, "workspaces.projects.canvas.retrieve_definition",
                       workspace_id=creds[0], project_id=project.project_id)  # fmt: skip
    assert len(got["definition"]["nodes"]) == 2 and got["summary"]["workflow_count"] == 1


async def test_contract_workspaces_projects_canvas_replace_definition(raw, creds, project):
    definition = {
        "nodes": [{"id": "a", "type": "textBlock", "data": {"label": "A"}},
                  {"id": "b", "type": "emptyImageBlock", "data": {}}],
        "edges": [{"id": "e1", "source": "a", "target": "b"}],
        "node_inputs": {}, "node_outputs": {},
    }  # fmt: skip
    got = await answer(raw, "workspaces.projects.canvas.replace_definition",
                       workspace_id=creds[0], project_id=project.project_id,
                       definition=definition)  # fmt: skip
    assert [n["id"] for n in got["definition"]["nodes"]] == ["a", "b"]
    assert got["summary"]["edge_count"] == 1


async def test_contract_projects_canvas_retrieve(raw, creds, project):
    await changeset(raw, creds, project)
    got = await answer(raw, "projects.canvas.retrieve", project_id=project.project_id)
    assert got["diagram"].startswith("graph LR") and got["summary"]["node_count"] == 2


async def test_contract_projects_canvas_update(raw, project):
    diagram = 'graph LR\n  a["A fox (Image)"] --> b["In snow (Image)"]'
    got = await answer(raw, "projects.canvas.update", project_id=project.project_id,
                       diagram=diagram)  # fmt: skip
    assert got["created_node_count"] == 2 and got["created_edge_count"] == 1


async def test_contract_workspaces_library_folders_create(raw, creds):
    folder = await answer(raw, "workspaces.library.folders.create", workspace_id=creds[0],
                          name="Clips")  # fmt: skip
    assert folder["folder_id"].startswith("libfolder_") and folder["name"] == "Clips"


async def test_contract_workspaces_library_folders_add_item(raw, creds):
    folder = await answer(raw, "workspaces.library.folders.create", workspace_id=creds[0])
    item = await answer(raw, "workspaces.library.folders.add_item", workspace_id=creds[0],
                        folder_id=folder["folder_id"], type="text", text="a red fox")  # fmt: skip
    assert item["folder_id"] == folder["folder_id"]


async def test_contract_workspaces_library_folders_delete(raw, creds):
    folder = await answer(raw, "workspaces.library.folders.create", workspace_id=creds[0])
    gone = await answer(raw, "workspaces.library.folders.delete", workspace_id=creds[0],
                        folder_id=folder["folder_id"])  # fmt: skip
    assert gone["folder_id"] == folder["folder_id"]


async def test_contract_assets_create(raw, creds):
    made = await answer(raw, "assets.create", source="signed-url", workspace_id=creds[0])
    assert made["status"] == "pending_upload" and made["upload_url"]
    assert made["uploaded_via"] == "signed_url" and made["asset_id"].startswith("asset_")


async def test_contract_assets_complete(raw, creds):
    done = await ready_asset(raw, creds[0])
    assert done["status"] == "ready" and "upload_url" not in done


async def test_contract_assets_retrieve(raw, creds):
    done = await ready_asset(raw, creds[0], (64, 32))
    got = await answer(raw, "assets.retrieve", asset_id=done["asset_id"])
    assert (got["width"], got["height"]) == (64, 32) and got["content_type"] == "image/png"


async def test_contract_assets_list(raw, creds):
    done = await ready_asset(raw, creds[0])
    page = await answer(raw, "assets.list", limit=10)
    assert [a["asset_id"] for a in page["assets"]] == [done["asset_id"]]
    assert is_ms(page["assets"][0]["created_at"]) and page["meta"]["next_cursor"] is None


async def test_contract_assets_retry(raw, creds):
    made = await answer(raw, "assets.create", source="signed-url", workspace_id=creds[0])
    failed = await answer(raw, "assets.complete", asset_id=made["asset_id"])
    assert failed["status"] == "failed" and failed["failure_message"]
    again = await answer(raw, "assets.retry", asset_id=made["asset_id"])
    assert again["status"] == "pending_upload" and again["upload_url"]


async def test_contract_projects_assets_attach_asset(raw, creds, project):
    done = await ready_asset(raw, creds[0])
    got = await answer(raw, "projects.assets.attach_asset", project_id=project.project_id,
                       asset_id=done["asset_id"])  # fmt: skip
    assert got["asset_id"] == done["asset_id"] and got["node_id"]


async def test_contract_actions_list(raw):
    listed = await answer(raw, "actions.list")
    assert {"blur-image-browser", "concat-text-browser"} <= {
        a["action_id"] for a in listed["actions"]
    }


async def test_contract_actions_retrieve(raw):
    got = await answer(raw, "actions.retrieve", action_id="blur-image-browser")
    assert got["action_id"] == "blur-image-browser" and got["charged_cost"] == 0.001


async def test_contract_actions_run(raw, creds, project):
    done = await ready_asset(raw, creds[0])
    start = await answer(raw, "actions.run", action_id="blur-image-browser",
                         inputs=[{"type": "image", "url": done["url"]}],
                         project_id=project.project_id, workspace_id=creds[0])  # fmt: skip
    assert start["type"] == "action" and start["project_id"] == project.project_id
    assert (await finished(raw, start["run_id"]))["status"] == "completed"


async def test_contract_projects_actions_create(raw, creds, project):
    got = await answer(raw, "projects.actions.create", project_id=project.project_id,
                       action_id="blur-image-browser", params={"radius": 2})  # fmt: skip
    assert got["action_id"] == "blur-image-browser" and got["node_id"]


async def test_contract_projects_actions_run(raw, creds, project):
    done = await ready_asset(raw, creds[0])
    await answer(raw, "projects.assets.attach_asset", project_id=project.project_id,
                 asset_id=done["asset_id"])  # fmt: skip
    node = await answer(raw, "projects.actions.create", project_id=project.project_id,
                        action_id="blur-image-browser")  # fmt: skip
    start = await answer(raw, "projects.actions.run", project_id=project.project_id,
                         node_id=node["node_id"])  # fmt: skip
    assert start["type"] == "action" and start["action"]["action_id"] == "blur-image-browser"
    assert (await finished(raw, start["run_id"]))["status"] == "completed"
