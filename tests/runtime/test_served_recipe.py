"""A fresh `terrarium serve` (what `make run` starts) runs FLORA's recipe end to end over HTTP:
three image URLs that download as PNGs of the requested aspect ratio."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
from PIL import Image
from served import ServedTerrarium, clean_env

RECIPE = Path(__file__).resolve().parents[2] / "examples" / "generate_without_technique.py"


def test_recipe_on_a_fresh_server_returns_three_downloadable_pngs(tmp_path):
    with ServedTerrarium(clean_env(TERRARIUM_BACKEND_SPEED="0"), tmp_path / "data") as server:
        assert server.key, "serve made no runtime key"
        response = httpx.post(
            server.base + "/v1/execute",
            json={"code": RECIPE.read_text()},
            headers={"authorization": f"Bearer {server.key}"},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "ok", body["error"]
        urls = body["result"]["images"]
        assert len(urls) == 3
        for url in urls:
            assert url.startswith(server.base + "/api/v1/files/")
            image = httpx.get(url, timeout=10)
            assert image.status_code == 200
            assert image.headers["content-type"] == "image/png"
            width, height = Image.open(io.BytesIO(image.content)).size
            assert abs(width / height - 4 / 3) < 0.02  # landscape_4_3, as the script asked
