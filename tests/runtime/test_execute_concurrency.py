"""Concurrent executions each get their own fresh process and their own result."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor


def test_twenty_concurrent_executions_return_their_own_results(api):
    def one(i: int) -> tuple[int, dict]:
        code = f"import time\ntime.sleep(0.05)\nmine = {i}\n{{'i': mine}}"
        return i, api.post("/v1/execute", json={"code": code}).json()

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(one, range(20)))
    for i, body in results:
        assert body["status"] == "ok", body
        assert body["result"] == {"i": i}
    assert len({body["execution_id"] for _, body in results}) == 20
