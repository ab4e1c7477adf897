"""A run completed in the transaction that starts it (an instant backend, an output that
draws nothing) has its file written to the disk before that transaction commits: when the
transaction does not commit, the file is removed again, so no file is left for a run that never
was."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from flora_backend import routes
from flora_backend.store import Run


async def generated_once(backend: Any, raw: Any, ws: str, prompt: str) -> dict[str, Any]:
    """A project and one image generation in it, finalized, so that its file is made: the same
    inputs again complete as they start. The request body, with the project's id."""
    project = (await raw.post("projects", json={"name": "p", "workspace_id": ws})).json()
    body = {"type": "image", "prompt": prompt, "workspace_id": ws}
    body["project_id"] = project["project_id"]
    made = await raw.post("generate", json=body)
    assert made.status_code == 201, made.text
    await backend.run_engine().finalize(made.json()["run_id"])  # its file is made now
    return body


async def test_a_create_whose_transaction_fails_leaves_no_file_behind(
    new_backend, raw_for, monkeypatch
):
    backend = await new_backend(speed=0, sweep_interval_s=3600)
    ws, key = await backend.default_credentials()
    async with raw_for(backend, key) as raw:
        body = await generated_once(backend, raw, ws, "a grey heron")
        kept = sorted(backend.files_dir.iterdir())
        credits = await backend.credits(ws)

        async def canvas_fails(*args: object, **kwargs: object) -> None:
            raise RuntimeError("the canvas could not be written")

        monkeypatch.setattr(routes, "place_run_node", canvas_fails)
        failed = await raw.post("generate", json=body)  # the same inputs: its file made lately
        assert failed.status_code == 500, failed.text
    assert await backend.credits(ws) == credits
    async with backend.sessions() as s:
        assert len((await s.execute(select(Run.id))).all()) == 1
    assert sorted(backend.files_dir.iterdir()) == kept  # no file for a run that never was


async def test_a_create_cancelled_before_it_commits_leaves_no_file_behind(
    new_backend, raw_for, monkeypatch
):
    backend = await new_backend(speed=0, sweep_interval_s=3600)
    ws, key = await backend.default_credentials()
    async with raw_for(backend, key) as raw:
        body = await generated_once(backend, raw, ws, "a white egret")
        kept = sorted(backend.files_dir.iterdir())

        async def cancelled(*args: object, **kwargs: object) -> None:
            raise asyncio.CancelledError

        monkeypatch.setattr(routes, "place_run_node", cancelled)
        with pytest.raises(asyncio.CancelledError):
            await raw.post("generate", json=body)
    assert sorted(backend.files_dir.iterdir()) == kept


async def test_run_nodes_that_fails_leaves_no_file_of_the_runs_it_started(
    new_backend, raw_for, monkeypatch
):
    backend = await new_backend(speed=0, sweep_interval_s=3600)
    ws, key = await backend.default_credentials()
    async with raw_for(backend, key) as raw:
        prj = (await generated_once(backend, raw, ws, "a red kite"))["project_id"]
        node_id = (await raw.get(f"projects/{prj}/nodes")).json()["nodes"][0]["node_id"]
        kept = sorted(backend.files_dir.iterdir())
        start = routes.start_node_run

        async def start_then_fail(*args: Any, **kwargs: Any) -> dict[str, Any]:
            await start(*args, **kwargs)  # completed as it starts: its file is written
            raise RuntimeError("the next node could not be started")

        monkeypatch.setattr(routes, "start_node_run", start_then_fail)
        path = f"workspaces/{ws}/projects/{prj}/nodes/run"
        failed = await raw.post(path, json={"node_ids": [node_id]})
        assert failed.status_code == 500, failed.text
    assert sorted(backend.files_dir.iterdir()) == kept
