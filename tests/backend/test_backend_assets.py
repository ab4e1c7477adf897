"""Assets, actions and the project-level asset and action methods: real files from uploaded
bytes, a signed upload or a fetched URL (public addresses only); Pillow actions with outputs to
poll; asset and action nodes on a project's canvas; FLORA's error codes."""

from __future__ import annotations

import asyncio
import io

import httpx
from PIL import Image

from flora_backend.store import Canvas


def png(size=(40, 20), color=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


async def file_bytes(raw: httpx.AsyncClient, url: str) -> bytes:
    answer = await raw.get(url.split("/api/v1/", 1)[1])
    assert answer.status_code == 200, answer.text
    return answer.content


async def upload_signed(raw, ws: str, data: bytes, **extra) -> dict:
    created = (
        await raw.post("assets", json={"source": "signed-url", "workspace_id": ws, **extra})
    ).json()
    assert created["status"] == "pending_upload" and created["uploaded_via"] == "signed_url"
    put = await raw.put(created["upload_url"].split("/api/v1/", 1)[1], content=data)
    assert put.status_code == 200, put.text
    done = await raw.post(f"assets/{created['asset_id']}/complete")
    assert done.status_code == 200, done.text
    return done.json()


async def test_a_signed_upload_becomes_a_ready_asset_served_as_a_file(raw, creds):
    data = png()
    done = await upload_signed(raw, creds[0], data, file_name="fox.png", content_type="image/png")
    assert done["status"] == "ready"
    asset = (await raw.get(f"assets/{done['asset_id']}")).json()
    assert (asset["width"], asset["height"], asset["size_bytes"]) == (40, 20, len(data))
    assert asset["content_type"] == "image/png" and asset["name"] == "fox.png"
    assert await file_bytes(raw, asset["url"]) == data


async def test_direct_multipart_bytes_are_stored_in_one_call(raw, creds):
    data = png((8, 8))
    answer = await raw.post(
        "assets",
        data={"workspace_id": creds[0], "file_name": "dot.png"},
        files={"file": ("dot.png", data, "image/png")},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "ready" and body["uploaded_via"] == "direct"
    assert await file_bytes(raw, body["url"]) == data


async def test_bytes_that_are_not_an_allowed_type_are_refused(raw, creds):
    answer = await raw.post(
        "assets", data={"workspace_id": creds[0]}, files={"file": ("x.txt", b"hello", "text/plain")}
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "input_validation_error"


async def test_a_url_is_fetched_when_private_addresses_are_allowed(
    new_backend, raw_for, image_host
):
    backend = await new_backend(callbacks_allow_private=True)
    ws, key = await backend.default_credentials()
    host = await image_host(png((30, 30)))
    async with raw_for(backend, key) as raw:
        body = (await raw.post("assets", json={"source": host.url(), "workspace_id": ws})).json()
        assert body["status"] == "ready" and body["uploaded_via"] == "url", body
        asset = (await raw.get(f"assets/{body['asset_id']}")).json()
        assert asset["name"] == "fox.png" and asset["width"] == 30
    assert host.hits == 1


async def test_a_private_url_is_refused_before_any_fetch(raw, creds, image_host):
    host = await image_host(png())
    answer = await raw.post("assets", json={"source": host.url(), "workspace_id": creds[0]})
    assert answer.status_code == 400
    assert answer.json()["error"]["fields"][0]["field"] == "source"
    assert host.hits == 0


async def test_complete_without_bytes_fails_and_retry_gives_a_new_upload_url(raw, creds):
    created = (
        await raw.post("assets", json={"source": "signed-url", "workspace_id": creds[0]})
    ).json()
    failed = (await raw.post(f"assets/{created['asset_id']}/complete")).json()
    assert failed["status"] == "failed" and failed["failure_message"]
    retried = (await raw.post(f"assets/{created['asset_id']}/retry")).json()
    assert retried["status"] == "pending_upload"
    assert retried["upload_url"] != created["upload_url"]
    old = await raw.put(created["upload_url"].split("/api/v1/", 1)[1], content=png())
    assert old.status_code == 403
    put = await raw.put(retried["upload_url"].split("/api/v1/", 1)[1], content=png())
    assert put.status_code == 200
    assert (await raw.post(f"assets/{created['asset_id']}/complete")).json()["status"] == "ready"
    again = await raw.post(f"assets/{created['asset_id']}/retry")
    assert again.status_code == 409


async def test_assets_are_listed_newest_first_with_paging(raw, creds):
    ids = [(await upload_signed(raw, creds[0], png(), file_name=f"a{i}.png"))["asset_id"]
           for i in range(3)]  # fmt: skip
    first = (await raw.get("assets", params={"limit": 2})).json()
    assert [a["asset_id"] for a in first["assets"]] == ids[::-1][:2]
    assert isinstance(first["assets"][0]["created_at"], int)
    rest = await raw.get("assets", params={"limit": 2, "cursor": first["meta"]["next_cursor"]})
    assert [a["asset_id"] for a in rest.json()["assets"]] == [ids[0]]
    found = (await raw.get("assets", params={"query": "a1"})).json()["assets"]
    assert [a["asset_id"] for a in found] == [ids[1]]


async def test_another_workspaces_asset_is_not_found(backend, raw, raw_for, creds):
    done = await upload_signed(raw, creds[0], png())
    other = await backend.create_workspace("Other")
    async with raw_for(backend, await backend.create_key(other)) as theirs:
        answer = await theirs.get(f"assets/{done['asset_id']}")
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"


async def test_attach_asset_puts_a_node_on_the_project(backend, raw, creds, project):
    done = await upload_signed(raw, creds[0], png())
    pid = project.project_id
    answer = (await raw.post(f"projects/{pid}/assets/{done['asset_id']}/attach")).json()
    assert answer["project_id"] == pid and answer["asset_id"] == done["asset_id"]
    async with backend.sessions() as s:
        [node] = (await s.get(Canvas, pid)).nodes
    assert node["id"] == answer["node_id"] and node["type"] == "staticImageBlock"
    assert node["data"]["asset_id"] == done["asset_id"]
    listed = (await raw.get("assets", params={"project_id": pid})).json()["assets"]
    assert [(a["asset_id"], a["node_id"]) for a in listed] == [(done["asset_id"], node["id"])]


async def test_actions_list_only_what_runs_here(raw):
    listed = (await raw.get("actions")).json()["actions"]
    ids = {a["action_id"] for a in listed}
    assert {"rotate-image-browser", "resize-image-browser", "blur-image-browser"} <= ids
    assert not any(i.endswith("-video") or "audio" in i for i in ids)
    one = (await raw.get("actions/rotate-image-browser")).json()
    assert one["charged_cost"] == 0.001 and one["params"][0]["key"] == "angle"
    missing = await raw.get("actions/reverse-video")
    assert missing.status_code == 404


async def poll(raw, run_id: str) -> dict:
    for _ in range(100):
        run = (await raw.get(f"runs/{run_id}")).json()
        if run["status"] in ("completed", "failed"):
            return run
        await asyncio.sleep(0.02)
    raise AssertionError("the run did not finish")


async def test_actions_run_rotates_a_real_image(raw, creds, project):
    done = await upload_signed(raw, creds[0], png((40, 20)))
    asset = (await raw.get(f"assets/{done['asset_id']}")).json()
    start = await raw.post(
        "runs/action",
        json={
            "action_id": "rotate-image-browser",
            "inputs": [{"type": "image", "url": asset["url"]}],
            "project_id": project.project_id,
            "workspace_id": creds[0],
            "params": {"angle": 90},
        },
    )
    assert start.status_code == 200, start.text
    body = start.json()
    assert body["type"] == "action" and body["action"] == {"action_id": "rotate-image-browser"}
    run = await poll(raw, body["run_id"])
    assert run["status"] == "completed"
    out = Image.open(io.BytesIO(await file_bytes(raw, run["outputs"][0]["url"])))
    assert out.size == (20, 40)


async def test_text_actions_give_text_outputs(raw, creds, project):
    body = (
        await raw.post(
            "runs/action",
            json={
                "action_id": "find-and-replace-text-browser",
                "inputs": [{"type": "text", "text": "a red fox"}],
                "project_id": project.project_id,
                "workspace_id": creds[0],
                "params": {"find": "red", "replace": "grey"},
            },
        )
    ).json()
    run = await poll(raw, body["run_id"])
    assert run["outputs"] == [{"output_id": run["outputs"][0]["output_id"], "type": "text",
                               "url": "a grey fox"}]  # fmt: skip


async def test_an_unknown_param_or_unavailable_action_is_a_free_400(backend, raw, creds, project):
    before = await backend.credits(creds[0])
    base = {"inputs": [{"type": "image", "url": "https://example.com/a.png"}],
            "project_id": project.project_id, "workspace_id": creds[0]}  # fmt: skip
    bad = await raw.post("runs/action", json={**base, "action_id": "blur-image-browser",
                                              "params": {"sharpness": 3}})  # fmt: skip
    assert (
        bad.status_code == 400 and bad.json()["error"]["fields"][0]["field"] == "params.sharpness"
    )
    video = await raw.post("runs/action", json={**base, "action_id": "reverse-video"})
    assert video.status_code == 400
    assert await backend.credits(creds[0]) == before


async def test_a_project_action_node_runs_on_the_newest_image(backend, raw, creds, project):
    pid = project.project_id
    done = await upload_signed(raw, creds[0], png((64, 32)))
    await raw.post(f"projects/{pid}/assets/{done['asset_id']}/attach")
    node = (
        await raw.post(
            f"projects/{pid}/actions",
            json={
                "action_id": "resize-image-browser",
                "params": {"mode": "percent", "percent": 50},
            },
        )
    ).json()
    assert node["action_id"] == "resize-image-browser" and node["project_id"] == pid
    start = (await raw.post(f"projects/{pid}/actions/{node['node_id']}/run")).json()
    run = await poll(raw, start["run_id"])
    out = Image.open(io.BytesIO(await file_bytes(raw, run["outputs"][0]["url"])))
    assert out.size == (32, 16)
    async with backend.sessions() as s:
        outputs = (await s.get(Canvas, pid)).node_outputs
    assert outputs[node["node_id"]] == {"run_id": start["run_id"]}


async def test_an_action_node_without_an_input_cannot_run(raw, project):
    pid = project.project_id
    node = await raw.post(f"projects/{pid}/actions", json={"action_id": "blur-image-browser"})
    answer = await raw.post(f"projects/{pid}/actions/{node.json()['node_id']}/run")
    assert answer.status_code == 400
    missing = await raw.post(f"projects/{pid}/actions/nmissing/run")
    assert missing.status_code == 404
