"""One throughput client, in its own process: trivial executions over keep-alive until time is up.

python -m bench.http_client URL START_AT DURATION_S [KEY]  ->  prints "<ok> <errors>"
"""

from __future__ import annotations

import sys
import time

import httpx


def main(argv: list[str]) -> None:
    url, start_at, duration = argv[0], float(argv[1]), float(argv[2])
    headers = {"Authorization": f"Bearer {argv[3]}"} if len(argv) > 3 and argv[3] else {}
    ok = errors = 0
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        client.get("/healthz")
        time.sleep(max(0.0, start_at - time.time()))
        end = start_at + duration
        while time.time() < end:
            r = client.post("/v1/execute", json={"code": "x = 1 + 1"})
            if r.status_code == 200 and r.json().get("status") == "ok":
                ok += 1
            else:
                errors += 1
    print(ok, errors, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
