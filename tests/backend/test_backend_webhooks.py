"""Webhook delivery of the built-in backend: signed, made exactly once, retried with backoff,
failed for good after the last attempt whatever went wrong, and never able to hurt the rest of
the backend: a storm of deliveries to a receiver that hangs, refuses or errors leaves every other
call answering promptly, before and after a restart, with a bounded number in flight.

Every receiver is a listener on 127.0.0.1 that the test opens (`callbacks_allow_private`
is on where a delivery is meant to reach it)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import statistics
import time

import pytest
from resolver import Zone, closed_port
from sqlalchemy import func, select

from flora_backend.db import utcnow
from flora_backend.store import Run, new_id
from flora_backend.webhooks import verify

STORM = 200
CONCURRENCY = 4  # webhook_concurrency's default


async def start_generation(raw, ws: str, callback_url: str) -> str:
    prj = (await raw.post("projects", json={"name": "p", "workspace_id": ws})).json()
    body = {"type": "image", "prompt": "a fox", "workspace_id": ws}
    body.update(project_id=prj["project_id"], callback_url=callback_url)
    r = await raw.post("generate", json=body)
    assert r.status_code == 201, r.text
    return r.json()["run_id"]


async def callback_of(backend, run_id: str) -> tuple[str, int]:
    async with backend.sessions() as s:
        run = await s.get(Run, run_id)
        return run.callback_state, run.callback_attempts


async def wait_until(check, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def insert_due_deliveries(backend, ws: str, url: str, count: int = STORM) -> None:
    """`count` finished runs whose webhooks are all due now, as a stopped server leaves them."""
    now = utcnow()
    async with backend.sessions() as s, s.begin():
        for _ in range(count):
            s.add(
                Run(
                    id=new_id("run_"),
                    workspace_id=ws,
                    kind="generation",
                    model_id="t2i-flux-2-klein-4b",
                    media_type="image",
                    prompt="storm",
                    params={},
                    status="completed",
                    created_at=now,
                    started_at=now,
                    due_at=now,
                    completed_at=now,
                    estimated_seconds=0.0,
                    quoted_cost=0,
                    charged_cost=0,
                    outputs=[],
                    callback_url=url,
                    callback_state="pending",
                    callback_attempts=0,
                    callback_next_at=now,
                )
            )


async def callback_states(backend) -> dict[str, int]:
    async with backend.sessions() as s:
        rows = await s.execute(
            select(Run.callback_state, func.count()).group_by(Run.callback_state)
        )
        return dict(rows.all())


async def latencies(raw, samples: int = 15) -> list[float]:
    """Seconds taken by `samples` GET /workspaces calls, one after another."""
    out = []
    for _ in range(samples):
        t = time.perf_counter()
        r = await raw.get("workspaces")
        out.append(time.perf_counter() - t)
        assert r.status_code == 200, r.text
    return out


def assert_prompt(idle: list[float], busy: list[float]) -> None:
    """Calls during a storm stay within a generous multiple of the idle latency (the pool
    exhaustion this guards against made them wait the database's 30 s pool timeout)."""
    idle_median, busy_median = statistics.median(idle), statistics.median(busy)
    assert busy_median <= 15 * idle_median, (idle_median, busy_median)
    assert max(busy) <= 300 * idle_median, (idle_median, max(busy))


# ---------------------------------------------------------------- one delivery


async def test_delivery_is_signed_and_made_exactly_once(new_backend, raw_for, hook_server):
    listener = await hook_server()
    b = await new_backend(callbacks_allow_private=True)
    ws, key = await b.default_credentials()
    secret = await b.webhook_secret(ws)
    async with raw_for(b, key) as raw:
        run_id = await start_generation(raw, ws, listener.url("/flora"))
    await listener.wait(1)
    await asyncio.sleep(0.3)  # fifteen more sweeps
    assert len(listener.requests) == 1 and listener.connections == 1
    assert await callback_of(b, run_id) == ("delivered", 1)
    request = listener.requests[0]
    assert request.method == "POST" and request.target == "/flora"
    header = request.headers["flora-signature"]
    t = header.split(",")[0].removeprefix("t=")
    mac = hmac.new(secret.encode(), f"{t}.".encode() + request.body, hashlib.sha256)
    assert header == f"t={t},v1={mac.hexdigest()}"
    assert verify(secret, request.body, header) and not verify("whsec_other", request.body, header)
    event = json.loads(request.body)
    assert event["type"] == "run.completed" and request.headers["flora-event"] == "run.completed"
    assert event["data"]["run_id"] == run_id and event["data"]["status"] == "completed"
    assert event["id"].startswith("whd_") and request.headers["flora-webhook-id"] == event["id"]


async def test_delivery_is_retried_with_growing_delays_on_500(new_backend, raw_for, hook_server):
    listener = await hook_server(statuses=(500, 500))
    # speed scales FLORA's 10 s / 60 s / 300 s schedule to 0.1 s / 0.6 s / 3 s.
    b = await new_backend(callbacks_allow_private=True, speed=0.01)
    ws, key = await b.default_credentials()
    async with raw_for(b, key) as raw:
        run_id = await start_generation(raw, ws, listener.url())
    await listener.wait(3)
    await asyncio.sleep(0.3)
    assert len(listener.requests) == 3
    assert await callback_of(b, run_id) == ("delivered", 3)
    at = [r.at for r in listener.requests]
    first_gap, second_gap = at[1] - at[0], at[2] - at[1]
    assert first_gap >= 0.09 and second_gap >= 0.54 and second_gap > first_gap
    assert len({r.body for r in listener.requests}) == 1  # the body is stable across retries


async def test_delivery_fails_for_good_after_the_last_attempt(new_backend, raw_for, hook_server):
    listener = await hook_server(statuses=(500,) * 10)
    b = await new_backend(callbacks_allow_private=True)
    ws, key = await b.default_credentials()
    async with raw_for(b, key) as raw:
        run_id = await start_generation(raw, ws, listener.url())
    await listener.wait(4)
    await asyncio.sleep(0.3)
    assert len(listener.requests) == 4  # the first attempt and three retries
    assert await callback_of(b, run_id) == ("failed", 4)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirects_are_never_followed(status, new_backend, raw_for, hook_server):
    elsewhere = await hook_server()
    listener = await hook_server(statuses=(status,) * 10, location=elsewhere.url("/stolen"))
    b = await new_backend(callbacks_allow_private=True)
    ws, key = await b.default_credentials()
    async with raw_for(b, key) as raw:
        run_id = await start_generation(raw, ws, listener.url())
    await listener.wait(4)
    await asyncio.sleep(0.2)
    assert await callback_of(b, run_id) == ("failed", 4)  # a redirect is not a delivery
    assert elsewhere.connections == 0


async def test_webhook_for_failed_technique_run(new_backend, raw_for, hook_server):
    listener = await hook_server()
    b = await new_backend(callbacks_allow_private=True, fail_pattern="x")
    ws, key = await b.default_credentials()
    async with raw_for(b, key) as raw:
        body = {
            "inputs": [{"id": "product", "type": "text", "value": "xylophone"}],
            "mode": "async",
            "callback_url": listener.url("/t"),
        }
        r = await raw.post("techniques/product-shot/runs", json=body)
        assert r.status_code == 200, r.text
    await listener.wait(1)
    event = json.loads(listener.requests[0].body)
    assert event["type"] == "run.failed" and event["data"]["run_type"] == "technique"
    assert event["data"]["error_code"] == "GENERATION_PROMPT_MODERATED"


@pytest.mark.parametrize(
    "url",
    [
        "https://999.1.1.1/x",  # httpx.InvalidURL once left the run pending forever
        "https://[::1/x",
        "not a url",
        "https://unknown.test/x",  # does not resolve
        "http://127.0.0.1:{closed}/x",  # connection refused
        "http://127.0.0.1:{closed}/" + "a" * 5000,
    ],
)
async def test_an_undeliverable_webhook_of_any_kind_ends_failed(url, new_backend):
    b = await new_backend(callbacks_allow_private=True, callback_resolver=Zone())
    ws, _ = await b.default_credentials()
    await insert_due_deliveries(b, ws, url.format(closed=closed_port()), count=3)

    async def all_failed() -> bool:
        return await callback_states(b) == {"failed": 3}

    await wait_until(all_failed, what="every delivery to end failed")
    async with b.sessions() as s:
        attempts = set((await s.execute(select(Run.callback_attempts))).scalars())
    assert attempts == {4}


# ---------------------------------------------------------------- storms


async def storm_receiver(kind: str, hook_server) -> tuple[str, object]:
    if kind == "hangs":
        listener = await hook_server(hold=True)
        return listener.url(), listener
    if kind == "errors":
        listener = await hook_server(statuses=(500,) * (STORM * 5))
        return listener.url(), listener
    if kind == "refuses":
        return f"http://127.0.0.1:{closed_port()}/x", None
    return "https://999.1.1.1/x", None  # "invalid": cannot even be sent


@pytest.mark.parametrize("kind", ["hangs", "errors", "refuses", "invalid"])
async def test_a_webhook_storm_leaves_other_calls_prompt(kind, new_backend, raw_for, hook_server):
    url, listener = await storm_receiver(kind, hook_server)
    b = await new_backend(callbacks_allow_private=True)
    ws, key = await b.default_credentials()
    async with raw_for(b, key) as raw:
        idle = await latencies(raw)
        await insert_due_deliveries(b, ws, url)
        if listener is not None:
            await wait_until(lambda: _at_least(listener, 1), what="deliveries to start")
        busy = await latencies(raw)
        assert_prompt(idle, busy)
        if listener is not None:
            assert listener.max_open <= CONCURRENCY
        assert sum((await callback_states(b)).values()) == STORM  # no delivery lost


async def _at_least(listener, count: int) -> bool:
    return listener.connections >= count


async def test_hanging_receivers_hold_at_most_the_concurrency_limit(
    new_backend, raw_for, hook_server
):
    listener = await hook_server(hold=True)
    b = await new_backend(callbacks_allow_private=True)
    ws, _ = await b.default_credentials()
    await insert_due_deliveries(b, ws, listener.url())
    await wait_until(lambda: _at_least(listener, CONCURRENCY), what="a full set of deliveries")
    await asyncio.sleep(0.5)  # twenty-five sweeps with deliveries still due
    assert listener.connections == CONCURRENCY and listener.max_open == CONCURRENCY
    assert (await callback_states(b)) == {"pending": STORM}


async def test_a_webhook_storm_survives_a_restart_and_resumes(
    tmp_path, new_backend, raw_for, hook_server
):
    listener = await hook_server(hold=True)
    data = tmp_path / "shared"
    first = await new_backend(data_dir=data, callbacks_allow_private=True)
    ws, key = await first.default_credentials()
    async with raw_for(first, key) as raw:
        idle = await latencies(raw)
    await insert_due_deliveries(first, ws, listener.url())
    await wait_until(lambda: _at_least(listener, CONCURRENCY), what="deliveries to start")
    await first.stop()

    async def all_closed() -> bool:
        return listener.open_now == 0

    await wait_until(all_closed, what="the stopped backend to close its connections")
    second = await new_backend(data_dir=data, callbacks_allow_private=True)
    async with raw_for(second, key) as raw:
        await wait_until(lambda: _at_least(listener, 2 * CONCURRENCY), what="deliveries to resume")
        busy = await latencies(raw)
    assert_prompt(idle, busy)
    assert listener.max_open <= CONCURRENCY
    assert (await callback_states(second)) == {"pending": STORM}
