"""Fair sharing: above its concurrency a request waits its turn in its tenant's queue (bounded,
then 429 with a retry-after estimated from what it saw); waiting requests are admitted round
robin across tenants; the per-minute rate stays a hard limit; the embedded default tenant may
use the whole pool; a request cancelled while it waits leaves nothing behind."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import httpx
import pytest
from served import ServedTerrarium, clean_env

from runtime.executions.admission import FairQueue, QueueTimeout
from runtime.executions.request import ExecutionRequest
from runtime.tenancy.tenants import Tenant

_names = (f"fair-{i}" for i in itertools.count())


def fair_of(api) -> FairQueue:  # type: ignore[no-untyped-def]
    return api.executions.recorder.admission.fair


def wait_until(predicate, timeout: float = 10) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_over_its_concurrency_a_request_waits_its_turn_and_runs(api):
    tenant, key = api.tenant(next(_names), max_concurrent=1)
    slow = api.client.post(
        "/v1/executions", json={"code": "import time\ntime.sleep(1)\n1"}, headers=api.auth(key)
    )
    assert slow.status_code == 202
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(api.execute, key, "'my turn'")
        wait_until(lambda: fair_of(api).waiting_of(tenant.id) == 1)
        scraped = api.client.get("/metrics").text
        assert f'terrarium_admission_waiting{{tenant="{tenant.name}"}} 1.0' in scraped
        answered = waiting.result(timeout=20)
    assert answered.status_code == 200, answered.text
    assert answered.json()["result"] == "my turn"
    scraped = api.client.get("/metrics").text
    assert f'terrarium_admission_waiting{{tenant="{tenant.name}"}}' not in scraped
    waits = [
        line for line in scraped.splitlines()
        if line.startswith('terrarium_admission_wait_seconds_sum{outcome="admitted"}')
    ]  # fmt: skip
    assert waits and float(waits[0].split()[-1]) >= 0.5  # it waited for the slow one


def test_past_the_queue_time_it_is_429_with_a_retry_after_from_what_it_saw(api_with):
    with api_with(tenant_queue_s=0.3) as api:
        tenant, key = api.tenant(next(_names), max_concurrent=1)
        assert api.execute(key, "import time\ntime.sleep(2)\n1").status_code == 200
        slow = api.client.post("/v1/executions", json={"code": "import time\ntime.sleep(5)\n1"},
                               headers=api.auth(key))  # fmt: skip
        assert slow.status_code == 202
        started = time.monotonic()
        refused = api.execute(key, "2")
        waited = time.monotonic() - started
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "too_many_executions"
        assert "waited 0.3 s in its queue" in refused.json()["error"]["message"]
        assert 0.3 <= waited < 3
        # Nothing moved while it waited; this tenant's slots are held a little over 2 s.
        assert refused.headers["retry-after"] in ("2", "3")
        assert fair_of(api).waiting_of(tenant.id) == 0
        api.call(api.executions.cancel, tenant, slow.json()["execution_id"])


async def test_the_retry_after_is_its_place_over_the_pace_its_line_moved():
    fair = FairQueue(capacity=10)
    tenant = Tenant(id="ten_a", name="a", flora_kind="server")
    first = fair.ticket(tenant, 1, 10)
    assert fair.take_now(first, "a")
    second, third = fair.ticket(tenant, 1, 10), fair.ticket(tenant, 1, 0.6)
    waiting = asyncio.create_task(fair.acquire(second, "a"))
    await asyncio.sleep(0)
    refused = asyncio.create_task(fair.acquire(third, "a"))
    await asyncio.sleep(0.3)
    fair.release(tenant.id, 0.3)  # the line moved once in 0.3 s: `second` runs
    await waiting
    with pytest.raises(QueueTimeout) as timeout:
        await refused
    # First in line now, it saw one admission in about 0.6 s of waiting.
    assert 0.5 <= timeout.value.retry_after_s <= 0.9
    assert 0.55 <= timeout.value.waited_s < 1
    fair.release(tenant.id, 0.3)
    assert fair.in_use == 0 and fair.waiting() == {} and not fair._lines


def test_one_tenants_burst_does_not_starve_another(api_with):
    with api_with(pool_max=4) as api:
        burst, burst_key = api.tenant(next(_names), max_concurrent=64)
        few, few_key = api.tenant(next(_names), max_concurrent=64)
        code = "import time\ntime.sleep(0.2)\n1"
        with ThreadPoolExecutor(44) as pool:
            bursting = [pool.submit(api.execute, burst_key, code) for _ in range(40)]
            wait_until(lambda: fair_of(api).waiting_of(burst.id) >= 30)
            fewer = [pool.submit(api.execute, few_key, code) for _ in range(3)]
            answers = [f.result(timeout=60) for f in bursting + fewer]
        assert {a.status_code for a in answers} == {200}, [a.text for a in answers]

        def admitted(key: str) -> list[tuple[datetime, str]]:
            listed = api.client.get("/v1/executions?limit=100", headers=api.auth(key)).json()
            return [(datetime.fromisoformat(e["created_at"]), key) for e in listed["data"]]

        order = [k for _, k in sorted(admitted(burst_key) + admitted(few_key))]
        assert len(order) == 43
        places = [i for i, k in enumerate(order) if k == few_key]
        # 4 run and 30 or more wait when the few arrive; taking turns, the few are admitted
        # within the next few freed slots, well ahead of the burst's tail.
        assert max(places) < 4 + 2 * 3 + 2, places


def test_the_rate_is_a_hard_limit_never_queued(api_with):
    with api_with(tenant_queue_s=30) as api:
        tenant, key = api.tenant(next(_names), max_concurrent=1, per_minute=3)
        slow = api.client.post("/v1/executions", json={"code": "import time\ntime.sleep(2)\n1"},
                               headers=api.auth(key))  # fmt: skip
        assert slow.status_code == 202
        with ThreadPoolExecutor(2) as pool:
            second = pool.submit(api.execute, key, "2")
            wait_until(lambda: fair_of(api).waiting_of(tenant.id) == 1)
            third = pool.submit(api.execute, key, "3")  # queued behind `second`, not refused
            wait_until(lambda: fair_of(api).waiting_of(tenant.id) == 2)
            started = time.monotonic()
            # One started and two waiting make three this minute: the fourth is over the rate.
            refused = api.execute(key, "4")
            assert time.monotonic() - started < 1
            assert refused.status_code == 429, refused.text
            assert refused.json()["error"]["code"] == "rate_limited"
            assert 1 <= int(refused.headers["retry-after"]) <= 60
            assert second.result(timeout=20).status_code == 200
            assert third.result(timeout=20).status_code == 200


def test_a_request_cancelled_while_it_waits_leaves_nothing_behind(api):
    tenant, key = api.tenant(next(_names), max_concurrent=1)
    fair = fair_of(api)
    slow = api.client.post(
        "/v1/executions", json={"code": "import time\ntime.sleep(1)\n1"}, headers=api.auth(key)
    )
    assert slow.status_code == 202
    in_use = fair.in_use

    async def cancel_a_waiting_run() -> None:
        run = asyncio.create_task(api.executions.run(tenant, ExecutionRequest(code="1")))
        while fair.waiting_of(tenant.id) == 0:
            await asyncio.sleep(0.01)
        run.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await run

    api.call(cancel_a_waiting_run)
    assert fair.waiting_of(tenant.id) == 0 and fair.running_of(tenant.id) == 1
    assert fair.in_use == in_use
    assert 'terrarium_admission_wait_seconds_count{outcome="cancelled"} 1.0' in (
        api.client.get("/metrics").text
    )
    listed = api.client.get("/v1/executions", headers=api.auth(key)).json()["data"]
    assert len(listed) == 1  # the cancelled one was never recorded
    wait_until(lambda: fair.running_of(tenant.id) == 0)
    assert tenant.id not in fair._lines and tenant.id not in fair._turns
    assert api.execute(key, "'free'").json()["result"] == "free"


async def test_a_slot_granted_to_a_request_cancelled_before_it_resumed_is_given_back():
    fair = FairQueue(capacity=1)
    a = Tenant(id="ten_a", name="a", flora_kind="server")
    holder = fair.ticket(a, 1, 10)
    assert fair.take_now(holder, "a")
    waiter = fair.ticket(a, 1, 10)
    task = asyncio.create_task(fair.acquire(waiter, "a"))
    await asyncio.sleep(0)
    fair.release(a.id, 0.1)  # granted to the waiter, which has not resumed yet
    assert waiter.holding
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert fair.in_use == 0 and not fair._lines and not fair._turns


def test_the_embedded_default_tenant_may_use_the_whole_pool(api_with):
    with api_with(pool_max=12) as api:
        admission = api.executions.recorder.admission
        assert admission.limit(api.executions.default_tenant) == 12
        other, _ = api.tenant(next(_names))
        assert admission.limit(other) == api.executions.settings.tenant_max_concurrent


@pytest.mark.slow
def test_twenty_concurrent_requests_from_one_agent_on_the_embedded_default_all_succeed(tmp_path):
    env = clean_env(TERRARIUM_BACKEND_SPEED="0")
    with ServedTerrarium(env, tmp_path / "data") as served:
        headers = {"authorization": f"Bearer {served.key}"}
        barrier = threading.Barrier(20)

        def one(i: int) -> int:
            barrier.wait()
            response = httpx.post(
                served.base + "/v1/execute", headers=headers, timeout=60,
                json={"code": f"import time\ntime.sleep(1)\n{i}"},
            )  # fmt: skip
            assert response.status_code != 200 or response.json()["result"] == i
            return response.status_code

        with ThreadPoolExecutor(20) as pool:
            statuses = list(pool.map(one, range(20)))
        assert statuses.count(200) == 20, statuses


def test_past_queue_max_waiting_a_request_is_refused_at_once(api_with):
    with api_with(queue_max=1) as api:
        tenant, key = api.tenant(next(_names), max_concurrent=1)
        slow = api.client.post("/v1/executions", json={"code": "import time\ntime.sleep(1)\n1"},
                               headers=api.auth(key))  # fmt: skip
        assert slow.status_code == 202
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(api.execute, key, "2")
            wait_until(lambda: fair_of(api).waiting_of(tenant.id) == 1)
            started = time.monotonic()
            refused = api.execute(key, "3")
            assert time.monotonic() - started < 0.5
            # The pool has room; only this tenant's own limit is full: 429, not 503.
            assert refused.status_code == 429, refused.text
            assert refused.json()["error"]["code"] == "too_many_executions"
            assert waiting.result(timeout=20).status_code == 200
