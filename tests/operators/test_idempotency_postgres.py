"""An Idempotency-Key holds across replicas on PostgreSQL: the same request sent to two replicas
at once runs once, and both answer that one execution."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from test_replicas_postgres import cluster, database_url  # noqa: F401  (module fixtures)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_the_same_key_on_two_replicas_runs_once(cluster):  # noqa: F811
    a, b, headers = cluster
    request = {"code": "import time\ntime.sleep(0.5)\nprint('ran')\n42"}
    keyed = {**headers, "Idempotency-Key": "both-replicas"}

    def send(base: str) -> httpx.Response:
        return httpx.post(base + "/v1/execute", json=request, headers=keyed, timeout=60)

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(send, [a.base, b.base]))
    assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
    bodies = [r.json() for r in answers]
    assert bodies[0]["execution_id"] == bodies[1]["execution_id"]
    assert bodies[0]["result"] == bodies[1]["result"] == 42
    listed = httpx.get(a.base + "/v1/executions", headers=headers).json()["data"]
    ran = [e for e in listed if e["execution_id"] == bodies[0]["execution_id"]]
    assert len(ran) == 1
    # async on the other replica: the same execution, not a new run
    queued = httpx.post(b.base + "/v1/executions", json=request, headers=keyed)
    assert queued.json()["execution_id"] == bodies[0]["execution_id"], queued.text
