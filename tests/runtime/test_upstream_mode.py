"""With FLORA_API_KEY set, scripts reach FLORA over the network (FLORA_BASE_URL), and the key
stays in the host: never in a response, an error or the calls.

The "upstream" here is a second Terrarium's built-in backend, served over real HTTP, which is
exactly what a FLORA-compatible API looks like from the runtime."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

TERRARIUM = str(Path(sys.executable).with_name("terrarium"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(data_dir: Path, port: int, **extra: str) -> tuple[subprocess.Popen, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLORA_", "TERRARIUM_"))}
    env.update(TERRARIUM_DATA_DIR=str(data_dir), TERRARIUM_BACKEND_SPEED="0", **extra)
    proc = subprocess.Popen(
        [TERRARIUM, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        match = re.search(r"(trk_\S+)", line)
        if match:
            base = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                        return proc, match.group(1)
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        assert proc.poll() is None, "terrarium serve exited"
    raise AssertionError("terrarium serve did not start")


def test_scripts_reach_an_upstream_flora_and_the_key_stays_in_the_host(tmp_path):
    flora_port, runtime_port = free_port(), free_port()
    flora, _ = serve(tmp_path / "flora", flora_port)
    runtime = None
    try:
        flora_key = (tmp_path / "flora" / "dev-key").read_text().strip()
        runtime, key = serve(
            tmp_path / "runtime",
            runtime_port,
            FLORA_API_KEY=flora_key,
            FLORA_BASE_URL=f"http://127.0.0.1:{flora_port}/api/v1",
        )
        health = httpx.get(f"http://127.0.0.1:{runtime_port}/healthz").json()
        assert health["flora"] == "upstream"
        code = (
            "def run(client):\n"
            "    ws = client.workspaces.list().workspaces[0].workspace_id\n"
            "    p = client.projects.create(name='upstream', workspace_id=ws)\n"
            "    try:\n"
            "        client.projects.retrieve('prj_missing')\n"
            "    except NotFoundError as e:\n"
            "        return {'project': p.project_id, 'error': str(e), 'args': e.args}\n"
        )
        response = httpx.post(
            f"http://127.0.0.1:{runtime_port}/v1/execute",
            json={"code": code},
            headers={"authorization": f"Bearer {key}"},
            timeout=30,
        )
        body = response.json()
        assert body["status"] == "ok", body["error"]
        assert body["result"]["project"].startswith("prj_")
        assert [c["method"] for c in body["calls"]] == [
            "workspaces.list",
            "projects.create",
            "projects.retrieve",
        ]
        assert flora_key not in response.text
        # The project really exists upstream: it was made over HTTP, not locally.
        listed = httpx.get(
            f"http://127.0.0.1:{flora_port}/api/v1/projects/{body['result']['project']}",
            headers={"authorization": f"Bearer {flora_key}"},
        )
        assert listed.status_code == 200
    finally:
        for proc in (runtime, flora):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
