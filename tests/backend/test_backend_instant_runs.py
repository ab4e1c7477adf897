"""An instant backend (speed 0) finalizes a run as soon as it has started: in the transaction
that starts it when its output draws nothing (a text, a file made lately for the same inputs),
else in the background, its output made while the caller goes on, not on its first poll or at
the next sweep."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from flora_backend import media, runs
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


async def test_the_finished_runs_kept_are_bounded(
    new_backend, raw_for, monkeypatch, no_background_settle
):
    monkeypatch.setattr(runs, "FINISHED_KEPT", 2)
    backend = await new_backend(speed=0, sweep_interval_s=3600)
    ws, key = await backend.default_credentials()
    async with raw_for(backend, key) as raw:
        ids = [(await start(raw, ws, prompt=f"fox {i}"))["run_id"] for i in range(3)]
        # finalized here, one after another: in the background their order would be the
        # scheduler's, and so would which one is the oldest kept
        engine = backend.run_engine()
        for run_id in ids:
            assert (await engine.finalize(run_id)).status == "completed"
        assert engine.finished(ids[0]) is None
        assert [engine.finished(i) is not None for i in ids[1:]] == [True, True]
        # the one no longer kept is read from the database, the same as before
        assert (await raw.get(f"runs/{ids[0]}")).json()["status"] == "completed"


@pytest.fixture
def no_background_settle(monkeypatch):
    """No run is finalized in the background: what the create itself wrote is what is read."""
    settled: list[str] = []

    async def settle(self, started: Run) -> None:
        settled.append(started.id)

    monkeypatch.setattr(runs.RunEngine, "_settle", settle)
    monkeypatch.setattr(media, "_made", type(media._made)())
    monkeypatch.setattr(media, "_made_size", 0)
    return settled


async def stored(backend, run_id: str) -> tuple[Run, list[File]]:
    async with backend.sessions() as s:
        run = await s.get(Run, run_id)
        found = await s.execute(select(File).where(File.run_id == run_id))
        return run, list(found.scalars())


async def test_a_run_whose_file_was_made_lately_completes_as_it_starts(
    new_backend, raw_for, no_background_settle
):
    backend = await new_backend(speed=0, sweep_interval_s=3600)
    ws, key = await backend.default_credentials()
    async with raw_for(backend, key) as raw:
        drawn = (await start(raw, ws))["run_id"]  # a new file: drawn in the background
        await asyncio.sleep(0.05)  # the background task's turn
        assert no_background_settle == [drawn]
        await backend.run_engine().finalize(drawn)
        again = (await start(raw, ws))["run_id"]  # the same inputs: no drawing, no second step
        await asyncio.sleep(0.05)
        assert no_background_settle == [drawn]
        run, files = await stored(backend, again)
        assert run.status == "completed" and run.completed_at is not None
        assert [f.filename for f in files] == [f"file_{again.removeprefix('run_')}0.png"]
        assert backend.run_engine().finished(again) is not None
        # what it shows and serves is what the run finalized afterwards shows and serves
        first, second = [(await raw.get(f"runs/{i}")).json() for i in (drawn, again)]
        assert set(first) == set(second) and second["status"] == "completed"
        assert second["charged_cost"] == first["charged_cost"]
        assert [o["type"] for o in second["outputs"]] == [o["type"] for o in first["outputs"]]
        bodies = [(await raw.get(r["outputs"][0]["url"])).content for r in (first, second)]
        assert bodies[0] == bodies[1] and bodies[0].startswith(b"\x89PNG")


async def test_a_text_run_completes_as_it_starts(new_backend, raw_for, no_background_settle):
    backend = await new_backend(speed=0, sweep_interval_s=3600)
    ws, key = await backend.default_credentials()
    async with raw_for(backend, key) as raw:
        run_id = (await start(raw, ws, type="text", prompt="a haiku"))["run_id"]
        run, files = await stored(backend, run_id)
        await asyncio.sleep(0.05)
    assert no_background_settle == []
    assert run.status == "completed" and files == []
    assert "a haiku" in run.outputs[0]["text"]


async def test_a_run_completed_as_it_starts_still_calls_back(
    new_backend, raw_for, no_background_settle
):
    backend = await new_backend(speed=0, sweep_interval_s=3600)
    ws, key = await backend.default_credentials()
    async with raw_for(backend, key) as raw:
        body = {"type": "text", "prompt": "a haiku", "callback_url": "https://93.184.216.34/h"}
        run_id = (await start(raw, ws, **body))["run_id"]
        run, _ = await stored(backend, run_id)
    assert run.status == "completed"
    assert run.callback_state == "pending" and run.callback_next_at == run.completed_at


async def test_a_run_fated_to_fail_is_not_completed_as_it_starts(
    new_backend, raw_for, no_background_settle
):
    backend = await new_backend(speed=0, sweep_interval_s=3600, fail_pattern="forbidden")
    ws, key = await backend.default_credentials()
    async with raw_for(backend, key) as raw:
        run_id = (await start(raw, ws, type="text", prompt="a forbidden haiku"))["run_id"]
        run, _ = await stored(backend, run_id)
        await asyncio.sleep(0.05)
    assert no_background_settle == [run_id] and run.status == "pending"
