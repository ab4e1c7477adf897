"""One project, one set of nodes: whatever placed a node (a generation or technique run started
through the API, an attached asset, an action node, a canvas changeset), it shows once in
projects.list_nodes, the graph, the canvas definition and the Mermaid diagram, typed as FLORA's
SDK types each; a direct actions.run (no canvas in FLORA) shows nowhere."""

from __future__ import annotations

import asyncio

from client_surface.table import (
    SURFACE,
    response_problems,
)
from tests.backend.test_backend_assets import png, poll, upload_signed

METHODS = {m.full_name: m for m in SURFACE}


def fits(name: str, body: dict) -> dict:
    assert not response_problems(METHODS[name].response, body), body
    return body


async def test_every_node_kind_shows_once_everywhere(raw, creds, project):
    ws, pid = creds[0], project.project_id
    gen = await raw.post(
        "generate", json={"type": "image", "prompt": "a red fox", "workspace_id": ws,
                          "project_id": pid},
    )  # fmt: skip
    assert gen.status_code == 201, gen.text
    done = await upload_signed(raw, ws, png((64, 32)), file_name="fox.png")
    attached = (await raw.post(f"projects/{pid}/assets/{done['asset_id']}/attach")).json()
    action = await raw.post(
        f"projects/{pid}/actions",
        json={"action_id": "resize-image-browser", "params": {"mode": "percent", "percent": 50}},
    )
    action_node = action.json()["node_id"]
    ran = (await raw.post(f"projects/{pid}/actions/{action_node}/run")).json()
    await poll(raw, ran["run_id"])
    changeset = await raw.post(
        f"workspaces/{ws}/projects/{pid}/canvas/changeset",
        json={"add": [{"ref": "t", "type": "text", "prompt": "a poem"}]},
    )
    text_node = changeset.json()["created"]["t"]["node_id"]
    direct = await raw.post(
        "runs/action",
        json={"action_id": "blur-image-browser", "project_id": pid, "workspace_id": ws,
              "inputs": [{"type": "image", "url": done["url"]}]},
    )  # fmt: skip
    assert direct.status_code == 200, direct.text
    await poll(raw, direct.json()["run_id"])

    listed = fits("projects.list_nodes", (await raw.get(f"projects/{pid}/nodes")).json())
    graph = fits(
        "workspaces.projects.graph", (await raw.get(f"workspaces/{ws}/projects/{pid}/graph")).json()
    )
    definition = fits(
        "workspaces.projects.canvas.retrieve_definition",
        (await raw.get(f"workspaces/{ws}/projects/{pid}/canvas/definition")).json(),
    )
    mermaid = fits("projects.canvas.retrieve", (await raw.get(f"projects/{pid}/canvas")).json())

    ids = [n["node_id"] for n in listed["nodes"]]
    assert len(ids) == len(set(ids)) == 4
    assert sorted(ids) == sorted(n["node_id"] for n in graph["nodes"])
    assert sorted(ids) == sorted(n["id"] for n in definition["definition"]["nodes"])
    assert {attached["node_id"], action_node, text_node} < set(ids)
    lines = mermaid["diagram"].splitlines()[1:]
    shorts = [n["id"] for n in graph["nodes"]]
    assert sorted(line.split("[")[0].strip() for line in lines if "[" in line) == sorted(shorts)

    by_id = {n["node_id"]: n for n in listed["nodes"]}
    asset_node = by_id[attached["node_id"]]
    assert asset_node["type"] == "image" and asset_node["asset_id"] == done["asset_id"]
    assert (asset_node["width"], asset_node["height"]) == (64, 32) and asset_node["url"]
    made = by_id[action_node]
    assert (
        made["type"] == "image"
        and made["url"] == (await poll(raw, ran["run_id"]))["outputs"][0]["url"]
    )
    [generated] = [n for n in listed["nodes"] if n["node_id"] not in
                   {attached["node_id"], action_node, text_node}]  # fmt: skip
    assert generated["type"] == "image" and generated["label"] == "a red fox"
    assert by_id[text_node]["type"] == "text"

    views = {n["node_id"]: n for n in graph["nodes"]}
    assert views[action_node]["type"] == "action" and views[action_node]["status"] == "done"
    assert views[action_node]["action"]["action_id"] == "resize-image-browser"
    assert views[attached["node_id"]]["type"] == "static_image"
    assert views[generated["node_id"]]["prompt"] == "a red fox"
    # the action node is fed by the newest image placed before it: the attached asset
    short = {n["node_id"]: n["id"] for n in graph["nodes"]}
    assert {"from": short[attached["node_id"]], "in": "image", "to": short[action_node]} in graph[
        "edges"
    ]


async def test_a_direct_action_run_stays_off_the_canvas(raw, creds, project):
    ws, pid = creds[0], project.project_id
    done = await upload_signed(raw, ws, png())
    start = await raw.post(
        "runs/action",
        json={"action_id": "blur-image-browser", "project_id": pid, "workspace_id": ws,
              "inputs": [{"type": "image", "url": done["url"]}]},
    )  # fmt: skip
    await poll(raw, start.json()["run_id"])
    assert (await raw.get(f"projects/{pid}/nodes")).json()["nodes"] == []
    graph = (await raw.get(f"workspaces/{ws}/projects/{pid}/graph")).json()
    assert graph["nodes"] == [] and graph["revision"] == "0"


async def test_gathered_generations_each_get_their_node(raw, creds, project):
    ws, pid = creds[0], project.project_id
    body = {"type": "image", "workspace_id": ws, "project_id": pid}
    starts = await asyncio.gather(
        *(raw.post("generate", json={**body, "prompt": f"fox {i}"}) for i in range(8))
    )
    assert all(s.status_code == 201 for s in starts), [s.text for s in starts]
    nodes = (await raw.get(f"projects/{pid}/nodes", params={"limit": 5})).json()
    rest = await raw.get(
        f"projects/{pid}/nodes", params={"limit": 5, "cursor": nodes["meta"]["next_cursor"]}
    )
    labels = [n["label"] for n in nodes["nodes"] + rest.json()["nodes"]]
    assert sorted(labels) == sorted(f"fox {i}" for i in range(8))
    assert rest.json()["meta"]["next_cursor"] is None


async def test_an_action_node_is_fed_by_the_newest_output_not_an_empty_block(raw, creds, project):
    ws, pid = creds[0], project.project_id
    done = await upload_signed(raw, ws, png((64, 32)))
    await raw.post(f"projects/{pid}/assets/{done['asset_id']}/attach")
    await raw.patch(f"projects/{pid}/canvas", json={"diagram": 'graph LR\n  a["A fox (Image)"]'})
    node = await raw.post(f"projects/{pid}/actions", json={"action_id": "blur-image-browser"})
    start = await raw.post(f"projects/{pid}/actions/{node.json()['node_id']}/run")
    assert start.status_code == 200, start.text
    assert (await poll(raw, start.json()["run_id"]))["status"] == "completed"
