"""A real `terrarium serve` in a subprocess on a free 127.0.0.1 port, for the HTTP benchmarks."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

KEY = re.compile(r"\btrk_[A-Za-z0-9_\-]+")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """Start with `with Server(pool_max=...) as srv:`; `srv.url`, `srv.headers`, `srv.pid`."""

    def __init__(self, pool_max: int = 64, auth: bool = True, **env: str) -> None:
        self.pool_max = pool_max
        self.auth = auth
        self.extra_env = env
        self.lines: list[str] = []
        self.key: str | None = None
        self.proc: subprocess.Popen[str] | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="terrarium-bench-")

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"} if self.key else {}

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            match = KEY.search(line)
            if match and self.key is None:
                self.key = match.group(0)

    def _start(self, auth: bool) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "TERRARIUM_DATA_DIR": str(Path(self._tmp.name) / ("data" + str(self.port))),
            "TERRARIUM_BACKEND_SPEED": "0",
            "TERRARIUM_POOL_MAX": str(self.pool_max),
            "TERRARIUM_QUEUE_MAX": "1024",
            # The default tenant's admission limits, raised so the benchmark measures the
            # runtime rather than its per-tenant quotas.
            "TERRARIUM_TENANT_PER_MINUTE": "1000000",
            "TERRARIUM_TENANT_MAX_CONCURRENT": "256",
            **self.extra_env,
        }
        if not auth:
            env["TERRARIUM_AUTH"] = "off"
        cli = "runtime.adapters.cli.main"
        argv = [sys.executable, "-m", cli, "serve", "--port", str(self.port)]
        self.proc = subprocess.Popen(
            argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("terrarium serve exited:\n" + "".join(self.lines[-30:]))
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError("terrarium serve did not become healthy in 60 s")
        time.sleep(0.3)  # the key line, if any, and the warm pool

    def __enter__(self) -> Server:
        self._start(self.auth)
        probe = httpx.post(
            self.url + "/v1/execute", json={"code": "x = 1"}, headers=self.headers, timeout=30
        )
        if probe.status_code == 401 and self.auth:
            # No key was printed that this client could find: measure without auth instead.
            self.stop()
            self.auth = False
            self._start(False)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._tmp.cleanup()


SLEEP_SCRIPT = "import time\ntime.sleep({s})\n"


def _fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def _threads(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class RawHttp:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams: a request costs the server's
    work, not the client's (httpx spends ~10 ms of CPU a request here, enough to make the
    client the bottleneck when a thousand are sent at once). One request at a time."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.reader: Any = None
        self.writer: Any = None

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        try:
            return await self._request(method, path, body)
        except (ConnectionError, IndexError):  # the server closed an idle connection: reopen
            self.close()
            return await self._request(method, path, body)

    async def _request(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        import asyncio
        import json

        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        data = b"" if body is None else json.dumps(body).encode()
        self.writer.write(
            (f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.head}"
             f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
             ).encode() + data
        )  # fmt: skip
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        payload = await self.reader.readexactly(length)
        return int(status_line.split()[1]), json.loads(payload) if payload else None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


def many_sleeping(count: int, sleep_s: float, trivial_n: int) -> dict[str, float]:
    """`count` executions of `time.sleep(sleep_s)` submitted at once (POST /v1/executions);
    once all of them sleep, each in its own child: the memory (PSS) of the server and every
    process under it, the server's file descriptors and threads, and `trivial_n` trivial
    executions one after another (POST /v1/execute); then every sleeper's final status."""
    import asyncio
    import statistics

    from bench import memory

    slots = count + 64
    env = {"TERRARIUM_TENANT_MAX_CONCURRENT": str(slots), "TERRARIUM_QUEUE_MAX": str(slots)}
    out: dict[str, float] = {}
    with Server(pool_max=slots, **env) as srv:
        time.sleep(0.5)
        out["idle_pss_kb"] = sum(
            memory.rollup(p).get("pss", 0) for p in memory.descendants(srv.pid)
        )

        async def submit(conn: RawHttp, n: int, ids: list[str]) -> None:
            body = {"code": SLEEP_SCRIPT.format(s=sleep_s), "timeout_s": sleep_s + 60}
            for _ in range(n):
                status, answer = await conn.request("POST", "/v1/executions", body)
                if status == 202:
                    ids.append(answer["execution_id"])

        async def main() -> None:
            conns = [RawHttp(srv.url, srv.headers) for _ in range(16)]
            ids: list[str] = []
            t0 = time.monotonic()
            share = [count // len(conns) + (i < count % len(conns)) for i in range(len(conns))]
            await asyncio.gather(*(submit(c, n, ids) for c, n in zip(conns, share, strict=True)))
            out["accepted"] = len(ids)
            out["submit_s"] = time.monotonic() - t0
            # All running: the server, the zygote, and a child for each sleeper.
            while time.monotonic() - t0 < sleep_s - 5:  # one file read per poll, not all /proc
                zygotes = memory.children(srv.pid)
                if sum(len(memory.children(z)) for z in zygotes) >= count:
                    break
                await asyncio.sleep(0.2)
            out["all_running_s"] = time.monotonic() - t0
            pids = memory.descendants(srv.pid)
            rollups = {p: memory.rollup(p) for p in pids}
            out["processes"] = len(pids)
            out["pss_kb"] = sum(r.get("pss", 0) for r in rollups.values())
            out["server_pss_kb"] = rollups.get(srv.pid, {}).get("pss", 0)
            out["server_fds"] = _fds(srv.pid)
            out["server_threads"] = _threads(srv.pid)
            children = [r for p, r in rollups.items() if p != srv.pid and r]
            out["child_pss_kb"] = statistics.median(r["pss"] for r in children)
            out["child_uss_kb"] = statistics.median(r["uss"] for r in children)
            # What the server, its zygote (with the children it reaped) and this client used
            # of the machine while the trivial executions ran, against everything: the rest is
            # the machine's other load in that window, which a tail figure follows.
            ours = [srv.pid, *memory.children(srv.pid), os.getpid()]
            ours_before = sum(memory.process_ticks(p) for p in ours)
            busy_before, total_before = memory.machine_ticks()
            lat = []
            for _ in range(trivial_n):
                t = time.perf_counter()
                status, answer = await conns[0].request("POST", "/v1/execute", {"code": "x = 1"})
                lat.append((time.perf_counter() - t) * 1000)
                assert status == 200 and answer["status"] == "ok", answer
            busy, total = memory.machine_ticks()
            ours_used = sum(memory.process_ticks(p) for p in ours) - ours_before
            window = max(1, total - total_before)
            out["others_cpu_share"] = max(0, busy - busy_before - ours_used) / window
            lat.sort()
            out["trivial_p50_ms"] = statistics.median(lat)
            out["trivial_p99_ms"] = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
            out["measured_s"] = time.monotonic() - t0
            await asyncio.sleep(max(0.0, sleep_s - (time.monotonic() - t0)))
            ok = 0
            for _ in range(int(sleep_s) + 60):
                pending = []
                for x in ids:
                    _status, record = await conns[0].request("GET", f"/v1/executions/{x}")
                    if record.get("state") in ("queued", "running"):
                        pending.append(x)
                    elif record.get("status") == "ok":
                        ok += 1
                ids = pending
                if not ids:
                    break
                await asyncio.sleep(1.0)
            out["ok"] = ok
            for c in conns:
                c.close()

        asyncio.run(main())
    return out
