"""A request that writes its files before the transaction that records them (an action run's
outputs, a library item's image) removes them again when that transaction does not commit: for
credits that do not cover it (402), an idempotency key already used (409), or any error. Else
the files would stay on the disk with no row naming them, one set per refused request."""

from __future__ import annotations

import contextlib
from asyncio import CancelledError
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from flora_backend import routes
from flora_backend.store import Run
from tests.backend.test_backend_assets import png

BLUR = "blur-image-browser"  # one credit, one image file per input


async def asset_url(raw: Any, ws: str) -> str:
    made = await raw.post("assets", data={"workspace_id": ws, "file_name": "dot.png"},
                          files={"file": ("dot.png", png((8, 8)), "image/png")})  # fmt: skip
    assert made.status_code == 200, made.text
    return str(made.json()["url"])


@contextlib.asynccontextmanager
async def with_an_asset(
    new_backend: Any, raw_for: Any, **settings: Any
) -> AsyncIterator[tuple[Any, str, Any, str]]:
    """A backend (`settings`), its default workspace, a client for it and an uploaded image's
    URL: (backend, workspace id, client, url)."""
    backend = await new_backend(**settings)
    ws, key = await backend.default_credentials()
    async with raw_for(backend, key) as raw:
        yield backend, ws, raw, await asset_url(raw, ws)


@contextlib.asynccontextmanager
async def with_a_folder(
    new_backend: Any, raw_for: Any, image_host: Any
) -> AsyncIterator[tuple[Any, Any, str, Any]]:
    """A backend that may fetch from this machine, a client, a library folder's items path and
    an image host: (backend, client, items path, host)."""
    backend = await new_backend(callbacks_allow_private=True)
    ws, key = await backend.default_credentials()
    host = await image_host(png((12, 12)))
    async with raw_for(backend, key) as raw:
        folder = (await raw.post(f"workspaces/{ws}/library/folders", json={"name": "F"})).json()
        yield backend, raw, f"workspaces/{ws}/library/folders/{folder['folder_id']}/items", host


async def run_blur(raw: Any, ws: str, url: str, **headers: str) -> Any:
    project = (await raw.post("projects", json={"name": "p", "workspace_id": ws})).json()
    body = {"action_id": BLUR, "inputs": [{"type": "image", "url": url}],
            "project_id": project["project_id"], "workspace_id": ws}  # fmt: skip
    return await raw.post("runs/action", json=body, headers=headers)


async def test_an_action_run_refused_for_credits_leaves_no_file(new_backend, raw_for):
    async with with_an_asset(new_backend, raw_for, initial_credits=0) as (backend, ws, raw, url):
        kept = sorted(backend.files_dir.iterdir())
        refused = await run_blur(raw, ws, url)
        assert refused.status_code == 402, refused.text
        assert refused.json()["error"]["code"] == "insufficient_credits"
    assert sorted(backend.files_dir.iterdir()) == kept


async def test_an_action_run_refused_as_a_duplicate_leaves_only_the_first_runs_files(
    new_backend, raw_for
):
    async with with_an_asset(new_backend, raw_for) as (backend, ws, raw, url):
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
    async with with_an_asset(new_backend, raw_for) as (backend, ws, raw, url):
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
    async with with_a_folder(new_backend, raw_for, image_host) as (backend, raw, items, host):
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


def writes_then_fails(backend: Any, error: BaseException) -> list[str]:
    """`backend.files.put` made to write its file and then raise `error` (a disk that fills
    as the file is closed, a request cancelled while the write ends): the names it wrote."""
    put = backend.files.put
    wrote: list[str] = []

    async def put_then_fail(name: str, data: bytes, session: Any = None) -> None:
        await put(name, data, session)
        wrote.append(name)
        raise error

    backend.files.put = put_then_fail
    return wrote


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), CancelledError()])
async def test_an_action_file_written_by_a_write_that_then_fails_is_removed(
    new_backend, raw_for, error
):
    async with with_an_asset(new_backend, raw_for) as (backend, ws, raw, url):
        kept = sorted(backend.files_dir.iterdir())
        wrote = writes_then_fails(backend, error)
        try:
            failed = await run_blur(raw, ws, url)
            assert failed.status_code == 500, failed.text
        except CancelledError:
            assert isinstance(error, CancelledError)
    assert len(wrote) == 1
    assert sorted(backend.files_dir.iterdir()) == kept


async def test_a_library_image_written_by_a_write_that_then_fails_is_removed(
    new_backend, raw_for, image_host
):
    async with with_a_folder(new_backend, raw_for, image_host) as (backend, raw, items, host):
        kept = sorted(backend.files_dir.iterdir())
        wrote = writes_then_fails(backend, OSError(28, "No space left on device"))
        failed = await raw.post(items, json={"type": "image", "source": host.url()})
        assert failed.status_code == 500, failed.text
    assert len(wrote) == 1
    assert sorted(backend.files_dir.iterdir()) == kept


@pytest.mark.postgres
async def test_on_postgres_an_action_runs_files_stay_when_its_commit_fails_after_committing(
    new_backend, raw_for, pg_url
):
    """A commit whose answer is lost (the connection drops as PostgreSQL commits) raises, yet
    may have committed: the run it recorded must find its files. They are written in its
    transaction, so they stand or fall with it."""
    backend = await new_backend(database_url=pg_url)
    assert backend.files.where == "database"
    ws, key = await backend.default_credentials()

    def mark(session: Session, _flush: Any, _objects: Any) -> None:
        if any(isinstance(o, Run) and o.kind == "action" for o in session.new):
            session.info["action_run"] = True

    def lost_answer(session: Session) -> None:
        if session.info.pop("action_run", False):
            raise OSError("the connection was lost as the commit's answer came")

    event.listen(Session, "before_flush", mark)
    event.listen(Session, "after_commit", lost_answer)
    try:
        async with raw_for(backend, key) as raw:
            url = await asset_url(raw, ws)
            failed = await run_blur(raw, ws, url)
            assert failed.status_code == 500, failed.text
    finally:
        event.remove(Session, "before_flush", mark)
        event.remove(Session, "after_commit", lost_answer)
    async with backend.sessions() as s:
        run = (await s.execute(select(Run).where(Run.kind == "action"))).scalar_one()
    prepared = run.inputs["prepared"]
    assert len(prepared) == 1
    assert await backend.files.read(prepared[0]["filename"]) is not None


async def test_a_failing_block_removes_only_its_own_files_not_an_earlier_committed_ones(
    new_backend,
):
    # Two `starting` blocks in one request: the first commits, the second fails. Only the
    # second's files go; the first's are named by committed rows.
    backend = await new_backend()
    ws, _ = await backend.default_credentials()
    ctx = routes.Ctx(backend=backend, request=None, workspace_id=ws)  # type: ignore[arg-type]
    async with routes.starting(ctx) as s:
        await routes.write_files(ctx, s, {"file_first0.png": png()})
    with pytest.raises(RuntimeError):
        async with routes.starting(ctx) as s:
            await routes.write_files(ctx, s, {"file_second0.png": png()})
            raise RuntimeError("the second block fails")
    names = sorted(p.name for p in backend.files_dir.iterdir())
    assert "file_first0.png" in names and "file_second0.png" not in names
    assert ctx.written == ["file_first0.png"]
