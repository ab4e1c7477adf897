"""Runs of the built-in backend: planning a run's timeline and fate, its state worked out from
the clock (pending -> running -> completed | failed), finalizing due runs (writing the real
output files, refunding failures), recovering runs left in flight by a stopped server, the
background sweeper, and signed webhook delivery."""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import re
import ssl
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from flora_backend import callback_urls, media
from flora_backend.catalog import OUTPUT_TYPE, usd
from flora_backend.db import rows_matched, utcnow
from flora_backend.errors import invalid
from flora_backend.files import FileStore
from flora_backend.settings import BackendSettings
from flora_backend.store import File, Run, Workspace
from flora_backend.webhooks import WebhookDeliverer, sign, verify

log = logging.getLogger("terrarium.backend.runs")

__all__ = ["RunEngine", "check_callback_url", "sign", "verify"]
RANDOM_FAILURES = (
    ("GENERATION_PROVIDER_TIMEOUT", "The model provider did not answer in time."),
    ("GPU_PROVIDER_ERROR", "The GPU provider returned an error."),
    ("GENERATION_QUEUE_TOO_LARGE", "The provider's queue is full; try again shortly."),
)
# Finished runs kept in memory for polls (a finished run never changes what it shows).
FINISHED_KEPT = 1024
INTERRUPTED = (
    "GENERATION_CANCELLED",
    "The backend stopped while this run was in flight; no credits were charged. "
    "Start the run again.",
)


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ms(value: datetime) -> int:
    """A timestamp as FLORA sends it: Unix milliseconds (docs/flora.md says why)."""
    return int(value.timestamp() * 1000)


def ms_or_none(value: datetime | None) -> int | None:
    return None if value is None else ms(value)


# ---------------------------------------------------------------- planning


def plan_failure(settings: BackendSettings, prompt: str) -> tuple[str | None, str | None]:
    """The failure a new run is fated to (from the failure-injection settings), if any."""
    pattern = settings.fail_pattern
    if pattern and re.search(pattern, prompt, re.IGNORECASE):
        return (
            "GENERATION_PROMPT_MODERATED",
            "The prompt was blocked by the provider's content policy; rephrase it.",
        )
    if settings.fail_rate > 0 and random.random() < settings.fail_rate:
        return random.choice(RANDOM_FAILURES)
    return None, None


def timeline(
    settings: BackendSettings, estimated_seconds: float
) -> tuple[datetime, datetime, datetime]:
    """(created_at, started_at, due_at) for a run taking estimated_seconds x backend_speed."""
    now = utcnow()
    total = max(0.0, estimated_seconds * settings.speed)
    queued = min(1.0, total * 0.1)
    return now, now + timedelta(seconds=queued), now + timedelta(seconds=total)


async def check_callback_url(engine: RunEngine, url: str | None) -> None:
    """Refuse (400, field callback_url) a URL webhooks may not go to; resolves its host, so
    call it before opening a database session."""
    if url is None:
        return
    try:
        await engine.webhooks.check(url)
    except callback_urls.CallbackUrlRefused as exc:
        raise invalid("callback_url", exc.reason) from None


# ---------------------------------------------------------------- views


def state(run: Run, now: datetime | None = None) -> tuple[str, float]:
    """(status, progress) of a run at `now`, worked out from its timeline."""
    if run.status in ("completed", "failed"):
        return run.status, 100
    return planned_state(run, now)


def planned_state(run: Run, now: datetime | None = None) -> tuple[str, float]:
    """(status, progress) its timeline gives a run at `now`, whatever it has become since."""
    now = now or utcnow()
    span = (run.due_at - run.started_at).total_seconds()
    if now < run.started_at or span <= 0:
        return "pending", 0
    done = (now - run.started_at).total_seconds() / span
    return "running", max(1, min(99, int(done * 100)))


def output_url(settings: BackendSettings, file_id: str) -> str:
    return f"{settings.public_url.rstrip('/')}/api/v1/files/{file_id}"


