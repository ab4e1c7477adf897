"""Run lifecycle of the built-in backend: state from the clock, failure injection, credits,
pagination across pages, recovery after a restart, and signed webhooks with retries."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import stat

import httpx

from runtime.backend.runs import verify


async def new_project(raw, ws: str) -> str:
    return (await raw.post("projects", json={"name": "p", "workspace_id": ws})).json()["project_id"]


async def start(raw, ws, prj, **body):
    payload = {"type": "image", "prompt": "a fox", "workspace_id": ws, "project_id": prj}
    payload.update(body)
    r = await raw.post("generate", json=payload)
    assert r.status_code == 201, r.text
    return r.json()


async def test_states_progress_and_timestamps(new_backend, raw_for):
    b = await new_backend(backend_speed=0.3, backend_sweep_interval_s=10)
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
    b = await new_backend(backend_fail_pattern=r"forbidden\s+thing")
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
    b = await new_backend(backend_fail_rate=1.0)
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
    assert started["charged_cost"] == 1600
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
    first = await new_backend(data_dir=data, backend_speed=1.0)
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


class Hooks:
    """A webhook receiver (as an httpx transport) that fails its first `fail_first` calls."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.calls: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        return httpx.Response(500 if len(self.calls) <= self.fail_first else 200)

    async def wait(self, count: int, timeout: float = 3.0) -> None:
        for _ in range(int(timeout / 0.01)):
            if len(self.calls) >= count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"expected {count} webhook calls, got {len(self.calls)}")


async def test_webhook_signed_and_retried(new_backend, raw_for):
    hooks = Hooks(fail_first=2)
    b = await new_backend(webhook_transport=httpx.MockTransport(hooks))
    ws, key = await b.default_credentials()
    secret = await b.webhook_secret(ws)
    assert secret.startswith("whsec_")
    async with raw_for(b, key) as raw:
        prj = await new_project(raw, ws)
        url = "https://hooks.example.com/flora"
        run_id = (await start(raw, ws, prj, callback_url=url))["run_id"]
        await hooks.wait(3)
        await asyncio.sleep(0.1)
    assert len(hooks.calls) == 3  # two failures, then delivered; no more after that
    req = hooks.calls[-1]
    assert str(req.url) == url
    body = req.content
    header = req.headers["flora-signature"]
    t = header.split(",")[0].removeprefix("t=")
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    assert header == f"t={t},v1={expected}"
    assert verify(secret, body, header) and not verify("whsec_other", body, header)
    event = json.loads(body)
    assert event["type"] == "run.completed" and req.headers["flora-event"] == "run.completed"
    assert event["data"]["run_id"] == run_id and event["data"]["status"] == "completed"
    assert event["id"].startswith("whd_") and req.headers["flora-webhook-id"] == event["id"]
    assert len({c.content for c in hooks.calls}) == 1  # the body is stable across retries


async def test_webhook_for_failed_technique_run(new_backend, raw_for):
    hooks = Hooks()
    b = await new_backend(webhook_transport=httpx.MockTransport(hooks), backend_fail_pattern="x")
    ws, key = await b.default_credentials()
    async with raw_for(b, key) as raw:
        body = {
            "inputs": [{"id": "product", "type": "text", "value": "xylophone"}],
            "callback_url": "https://hooks.example.com/t",
        }
        r = await raw.post("techniques/product-shot/runs", json=body)
        assert r.status_code == 200, r.text
        await hooks.wait(1)
    event = json.loads(hooks.calls[0].content)
    assert event["type"] == "run.failed" and event["data"]["run_type"] == "technique"
    assert event["data"]["error_code"] == "GENERATION_PROMPT_MODERATED"


async def test_callback_url_must_be_public_https(raw, creds, project):
    for url in ("http://example.com/h", "https://localhost/h", "https://10.0.0.8/h", "ftp://x/y"):
        payload = {"type": "image", "prompt": "a", "workspace_id": creds[0]}
        payload.update(project_id=project.project_id, callback_url=url)
        r = await raw.post("generate", json=payload)
        assert r.status_code == 400, url
        assert r.json()["error"]["fields"][0]["field"] == "callback_url"
