"""Fixtures for the MCP tests: a real `terrarium serve` on a free loopback port."""

from __future__ import annotations

import os
import subprocess
import time

import httpx
import pytest
from mcp_sessions import TERRARIUM, free_port, server_env


@pytest.fixture(scope="module")
def http_server(tmp_path_factory):
    """`terrarium serve --port N` in a subprocess; once /healthz answers, yields its base URL
    and the default tenant's runtime API key (saved in <data_dir>/runtime-key)."""
    data_dir = tmp_path_factory.mktemp("mcp-http")
    port = free_port()
    env = {**os.environ, **server_env(data_dir)}
    env.pop("FLORA_API_KEY", None)
    proc = subprocess.Popen(
        [TERRARIUM, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"terrarium serve exited: {proc.stderr.read().decode()}")
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("terrarium serve did not answer /healthz in 20 s")
            time.sleep(0.1)
        key_file = data_dir / "runtime-key"
        yield base, key_file.read_text().strip() if key_file.exists() else None
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
