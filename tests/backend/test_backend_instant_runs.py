"""An instant backend (speed 0) finalizes a run as soon as it has started, in the background:
its output is made while the caller goes on, not on its first poll or at the next sweep."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from flora_backend import runs
from flora_backend.store import File, Project, Run


async def wait_for_status(backend, run_id: str, seconds: float = 10.0) -> str:
    for _ in range(int(seconds / 0.01)):
        async with backend.sessions() as s:
            run = await s.get(Run, run_id)
        if run is not None and run.status != "pending":
            return run.status
        await asyncio.sleep(0.01)
    return "pending"


async def start(raw, ws: str, **body) -> dict:
    project = (await raw.post("projects", json={"name": "p", "workspace_id": ws})).json()
    payload = {"type": "image", "prompt": "a fox", "workspace_id": ws}
    payload.update({"project_id": project["project_id"], **body})
    r = await raw.post("generate", json=payload)
    assert r.status_code == 201, r.text
    return r.json()


async def test_a_run_due_at_once_completes_without_a_poll(new_backend, raw_for):
    backend = await new_backend(speed=0, sweep_interval_s=3600)  # no sweep meanwhile
    ws, key = await backend.default_credentials()
    async with raw_for(backend, key) as raw:
        run_id = (await start(raw, ws))["run_id"]
        assert await wait_for_status(backend, run_id) == "completed"
        async with backend.sessions() as s:
            files = (await s.execute(select(File).where(File.run_id == run_id))).scalars()
            assert [f.content_type for f in files] == ["image/png"]
        run = (await raw.get(f"runs/{run_id}")).json()
        assert run["status"] == "completed" and run["outputs"][0]["url"].endswith("0")


async def test_a_failing_instant_run_is_refunded_in_the_background(new_backend, raw_for):
    backend = await new_backend(speed=0, sweep_interval_s=3600, fail_pattern="forbidden")
    ws, key = await backend.default_credentials()
    before = await backend.credits(ws)
    async with raw_for(backend, key) as raw:
        run_id = (await start(raw, ws, prompt="a forbidden fox"))["run_id"]
        assert await wait_for_status(backend, run_id) == "failed"
    assert await backend.credits(ws) == before


async def test_a_run_not_yet_due_is_left_to_its_time(new_backend, raw_for):
    backend = await new_backend(speed=50, sweep_interval_s=3600)
    ws, key = await backend.default_credentials()
    async with raw_for(backend, key) as raw:
        run_id = (await start(raw, ws))["run_id"]
        await asyncio.sleep(0.3)
        async with backend.sessions() as s:
            run = await s.get(Run, run_id)
            project = await s.get(Project, run.project_id)
        assert run.status == "pending" and run.completed_at is None
        # the project was touched once, when its node was placed for the run
        assert project.last_modified >= run.created_at


async def test_a_finished_run_kept_in_memory_is_shown_only_to_its_workspace(new_backend, raw_for):
    backend = await new_backend(speed=0, sweep_interval_s=3600)
    ws, key = await backend.default_credentials()
    other_key = await backend.create_key(await backend.create_workspace("Other"))
    async with raw_for(backend, key) as raw, raw_for(backend, other_key) as other:
        run_id = (await start(raw, ws))["run_id"]
        assert await wait_for_status(backend, run_id) == "completed"
        assert (await raw.get(f"runs/{run_id}")).json()["status"] == "completed"
        assert backend.run_engine().finished(run_id) is not None
        r = await other.get(f"runs/{run_id}")
        assert r.status_code == 404, r.text


async def test_the_finished_runs_kept_are_bounded(new_backend, raw_for, monkeypatch):
    monkeypatch.setattr(runs, "FINISHED_KEPT", 2)
    backend = await new_backend(speed=0, sweep_interval_s=3600)
    ws, key = await backend.default_credentials()
    async with raw_for(backend, key) as raw:
        ids = [(await start(raw, ws, prompt=f"fox {i}"))["run_id"] for i in range(3)]
        for run_id in ids:
            assert await wait_for_status(backend, run_id) == "completed"
            await backend.run_engine().finalize(run_id)  # settled in the background: waited on
        engine = backend.run_engine()
        assert engine.finished(ids[0]) is None
        assert [engine.finished(i) is not None for i in ids[1:]] == [True, True]
        # the one no longer kept is read from the database, the same as before
        assert (await raw.get(f"runs/{ids[0]}")).json()["status"] == "completed"
