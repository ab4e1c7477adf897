"""One throughput client, in its own process: trivial executions over keep-alive until time is up.

python -m bench.http_client URL START_AT DURATION_S [KEY] [httpx|raw]  ->  prints "<ok> <errors>"

`httpx` (the default) is what an agent's SDK would use; it spends about 1 ms of CPU per request
here, on the same CPUs as the server and the sandbox. `raw` is a minimal blocking HTTP/1.1
client on one socket (about 0.05 ms per request), so the figure says what the server does.
A request that fails (a closed connection, a timeout) is counted as an error and the client goes
on with a new connection: an error is never a client that ends without its counts.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Callable
from urllib.parse import urlsplit

BODY = {"code": "x = 1 + 1"}


def httpx_client(url: str, key: str) -> tuple[Callable[[], bool], Callable[[], None]]:
    import httpx  # here: the raw client's processes start without it

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    client = httpx.Client(base_url=url, headers=headers, timeout=30)
    client.get("/healthz")

    def one() -> bool:
        r = client.post("/v1/execute", json=BODY)
        return r.status_code == 200 and r.json().get("status") == "ok"

    return one, client.close


def raw_client(url: str, key: str) -> tuple[Callable[[], bool], Callable[[], None]]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    body = json.dumps(BODY).encode()
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    request = (
        f"POST /v1/execute HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    sock = socket.create_connection((host, port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    reader = sock.makefile("rb")

    def one() -> bool:
        sock.sendall(request)
        status = reader.readline()
        if not status:
            raise ConnectionError("the server closed the connection")
        length = None
        while (line := reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:  # no framing this client reads: the connection cannot be reused
            raise ConnectionError("an answer without content-length")
        answer = reader.read(length)
        return status.split()[1:2] == [b"200"] and json.loads(answer).get("status") == "ok"

    def close() -> None:
        reader.close()
        sock.close()

    return one, close


def main(argv: list[str]) -> None:
    url, start_at, duration = argv[0], float(argv[1]), float(argv[2])
    key = argv[3] if len(argv) > 3 else ""
    kind = argv[4] if len(argv) > 4 else "httpx"
    make = raw_client if kind == "raw" else httpx_client
    one, close = make(url, key)
    ok = errors = 0
    try:
        time.sleep(max(0.0, start_at - time.time()))
        end = start_at + duration
        while time.time() < end:
            try:
                done = one()
            except Exception:  # counted, on a new connection: never a client that just ends
                done = False
                close()
                one, close = make(url, key)
            if done:
                ok += 1
            else:
                errors += 1
    finally:
        close()
    print(ok, errors, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
