"""Outputs of the built-in backend are real files: PNG with the asked aspect ratio and
deterministic pixels, WAV, animated GIF; the file route serves only files it generated."""

from __future__ import annotations

import io
import wave

import pytest
from PIL import Image


def file_path(url: str) -> str:
    """The path of an output URL, to fetch it through the in-process transport."""
    return "files/" + url.rsplit("/files/", 1)[1]


async def output(client, creds, project, **kw):
    start = await client.generations.create(
        workspace_id=creds[0], project_id=project.project_id, **kw
    )
    run = await client.generations.retrieve(start.run_id)
    assert run.status == "completed"
    return run.outputs[0]


@pytest.mark.parametrize(
    "aspect,ratio",
    [("square_1_1", 1.0), ("landscape_4_3", 4 / 3), ("portrait_9_16", 9 / 16), ("16:9", 16 / 9)],
)
async def test_png_decodes_with_requested_aspect(client, raw, creds, project, aspect, ratio):
    out = await output(
        client, creds, project, type="image", prompt="a fox", params={"aspect_ratio": aspect}
    )
    r = await raw.get(file_path(out.url))
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(r.content))
    image.load()
    assert image.format == "PNG"
    assert abs(image.width / image.height - ratio) < 0.01


async def test_same_prompt_and_seed_same_bytes(client, raw, creds, project):
    async def png(prompt, seed):
        out = await output(
            client, creds, project, type="image", prompt=prompt, params={"seed": seed}
        )
        return (await raw.get(file_path(out.url))).content

    a, b = await png("a lighthouse", 7), await png("a lighthouse", 7)
    assert a == b
    assert await png("a lighthouse", 8) != a
    assert await png("a lighthouse at night", 7) != a


async def test_wav_decodes(client, raw, creds, project):
    out = await output(client, creds, project, type="audio", prompt="hello", params={"duration": 2})
    assert out.type == "audioUrl"
    r = await raw.get(file_path(out.url))
    assert r.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(r.content)) as w:
        assert w.getnchannels() == 1 and abs(w.getnframes() / w.getframerate() - 2) < 0.01


async def test_video_is_an_animated_gif(client, raw, creds, project):
    out = await output(
        client, creds, project, type="video", prompt="waves", params={"aspect_ratio": "9:16"}
    )
    assert out.type == "videoUrl"
    r = await raw.get(file_path(out.url))
    image = Image.open(io.BytesIO(r.content))
    assert image.format == "GIF" and image.n_frames > 1
    assert abs(image.width / image.height - 9 / 16) < 0.01


async def test_file_url_uses_public_base(new_backend, raw_for):
    b = await new_backend(public_url="https://flora.local.test/")
    ws, key = await b.default_credentials()
    async with raw_for(b, key) as raw:
        prj = (await raw.post("projects", json={"name": "p", "workspace_id": ws})).json()
        body = {"type": "image", "prompt": "x", "workspace_id": ws}
        run_id = await raw.post("generate", json={**body, **{"project_id": prj["project_id"]}})
        run = (await raw.get(f"runs/{run_id.json()['run_id']}")).json()
    assert run["outputs"][0]["url"].startswith("https://flora.local.test/api/v1/files/file_")


@pytest.mark.parametrize(
    "path",
    [
        "files/file_doesnotexist0",
        "files/..%2F..%2Fterrarium.db",
        "files/..%2Fdev-key",
        "files/%2Fetc%2Fpasswd",
        "files/file_abc%2F..%2F..%2Fdev-key",
        "files/terrarium.db",
        "files/dev-key",
        "files/.",
    ],
)
async def test_file_route_refuses_unknown_ids_and_path_tricks(backend, raw, path):
    (backend.files_dir / "stray.png").write_bytes(b"not ours")
    r = await raw.get(path)
    assert r.status_code == 404
    assert b"sk_" not in r.content and b"SQLite" not in r.content
    assert r.headers["request-id"].startswith("req_")


async def test_file_route_only_serves_db_registered_files(backend, raw):
    (backend.files_dir / "file_planted0.png").write_bytes(b"\x89PNG planted")
    assert (await raw.get("files/file_planted0")).status_code == 404