def poll_url(settings: BackendSettings, run_id: str) -> str:
    return f"{settings.public_url.rstrip('/')}/api/v1/runs/{run_id}"


def run_json(settings: BackendSettings, run: Run, *, as_started: bool = False) -> dict[str, Any]:
    """A run as FLORA's Run: timestamps in Unix ms, charged_cost in USD. `as_started`: as it
    stood when it started, what its create answers (the pending Run, to poll), even when it was
    completed in the transaction that started it (routes.py `complete_at_once`)."""
    status, progress = planned_state(run) if as_started else state(run)
    out: dict[str, Any] = {
        "run_id": run.id,
        "status": status,
        "progress": progress,
        "created_at": ms(run.created_at),
    }
    if status != "pending":
        out["started_at"] = ms(run.started_at)
    if run.completed_at and not as_started:
        out["completed_at"] = ms(run.completed_at)
    out["charged_cost"] = usd(run.charged_cost)
    if run.error_code and not as_started:
        out["error_code"] = run.error_code
        out["error_message"] = run.error_message or run.error_code
    if status == "completed":
        out["outputs"] = [
            {
                "output_id": o["output_id"],
                "type": o["type"],
                "url": o["text"] if "text" in o else output_url(settings, o["file_id"]),
            }
            for o in run.outputs or []
        ]
    out["poll_url"] = poll_url(settings, run.id)
    return out


def generation_json(settings: BackendSettings, run: Run) -> dict[str, Any]:
    return {
        **run_json(settings, run),
        "generation_id": run.id,
        "workspace_id": run.workspace_id,
        "project_id": run.project_id or "",
        "model": {"model_id": run.model_id},
    }


def technique_run_json(
    settings: BackendSettings, run: Run, technique_name: str | None = None
) -> dict[str, Any]:
    """A technique run as a list item: the Run plus its technique, workspace and project."""
    return {
        **run_json(settings, run),
        "technique_run_id": run.id,
        "technique": {
            "technique_id": run.technique_id or "",
            "name": technique_name or run.technique_id or "",
        },
        "workspace_id": run.workspace_id,
        "project_id": run.project_id or "",
    }


def node_size(run: Run) -> tuple[int, int] | None:
    """(width, height) in pixels of an image or video run's output, else None."""
    aspect = str((run.params or {}).get("aspect_ratio") or "square_1_1")
    if run.media_type == "image":
        return media.SIZES.get(aspect)
    if run.media_type == "video":
        return media.VIDEO_SIZES.get(aspect)
    return None


def node_json(settings: BackendSettings, run: Run) -> dict[str, Any]:
    """A run's canvas node as FLORA lists it: its output URL (or text) once completed."""
    view = run_json(settings, run)
    outputs = view.get("outputs") or []
    size = node_size(run) if outputs else None
    return {
        "node_id": "n" + run.id.removeprefix("run_"),
        "type": run.media_type,
        "label": run.prompt[:80],
        "url": outputs[0]["url"] if outputs else None,
        "asset_id": None,
        "width": size[0] if size else None,
        "height": size[1] if size else None,
    }


