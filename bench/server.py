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
