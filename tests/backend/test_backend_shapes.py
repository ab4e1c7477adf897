"""The backend answers as FLORA's SDK types it: timestamps in Unix ms, costs in USD, an open
`params` map, FLORA's cursor format, technique-run modes and input types, 405 with `Allow`,
and a strict check of every answer against the table's response models."""

from __future__ import annotations

import base64
import json

from test_backend_errors import assert_error, gen

from client_surface.table import Generation, Project, Run, TechniqueRun, response_problems
from flora_backend import catalog


def flora_cursor(body: dict) -> str:
    return base64.b64encode(json.dumps(body, separators=(",", ":")).encode()).decode().rstrip("=")


async def test_unknown_params_are_accepted_and_known_ones_checked(raw, creds, project):
    ok = await gen(raw, creds, project, params={"foo": "bar", "aspect_ratio": "16:9"})
    assert ok.status_code == 201, ok.text
    run = (await raw.get(f"runs/{ok.json()['run_id']}")).json()
    assert run["status"] == "completed"
    nodes = (await raw.get(f"projects/{project.project_id}/nodes")).json()["nodes"]
    assert (nodes[0]["width"], nodes[0]["height"]) == (768, 432)  # the known key still applies
    bad = await gen(raw, creds, project, params={"foo": "bar", "seed": "x"})
    assert assert_error(bad, 400, "input_validation_error")["fields"][0]["field"] == "params.seed"


async def test_video_option_values_are_strings_and_numbers_still_pick_them(raw, creds, project):
    models = (await raw.get("models", params={"type": "video"})).json()["models"]
    for model in models:
        duration = next(p for p in model["params"] if p["name"] == "duration")
        assert all(isinstance(o["value"], str) for o in duration["options"])
    for value in (4, "4"):
        body = {"type": "video", "model": "t2v-veo-3", "params": {"duration": value}}
        started = await gen(raw, creds, project, **body)
        assert started.status_code == 201 and started.json()["charged_cost"] == 1.6
    err = assert_error(
        await gen(raw, creds, project, type="video", model="t2v-veo-3", params={"duration": 5}),
        400,
        "input_validation_error",
    )
    assert "'4'" in err["message"]


async def test_flora_format_cursors(raw, creds, project):
    for i in range(5):
        assert (await gen(raw, creds, project, prompt=f"fox {i}")).status_code == 201
    first = (await raw.get("generations", params={"limit": 2})).json()
    cursor = first["meta"]["next_cursor"]
    decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    assert decoded["offset"] == 2  # ours are FLORA's format: base64 JSON with the offset
    walked = [g["run_id"] for g in first["generations"]]
    while cursor:
        page = (await raw.get("generations", params={"limit": 2, "cursor": cursor})).json()
        walked += [g["run_id"] for g in page["generations"]]
        cursor = page["meta"]["next_cursor"]
    assert len(walked) == len(set(walked)) == 5
    theirs = flora_cursor({"offset": 3})  # a cursor as FLORA issues it
    page = (await raw.get("generations", params={"limit": 10, "cursor": theirs})).json()
    assert [g["run_id"] for g in page["generations"]] == walked[3:]
    assert page["meta"]["next_cursor"] is None
    assert flora_cursor({"offset": 20}) == "eyJvZmZzZXQiOjIwfQ"
    for bad in ("garbage!", flora_cursor({"offset": -1}), flora_cursor([1]), "e30"):
        err = assert_error(
            await raw.get("generations", params={"cursor": bad}), 400, "input_validation_error"
        )
        assert err["fields"][0]["field"] == "cursor"


async def test_technique_run_mode_and_input_types(raw):
    body = {"inputs": [{"id": "title", "type": "text", "value": "t"}]}
    err = assert_error(
        await raw.post("techniques/thumbnail-v3/runs", json=body), 400, "input_validation_error"
    )
    assert err["fields"] == [{"field": "mode", "message": "Required"}]
    for mode in ("sync", "batch"):
        bad = await raw.post("techniques/thumbnail-v3/runs", json={**body, "mode": mode})
        assert_error(bad, 400, "input_validation_error")
    audio = {"mode": "async", "inputs": [{"id": "title", "type": "audioUrl", "value": "x"}]}
    bad = await raw.post("techniques/thumbnail-v3/runs", json=audio)
    assert_error(bad, 400, "input_validation_error")
    for mode in ("async", "stream"):
        ok = await raw.post("techniques/thumbnail-v3/runs", json={**body, "mode": mode})
        assert ok.status_code == 200 and not response_problems(Run, ok.json()), ok.text


async def test_every_answer_fits_the_sdk_types_strictly(raw, creds, project):
    started = (await gen(raw, creds, project)).json()
    run = (await raw.get(f"runs/{started['run_id']}")).json()
    assert not response_problems(Run, run)
    assert isinstance(run["created_at"], int) and isinstance(run["charged_cost"], float)
    generation = (await raw.get("generations")).json()["generations"][0]
    assert not response_problems(Generation, generation)
    body = {"mode": "async", "inputs": [{"id": "product", "type": "text", "value": "a mug"}]}
    await raw.post("techniques/product-shot/runs", json=body)
    item = (await raw.get("technique-runs")).json()["technique_runs"][0]
    assert not response_problems(TechniqueRun, item)
    assert item["charged_cost"] == catalog.usd(45) == 0.045


def test_response_problems_catch_drift():
    project = {
        "project_id": "prj_1",
        "name": "p",
        "workspace_id": "ws_1",
        "created_at": 1,
        "last_modified": None,
        "origin": None,
    }
    assert response_problems(Project, project) == []
    assert response_problems(Project, {**project, "credits": 3}) == [
        "credits: not a field of Project"
    ]
    assert response_problems(Project, {**project, "created_at": "2026-01-01T00:00:00Z"})
    run = {"run_id": "run_1", "status": "pending", "progress": 0, "created_at": 1}
    assert response_problems(Run, run) == []
    assert response_problems(Run, {**run, "completed_at": None}) == [
        "completed_at: may be left out but not null"
    ]
    assert response_problems(Run, {**run, "status": "queued"})
    nested = {**run, "outputs": [{"output_id": "o", "type": "imageUrl", "url": "u", "x": 1}]}
    assert response_problems(Run, nested) == ["outputs[].x: not a field of RunOutput"]


async def test_405_carries_allow_and_non_ids_are_no_route(raw):
    r = await raw.delete("projects/prj_abc")
    assert_error(r, 405, "method_not_allowed")
    assert r.headers["allow"] == "GET"
    r = await raw.put("generate")
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    # `action` is no run id: POST /runs/action is not GET /runs/{run_id} with the wrong method.
    assert (await raw.post("runs/action", json={})).status_code != 405
    assert_error(await raw.patch("runs/nothing-like-a-run"), 404, "not_found")