def prepared_outputs(run: Run) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(outputs, file rows) of an action run, whose outputs were made when it started."""
    outputs: list[dict[str, Any]] = []
    files: list[dict[str, Any]] = []
    for o in (run.inputs or {}).get("prepared", []):
        if "text" in o:
            outputs.append({"output_id": o["output_id"], "type": o["type"], "text": o["text"]})
            continue
        outputs.append({"output_id": o["output_id"], "type": o["type"], "file_id": o["file_id"]})
        files.append(
            {"id": o["file_id"], "workspace_id": run.workspace_id, "run_id": run.id,
             "filename": o["filename"], "content_type": o["content_type"], "size": o["size"]}
        )  # fmt: skip
    return outputs, files


# ---------------------------------------------------------------- finalizing


class RunEngine:
    """Finalizes due runs, recovers interrupted ones and delivers their webhooks."""

    def __init__(
        self,
        settings: BackendSettings,
        sessions: async_sessionmaker[AsyncSession],
        files: FileStore,
        resolver: callback_urls.Resolver = callback_urls.system_resolver,
        webhook_ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.files = files
        self.webhooks = WebhookDeliverer(settings, sessions, resolver, webhook_ssl_context)
        self._locks: dict[str, asyncio.Lock] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._settling: set[asyncio.Task[None]] = set()
        self._finished: collections.OrderedDict[str, Run] = collections.OrderedDict()

    # -- finished runs

    def finished(self, run_id: str) -> Run | None:
        """The run, if it finished lately here: read without the database (its status,
        outputs, error and charge are final, and nothing a poll shows changes after)."""
        run = self._finished.get(run_id)
        if run is not None:
            self._finished.move_to_end(run_id)
        return run

    def _keep(self, run: Run | None) -> Run | None:
        if run is not None and run.status in ("completed", "failed"):
            self._finished[run.id] = run
            self._finished.move_to_end(run.id)
            while len(self._finished) > FINISHED_KEPT:
                self._finished.popitem(last=False)
        return run

    # -- outputs

    def _render(
        self, run: Run
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, bytes]]:
        """(outputs, file rows, the files' bytes by name) for a run that completes; runs in a
        worker thread."""
        if run.kind == "action":  # its files were made when it started (see routes.py)
            return (*prepared_outputs(run), {})
        if run.media_type == "text":
            return self._outputs(run, None)
        data = media.render(run.media_type, run.model_id, run.prompt, run.params)
        return self._outputs(run, data)

    def made_outputs(
        self, run: Run
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, bytes]] | None:
        """What `_render` gives for a generation or technique run when that draws nothing (a
        text, or a file made lately for the same inputs), else None: such a run, due as it
        starts, is completed in the transaction that starts it (see routes.py `start_run`)."""
        if run.kind == "action":
            return None
        if run.media_type == "text":
            return self._outputs(run, None)
        data = media.made(run.media_type, run.model_id, run.prompt, run.params)
        return None if data is None else self._outputs(run, data)

    def _outputs(
        self, run: Run, data: bytes | None
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, bytes]]:
        """(outputs, file rows, the files' bytes by name) of a run whose file (`data`, None for
        a text) is made."""
        suffix = run.id.removeprefix("run_")
        output_id = f"out{suffix}0"
        kind = OUTPUT_TYPE[run.media_type]
        if data is None:
            body = media.text(run.model_id, run.prompt, run.params)
            return [{"output_id": output_id, "type": kind, "text": body}], [], {}
        content_type, ext = media.CONTENT_TYPES[run.media_type]
        file_id = f"file_{suffix}0"
        filename = f"{file_id}.{ext}"
        row = {
            "id": file_id,
            "workspace_id": run.workspace_id,
            "run_id": run.id,
            "filename": filename,
            "content_type": content_type,
            "size": len(data),
        }
        return [{"output_id": output_id, "type": kind, "file_id": file_id}], [row], {filename: data}

    async def finalize(
        self, run_id: str, *, interrupted: bool = False, started: Run | None = None
    ) -> Run | None:
        """Bring a due run (or, with interrupted, any unfinished one) to its final state.
        `started`: the run as its start wrote it, which spares reading it back."""
        lock = self._locks.setdefault(run_id, asyncio.Lock())
        try:
            async with lock:
                done = self._finished.get(run_id)
                if done is not None:
                    return done
                return self._keep(await self._finalize(run_id, interrupted, started))
        finally:
            if not lock.locked() and self._locks.get(run_id) is lock:
                self._locks.pop(run_id, None)

    async def _finalize(self, run_id: str, interrupted: bool, started: Run | None) -> Run | None:
        async with self.sessions() as session:
            run = started if started is not None else await session.get(Run, run_id)
            if run is None or run.status in ("completed", "failed"):
                return run
            now = utcnow()
            if now < run.due_at and not interrupted:
                return run
            outputs: list[dict[str, Any]] | None = None
            files: list[dict[str, Any]] = []
            blobs: dict[str, bytes] = {}
            error_code, error_message = run.planned_error_code, run.planned_error_message
            if now < run.due_at:
                error_code, error_message = INTERRUPTED
            if error_code is None:
                try:
                    outputs, files, blobs = await asyncio.to_thread(self._render, run)
                except Exception:
                    log.exception("rendering run %s failed", run_id)
                    error_code, error_message = "internal_error", "Rendering the output failed."
            status = "failed" if error_code else "completed"
            values: dict[str, Any] = {
                "status": status,
                "completed_at": now,
                "outputs": outputs,
                "error_code": error_code,
                "error_message": error_message,
            }
            if status == "failed":
                values["charged_cost"] = 0
            if run.callback_url:
                values["callback_state"] = "pending"
                values["callback_next_at"] = now
            # The files first: where the store is the disk, it is written before this
            # transaction takes the database's write lock (the same bytes whoever finalizes);
            # where it is the database, it is part of this transaction all the same.
            for name, data in blobs.items():
                await self.files.put(name, data, session)
            result = await session.execute(
                update(Run)
                .where(Run.id == run_id, Run.status == "pending")
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            finalized_here = rows_matched(result) == 1
            if finalized_here:
                if status == "failed" and run.charged_cost:
                    await session.execute(
                        update(Workspace)
                        .where(Workspace.id == run.workspace_id)
                        .values(credits=Workspace.credits + run.charged_cost)
                    )
                for row in files:
                    session.add(File(**row))
            await session.commit()
            if finalized_here:  # the row holds what was written: no read back
                for key, value in values.items():
                    set_committed_value(run, key, value)
            elif started is not None:  # finalized by someone else meanwhile (another replica)
                run = await session.get(Run, run_id, populate_existing=True)
            else:
                await session.refresh(run)
            return run

    def settle_soon(self, started: list[Run]) -> None:
        """Finalize, in the background, runs that were due as they started (speed 0): their
        outputs are made while the caller goes on, instead of on its first poll or at the next
        sweep; a poll that comes meanwhile waits for that (`finalize`'s lock), and finds the run
        completed. A run completed as it started is only kept for polls. Call it once the runs are
        committed."""
        for run in started:
            if run.status in ("completed", "failed"):  # completed as it started
                self._keep(run)
                continue
            task = asyncio.create_task(self._settle(run), name=f"terrarium-settle-{run.id}")
            self._settling.add(task)
            task.add_done_callback(self._settling.discard)

    async def _settle(self, started: Run) -> None:
        try:
            await self.finalize(started.id, started=started)
        except Exception:
            log.exception("finalizing run %s failed", started.id)

    async def finalize_due(self, workspace_id: str | None = None, limit: int = 200) -> int:
        async with self.sessions() as session:
            stmt = select(Run.id).where(Run.status == "pending", Run.due_at <= utcnow())
            if workspace_id:
                stmt = stmt.where(Run.workspace_id == workspace_id)
            ids = list((await session.execute(stmt.limit(limit))).scalars())
        for run_id in ids:
            await self.finalize(run_id)
        return len(ids)

    async def recover(self) -> int:
        """Finish (if due) or fail with GENERATION_CANCELLED every run a stopped server left."""
        async with self.sessions() as session:
            ids = list(
                (await session.execute(select(Run.id).where(Run.status == "pending"))).scalars()
            )
        for run_id in ids:
            await self.finalize(run_id, interrupted=True)
        return len(ids)

    # -- sweeper

    async def sweep(self) -> None:
        await self.finalize_due()
        await self.webhooks.start_due()

    async def _loop(self) -> None:
        while True:
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("backend sweep failed")
            await asyncio.sleep(self.settings.sweep_interval_s)

    def start(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._loop(), name="terrarium-backend-sweeper")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        settling = list(self._settling)
        for task in settling:  # a run left pending is settled by `recover` on the next start
            task.cancel()
        await asyncio.gather(*settling, return_exceptions=True)
        await self.webhooks.stop()
