"""A real `terrarium serve` in a subprocess, for tests that need what `make run` starts: a free
loopback port, ready once /readyz answers, the default tenant's key read from the data dir."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

TERRARIUM = str(Path(sys.executable).with_name("terrarium"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without FLORA_/TERRARIUM_ settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLORA_", "TERRARIUM_"))}
    env.update(extra)
    return env


class ServedTerrarium:
    def __init__(self, env: dict[str, str], data_dir: Path, ready_s: float = 60) -> None:
        self.data_dir = Path(data_dir)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(self.data_dir.with_suffix(".log"), "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [TERRARIUM, "serve", "--port", str(self.port)],
            env={**env, "TERRARIUM_DATA_DIR": str(self.data_dir)},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: SIGKILL takes its sandbox too
        )
        deadline = time.monotonic() + ready_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"terrarium serve exited: {Path(self.log.name).read_text()}")
            try:
                if httpx.get(self.base + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"terrarium serve not ready in {ready_s} s")
            time.sleep(0.1)

    @property
    def key(self) -> str | None:
        """The default tenant's runtime key, which `serve` keeps in <data_dir>/runtime-key."""
        path = self.data_dir / "runtime-key"
        return path.read_text().strip() if path.exists() else None

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()

    def __enter__(self) -> ServedTerrarium:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
