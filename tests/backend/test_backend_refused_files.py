"""A request that writes its files before the transaction that records them (an action run's
outputs, a library item's image) removes them again when that transaction does not commit: for
credits that do not cover it (402), an idempotency key already used (409), or any error. Else
the files would stay on the disk with no row naming them, one set per refused request."""

from __future__ import annotations

from typing import Any

from tests.backend.test_backend_assets import png

BLUR = "blur-image-browser"  # one credit, one image file per input


async def asset_url(raw: Any, ws: str) -> str:
    made = await raw.post("assets", data={"workspace_id": ws, "file_name": "dot.png"},
                          files={"file": ("dot.png", png((8, 8)), "image/png")})  # fmt: skip
    assert made.status_code == 200, made.text
    return str(made.json()["url"])


async def run_blur(raw: Any, ws: str, url: str, **headers: str) -> Any:
    project = (await raw.post("projects", json={"name": "p", "workspace_id": ws})).json()
    body = {"action_id": BLUR, "inputs": [{"type": "image", "url": url}],
            "project_id": project["project_id"], "workspace_id": ws}  # fmt: skip
    return await raw.post("runs/action", json=body, headers=headers)


async def test_an_action_run_refused_for_credits_leaves_no_file(new_backend, raw_for):
    backend = await new_backend(initial_credits=0)
    ws, key = await backend.default_credentials()
    async with raw_for(backend, key) as raw:
        url = await asset_url(raw, ws)
        kept = sorted(backend.files_dir.iterdir())
        refused = await run_blur(raw, ws, url)
        assert refused.status_code == 402, refused.text
        assert refused.json()["error"]["code"] == "insufficient_credits"
    assert sorted(backend.files_dir.iterdir()) == kept


async def test_an_action_run_refused_as_a_duplicate_leaves_only_the_first_runs_files(
    new_backend, raw_for
):
    backend = await new_backend()
    ws, key = await backend.default_credentials()
    async with raw_for(backend, key) as raw:
        url = await asset_url(raw, ws)
        kept = set(backend.files_dir.iterdir())
        first = await run_blur(raw, ws, url, **{"idempotency-key": "blur-once"})
        assert first.status_code == 200, first.text
        made = set(backend.files_dir.iterdir()) - kept
        assert len(made) == 1
        again = await run_blur(raw, ws, url, **{"idempotency-key": "blur-once"})
        assert again.status_code == 409, again.text
    assert set(backend.files_dir.iterdir()) - kept == made


async def test_an_action_whose_second_file_cannot_be_written_leaves_neither(
    new_backend, raw_for, monkeypatch
):
    backend = await new_backend()
    ws, key = await backend.default_credentials()
    async with raw_for(backend, key) as raw:
        url = await asset_url(raw, ws)
        kept = sorted(backend.files_dir.iterdir())
        put = backend.files.put
        puts = 0

        async def second_put_fails(name: str, data: bytes, session: Any = None) -> None:
            nonlocal puts
            puts += 1
            if puts == 2:
                raise OSError(28, "No space left on device")
            await put(name, data, session)

        monkeypatch.setattr(backend.files, "put", second_put_fails)
        project = (await raw.post("projects", json={"name": "p", "workspace_id": ws})).json()
        body = {"action_id": "duplicate-image-browser", "params": {"count": 2},
                "inputs": [{"type": "image", "url": url}],
                "project_id": project["project_id"], "workspace_id": ws}  # fmt: skip
        failed = await raw.post("runs/action", json=body)
        assert failed.status_code == 500, failed.text
    assert puts == 2
    assert sorted(backend.files_dir.iterdir()) == kept


async def test_a_library_image_refused_as_a_duplicate_leaves_only_the_first_items_file(
    new_backend, raw_for, image_host, monkeypatch
):
    backend = await new_backend(callbacks_allow_private=True)
    ws, key = await backend.default_credentials()
    host = await image_host(png((12, 12)))
    async with raw_for(backend, key) as raw:
        folder = (await raw.post(f"workspaces/{ws}/library/folders", json={"name": "F"})).json()
        items = f"workspaces/{ws}/library/folders/{folder['folder_id']}/items"
        body = {"type": "image", "source": host.url()}
        kept = set(backend.files_dir.iterdir())
        first = await raw.post(items, json=body, headers={"idempotency-key": "lib-once"})
        assert first.status_code == 200, first.text
        made = set(backend.files_dir.iterdir()) - kept
        assert len(made) == 1
        again = await raw.post(items, json=body, headers={"idempotency-key": "lib-once"})
        assert again.status_code == 409, again.text
        assert host.hits == 2  # fetched and written again before the key was found used
    assert set(backend.files_dir.iterdir()) - kept == made
