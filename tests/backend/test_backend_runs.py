"""Run lifecycle of the built-in backend: state from the clock, failure injection, credits,
pagination across pages and recovery after a restart (webhooks: test_backend_webhooks.py)."""

from __future__ import annotations

import asyncio
import os
import stat

import pytest


async def new_project(raw, ws: str) -> str:
    return (await raw.post("projects", json={"name": "p", "workspace_id": ws})).json()["project_id"]


async def start(raw, ws, prj, **body):
    payload = {"type": "image", "prompt": "a fox", "workspace_id": ws, "project_id": prj}
    payload.update(body)
    r = await raw.post("generate", json=payload)
    assert r.status_code == 201, r.text
    return r.json()


async def test_states_progress_and_timestamps(new_backend, raw_for):
    b = await new_backend(speed=0.3, sweep_interval_s=10)
    ws, key = await b.default_credentials()
    async with raw_for(b, key) as raw:
        prj = await new_project(raw, ws)
        run_id = (await start(raw, ws, prj, model="t2i-flux-2-klein-4b"))["run_id"]  # 0.6 s
        seen = []
        for _ in range(200):
            run = (await raw.get(f"runs/{run_id}")).json()
            seen.append((run["status"], run["progress"]))
            if run["status"] == "completed":
                break
            await asyncio.sleep(0.02)
    statuses = [s for s, _ in seen]
    assert statuses[0] == "pending" and "running" in statuses and statuses[-1] == "completed"
    progresses = [p for _, p in seen]
    assert progresses == sorted(progresses) and progresses[-1] == 100
    assert any(0 < p < 100 for p in progresses)
    assert run["started_at"] <= run["completed_at"] and run["created_at"] <= run["started_at"]


async def test_failure_injection_by_pattern_refunds(new_backend, raw_for):
    b = await new_backend(fail_pattern=r"forbidden\s+thing")
    ws, key = await b.default_credentials()
    before = await b.credits(ws)
    async with raw_for(b, key) as raw:
        prj = await new_project(raw, ws)
        run_id = (await start(raw, ws, prj, prompt="draw a Forbidden thing"))["run_id"]
        run = (await raw.get(f"runs/{run_id}")).json()
        assert run["status"] == "failed" and run["progress"] == 100
        assert run["error_code"] == "GENERATION_PROMPT_MODERATED" and run["error_message"]
        assert run["charged_cost"] == 0 and "outputs" not in run
        assert await b.credits(ws) == before
        ok = (await raw.get(f"runs/{(await start(raw, ws, prj))['run_id']}")).json()
        assert ok["status"] == "completed"
        failed = (await raw.get("generations", params={"status": "failed"})).json()
        assert [g["run_id"] for g in failed["generations"]] == [run_id]


async def test_failure_injection_by_rate(new_backend, raw_for):
    b = await new_backend(fail_rate=1.0)
    ws, key = await b.default_credentials()
    async with raw_for(b, key) as raw:
        prj = await new_project(raw, ws)
        run = (await raw.get(f"runs/{(await start(raw, ws, prj))['run_id']}")).json()
    assert run["status"] == "failed"
    assert run["error_code"] in (
        "GENERATION_PROVIDER_TIMEOUT",
        "GPU_PROVIDER_ERROR",
        "GENERATION_QUEUE_TOO_LARGE",
    )


async def test_credits_charged_per_model(backend, raw, creds, project):
    before = await backend.credits(creds[0])
    await start(raw, creds[0], project.project_id, model="t2i-imagen-4")
    body = {"type": "video", "params": {"duration": 4}, "model": "t2v-veo-3"}
    started = await start(raw, creds[0], project.project_id, **body)
    assert started["charged_cost"] == 1.6  # USD: 1600 credits
    assert await backend.credits(creds[0]) == before - 40 - 1600


async def test_pagination_across_three_pages(client, creds, project):
    ids = []
    for i in range(7):
        s = await client.generations.create(
            type="text", prompt=f"line {i}", workspace_id=creds[0], project_id=project.project_id
        )
        ids.append(s.run_id)
    first = await client.generations.list(limit=3)
    second = await first.get_next_page()
    third = await second.get_next_page()
    pages = [first, second, third]
    assert [len(p.generations) for p in pages] == [3, 3, 1]
    assert not third.has_next_page() and third.meta.next_cursor is None
    seen = [g.run_id for p in pages for g in p.generations]
    assert seen == ids[::-1]
    walked = [g.run_id async for g in client.generations.list(limit=3)]
    assert walked == seen


async def test_restart_with_a_run_in_flight(tmp_path, new_backend, raw_for):
    data = tmp_path / "shared"
    first = await new_backend(data_dir=data, speed=1.0)
    ws, key = await first.default_credentials()
    before = await first.credits(ws)
    async with raw_for(first, key) as raw:
        prj = await new_project(raw, ws)
        run_id = (await start(raw, ws, prj, type="video"))["run_id"]
        assert (await raw.get(f"runs/{run_id}")).json()["status"] in ("pending", "running")
    await first.stop()

    second = await new_backend(data_dir=data)
    ws2, key2 = await second.default_credentials()
    assert (ws2, key2) == (ws, key)  # the development workspace and key are kept
    async with raw_for(second, key) as raw:
        run = (await raw.get(f"runs/{run_id}")).json()
    assert run["status"] == "failed" and run["progress"] == 100
    assert run["error_code"] == "GENERATION_CANCELLED" and "in flight" in run["error_message"]
    assert await second.credits(ws) == before


async def test_dev_key_file_is_private(backend, creds):
    path = backend.dev_key_path
    assert path.read_text().strip() == creds[1] and creds[1].startswith("sk_")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


async def test_dev_key_is_never_written_through_a_file_left_at_a_temporary_name(
    backend, creds, tmp_path
):
    target = tmp_path / "elsewhere"
    target.write_text("untouched\n")
    backend.dev_key_path.unlink()
    (backend.data_dir / "dev-key.tmp").symlink_to(target)  # the name an older writer used
    _, key = await backend.default_credentials()
    assert target.read_text() == "untouched\n"
    assert backend.dev_key_path.read_text().strip() == key and not backend.dev_key_path.is_symlink()
    assert stat.S_IMODE(os.stat(backend.dev_key_path).st_mode) == 0o600
    assert not list(backend.data_dir.glob(".dev-key.*"))  # no temporary file left


async def test_removed_dev_key_is_remade_without_a_second_sweeper(backend, creds):
    engine, db = backend.engine, backend.db
    backend.dev_key_path.unlink()
    ws, key = await backend.default_credentials()
    assert ws == creds[0] and key != creds[1] and backend.dev_key_path.read_text().strip() == key
    assert (backend.engine, backend.db) == (engine, db)  # the running backend is kept
    await backend.stop()
    sweepers = [t for t in asyncio.all_tasks() if t.get_name() == "terrarium-backend-sweeper"]
    assert not sweepers


async def test_credits_of_an_unknown_workspace(backend):
    with pytest.raises(ValueError, match="No workspace 'ws_nope'"):
        await backend.credits("ws_nope")


async def test_callback_url_must_be_public_https(raw, creds, project):
    for url in ("http://example.com/h", "https://localhost/h", "https://10.0.0.8/h", "ftp://x/y"):
        payload = {"type": "image", "prompt": "a", "workspace_id": creds[0]}
        payload.update(project_id=project.project_id, callback_url=url)
        r = await raw.post("generate", json=payload)
        assert r.status_code == 400, url
        assert r.json()["error"]["fields"][0]["field"] == "callback_url"
