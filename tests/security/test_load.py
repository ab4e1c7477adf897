"""300 executions at once against one running app, hostile and benign mixed: every request gets
its own response, none is lost, and the server is still up afterwards."""

from __future__ import annotations

import asyncio
import secrets
import time

import httpx

from runtime.app import create_app
from runtime.settings import Settings

HOSTILE = [
    ({"code": "while True:\n    pass", "timeout_s": 2, "cpu_s": 1}, {"limit_exceeded", "timeout"}),
    ({"code": "import time\ntime.sleep(100)", "timeout_s": 1}, {"timeout"}),
    ({"code": "x = 'a' * 10 ** 10", "memory_mb": 64}, {"limit_exceeded"}),
    ({"code": "().__class__.__base__.__subclasses__()"}, {"rejected"}),
    ({"code": "def f():\n    return f()\nf()"}, {"error", "limit_exceeded"}),
    ({"code": "while True:\n    print('x' * 10000)", "timeout_s": 3}, {"limit_exceeded"}),
]


async def test_three_hundred_concurrent_executions(tmp_path):
    settings = Settings(
        data_dir=tmp_path, backend_speed=0, pool_max=32, pool_warm=8, queue_max=1024,
        tenant_max_concurrent=1000, tenant_per_minute=1_000_000,
    )  # fmt: skip
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        headers = {"authorization": f"Bearer {app.state.executions.default_key}"}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t", headers=headers, timeout=60
        ) as client:

            async def benign(marker: str) -> tuple[str, float, dict]:
                started = time.monotonic()
                response = await client.post(
                    "/v1/execute",
                    json={"code": f"x = {marker!r}\n[x, sum(range(1000))]", "inputs": {"m": 1}},
                )
                assert response.status_code == 200, response.text
                return marker, time.monotonic() - started, response.json()

            async def hostile(i: int) -> tuple[set[str], dict]:
                body, statuses = HOSTILE[i % len(HOSTILE)]
                response = await client.post("/v1/execute", json=body)
                assert response.status_code == 200, response.text
                return statuses, response.json()

            markers = [secrets.token_hex(8) for _ in range(200)]
            started = time.monotonic()
            results = await asyncio.gather(
                *(benign(m) for m in markers), *(hostile(i) for i in range(100))
            )
            wall = time.monotonic() - started
            benign_results = results[:200]
            for marker, _took, body in benign_results:
                assert body["status"] == "ok" and body["result"] == [marker, 499500], body
            ids = [body["execution_id"] for *_rest, body in results]
            assert len(set(ids)) == 300
            for statuses, body in results[200:]:
                assert body["status"] in statuses, body
            latencies = sorted(took for _m, took, _b in benign_results)
            p99 = latencies[int(len(latencies) * 0.99) - 1]
            print(f"\n300 mixed executions in {wall:.1f} s; benign p99 {p99 * 1000:.0f} ms")
            after = await client.post("/v1/execute", json={"code": "'still up'"})
            assert after.json()["result"] == "still up"
            health = await client.get("/healthz")
            assert health.status_code == 200
