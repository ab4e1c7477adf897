"""A fresh `terrarium serve` (what `make run` starts) runs FLORA's recipe end to end over HTTP:
three image URLs that download as PNGs of the requested aspect ratio."""

from __future__ import annotations

import io
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
TERRARIUM = str(Path(sys.executable).with_name("terrarium"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_recipe_on_a_fresh_server_returns_three_downloadable_pngs(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLORA_", "TERRARIUM_"))}
    env.update(TERRARIUM_DATA_DIR=str(tmp_path), TERRARIUM_BACKEND_SPEED="0")
    proc = subprocess.Popen(
        [TERRARIUM, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        key = None
        deadline = time.monotonic() + 30
        while key is None and time.monotonic() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            match = re.search(r"(trk_\S+)", line)
            if match:
                key = match.group(1)
            assert proc.poll() is None, "terrarium serve exited"
        assert key, "serve printed no runtime key"
        for _ in range(100):
            try:
                if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        code = (ROOT / "examples" / "generate_without_technique.py").read_text()
        response = httpx.post(
            base + "/v1/execute",
            json={"code": code},
            headers={"authorization": f"Bearer {key}"},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "ok", body["error"]
        urls = body["result"]["images"]
        assert len(urls) == 3
        for url in urls:
            assert url.startswith(base + "/api/v1/files/")
            image = httpx.get(url, timeout=10)
            assert image.status_code == 200
            assert image.headers["content-type"] == "image/png"
            width, height = Image.open(io.BytesIO(image.content)).size
            assert abs(width / height - 4 / 3) < 0.02  # landscape_4_3, as the script asked
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
