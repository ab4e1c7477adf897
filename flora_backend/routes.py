"""HTTP routes of the built-in backend, registered by iterating `client_surface.table.SURFACE`:
one handler per method's full name, input validated with the method's own argument model,
answers checked against its response model. The table's flags are applied here, not in each
handler: the arguments it declares workspace ids must name the key's own workspace, and a list
handler answers `Items`, put under the method's items key (with `meta` when the method pages).
Also the file route and the shared plumbing (auth, rate limit, request ids, error envelope)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import logging
import math
import re
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar, cast

import httpcore
from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import Select, Table, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from starlette.datastructures import UploadFile as StarletteUpload
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from client_surface import table as tbl
from client_surface.table import (
    ID_ARGUMENTS,
    ID_KINDS,
    SURFACE,
    ActionsRetrieveArgs,
    ActionsRunArgs,
    AssetIdArgs,
    AssetsCreateArgs,
    AssetsListArgs,
    FeedbackRecordArgs,
    GenerationsCreateArgs,
    GenerationsListArgs,
    Method,
    ModelsListArgs,
    NoArgs,
    ProjectsActionsCreateArgs,
    ProjectsActionsRunArgs,
    ProjectsAssetsAttachArgs,
    ProjectsCreateArgs,
    ProjectsListArgs,
    ProjectsListNodesArgs,
    ProjectsRetrieveArgs,
    RunIdArgs,
    RunsStartTechniqueArgs,
    TechniqueRunsCreateArgs,
    TechniqueRunsListArgs,
    TechniqueRunsRetrieveArgs,
    TechniquesListArgs,
    TechniquesRetrieveArgs,
    response_problems,
)
from flora_backend import actions, callback_urls, canvas, catalog, files, runs, store
from flora_backend import assets as asset_files
from flora_backend.db import insert_unless_present, rows_matched, utcnow
from flora_backend.errors import ApiError, envelope_response, from_validation, invalid, not_found
from flora_backend.latency import LatencyMiddleware
from flora_backend.pagination import DEFAULT_LIMIT, decode_cursor, encode_cursor, page
from flora_backend.settings import BackendSettings
from flora_backend.store import (
    ApiKey,
    Asset,
    Feedback,
    File,
    IdempotencyKey,
    Project,
    Run,
    Technique,
    Workspace,
    hash_key,
    new_id,
)
from flora_backend.webhooks import PinnedNetworkBackend

if TYPE_CHECKING:
    from flora_backend import Backend

log = logging.getLogger("terrarium.backend")
# The tables the hot paths write in Core statements (no ORM unit of work).
CANVASES = cast("Table", store.Canvas.__table__)
FILES = cast("Table", File.__table__)
PROJECTS = cast("Table", Project.__table__)
RUNS = cast("Table", Run.__table__)
WORKSPACES = cast("Table", Workspace.__table__)
# Their statements made once, the values bound when each runs: a statement built with its
# values (`.values(...)`) is keyed and compiled anew each time (for a run's row 0.7 ms of CPU
# against 0.1 ms), where a fixed statement's compiled form is found in the cache.
PROJECT_WORKSPACE = select(PROJECTS.c.workspace_id).where(PROJECTS.c.id == bindparam("b_id"))
TOUCH_PROJECT = update(PROJECTS).where(PROJECTS.c.id == bindparam("b_id"))
CHARGE = (
    update(WORKSPACES)
    .where(WORKSPACES.c.id == bindparam("b_id"), WORKSPACES.c.credits >= bindparam("b_cost"))
    .values(credits=WORKSPACES.c.credits - bindparam("b_cost"))
)
HOLD_CANVAS = (
    update(CANVASES)
    .where(CANVASES.c.project_id == bindparam("b_id"))
    .values(revision=CANVASES.c.revision)
)
READ_CANVAS = select(CANVASES).where(CANVASES.c.project_id == bindparam("b_id"))
WRITE_CANVAS = update(CANVASES).where(CANVASES.c.project_id == bindparam("b_id"))
# The inserts too: a statement kept keeps its cache key (made once, about 19 us each time for a
# new one, and the statement's own making 5 us).
INSERT_CANVAS = insert(CANVASES)
INSERT_FILES = insert(FILES)
INSERT_PROJECT = insert(PROJECTS)
INSERT_RUN = insert(RUNS)
RUN_COLUMNS = frozenset(RUNS.c.keys())

IDEMPOTENCY_WINDOW_S = 2 * 3600
SIMULATE_HEADER = "terrarium-simulate-error"
SIMULATE_HEADER_NAME = SIMULATE_HEADER.encode("latin-1")
FILE_ID = re.compile(r"^file_[a-z0-9]{1,40}$")


@dataclass(frozen=True)
class KeyHolder:
    """What the database said about a key's workspace when the key was looked up: its id, and
    its `workspaces.list` item (None when the workspace is gone). A workspace's id, name and
    creation time never change, so the item stays true while the key is trusted."""

    workspace_id: str
    workspace: dict[str, Any] | None


@dataclass
class Ctx:
    backend: Backend
    request: Request
    workspace_id: str
    idempotency_key: str | None = None
    holder: KeyHolder | None = None
    # Runs this request started that are due at once (an instant backend), handed to
    # `RunEngine.settle_soon` once the request's transaction has committed: finalized in the
    # background, or only kept for polls when completed as they started (`complete_at_once`).
    due_now: list[Run] = dataclasses.field(default_factory=list)
    # Files written at once, outside the request's transaction (the disk), for the rows it
    # writes (`write_files`): removed again when it does not commit (`starting`).
    written: list[str] = dataclasses.field(default_factory=list)

    @property
    def settings(self) -> BackendSettings:
        return self.backend.settings

    def sessions(self) -> AsyncSession:
        return self.backend.sessions()


@dataclass
class Items:
    """What a list handler answers: one page of items (and the next page's cursor)."""

    items: list[dict[str, Any]]
    next_cursor: str | None = None


# A handler takes the validated instance of its method's argument model (`Method.args`).
Handler = Callable[[Ctx, Any], Awaitable["dict[str, Any] | Items"]]
HANDLERS: dict[str, Handler] = {}
H = TypeVar("H", bound=Handler)


def handles(full_name: str) -> Callable[[H], H]:
    def register(fn: H) -> H:
        HANDLERS[full_name] = fn
        return fn

    return register


# ---------------------------------------------------------------- shared checks


def check_prefix(field: str, value: str | None, prefix: str) -> None:
    if value is not None and not value.startswith(prefix):
        raise invalid(field, f"Must be an id starting with {prefix} (got {value!r})")


def check_own_workspace(ctx: Ctx, field: str, workspace_id: str | None) -> None:
    """A workspace id argument may only name the key's own workspace (others are not found)."""
    if workspace_id is None:
        return
    check_prefix(field, workspace_id, "ws_")
    if workspace_id != ctx.workspace_id:
        raise not_found("Workspace", workspace_id)


async def own_project(session: AsyncSession, ctx: Ctx, project_id: str) -> Project:
    check_prefix("project_id", project_id, "prj_")
    project = await session.get(Project, project_id)
    if project is None or project.workspace_id != ctx.workspace_id:
        raise not_found("Project", project_id)
    return project


async def own_project_id(session: AsyncSession, ctx: Ctx, project_id: str) -> str:
    """`own_project`'s check, reading only the project's workspace (no ORM object)."""
    check_prefix("project_id", project_id, "prj_")
    found = await session.execute(PROJECT_WORKSPACE, {"b_id": project_id})
    if found.scalar() != ctx.workspace_id:
        raise not_found("Project", project_id)
    return project_id


async def find_technique(session: AsyncSession, id_or_slug: str) -> Technique:
    column = Technique.id if id_or_slug.startswith("tech_") else Technique.slug
    technique = (await session.execute(select(Technique).where(column == id_or_slug))).scalar()
    if technique is None:
        raise not_found("Technique", id_or_slug)
    return technique


async def own_run(session: AsyncSession, ctx: Ctx, run_id: str) -> Run:
    check_prefix("run_id", run_id, "run_")
    run = await session.get(Run, run_id)
    if run is None or run.workspace_id != ctx.workspace_id:
        raise not_found("Run", run_id)
    return run


async def reserve_idempotency(session: AsyncSession, ctx: Ctx, run_id: str | None = None) -> None:
    """Claim the request's idempotency key inside the caller's transaction (released with it),
    for the run `run_id` when the caller already knows it."""
    key = ctx.idempotency_key
    if not key:
        return
    now = utcnow()
    values = {"workspace_id": ctx.workspace_id, "key": key, "created_at": now, "run_id": run_id}
    if await insert_unless_present(session, IdempotencyKey, values):
        return  # a new key: claimed in one statement
    row = await session.get(IdempotencyKey, (ctx.workspace_id, key))
    if row is not None:
        if (now - row.created_at).total_seconds() < IDEMPOTENCY_WINDOW_S:
            raise duplicate(key, row.run_id)
        await session.delete(row)
        await session.flush()
    session.add(IdempotencyKey(**values))
    try:
        await session.flush()
    except IntegrityError:
        raise duplicate(key, None) from None


def duplicate(key: str, run_id: str | None) -> ApiError:
    tail = f" It started run {run_id}; poll that run instead." if run_id else ""
    return ApiError(
        409,
        "idempotency_duplicate",
        f"A request with Idempotency-Key {key!r} was already made in the last 2 hours.{tail}",
    )


async def check_callback(ctx: Ctx, callback_url: str | None) -> None:
    """Refuse a callback_url webhooks may not go to; resolves DNS, so before any session."""
    await runs.check_callback_url(ctx.backend.run_engine(), callback_url)


async def charge(session: AsyncSession, workspace_id: str, cost: int) -> None:
    """The cost taken from the workspace's credits (402 when they do not cover it), in one Core
    UPDATE; the workspace's object this session may hold is expired (read again when used)."""
    result = await session.execute(CHARGE, {"b_id": workspace_id, "b_cost": cost})
    held = session.identity_map.get(identity_key(Workspace, workspace_id))
    if held is not None:
        session.expire(held)
    if rows_matched(result) != 1:
        ws = await session.get(Workspace, workspace_id)
        have = ws.credits if ws else 0
        raise ApiError(
            402,
            "insufficient_credits",
            f"This run costs {cost} credits and the workspace has {have}.",
        )


async def start_run(
    session: AsyncSession,
    ctx: Ctx,
    *,
    kind: str,
    model: catalog.CatalogModel,
    prompt: str,
    params: dict[str, Any],
    cost: int,
    project_id: str | None,
    technique_id: str | None = None,
    inputs: Any = None,
    callback_url: str | None = None,
    touch_project: bool = True,
    fated: tuple[str, str] | None = None,
) -> Run:
    """A new run, charged; callback_url must have passed `check_callback` already. The
    project's last_modified is set to now unless the caller sets it (`touch_project=False`).
    `fated`: the (code, message) it fails with, whatever the failure settings plan."""
    run_id = new_id("run_")
    await reserve_idempotency(session, ctx, run_id)
    await charge(session, ctx.workspace_id, cost)
    seconds = model.seconds(params)
    created, started, due = runs.timeline(ctx.settings, seconds)
    fail_code, fail_message = fated or runs.plan_failure(ctx.settings, prompt)
    run = Run(
        id=run_id,
        workspace_id=ctx.workspace_id,
        project_id=project_id,
        kind=kind,
        model_id=model.model_id,
        technique_id=technique_id,
        media_type=model.type,
        prompt=prompt,
        params=params,
        inputs=inputs,
        status="pending",
        created_at=created,
        started_at=started,
        due_at=due,
        estimated_seconds=seconds,
        planned_error_code=fail_code,
        planned_error_message=fail_message,
        quoted_cost=cost,
        charged_cost=cost,
        callback_url=callback_url,
        callback_state="none",
        callback_attempts=0,
    )
    if due <= created:
        ctx.due_now.append(run)
        if fail_code is None:
            await complete_at_once(ctx, session, run)
    # One Core insert of what was set on it (the table's defaults for the rest, as the ORM's
    # flush would): `run` stays outside the session, every attribute it answers set here.
    await session.execute(INSERT_RUN, {k: v for k, v in vars(run).items() if k in RUN_COLUMNS})
    if project_id and touch_project:
        await session.execute(TOUCH_PROJECT, {"b_id": project_id, "last_modified": created})
    return run


async def complete_at_once(ctx: Ctx, session: AsyncSession, run: Run) -> None:
    """A run due as it starts whose outputs draw nothing (`RunEngine.made_outputs`) is written
    completed, its files with it, as its finalizing would have written it: no second
    transaction, and a poll finds it completed as it would after that. Its create still answers
    it as it started (`runs.run_json`'s `as_started`)."""
    engine = ctx.backend.run_engine()
    made = engine.made_outputs(run)
    if made is None:
        return  # finalized in the background once committed (`RunEngine.settle_soon`)
    outputs, files, blobs = made
    await write_files(ctx, session, blobs)
    run.status, run.completed_at, run.outputs = "completed", run.created_at, outputs
    if run.callback_url:
        run.callback_state, run.callback_next_at = "pending", run.created_at
    if files:
        await session.execute(INSERT_FILES, [{"created_at": utcnow(), **row} for row in files])


async def write_files(ctx: Ctx, session: AsyncSession, blobs: dict[str, bytes]) -> None:
    """The files of rows `session` writes (in a `starting` block): part of its transaction
    where the store is the database; else (the disk, with SQLite) written at once, each named
    in `Ctx.written` before it is written, so that `starting` removes every one of them,
    however far its write went, when the transaction does not commit."""
    store = ctx.backend.files
    for name, data in blobs.items():
        if store.where != "database":
            ctx.written.append(name)
        await store.put(name, data, session)


@contextlib.asynccontextmanager
async def starting(ctx: Ctx) -> AsyncIterator[AsyncSession]:
    """A session whose transaction commits when the block ends, for a request that writes
    files for the rows it writes (a run's outputs, a library item's image; `write_files`):
    those written at once (`Ctx.written`, only ever with SQLite) are removed when it does not
    commit. A commit that was cancelled may have committed all the same: its files are kept (a
    file no row names is never served). A commit that raised did not commit (SQLite); where a
    lost connection leaves that unknown (PostgreSQL), the files are part of the transaction."""
    first = len(ctx.written)  # only this block's: an earlier block's files were committed
    async with ctx.sessions() as session:
        committing = False
        try:
            async with session.begin():
                yield session
                committing = True
        except BaseException as exc:
            mine = ctx.written[first:]
            del ctx.written[first:]
            if mine and (not committing or isinstance(exc, Exception)):
                await asyncio.shield(remove_files(ctx.backend.files, mine))
            raise


async def remove_files(store: files.FileStore, names: list[str]) -> None:
    """The files removed, each failure logged (the caller is already failing)."""
    for name in names:
        try:
            await store.delete(name)
        except Exception:
            log.exception("removing %s, written for runs that were not started, failed", name)


def run_start_json(ctx: Ctx, run: Run, technique: Technique | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "run_id": run.id,
        "type": run.kind,
        "charged_cost": catalog.usd(run.charged_cost),
        "estimated_seconds": round(run.estimated_seconds * ctx.settings.speed, 3),
        "poll_url": runs.poll_url(ctx.settings, run.id),
        "project_id": run.project_id,
        "model": {"model_id": run.model_id},
    }
    if technique is not None:
        out["technique"] = {"technique_id": technique.id, "name": technique.name}
    return out


async def current(ctx: Ctx, run: Run) -> Run:
    """The run, finalized first if it is due."""
    if run.status == "pending" and utcnow() >= run.due_at:
        return await ctx.backend.run_engine().finalize(run.id) or run
    return run


def status_filter(stmt: Select[Run], status: str | None) -> Select[Run]:
    if status in ("completed", "failed"):
        return stmt.where(Run.status == status)
    if status == "pending":
        return stmt.where(Run.status == "pending", Run.started_at > utcnow())
    if status == "running":
        return stmt.where(Run.status == "pending", Run.started_at <= utcnow())
    return stmt


def project_json(p: Project) -> dict[str, Any]:
    return {
        "project_id": p.id,
        "name": p.name,
        "workspace_id": p.workspace_id,
        "created_at": runs.ms(p.created_at),
        "last_modified": runs.ms_or_none(p.last_modified),
        "origin": p.origin,
    }


# ---------------------------------------------------------------- handlers


@handles("workspaces.list")
async def workspaces_list(ctx: Ctx, args: NoArgs) -> Items:
    if ctx.holder is not None:  # read with the key, in the same query
        item = ctx.holder.workspace
    else:
        async with ctx.sessions() as s:
            ws = await s.get(Workspace, ctx.workspace_id)
        item = workspace_item(ws.id, ws.name, ws.created_at) if ws is not None else None
    # the key's workspace is gone: this key can use none
    return Items([dict(item)] if item is not None else [])


def workspace_item(workspace_id: str, name: str, created_at: datetime | None) -> dict[str, Any]:
    return {
        "workspace_id": workspace_id,
        "name": name,
        "role": "owner",
        "created_at": runs.ms_or_none(created_at),
    }


@handles("projects.list")
async def projects_list(ctx: Ctx, args: ProjectsListArgs) -> Items:
    ws = ctx.workspace_id
    async with ctx.sessions() as s:
        stmt = select(Project).where(Project.workspace_id == ws)
        if args.query:
            stmt = stmt.where(func.lower(Project.name).contains(args.query.lower()))
        rows, cursor = await page(
            s, stmt, Project.last_modified, Project.id, args.cursor, args.limit
        )
    return Items([project_json(p) for p in rows], cursor)


@handles("projects.create")
async def projects_create(ctx: Ctx, args: ProjectsCreateArgs) -> dict[str, Any]:
    ws = ctx.workspace_id
    if not args.name.strip():
        raise invalid("name", "Must not be empty")
    now = utcnow()
    values = {"id": new_id("prj_"), "workspace_id": ws, "name": args.name, "origin": "api",
              "created_at": now, "last_modified": now}  # fmt: skip
    async with ctx.sessions() as s, s.begin():
        await s.execute(INSERT_PROJECT, values)  # Core, its values bound: no unit of work
    return project_json(Project(**values))


@handles("projects.retrieve")
async def projects_retrieve(ctx: Ctx, args: ProjectsRetrieveArgs) -> dict[str, Any]:
    async with ctx.sessions() as s:
        return project_json(await own_project(s, ctx, args.project_id))


@handles("projects.list_nodes")
async def projects_list_nodes(ctx: Ctx, args: ProjectsListNodesArgs) -> Items:
    await ctx.backend.run_engine().finalize_due(ctx.workspace_id)
    async with ctx.sessions() as s:
        project = await own_project(s, ctx, args.project_id)
        row = await s.get(store.Canvas, project.id)
        state = canvas_state(ctx, row) if row is not None else canvas.CanvasState()
        # The canvas's media nodes, newest first (groups, comments and the like are not media).
        shown = [n for n in reversed(state.nodes) if canvas.media_of(n) is not None]
        offset, _ = decode_cursor(args.cursor) if args.cursor else (0, None)
        size = args.limit or DEFAULT_LIMIT
        chosen = shown[offset : offset + size]
        run_ids = [state.node_outputs.get(n["id"], {}).get("run_id") for n in chosen]
        found = await s.execute(select(Run).where(Run.id.in_([r for r in run_ids if r])))
        by_run = {run.id: run for run in found.scalars()}
        asset_ids = [n["data"]["asset_id"] for n in chosen if n.get("data", {}).get("asset_id")]
        found_assets = await s.execute(select(Asset).where(Asset.id.in_(asset_ids)))
        by_asset = {a.id: a for a in found_assets.scalars()}
    nodes = []
    for node, run_id in zip(chosen, run_ids, strict=True):
        run = by_run.get(run_id or "")
        nodes.append(list_node_json(ctx, state, node, run, by_asset))
    more = offset + size < len(shown)
    return Items(nodes, encode_cursor(offset + size) if more else None)


def list_node_json(
    ctx: Ctx,
    state: canvas.CanvasState,
    node: dict[str, Any],
    run: Run | None,
    assets: dict[str, Asset],
) -> dict[str, Any]:
    """A canvas node as projects.list_nodes answers it: its output URL (or text) once there
    is one, and the output's pixels for an image or video."""
    data = node.get("data", {})
    label = data.get("label") or state.inputs(node["id"])["prompt"]
    out: dict[str, Any] = {
        "node_id": node["id"],
        "type": canvas.media_of(node),
        "label": str(label)[:80] if label else None,
        "url": None,
        "asset_id": data.get("asset_id"),
        "width": None,
        "height": None,
    }
    asset = assets.get(str(data.get("asset_id")))
    if asset is not None:
        if asset.status == "ready":
            out["url"] = asset_url(ctx, asset)
            out["width"], out["height"] = asset.width, asset.height
    elif run is not None:
        run_view = runs.node_json(ctx.settings, run)
        out["url"] = run_view["url"]
        if run.kind != "action":  # an action's output size is its own, not the model's
            out["width"], out["height"] = run_view["width"], run_view["height"]
    elif data.get("url"):
        out["url"] = data["url"]
    return out


@handles("models.list")
async def models_list(ctx: Ctx, args: ModelsListArgs) -> Items:
    return Items([m.to_json() for m in catalog.models_of(args.type)])


@handles("generations.create")
async def generations_create(ctx: Ctx, args: GenerationsCreateArgs) -> dict[str, Any]:
    if not args.prompt.strip():
        raise invalid("prompt", "Must not be empty")
    try:
        model = catalog.resolve_model(args.type, args.model)
        params = catalog.validate_params(model, args.params)
    except catalog.CatalogError as exc:
        raise ApiError(
            400,
            "input_validation_error",
            exc.message,
            [{"field": exc.field, "message": exc.message}],
        ) from None
    await check_callback(ctx, args.callback_url)
    async with starting(ctx) as s:
        project_id = await own_project_id(s, ctx, args.project_id)
        run = await start_run(
            s,
            ctx,
            kind="generation",
            model=model,
            prompt=args.prompt,
            params=params,
            cost=model.cost(params),
            project_id=project_id,
            callback_url=args.callback_url,
            touch_project=False,  # placing its node does
        )
        await place_run_node(ctx, s, project_id, run, args.prompt)
    return run_start_json(ctx, run)


HANDLERS["runs.start_generation"] = generations_create


@handles("generations.retrieve")
async def generations_retrieve(ctx: Ctx, args: RunIdArgs) -> dict[str, Any]:
    done = ctx.backend.run_engine().finished(args.run_id)
    if done is not None and done.workspace_id == ctx.workspace_id:
        return runs.run_json(ctx.settings, done)
    async with ctx.sessions() as s:
        run = await own_run(s, ctx, args.run_id)
    return runs.run_json(ctx.settings, await current(ctx, run))


@handles("generations.list")
async def generations_list(ctx: Ctx, args: GenerationsListArgs) -> Items:
    ws = ctx.workspace_id
    await ctx.backend.run_engine().finalize_due(ws)
    async with ctx.sessions() as s:
        stmt = select(Run).where(Run.workspace_id == ws, Run.kind == "generation")
        if args.project_id:
            await own_project(s, ctx, args.project_id)
            stmt = stmt.where(Run.project_id == args.project_id)
        stmt = status_filter(stmt, args.status)
        rows, cursor = await page(s, stmt, Run.created_at, Run.id, args.cursor, args.limit)
    items = [runs.generation_json(ctx.settings, r) for r in rows]
    return Items(items, cursor)


@handles("techniques.list")
async def techniques_list(ctx: Ctx, args: TechniquesListArgs) -> Items:
    async with ctx.sessions() as s:
        stmt = select(Technique)
        if args.query:
            q = args.query.lower()
            stmt = stmt.where(
                or_(
                    func.lower(Technique.name).contains(q),
                    func.lower(Technique.slug).contains(q),
                    func.lower(Technique.description).contains(q),
                )
            )
        rows, cursor = await page(
            s, stmt, Technique.created_at, Technique.id, args.cursor, args.limit
        )
    return Items([catalog.technique_json(t) for t in rows], cursor)


@handles("techniques.retrieve")
async def techniques_retrieve(ctx: Ctx, args: TechniquesRetrieveArgs) -> dict[str, Any]:
    async with ctx.sessions() as s:
        return catalog.technique_json(await find_technique(s, args.id_or_slug))


def technique_prompt(technique: Technique, values: dict[str, str]) -> str:
    """The prompt a technique run sends to its model: the template filled with text inputs."""
    filled = {io["id"]: values.get(io["id"], "") for io in technique.inputs}
    prompt = technique.prompt_template.format(**filled)
    refs = [f"{io['id']}={values[io['id']]}" for io in technique.inputs if io["type"] != "text"
            and values.get(io["id"])]  # fmt: skip
    return prompt + (f" (references: {', '.join(refs)})" if refs else "")


def check_inputs(
    technique: Technique, given: Mapping[str, tuple[str | None, Any]]
) -> dict[str, str]:
    """Input values by id, checked against the technique's declared inputs."""
    declared = {io["id"]: io for io in technique.inputs}
    valid = ", ".join(f"{i} ({io['type']})" for i, io in declared.items())
    values: dict[str, str] = {}
    for input_id, (kind, value) in given.items():
        io = declared.get(input_id)
        if io is None:
            raise invalid(f"inputs.{input_id}", f"Unknown input. This technique takes: {valid}")
        if kind is not None and kind != io["type"]:
            raise invalid(f"inputs.{input_id}", f"Must have type {io['type']} (got {kind})")
        if not isinstance(value, str) or not value.strip():
            raise invalid(f"inputs.{input_id}", "Must be a non-empty string")
        if io["type"] != "text" and not re.match(r"^https?://", value):
            raise invalid(f"inputs.{input_id}", f"Must be an http(s) URL for {io['type']}")
        values[input_id] = value
    for input_id, io in declared.items():
        if input_id not in values and not io.get("optional"):
            raise invalid(f"inputs.{input_id}", f"Required. This technique takes: {valid}")
    return values


async def start_technique_run(
    ctx: Ctx,
    id_or_slug: str,
    given: Mapping[str, tuple[str | None, Any]],
    callback_url: str | None = None,
) -> tuple[Run, Technique]:
    await check_callback(ctx, callback_url)
    async with starting(ctx) as s:
        technique = await find_technique(s, id_or_slug)
        values = check_inputs(technique, given)
        model = catalog.BY_ID[technique.model_id]
        params = catalog.validate_params(model, catalog.TECHNIQUE_PARAMS.get(technique.id))
        # A technique run works in a project of its own, as FLORA's (its project_id).
        now = utcnow()
        project = Project(
            id=new_id("prj_"),
            workspace_id=ctx.workspace_id,
            name=technique.name,
            created_at=now,
            last_modified=now,
        )
        s.add(project)
        run = await start_run(
            s,
            ctx,
            kind="technique",
            model=model,
            prompt=technique_prompt(technique, values),
            params=params,
            cost=technique.run_cost,
            project_id=project.id,
            technique_id=technique.id,
            inputs=values,
            callback_url=callback_url,
            touch_project=False,  # placing its node does
        )
        await place_run_node(ctx, s, project, run, run.prompt)
    return run, technique


@handles("techniques.runs.create")
async def technique_runs_create(ctx: Ctx, args: TechniqueRunsCreateArgs) -> dict[str, Any]:
    # mode "stream": FLORA's reference documents no streamed body, so it is answered as
    # "async" (the pending Run, to poll); docs/flora.md says so.
    given: dict[str, tuple[str | None, Any]] = {}
    for item in args.inputs:
        if item.id in given:
            raise invalid(f"inputs.{item.id}", "Given more than once")
        given[item.id] = (item.type, item.value)
    ctx.idempotency_key = args.idempotency_key
    run, _ = await start_technique_run(ctx, args.id_or_slug, given, args.callback_url)
    return runs.run_json(ctx.settings, run, as_started=True)


@handles("techniques.runs.retrieve")
async def technique_runs_retrieve(ctx: Ctx, args: TechniqueRunsRetrieveArgs) -> dict[str, Any]:
    async with ctx.sessions() as s:
        technique = await find_technique(s, args.technique_id)
        run = await own_run(s, ctx, args.run_id)
        if run.technique_id != technique.id:
            raise not_found("Run", args.run_id)
    return runs.run_json(ctx.settings, await current(ctx, run))


@handles("techniques.runs.list")
async def technique_runs_list(ctx: Ctx, args: TechniqueRunsListArgs) -> Items:
    ws = ctx.workspace_id
    await ctx.backend.run_engine().finalize_due(ws)
    async with ctx.sessions() as s:
        stmt = select(Run).where(Run.workspace_id == ws, Run.kind == "technique")
        if args.project_id:
            await own_project(s, ctx, args.project_id)
            stmt = stmt.where(Run.project_id == args.project_id)
        if args.technique_id:
            technique = await find_technique(s, args.technique_id)
            stmt = stmt.where(Run.technique_id == technique.id)
        stmt = status_filter(stmt, args.status)
        rows, cursor = await page(s, stmt, Run.created_at, Run.id, args.cursor, args.limit)
        found = await s.execute(select(Technique.id, Technique.name))
        names = {technique_id: name for technique_id, name in found.all()}
    items = [
        runs.technique_run_json(ctx.settings, r, names.get(r.technique_id or "")) for r in rows
    ]
    return Items(items, cursor)


@handles("runs.start_technique")
async def runs_start_technique(ctx: Ctx, args: RunsStartTechniqueArgs) -> dict[str, Any]:
    given = {k: (None, v) for k, v in args.inputs.items()}
    run, technique = await start_technique_run(ctx, args.technique_id, given)
    return run_start_json(ctx, run, technique)


@handles("feedback.record")
async def feedback_record(ctx: Ctx, args: FeedbackRecordArgs) -> dict[str, Any]:
    for field in ("summary", "detail"):
        if not getattr(args, field).strip():
            raise invalid(field, "Must not be empty")
    async with ctx.sessions() as s, s.begin():
        if args.project_id is not None:
            await own_project(s, ctx, args.project_id)
        if args.run_id is not None:
            await own_run(s, ctx, args.run_id)
        await reserve_idempotency(s, ctx)
        feedback = Feedback(
            id=new_id("fb_"),
            workspace_id=ctx.workspace_id,
            kind=args.kind,
            summary=args.summary,
            detail=args.detail,
            attempted_tools=args.attempted_tools,
            project_id=args.project_id,
            run_id=args.run_id,
            created_at=utcnow(),
        )
        s.add(feedback)
    return {"feedback_id": feedback.id, "received_at": runs.ms(feedback.created_at)}


# ---------------------------------------------------------------- workspace-scoped projects,
# the project canvas, project folders and the library


def canvas_url(ctx: Ctx, project_id: str) -> str:
    return f"{ctx.settings.public_url.rstrip('/')}/api/v1/projects/{project_id}/canvas"


def canvas_invalid(exc: canvas.CanvasInvalid) -> ApiError:
    return ApiError(400, "input_validation_error", str(exc), exc.fields)


async def load_canvas(session: AsyncSession, project: Project) -> store.Canvas:
    """The project's canvas row (made when missing), held until the transaction ends: a write
    comes first (a no-op UPDATE), so writers of one canvas go one after another (SQLite takes
    its write lock, PostgreSQL the row's) and none loses the nodes another placed."""
    await session.execute(
        update(store.Canvas)
        .where(store.Canvas.project_id == project.id)
        .values(revision=store.Canvas.revision)
    )
    row = await session.get(store.Canvas, project.id, populate_existing=True)
    if row is None:
        row = store.Canvas(
            project_id=project.id, revision=0, nodes=[], edges=[], node_inputs={},
            node_outputs={}, layer_editor_documents=None, short_ids={}, next_short=1,
            updated_at=utcnow(),
        )  # fmt: skip
        session.add(row)
    return row


def canvas_state(ctx: Ctx, row: store.Canvas, *, fresh: bool = False) -> canvas.CanvasState:
    """The row's canvas, a copy of its values; `fresh`: they were decoded for this call alone
    (a Core row's JSON), so nothing else holds them and they are taken as they are."""
    state = canvas.CanvasState(
        nodes=row.nodes, edges=row.edges, node_inputs=row.node_inputs,
        node_outputs=row.node_outputs, layer_editor_documents=row.layer_editor_documents,
        short_ids=row.short_ids, next_short=row.next_short,
    )  # fmt: skip
    if not fresh:
        state = state.copy()
    for node in state.nodes:  # an asset node shows its asset's URL at this server's address
        asset_id = node.get("data", {}).get("asset_id")
        if asset_id:
            node["data"]["url"] = runs.output_url(ctx.settings, asset_file_id(str(asset_id)))
    return state


async def place_node(
    ctx: Ctx,
    session: AsyncSession,
    project: Project | str,
    node_type: str,
    data: dict[str, Any],
    *,
    wrote: bool = False,
    **placement: Any,
) -> str:
    """A node put on the project's canvas (see `CanvasState.place`), and the project's
    last_modified set: its node id. `project`: the project, or its id once checked. The
    canvas is held as `load_canvas` holds it, read and written in Core statements; `wrote`:
    this transaction has written already, so on SQLite it holds the database's write lock (no
    other writer until it ends) and the canvas needs no holding of its own."""
    project_id = project if isinstance(project, str) else project.id
    await session.flush()  # what the session holds first (a new project the canvas refers to)
    key = {"b_id": project_id}
    if not (wrote and session.get_bind().dialect.name == "sqlite"):
        await session.execute(HOLD_CANVAS, key)
    row: Any = (await session.execute(READ_CANVAS, key)).first()
    state = canvas_state(ctx, row, fresh=True) if row is not None else canvas.CanvasState()
    node_id = state.place(node_type, data, **placement)
    now = utcnow()
    values = {
        "nodes": state.nodes, "edges": state.edges, "node_inputs": state.node_inputs,
        "node_outputs": state.node_outputs, "layer_editor_documents": state.layer_editor_documents,
        "short_ids": state.short_ids, "next_short": state.next_short,
        "revision": (row.revision or 0) + 1 if row is not None else 1, "updated_at": now,
    }  # fmt: skip
    if row is None:
        await session.execute(INSERT_CANVAS, {"project_id": project_id, **values})
    else:
        await session.execute(WRITE_CANVAS, {**key, **values})
    await session.execute(TOUCH_PROJECT, {**key, "last_modified": now})
    if not isinstance(project, str):
        set_committed_value(project, "last_modified", now)
    return node_id


async def place_run_node(
    ctx: Ctx, session: AsyncSession, project: Project | str, run: Run, prompt: str
) -> None:
    """The node of a generation (or technique run) started through the API, on its canvas (the
    run was charged in this transaction: it wrote)."""
    inputs = {"prompt": prompt, "model": run.model_id, "params": run.params}
    await place_node(
        ctx, session, project, canvas.RESULT_OF[run.media_type], {},
        wrote=True, inputs=inputs, outputs={"run_id": run.id},
    )  # fmt: skip


def store_canvas(row: store.Canvas, state: canvas.CanvasState, *, changed: bool = True) -> None:
    """The state written back; the revision grows by one when the canvas changed."""
    row.nodes, row.edges = state.nodes, state.edges
    row.node_inputs, row.node_outputs = state.node_inputs, state.node_outputs
    row.layer_editor_documents = state.layer_editor_documents
    row.short_ids, row.next_short = state.short_ids, state.next_short
    if changed:
        row.revision = (row.revision or 0) + 1
        row.updated_at = utcnow()


async def node_runs(session: AsyncSession, state: canvas.CanvasState) -> dict[str, Run]:
    """Each node's latest run, by run id (finalize due runs before the session opens)."""
    ids = [o["run_id"] for o in state.node_outputs.values() if o.get("run_id")]
    if not ids:
        return {}
    rows = (await session.execute(select(Run).where(Run.id.in_(ids)))).scalars()
    return {run.id: run for run in rows}


def node_run_view(ctx: Ctx, run: Run) -> canvas.NodeRun:
    view = runs.run_json(ctx.settings, run)
    status = {"completed": "done", "failed": "error"}.get(view["status"], "generating")
    url = text = None
    for out in view.get("outputs") or []:
        if out["type"] == "text":
            text = out["url"]
        else:
            url = url or out["url"]
    return canvas.NodeRun(status, url, text, run.error_code, run.error_message)


async def canvas_answer(ctx: Ctx, project: Project) -> dict[str, Any]:
    await ctx.backend.run_engine().finalize_due(ctx.workspace_id)
    async with ctx.sessions() as s, s.begin():
        row = await load_canvas(s, project)
        state = canvas_state(ctx, row)
        state.assign_short_ids()
        found = await node_runs(s, state)
        store_canvas(row, state, changed=False)
    outputs = {}
    for node_id, stored in state.node_outputs.items():
        run = found.get(stored.get("run_id", ""))
        if run is None:
            outputs[node_id] = stored
            continue
        view = node_run_view(ctx, run)
        extra = {"url": view.output_url} if view.output_url else {}
        if view.output_text is not None:
            extra["text"] = view.output_text
        outputs[node_id] = {**stored, "status": view.status, **extra}
    definition = {**state.definition(), "node_outputs": outputs}
    return {
        "canvas_url": canvas_url(ctx, project.id),
        "definition": definition,
        "project_id": project.id,
        "summary": state.summary(),
    }


async def new_project(ctx: Ctx, name: str, folder_id: str | None = None) -> dict[str, Any]:
    if not name.strip():
        raise invalid("name", "Must not be empty")
    now = utcnow()
    project = Project(
        id=new_id("prj_"), workspace_id=ctx.workspace_id, name=name, created_at=now,
        last_modified=now,
    )  # fmt: skip
    async with ctx.sessions() as s, s.begin():
        if folder_id is not None:
            folder = await s.get(store.ProjectFolder, folder_id)
            if folder is None or folder.workspace_id != ctx.workspace_id:
                raise not_found("Folder", folder_id)
        await reserve_idempotency(s, ctx)
        s.add(project)
        if folder_id is not None:
            await s.flush()
            s.add(store.FolderProject(project_id=project.id, folder_id=folder_id))
    return project_json(project)


@handles("workspaces.projects.create")
async def workspace_projects_create(
    ctx: Ctx, args: tbl.WorkspaceProjectsCreateArgs
) -> dict[str, Any]:
    return await new_project(ctx, args.name)


@handles("workspaces.folders.create_project")
async def folders_create_project(ctx: Ctx, args: tbl.FolderCreateProjectArgs) -> dict[str, Any]:
    if not args.folder_id.startswith("fld_"):
        raise not_found("Folder", args.folder_id)
    return await new_project(ctx, args.name, args.folder_id)


@handles("workspaces.projects.graph")
async def workspace_projects_graph(ctx: Ctx, args: tbl.WorkspaceProjectArgs) -> dict[str, Any]:
    await ctx.backend.run_engine().finalize_due(ctx.workspace_id)
    async with ctx.sessions() as s, s.begin():
        project = await own_project(s, ctx, args.project_id)
        row = await load_canvas(s, project)
        state = canvas_state(ctx, row)
        found = await node_runs(s, state)
        views = {run_id: node_run_view(ctx, run) for run_id, run in found.items()}
        nodes = canvas.graph_nodes(state, views.get)
        edges = canvas.graph_edges(state)
        store_canvas(row, state, changed=False)  # short ids are kept from their first read
        revision = str(row.revision)
    return {
        "canvas_url": canvas_url(ctx, project.id),
        "edges": edges,
        "nodes": nodes,
        "project_id": project.id,
        "revision": revision,
    }


@handles("workspaces.projects.canvas.retrieve_definition")
async def canvas_retrieve_definition(ctx: Ctx, args: tbl.WorkspaceProjectArgs) -> dict[str, Any]:
    async with ctx.sessions() as s:
        project = await own_project(s, ctx, args.project_id)
    return await canvas_answer(ctx, project)


@handles("workspaces.projects.canvas.replace_definition")
async def canvas_replace_definition(ctx: Ctx, args: tbl.ReplaceDefinitionArgs) -> dict[str, Any]:
    definition = args.definition.model_dump(mode="json", exclude_none=True)
    for edge, given in zip(definition["edges"], args.definition.edges, strict=True):
        edge["source_handle"], edge["target_handle"] = given.source_handle, given.target_handle
    async with ctx.sessions() as s, s.begin():
        project = await own_project(s, ctx, args.project_id)
        await reserve_idempotency(s, ctx)
        row = await load_canvas(s, project)
        try:
            state = canvas.replace(canvas_state(ctx, row), definition)
        except canvas.CanvasInvalid as exc:
            raise canvas_invalid(exc) from None
        store_canvas(row, state)
        project.last_modified = utcnow()
    return await canvas_answer(ctx, project)


@handles("workspaces.projects.canvas.apply_changeset")
async def canvas_apply_changeset(ctx: Ctx, args: tbl.ApplyChangesetArgs) -> dict[str, Any]:
    ops = args.model_dump(
        mode="json", by_alias=True, exclude_none=True,
        include={"add", "update", "connect", "disconnect", "remove"},
    )  # fmt: skip
    async with ctx.sessions() as s, s.begin():
        project = await own_project(s, ctx, args.project_id)
        row = await load_canvas(s, project)
        if args.base_revision is not None and args.base_revision != str(row.revision):
            raise ApiError(
                409, "conflict",
                f"The canvas changed since revision {args.base_revision!r}: it is at revision "
                f"{str(row.revision)!r}. Read projects.graph again and rebuild the changeset.",
            )  # fmt: skip
        await reserve_idempotency(s, ctx)
        try:
            result = canvas.apply_changeset(canvas_state(ctx, row), ops)
        except canvas.CanvasInvalid as exc:
            raise canvas_invalid(exc) from None
        changed = any(result.applied.values())
        store_canvas(row, result.state, changed=changed)
        if changed:
            project.last_modified = utcnow()
        revision = str(row.revision)
    return {
        "applied": result.applied,
        "canvas_url": canvas_url(ctx, project.id),
        "created": result.created,
        "project_id": project.id,
        "revision": revision,
        "warnings": result.warnings,
    }


def skipped(node_ref: str, reason: str, message: str) -> dict[str, Any]:
    return {"node_id": node_ref, "status": "skipped", "reason": reason, "message": message}


@handles("workspaces.projects.run_nodes")
async def workspace_projects_run_nodes(ctx: Ctx, args: tbl.RunNodesArgs) -> dict[str, Any]:
    answers: dict[str, dict[str, Any]] = {}
    await ctx.backend.run_engine().finalize_due(ctx.workspace_id)
    async with starting(ctx) as s:
        project = await own_project(s, ctx, args.project_id)
        await reserve_idempotency(s, ctx)
        ctx.idempotency_key = None  # claimed once for the whole request
        row = await load_canvas(s, project)
        state = canvas_state(ctx, row)
        state.assign_short_ids()
        found = await node_runs(s, state)
        wanted: dict[str, str] = {}  # node id -> the reference the caller sent
        for ref in args.node_ids:
            node_id = state.resolve(ref)
            node = state.node(node_id) if node_id else None
            if node is None or node_id is None:
                answers[ref] = skipped(ref, "node_not_found", f"No node {ref!r} on this canvas.")
                continue
            media = canvas.GENERATION_TYPES.get(node["type"])
            run = found.get(state.node_outputs.get(node_id, {}).get("run_id", ""))
            if media is None:
                kind = canvas.vocabulary(node["type"])
                answers[ref] = skipped(
                    ref, "node_not_executable",
                    f"{ref} is a {kind} node, which generates nothing (action nodes run "
                    "through projects.actions.run).",
                )  # fmt: skip
            elif node.get("data", {}).get("locked"):
                answers[ref] = skipped(ref, "node_locked", f"{ref} is locked on the canvas.")
            elif not state.inputs(node_id)["model"]:
                answers[ref] = skipped(
                    ref, "no_model_configured",
                    f"{ref} has no model; set one with a canvas changeset update.",
                )  # fmt: skip
            elif run is not None and run.status == "pending":
                answers[ref] = skipped(
                    ref, "generation_already_running",
                    f"{ref} is already generating (run {run.id}); poll that run.",
                )  # fmt: skip
            else:
                wanted.setdefault(node_id, ref)
        started: dict[str, Run] = {}
        for node_id in canvas.run_order(state, wanted):
            ref = wanted[node_id]
            answers[ref] = await start_node_run(ctx, s, project, state, node_id, ref, started)
        if started:
            store_canvas(row, state)
        else:
            store_canvas(row, state, changed=False)
    return {"project_id": project.id, "runs": [answers[ref] for ref in args.node_ids]}


async def start_node_run(
    ctx: Ctx,
    session: AsyncSession,
    project: Project,
    state: canvas.CanvasState,
    node_id: str,
    ref: str,
    started: dict[str, Run],
) -> dict[str, Any]:
    """One node's generation, with the outputs of the nodes wired into it (or the runs this
    request started for them) as its inputs; a node that cannot start is skipped alone."""
    node = state.node(node_id) or {"type": ""}
    media = canvas.GENERATION_TYPES[node["type"]]
    given = state.inputs(node_id)
    upstream: list[dict[str, Any]] = []
    texts: list[str] = []
    for e in state.edges:
        if e["target"] != node_id:
            continue
        source = state.node(e["source"]) or {"data": {}}
        stored = state.node_outputs.get(e["source"], {})
        item: dict[str, Any] = {"from": state.short(e["source"]), "in": e.get("target_handle")}
        if e["source"] in started:
            item["run_id"] = started[e["source"]].id
        elif stored.get("run_id"):
            item["run_id"] = stored["run_id"]
        url = source.get("data", {}).get("url") or stored.get("url")
        if url:
            item["url"] = url
        if canvas.media_of(source) == "text":
            text = stored.get("text") or state.inputs(e["source"])["prompt"]
            if text:
                item["text"] = text
                texts.append(str(text))
        upstream.append(item)
    prompt = given["prompt"] or " ".join(texts)
    if not str(prompt or "").strip():
        return skipped(ref, "run_failed_to_start", f"{ref} has no prompt and no text wired in.")
    try:
        model = catalog.resolve_model(media, given["model"])
        params = catalog.validate_params(model, given["params"])
    except catalog.CatalogError as exc:
        return skipped(ref, "run_failed_to_start", exc.message)
    cost = model.cost(params)
    async with session.begin_nested():
        ws = await session.get(Workspace, ctx.workspace_id)
        short = ws is None or ws.credits < cost
        # FLORA: credits are not checked up front; the run itself fails
        need = f"This run costs {cost} credits; the workspace has less."
        fated = ("BILLING_NOT_ENOUGH_CREDITS", need) if short else None
        run = await start_run(
            session, ctx, kind="generation", model=model, prompt=str(prompt), params=params,
            cost=0 if short else cost, project_id=project.id, inputs=upstream or None,
            fated=fated,
        )  # fmt: skip
    started[node_id] = run
    state.node_outputs[node_id] = {"run_id": run.id}
    return {
        "node_id": ref,
        "status": "started",
        "charged_cost": catalog.usd(cost),
        "estimated_seconds": round(run.estimated_seconds * ctx.settings.speed, 3),
        "model": {"model_id": model.model_id},
        "poll_url": runs.poll_url(ctx.settings, run.id),
        "run_id": run.id,
        "type": "generation",
    }


@handles("projects.canvas.retrieve")
async def project_canvas_retrieve(ctx: Ctx, args: tbl.CanvasRetrieveArgs) -> dict[str, Any]:
    async with ctx.sessions() as s, s.begin():
        project = await own_project(s, ctx, args.project_id)
        row = await load_canvas(s, project)
        state = canvas_state(ctx, row)
        diagram = canvas.to_mermaid(state)
        store_canvas(row, state, changed=False)
    return {
        "canvas_url": canvas_url(ctx, project.id),
        "diagram": diagram,
        "project_id": project.id,
        "summary": state.summary(),
    }


@handles("projects.canvas.update")
async def project_canvas_update(ctx: Ctx, args: tbl.CanvasUpdateArgs) -> dict[str, Any]:
    node_params = {
        k: v.model_dump(mode="json", exclude_none=True) for k, v in (args.node_params or {}).items()
    }
    async with ctx.sessions() as s, s.begin():
        project = await own_project(s, ctx, args.project_id)
        row = await load_canvas(s, project)
        try:
            result = canvas.apply_mermaid(canvas_state(ctx, row), args.diagram, node_params)
        except canvas.CanvasInvalid as exc:
            raise canvas_invalid(exc) from None
        changed = bool(result.created_nodes or result.created_edges)
        store_canvas(row, result.state, changed=changed)
        if changed:
            project.last_modified = utcnow()
    out: dict[str, Any] = {
        "canvas_url": canvas_url(ctx, project.id),
        "created_edge_count": result.created_edges,
        "created_node_count": result.created_nodes,
        "diagram": args.diagram,
        "project_id": project.id,
    }
    if result.warnings:
        out["warnings"] = result.warnings
    return out


def library_folder_json(folder: store.LibraryFolder) -> dict[str, Any]:
    return {"folder_id": folder.id, "name": folder.name, "workspace_id": folder.workspace_id}


async def own_library_folder(
    session: AsyncSession, ctx: Ctx, folder_id: str
) -> store.LibraryFolder:
    folder = await session.get(store.LibraryFolder, folder_id)
    if folder is None or folder.workspace_id != ctx.workspace_id:
        raise not_found("Library folder", folder_id)
    return folder


@handles("workspaces.library.folders.create")
async def library_folders_create(ctx: Ctx, args: tbl.LibraryFolderCreateArgs) -> dict[str, Any]:
    now = utcnow()
    name = args.name if args.name is not None else f"Clips {now:%Y-%m-%d %H:%M:%S}"
    if not name.strip():
        raise invalid("name", "Must not be empty")
    folder = store.LibraryFolder(
        id=new_id("libfolder_"), workspace_id=ctx.workspace_id, name=name, created_at=now
    )
    async with ctx.sessions() as s, s.begin():
        await reserve_idempotency(s, ctx)
        s.add(folder)
    return library_folder_json(folder)


@handles("workspaces.library.folders.add_item")
async def library_folders_add_item(ctx: Ctx, args: tbl.LibraryAddItemArgs) -> dict[str, Any]:
    kind = args.type or ("image" if args.source is not None else "text")
    if kind == "text" and not (args.text or "").strip():
        raise invalid("text", "Required when type is text")
    if kind == "image" and not args.source:
        raise invalid("source", "Required when type is image")
    item_id = str(uuid.uuid4())
    file_row: File | None = None
    async with ctx.sessions() as s:
        await own_library_folder(s, ctx, args.folder_id)
    image = b""
    if kind == "image" and args.source:
        file_row, image = await library_image(ctx, item_id, args.source)
    async with starting(ctx) as s:  # the image removed if the item is not saved
        if file_row is not None:  # first: no write lock held meanwhile (SQLite)
            await write_files(ctx, s, {file_row.filename: image})
        await own_library_folder(s, ctx, args.folder_id)
        await reserve_idempotency(s, ctx)
        if file_row is not None:
            s.add(file_row)
        s.add(
            store.LibraryItem(
                id=item_id, workspace_id=ctx.workspace_id, folder_id=args.folder_id, kind=kind,
                text=args.text if kind == "text" else None, description=args.description,
                source_url=args.source if kind == "image" else None,
                file_id=file_row.id if file_row else None, created_at=utcnow(),
            )
        )  # fmt: skip
    out: dict[str, Any] = {
        "folder_id": args.folder_id,
        "saved_node_id": item_id,
        "workspace_id": ctx.workspace_id,
    }
    if file_row is not None:
        out["url"] = runs.output_url(ctx.settings, file_row.id)
    return out


LIBRARY_IMAGE_MAX_BYTES = 20 * 1024 * 1024


async def library_image(ctx: Ctx, item_id: str, source: str) -> tuple[File, bytes]:
    """The image at `source` fetched (public https hosts only, no redirects, bounded): its
    file's row and bytes, for the caller to write with the item (`write_files`); a source that
    is not a reachable image is a validation error."""
    try:
        target = await ctx.backend.run_engine().webhooks.check(source)
    except callback_urls.CallbackUrlRefused as exc:
        raise invalid("source", exc.reason) from None
    try:
        data, content_type = await fetch_image(target, LIBRARY_IMAGE_MAX_BYTES)
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.TimeoutException,
            httpcore.UnsupportedProtocol, OSError, TimeoutError, ValueError) as exc:  # fmt: skip
        raise invalid("source", f"Could not fetch an image from it: {exc}") from None
    ext = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}
    file_id = "file_" + item_id.replace("-", "")[:30]
    filename = f"{file_id}.{ext[content_type]}"
    row = File(
        id=file_id, workspace_id=ctx.workspace_id, run_id=item_id, filename=filename,
        content_type=content_type, size=len(data), created_at=utcnow(),
    )  # fmt: skip
    return row, data


async def fetch_image(
    target: callback_urls.CallbackTarget, limit: int, timeout_s: float = 20.0
) -> tuple[bytes, str]:
    """GET target over a connection to its checked addresses: the bytes and their image type
    (read from the bytes, not the headers)."""
    url = httpcore.URL(
        scheme=target.url.raw_scheme, host=target.host.encode("ascii"), port=target.port,
        target=target.url.raw_path,
    )  # fmt: skip
    timeouts = {"connect": timeout_s, "read": timeout_s, "write": timeout_s, "pool": timeout_s}
    chunks: list[bytes] = []
    size = 0
    async with asyncio.timeout(timeout_s):
        async with httpcore.AsyncConnectionPool(
            max_connections=1, retries=0, network_backend=PinnedNetworkBackend(target.addresses)
        ) as pool:
            async with pool.stream(
                "GET", url, headers=[(b"host", target.url.netloc)],
                extensions={"timeout": timeouts},
            ) as response:  # fmt: skip
                if response.status != 200:
                    raise ValueError(f"it answered HTTP {response.status}")
                async for chunk in response.aiter_stream():
                    size += len(chunk)
                    if size > limit:
                        raise ValueError(f"it is larger than {limit} bytes")
                    chunks.append(chunk)
    data = b"".join(chunks)
    kinds = ((b"\x89PNG", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF8", "image/gif"))
    for magic, content_type in kinds:
        if data.startswith(magic):
            return data, content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return data, "image/webp"
    raise ValueError("it is not a PNG, JPEG, GIF or WebP image")


@handles("workspaces.library.folders.delete")
async def library_folders_delete(ctx: Ctx, args: tbl.LibraryFolderArgs) -> dict[str, Any]:
    async with ctx.sessions() as s, s.begin():
        folder = await own_library_folder(s, ctx, args.folder_id)
        await s.execute(
            update(store.LibraryItem)
            .where(store.LibraryItem.folder_id == folder.id)
            .values(folder_id=None)
        )
        await s.delete(folder)
    return {"deleted": True, "folder_id": args.folder_id, "workspace_id": ctx.workspace_id}


# ---------------------------------------------------------------- end of the canvas block


# ---------------------------------------------------------------- assets and actions

UPLOAD_URL_TTL_S = 3600
ACTION_SECONDS = 2.0


def asset_file_id(asset_id: str) -> str:
    return "file_a" + asset_id.removeprefix("asset_")


def asset_url(ctx: Ctx, asset: Asset) -> str:
    """Where the asset's bytes are (or will be, once it is ready) served."""
    return runs.output_url(ctx.settings, asset.file_id or asset_file_id(asset.id))


def staged_upload(asset_id: str) -> str:
    """The file store's name for a signed upload's bytes until assets.complete."""
    return f".upload-{asset_id}"


def asset_detail_json(ctx: Ctx, a: Asset) -> dict[str, Any]:
    return {
        "asset_id": a.id,
        "content_type": a.content_type or a.upload_content_type or "application/octet-stream",
        "created_at": runs.iso(a.created_at),
        "description": None,
        "failure_message": a.failure_message,
        "height": a.height,
        "name": a.name,
        "size_bytes": a.size_bytes,
        "status": a.status,
        "upload_content_type": a.upload_content_type,
        "uploaded_via": a.uploaded_via,
        "url": asset_url(ctx, a) if a.status == "ready" else None,
        "width": a.width,
        "workspace_id": a.workspace_id,
    }


def asset_upload_json(
    ctx: Ctx, a: Asset, token: str | None = None, *, created: bool = False
) -> dict[str, Any]:
    """An asset as assets.create (`created`), complete and retry answer it; with the upload URL
    when a signed upload was just reserved (`token`)."""
    out: dict[str, Any] = {
        "asset_id": a.id,
        "status": a.status,
        "url": asset_url(ctx, a),
        "visibility": "workspace",
        "workspace_id": a.workspace_id,
    }
    if created:
        out["uploaded_via"] = a.uploaded_via
    if a.failure_message is not None:
        out["failure_message"] = a.failure_message
    if token is not None and a.upload_expires_at is not None:
        base = ctx.settings.public_url.rstrip("/")
        out["upload_url"] = f"{base}/api/v1/assets/{a.id}/upload?token={token}"
        out["expires_at"] = runs.iso(a.upload_expires_at)
    return out


def reserve_upload(asset: Asset) -> str:
    """A fresh signed-upload token for the asset (only its hash is kept)."""
    token = secrets.token_urlsafe(24)
    asset.upload_token_hash = hash_key(token)
    asset.upload_expires_at = utcnow() + timedelta(seconds=UPLOAD_URL_TTL_S)
    asset.status = "pending_upload"
    asset.failure_message = None
    return token


async def store_asset_bytes(ctx: Ctx, s: AsyncSession, asset: Asset, data: bytes) -> None:
    """Make the asset ready with `data` (written as its file), or failed saying why."""
    try:
        probed = asset_files.probe(data)
    except asset_files.AssetRefused as exc:
        asset.status, asset.failure_message = "failed", exc.reason
        return
    file_id = asset_file_id(asset.id)
    filename = f"{file_id}.{asset_files.EXTENSIONS[probed.content_type]}"
    await ctx.backend.files.put(filename, data, s)
    s.add(
        File(
            id=file_id,
            workspace_id=asset.workspace_id,
            run_id=asset.id,  # the owner of the bytes: here an asset, not a run
            filename=filename,
            content_type=probed.content_type,
            size=len(data),
        )
    )
    asset.file_id, asset.content_type, asset.size_bytes = file_id, probed.content_type, len(data)
    asset.width, asset.height = probed.width, probed.height
    asset.status, asset.failure_message = "ready", None
    asset.upload_token_hash = asset.upload_expires_at = None


async def own_asset(s: AsyncSession, ctx: Ctx, asset_id: str) -> Asset:
    check_prefix("asset_id", asset_id, "asset_")
    asset = await s.get(Asset, asset_id)
    if asset is None or asset.workspace_id != ctx.workspace_id:
        raise not_found("Asset", asset_id)
    return asset


ASSET_NODE_TYPES = {**canvas.STATIC_OF, "application": "documentNode"}


async def place_asset_node(ctx: Ctx, s: AsyncSession, project: Project, asset: Asset) -> str:
    """The asset put on the project's canvas as a static media node: its node id."""
    content_type = asset.content_type or asset.upload_content_type or "image/"
    node_type = ASSET_NODE_TYPES.get(content_type.split("/")[0], "staticImageBlock")
    data = {"asset_id": asset.id, "label": asset.name}
    return await place_node(ctx, s, project, node_type, data)


@handles("assets.create")
async def assets_create(ctx: Ctx, args: AssetsCreateArgs) -> dict[str, Any]:
    direct: DirectUpload | None = getattr(ctx.request.state, "asset_upload", None)
    data: bytes | None = None
    if direct is not None:
        via, data = "direct", direct.data
    elif args.source == "signed-url":
        via = "signed_url"
    elif re.match(r"^https?://", args.source, re.IGNORECASE):
        via = "url"
        data = await read_input_url(ctx, "source", args.source)
    else:
        raise invalid("source", 'Must be "signed-url" or a public https URL')
    if data is not None:
        try:
            asset_files.probe(data)
        except asset_files.AssetRefused as exc:
            raise invalid("file" if direct else "source", exc.reason) from None
    name = args.file_name or (direct.filename if direct else None)
    if name is None and via == "url":
        name = args.source.split("?")[0].rstrip("/").rsplit("/", 1)[-1] or None
    async with ctx.sessions() as s, s.begin():
        project = await own_project(s, ctx, args.project_id) if args.project_id else None
        await reserve_idempotency(s, ctx)
        asset = Asset(
            id=new_id("asset_"),
            workspace_id=ctx.workspace_id,
            project_id=project.id if project else None,
            name=name,
            folder=args.folder,
            uploaded_via=via,
            source_url=args.source if via == "url" else None,
            upload_content_type=args.content_type or (direct.content_type if direct else None),
            status="pending_upload",
            created_at=utcnow(),
        )
        token = reserve_upload(asset) if data is None else None
        if data is not None:
            await store_asset_bytes(ctx, s, asset, data)
        s.add(asset)
        if project is not None:
            await place_asset_node(ctx, s, project, asset)
    return asset_upload_json(ctx, asset, token, created=True)


@handles("assets.retrieve")
async def assets_retrieve(ctx: Ctx, args: AssetIdArgs) -> dict[str, Any]:
    async with ctx.sessions() as s:
        return asset_detail_json(ctx, await own_asset(s, ctx, args.asset_id))


@handles("assets.list")
async def assets_list(ctx: Ctx, args: AssetsListArgs) -> Items:
    async with ctx.sessions() as s:
        stmt = select(Asset).where(Asset.workspace_id == ctx.workspace_id)
        nodes: dict[str, str] = {}
        if args.project_id:
            project = await own_project(s, ctx, args.project_id)
            row = await s.get(store.Canvas, project.id)
            for node in row.nodes if row is not None else []:
                asset_id = node.get("data", {}).get("asset_id")
                if asset_id:
                    nodes.setdefault(str(asset_id), node["id"])
            stmt = stmt.where(Asset.id.in_(list(nodes)))
        if args.query:
            stmt = stmt.where(func.lower(Asset.name).contains(args.query.lower()))
        rows, cursor = await page(s, stmt, Asset.created_at, Asset.id, args.cursor, args.limit)
    items = []
    for a in rows:
        item = asset_detail_json(ctx, a)
        del item["failure_message"]
        item["created_at"] = runs.ms(a.created_at)
        item["project_id"] = args.project_id or a.project_id
        item["node_id"] = nodes.get(a.id)
        items.append(item)
    return Items(items, cursor)


@handles("assets.complete")
async def assets_complete(ctx: Ctx, args: AssetIdArgs) -> dict[str, Any]:
    async with ctx.sessions() as s, s.begin():
        asset = await own_asset(s, ctx, args.asset_id)
        await reserve_idempotency(s, ctx)
        if asset.status == "pending_upload":
            staged = staged_upload(asset.id)
            data = await ctx.backend.files.read(staged)
            if data is not None:
                await store_asset_bytes(ctx, s, asset, data)
                await ctx.backend.files.delete(staged)
            else:
                asset.status = "failed"
                asset.failure_message = (
                    "No bytes were uploaded to the upload URL before complete; "
                    "call assets.retry for a new upload URL."
                )
                asset.upload_token_hash = None
    return asset_upload_json(ctx, asset)


@handles("assets.retry")
async def assets_retry(ctx: Ctx, args: AssetIdArgs) -> dict[str, Any]:
    async with ctx.sessions() as s, s.begin():
        asset = await own_asset(s, ctx, args.asset_id)
        await reserve_idempotency(s, ctx)
        expired = asset.upload_expires_at is not None and asset.upload_expires_at < utcnow()
        if asset.status == "ready" or (asset.status == "pending_upload" and not expired):
            raise ApiError(
                409,
                "conflict",
                f"Asset {asset.id} is {asset.status}: only a failed or expired upload is retried.",
            )
        asset.uploaded_via = "signed_url"
        token = reserve_upload(asset)
    return asset_upload_json(ctx, asset, token)


@handles("projects.assets.attach_asset")
async def projects_assets_attach(ctx: Ctx, args: ProjectsAssetsAttachArgs) -> dict[str, Any]:
    async with ctx.sessions() as s, s.begin():
        project = await own_project(s, ctx, args.project_id)
        asset = await own_asset(s, ctx, args.asset_id)
        if asset.status != "ready":
            raise invalid("asset_id", f"The asset is {asset.status}; only a ready asset attaches")
        await reserve_idempotency(s, ctx)
        node_id = await place_asset_node(ctx, s, project, asset)
    return {
        "asset_id": asset.id,
        "canvas_url": canvas_url(ctx, project.id),
        "node_id": node_id,
        "project_id": project.id,
    }


def catalog_action(field: str, action_id: str) -> actions.Action:
    action = actions.BY_ID.get(action_id)
    if action is None:
        raise invalid(
            field,
            f"{action_id} is not available in this backend (video and audio actions are not); "
            f"available: {', '.join(actions.BY_ID)}",
        )
    return action


def action_error(exc: actions.ActionInputError) -> ApiError:
    return invalid(exc.field, exc.message)


@handles("actions.list")
async def actions_list(ctx: Ctx, args: NoArgs) -> Items:
    return Items([a.to_json() for a in actions.CATALOG])


@handles("actions.retrieve")
async def actions_retrieve(ctx: Ctx, args: ActionsRetrieveArgs) -> dict[str, Any]:
    action = actions.BY_ID.get(args.action_id)
    if action is None:
        raise not_found("Action", args.action_id)
    return action.to_json()


async def read_input_url(ctx: Ctx, field: str, url: str) -> bytes:
    """The bytes at `url`: this backend's own files (outputs, assets) are read from its file
    store, others fetched from their public address."""
    own = runs.output_url(ctx.settings, "")
    if url.startswith(own):
        file_id = url[len(own) :].split("?")[0]
        async with ctx.sessions() as s:
            row = await s.get(File, file_id) if FILE_ID.match(file_id) else None
        data = await ctx.backend.files.read(row.filename) if row is not None else None
        if data is None:
            raise invalid(field, f"No file at {url}")
        return data
    try:
        data, _ = await asset_files.fetch(
            url,
            allow_private=ctx.settings.callbacks_allow_private,
            resolver=ctx.backend.callback_resolver,
        )
    except asset_files.AssetRefused as exc:
        raise invalid(field, exc.reason) from None
    return data


async def action_outputs(
    ctx: Ctx, action: actions.Action, inputs: list[str], params: dict[str, Any], run_id: str
) -> tuple[list[dict[str, Any]], dict[str, bytes]]:
    """Perform the action now: its outputs and its files' bytes by name, for the caller to
    write with the run (`write_files`); the run shows them when it completes."""
    count = len(inputs)
    if count < action.min_inputs or (action.max_inputs is not None and count > action.max_inputs):
        most = action.max_inputs if action.max_inputs is not None else "any number of"
        raise invalid("inputs", f"{action.action_id} takes {action.min_inputs} to {most} inputs")
    suffix = run_id.removeprefix("run_")
    try:
        if action.kind == "text":
            texts = actions.run_text_action(action, inputs, params)
            return [{"output_id": f"out{suffix}{i}", "type": "text", "text": t}
                    for i, t in enumerate(texts)], {}  # fmt: skip
        blobs = [await read_input_url(ctx, f"inputs[{i}].url", u) for i, u in enumerate(inputs)]
        pngs = await asyncio.to_thread(actions.run_image_action, action, blobs, params)
    except actions.ActionInputError as exc:
        raise action_error(exc) from None
    outputs = []
    made: dict[str, bytes] = {}
    for i, data in enumerate(pngs):
        file_id = f"file_{suffix}{i}"
        filename = f"{file_id}.png"
        made[filename] = data
        outputs.append(
            {"output_id": f"out{suffix}{i}", "type": "imageUrl", "file_id": file_id,
             "filename": filename, "content_type": "image/png", "size": len(data)}
        )  # fmt: skip
    return outputs, made


async def start_action_run(
    ctx: Ctx,
    action: actions.Action,
    inputs: list[str],
    params: dict[str, Any],
    project_id: str,
) -> dict[str, Any]:
    run_id = new_id("run_")
    outputs, blobs = await action_outputs(ctx, action, inputs, params, run_id)
    created, started, due = runs.timeline(ctx.settings, ACTION_SECONDS)
    fail_code, fail_message = runs.plan_failure(ctx.settings, action.name)
    async with starting(ctx) as s:  # its files removed if it does not commit
        await write_files(ctx, s, blobs)  # first: no write lock held meanwhile (SQLite)
        await reserve_idempotency(s, ctx, run_id)
        await charge(s, ctx.workspace_id, action.credits)
        run = Run(
            id=run_id,
            workspace_id=ctx.workspace_id,
            project_id=project_id,
            kind="action",
            model_id=action.action_id,
            media_type=action.kind,
            prompt=action.name,
            params=params,
            inputs={"inputs": inputs, "prepared": outputs},
            status="pending",
            created_at=created,
            started_at=started,
            due_at=due,
            estimated_seconds=ACTION_SECONDS,
            planned_error_code=fail_code,
            planned_error_message=fail_message,
            quoted_cost=action.credits,
            charged_cost=action.credits,
            callback_state="none",
            callback_attempts=0,
        )
        s.add(run)
    return {
        "run_id": run.id,
        "type": "action",
        "charged_cost": action.charged_cost,
        "estimated_seconds": round(ACTION_SECONDS * ctx.settings.speed, 3),
        "poll_url": runs.poll_url(ctx.settings, run.id),
        "project_id": project_id,
        "action": {"action_id": action.action_id},
    }


@handles("actions.run")
async def actions_run(ctx: Ctx, args: ActionsRunArgs) -> dict[str, Any]:
    action = catalog_action("action_id", args.action_id)
    try:
        params = action.check_params(args.params)
    except actions.ActionInputError as exc:
        raise action_error(exc) from None
    if not args.inputs:
        raise invalid("inputs", "Must not be empty")
    values: list[str] = []
    for i, item in enumerate(args.inputs):
        if item.type != action.kind:
            raise invalid(f"inputs[{i}].type", f"{action.action_id} takes {action.kind} inputs")
        value = item.text if action.kind == "text" else item.url
        if value is None:
            raise invalid(f"inputs[{i}]", f"Required: {'text' if action.kind == 'text' else 'url'}")
        values.append(value)
    async with ctx.sessions() as s:
        await own_project(s, ctx, args.project_id)
    return await start_action_run(ctx, action, values, params, args.project_id)


def newest_sources(state: canvas.CanvasState, kind: str, count: int) -> list[str]:
    """The ids of the canvas's newest outputs of `kind` (image or text), newest first: nodes
    of that kind holding media (an asset, a URL) or run at least once (an empty block is not
    an output)."""

    def gives(node: dict[str, Any]) -> bool:
        data, stored = node.get("data", {}), state.node_outputs.get(node["id"], {})
        return bool(data.get("url") or data.get("asset_id") or stored)

    found = [n["id"] for n in reversed(state.nodes) if canvas.media_of(n) == kind and gives(n)]
    return found[:count]


async def node_value(
    ctx: Ctx, s: AsyncSession, state: canvas.CanvasState, node_id: str
) -> str | None:
    """The URL (or text) a source node gives, or None when it has none (yet)."""
    node = state.node(node_id)
    if node is None:
        return None
    data = node.get("data", {})
    if data.get("asset_id"):
        asset = await s.get(Asset, str(data["asset_id"]))
        return asset_url(ctx, asset) if asset is not None and asset.status == "ready" else None
    run_id = state.node_outputs.get(node_id, {}).get("run_id")
    run = await s.get(Run, run_id) if run_id else None
    if run is not None:
        outputs = runs.run_json(ctx.settings, await current(ctx, run)).get("outputs") or []
        return str(outputs[0]["url"]) if outputs else None
    if data.get("url"):
        return str(data["url"])
    stored = state.node_outputs.get(node_id, {})
    text = stored.get("text") or stored.get("url")
    return str(text) if text else None


@handles("projects.actions.create")
async def projects_actions_create(ctx: Ctx, args: ProjectsActionsCreateArgs) -> dict[str, Any]:
    action = catalog_action("action_id", args.action_id)
    try:
        params = action.check_params(args.params)
    except actions.ActionInputError as exc:
        raise action_error(exc) from None
    async with ctx.sessions() as s, s.begin():
        project = await own_project(s, ctx, args.project_id)
        row = await load_canvas(s, project)
        state = canvas_state(ctx, row)
        # Wired like a node dropped after the canvas's newest outputs of the matching kind.
        want = action.min_inputs if action.max_inputs == action.min_inputs else 1
        sources = newest_sources(state, action.kind, max(1, want))[::-1]
        data = {"action_id": action.action_id, "label": action.name, "params": params}
        node_id = state.place(canvas.ACTION_TYPE, data, sources=sources)
        store_canvas(row, state)
        project.last_modified = row.updated_at
    return {
        "action_id": action.action_id,
        "canvas_url": canvas_url(ctx, project.id),
        "node_id": node_id,
        "project_id": project.id,
    }


@handles("projects.actions.run")
async def projects_actions_run(ctx: Ctx, args: ProjectsActionsRunArgs) -> dict[str, Any]:
    async with ctx.sessions() as s:
        project = await own_project(s, ctx, args.project_id)
        row = await s.get(store.Canvas, project.id)
        state = canvas_state(ctx, row) if row is not None else canvas.CanvasState()
        node_id = state.resolve(args.node_id)
        node = state.node(node_id) if node_id else None
        if node is None or node["type"] != canvas.ACTION_TYPE:
            raise not_found("Action node", args.node_id)
        action = catalog_action("node_id", str(node["data"].get("action_id") or ""))
        values = []
        for e in state.edges:
            if e["target"] == node["id"]:
                value = await node_value(ctx, s, state, e["source"])
                if value is not None:
                    values.append(value)
    if not values:
        raise invalid(
            "node_id",
            f"The action node has no {action.kind} input: put one on the canvas first "
            "(projects.assets.attach_asset or a generation) and create the action node after it",
        )
    params = dict(node["data"].get("params") or {})
    answer = await start_action_run(ctx, action, values, params, project.id)
    async with ctx.sessions() as s, s.begin():
        row = await load_canvas(s, project)
        state = canvas_state(ctx, row)
        if state.node(node["id"]) is not None:  # still there: the node shows its latest run
            state.node_outputs[node["id"]] = {"run_id": answer["run_id"]}
            store_canvas(row, state)
    return answer


@dataclass(frozen=True)
class DirectUpload:
    """The `file` part of a multipart POST /assets (the SDK's direct-bytes path)."""

    filename: str | None
    content_type: str | None
    data: bytes


def is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("multipart/form-data")


async def read_asset_form(request: Request) -> dict[str, Any]:
    """The fields of a multipart POST /assets; its `file` part goes to request.state."""
    try:
        form = await request.form(max_files=1, max_fields=20)
    except Exception as exc:
        raise ApiError(
            400, "invalid_json", f"The multipart body could not be read: {exc}"
        ) from None
    data: dict[str, Any] = {}
    for key, value in form.multi_items():
        if isinstance(value, StarletteUpload):
            if key != "file":
                raise invalid(key, "Only the `file` part may hold a file")
            body = await value.read(asset_files.DIRECT_MAX_BYTES + 1)
            if len(body) > asset_files.DIRECT_MAX_BYTES:
                raise invalid("file", 'Larger than 4 MB: use source="signed-url" instead')
            request.state.asset_upload = DirectUpload(value.filename, value.content_type, body)
        else:
            data[key] = value
    if getattr(request.state, "asset_upload", None) is None:
        raise invalid("file", "Required in a multipart request")
    data.setdefault("source", "file")  # the bytes are the source
    return data


def asset_upload_endpoint(backend: Backend) -> Callable[[Request], Awaitable[Response]]:
    """PUT <upload_url>: the bytes of a signed upload, kept until assets.complete."""

    async def upload(request: Request) -> Response:
        asset_id = request.path_params.get("asset_id", "")
        token = request.query_params.get("token", "")
        try:
            async with backend.sessions() as s:
                asset = await s.get(Asset, asset_id) if asset_id.startswith("asset_") else None
            if (
                asset is None
                or asset.upload_token_hash is None
                or not secrets.compare_digest(asset.upload_token_hash, hash_key(token))
            ):
                raise ApiError(403, "forbidden", "This upload URL is not valid.")
            if asset.upload_expires_at is None or asset.upload_expires_at < utcnow():
                raise ApiError(403, "forbidden", "This upload URL has expired; assets.retry.")
            body = bytearray()
            async for chunk in request.stream():
                body += chunk
                if len(body) > asset_files.FETCH_MAX_BYTES:
                    raise ApiError(413, "payload_too_large", "An asset may be at most 50 MB.")
            await backend.files.put(staged_upload(asset.id), bytes(body))
        except ApiError as exc:
            return exc.response()
        return Response(status_code=200)

    return upload


# -- end of assets and actions


# ---------------------------------------------------------------- plumbing


class RateLimiter:
    """A token bucket per API key: `per_minute` requests, refilled evenly."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._buckets: dict[str, tuple[float, float]] = {}

    def check(self, key: str) -> float | None:
        """None if allowed, else the seconds to wait."""
        if self.per_minute <= 0:
            return None
        rate = self.per_minute / 60.0
        now = time.monotonic()
        tokens, last = self._buckets.get(key, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - last) * rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / rate
        self._buckets[key] = (tokens - 1, now)
        return None


def rate_limited(retry_after_s: float) -> ApiError:
    seconds = max(1, math.ceil(retry_after_s))
    return ApiError(
        429,
        "rate_limited",
        f"Too many requests for this API key; retry after {seconds} s.",
        headers={"retry-after": str(seconds)},
    )


KEY_CACHE_S = 5.0  # how long a key that authenticated is trusted without asking the database
KEY_CACHE_MAX = 10_000


class KeyCache:
    """Key hash -> `KeyHolder`, for `ttl_s` after the lookup that found the key, so a request
    does not ask the database who its key belongs to. Only keys that were found are kept: a key
    made a moment ago (by this process or another) works at once. The backend never deletes a
    key; one removed from the database by other means stops working within `ttl_s`."""

    def __init__(self, ttl_s: float = KEY_CACHE_S, max_entries: int = KEY_CACHE_MAX) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, KeyHolder]] = {}

    def get(self, key_hash: str) -> KeyHolder | None:
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        if time.monotonic() >= entry[0]:
            del self._entries[key_hash]
            return None
        return entry[1]

    def put(self, key_hash: str, holder: KeyHolder) -> None:
        if self.ttl_s <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # a bound, not an eviction policy: entries are cheap to refill
        self._entries[key_hash] = (time.monotonic() + self.ttl_s, holder)


async def look_up_key(backend: Backend, key_hash: str) -> KeyHolder | None:
    """The key's workspace id and `workspaces.list` item, in one query."""
    stmt = (
        select(ApiKey.workspace_id, Workspace.name, Workspace.created_at)
        .outerjoin(Workspace, Workspace.id == ApiKey.workspace_id)
        .where(ApiKey.key_hash == key_hash)
    )
    async with backend.sessions() as s:
        row = (await s.execute(stmt)).first()
    if row is None:
        return None
    workspace_id, name, created_at = row
    item = workspace_item(workspace_id, name, created_at) if name is not None else None
    return KeyHolder(workspace_id, item)


def request_header(request: Request, name: bytes) -> str | None:
    """The first value of a request's header, its name in lower case: what Starlette's
    `request.headers.get` answers (ASGI gives names in lower case), without building its
    `Headers` and lower-casing the name on every lookup."""
    for key, value in request.scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def authenticate(backend: Backend, request: Request, keys: KeyCache) -> KeyHolder:
    header = request_header(request, b"authorization") or ""
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(
            401,
            "unauthorized",
            "Missing API key: send the header `Authorization: Bearer sk_...`.",
            headers={"www-authenticate": "Bearer"},
        )
    key_hash = hash_key(token)
    holder = keys.get(key_hash)
    if holder is None:
        holder = await look_up_key(backend, key_hash)
        if holder is None:
            raise ApiError(
                401,
                "invalid_api_key",
                "The API key is not valid. Check FLORA_API_KEY: the development key is the "
                "`dev-key` file in the server's data directory, and `terrarium keys create` "
                "makes another.",
                headers={"www-authenticate": "Bearer"},
            )
        keys.put(key_hash, holder)
    wait = backend.rate_limiter.check(key_hash)
    if wait is not None:
        raise rate_limited(wait)
    return holder


async def read_arguments(method: Method, request: Request) -> dict[str, Any]:
    if method.verb == "GET":
        # no query string, no arguments: no parser made for none
        data = query_arguments(request) if request.scope.get("query_string") else {}
    elif method.full_name == "assets.create" and is_multipart(request):
        data = await read_asset_form(request)
    else:
        data = await body_arguments(request)
    data.update(request.path_params)
    return data


def query_arguments(request: Request) -> dict[str, Any]:
    """A GET's arguments: each query parameter's value (its values, when it repeats)."""
    data: dict[str, Any] = {}
    for key in request.query_params:
        values = request.query_params.getlist(key)
        data[key] = values[0] if len(values) == 1 else values
    return data


async def body_arguments(request: Request) -> dict[str, Any]:
    """A JSON body's arguments (none for an empty body); 400 invalid_json for anything else."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:  # strict JSON: NaN and Infinity are not JSON, and no param may be either
        data = json.loads(raw, parse_constant=_not_json)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"The request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "The request body must be a JSON object.")
    return data


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value; send a finite number")


def listing(method: Method, answer: Items) -> dict[str, Any]:
    """A list handler's items under the table's items key, with `meta` if the method pages."""
    if method.items_key is None:
        raise TypeError(f"{method.full_name} is not a list method in the table")
    body: dict[str, Any] = {method.items_key: answer.items}
    if method.paged:
        body["meta"] = {"next_cursor": answer.next_cursor}
    return body


Endpoint = Callable[[Request], Awaitable[Response]]


# `JSONResponse`'s rendering, its encoder made once (json.dumps makes one per call for these).
_ANSWER_ENCODER = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
)


def json_bytes(body: Any) -> bytes:
    """An answer's JSON, byte for byte as `JSONResponse` renders it."""
    return _ANSWER_ENCODER.encode(body).encode("utf-8")


CHECKED_MAX = 1024  # answers kept as checked
CHECKED_MAX_BYTES = 16 * 1024  # the largest answer kept


class CheckedAnswers:
    """Answers (a method's name and its JSON bytes) that were checked against the method's
    response model and fit: the same bytes again are the same answer, so the check is not made
    again (a poll of a finished run, `workspaces.list`, the catalog's lists). Bounded: at most
    `CHECKED_MAX` answers of up to `CHECKED_MAX_BYTES` each, emptied when full."""

    def __init__(self) -> None:
        self._seen: set[tuple[str, bytes]] = set()

    def holds(self, name: str, content: bytes) -> bool:
        return (name, content) in self._seen

    def add(self, name: str, content: bytes) -> None:
        if len(content) > CHECKED_MAX_BYTES:
            return
        if len(self._seen) >= CHECKED_MAX:
            self._seen.clear()
        self._seen.add((name, content))


def make_endpoint(
    backend: Backend, method: Method, keys: KeyCache, checked: CheckedAnswers | None = None
) -> Endpoint:
    handler = HANDLERS.get(method.full_name)
    checked = checked or CheckedAnswers()

    async def endpoint(request: Request) -> Response:
        try:
            if handler is None:
                raise ApiError(501, "not_implemented", f"{method.full_name} is not implemented.")
            holder = await authenticate(backend, request, keys)
            simulated = request_header(request, SIMULATE_HEADER_NAME)
            if simulated == "rate_limited":
                raise rate_limited(1)
            if simulated == "unknown_error":
                raise RuntimeError("simulated failure requested by the " + SIMULATE_HEADER)
            data = await read_arguments(method, request)
            try:
                args = method.args.model_validate(data)
            except ValidationError as exc:
                raise from_validation(exc, list(method.args.model_fields)) from None
            ctx = Ctx(backend, request, holder.workspace_id, holder=holder)
            for name in method.workspace_args:
                check_own_workspace(ctx, name, getattr(args, name))
            if method.idempotency == "header":
                ctx.idempotency_key = request_header(request, b"idempotency-key") or None
            answer = await handler(ctx, args)
            if ctx.due_now:
                backend.run_engine().settle_soon(ctx.due_now)
            body = listing(method, answer) if isinstance(answer, Items) else answer
            content = json_bytes(body)
            if not checked.holds(method.full_name, content):
                problems = response_problems(method.response, body)  # it must fit the table
                if problems:
                    raise TypeError(f"{method.full_name} answered outside its type: {problems}")
                checked.add(method.full_name, content)
            return Response(content, method.success_status, media_type="application/json")
        except ApiError as exc:
            return exc.response()
        except Exception:
            log.exception("%s failed", method.full_name)
            return envelope_response(
                500,
                "unknown_error",
                "The backend failed while handling this request; it was logged. Retrying may help.",
            )

    endpoint.__name__ = method.full_name.replace(".", "_")
    return endpoint


def file_endpoint(backend: Backend) -> Callable[[Request], Awaitable[Response]]:
    async def serve_file(request: Request) -> Response:
        file_id = request.path_params.get("file_id", "")
        missing = not_found("File", file_id).response()
        if not FILE_ID.match(file_id):
            return missing
        async with backend.sessions() as s:
            row = await s.get(File, file_id)
        if row is None:
            return missing
        served = await files.response(
            backend.files, request, row.filename, row.content_type, etag=f"{row.id}-{row.size}"
        )
        return served or missing

    return serve_file


class TableRoutes:
    """One endpoint per table method, and the key cache they share: what the app routes to, and
    what `InProcess` calls."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.keys = KeyCache()
        self.checked = CheckedAnswers()
        self.endpoints = {
            m.full_name: make_endpoint(backend, m, self.keys, self.checked) for m in SURFACE
        }


InProcessAnswer = tuple[int, dict[str, str], bytes]


class InProcess:
    """The table's endpoints called in-process, for the SDK's requests to the built-in backend
    (`AsyncFlora(in_process=backend.in_process())`): the very endpoint an HTTP request is routed
    to (the key, the arguments read from the query string or the JSON body, the handler, the
    answer checked against the table, the same JSON bytes), without Starlette's routing and ASGI
    messages. What the app's middleware adds is added the same way: a request id, a last-resort
    500 envelope, and the configured latency. Files and uploads go through the app."""

    def __init__(self, routes: TableRoutes) -> None:
        self.endpoints = routes.endpoints
        self.delay_s = max(routes.backend.settings.latency_ms, 0.0) / 1000

    async def __call__(
        self,
        method: Method,
        path: str,
        path_params: dict[str, str],
        query: bytes,
        body: bytes | None,
        headers: list[tuple[bytes, bytes]],
    ) -> InProcessAnswer:
        """(status, lower-case headers, body) of `method`'s request: `path` under /v1, its
        path parameters, the query string, the body, the request's headers (lower-case names)."""
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        request_id = new_request_id()
        sent = body or b""

        async def receive() -> Message:
            return {"type": "http.request", "body": sent, "more_body": False}

        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method.verb,
            "scheme": "http",
            "server": ("backend", 80),
            "root_path": "/api",
            "path": "/api/v1" + path,
            "raw_path": ("/api/v1" + path).encode(),
            "query_string": query,
            "headers": headers,
            "path_params": path_params,
            "state": {"request_id": request_id},
        }
        try:
            response = await self.endpoints[method.full_name](Request(scope, receive))
        except Exception:
            log.exception("unhandled error in the backend")
            response = envelope_response(500, "unknown_error", "The backend failed unexpectedly.")
        answer = {k.decode("latin-1"): v.decode("latin-1") for k, v in response.raw_headers}
        answer["request-id"] = request_id
        return response.status_code, answer, bytes(response.body)


def build_app(backend: Backend, routes: TableRoutes | None = None) -> FastAPI:
    """The backend's app: routes under /v1, meant to be mounted at /api."""
    routes = routes or TableRoutes(backend)
    app = FastAPI(title="Terrarium built-in FLORA backend", docs_url=None, redoc_url=None)
    for method in SURFACE:
        app.add_api_route(
            "/v1" + method.path,
            routes.endpoints[method.full_name],
            methods=[method.verb],
            summary=method.summary,
            deprecated=method.deprecated,
        )
    app.add_api_route("/v1/files/{file_id}", file_endpoint(backend), methods=["GET", "HEAD"])
    app.add_api_route(
        "/v1/assets/{asset_id}/upload", asset_upload_endpoint(backend), methods=["PUT"]
    )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            allowed = allowed_methods(app, request.scope)
            if allowed:
                return envelope_response(
                    405,
                    "method_not_allowed",
                    f"{request.method} is not allowed here; allowed: {', '.join(allowed)}.",
                    headers={"allow": ", ".join(allowed)},
                )
        return envelope_response(
            exc.status_code if exc.status_code >= 400 and exc.status_code != 405 else 404,
            "not_found",
            f"No route {request.method} {request.url.path}.",
        )

    app.add_middleware(RequestIdMiddleware)
    if backend.settings.latency_ms > 0:
        app.add_middleware(LatencyMiddleware, latency_ms=backend.settings.latency_ms)
    return app


def allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    """The methods of the routes whose path matches this request's, counting a route only when
    each id in the path has its kind's shape: `/runs/action` is no run (`/runs/{run_id}`)."""
    allowed: set[str] = set()
    for route in app.routes:
        if not isinstance(route, Route) or not route.methods:
            continue
        match, child = route.matches(scope)
        if match == Match.NONE:
            continue
        params = child.get("path_params", {})
        if all(path_id_fits(name, value) for name, value in params.items()):
            allowed |= route.methods
    return sorted(allowed)


def path_id_fits(name: str, value: object) -> bool:
    kind = ID_KINDS.get(ID_ARGUMENTS.get(name, ""))
    return kind.fits(value) if kind is not None else isinstance(value, str) and bool(value)


_REQUEST_ID_PREFIX = new_id("req_", 14)  # drawn once per process
_request_numbers = itertools.count()


def new_request_id() -> str:
    """`req_` and 24 characters of [0-9a-z]: a part drawn at random once per process, then a
    count (hexadecimal), so every request's id differs without a draw from the OS's generator
    per request (an id names a request in logs; it is not a secret)."""
    return f"{_REQUEST_ID_PREFIX}{next(_request_numbers) % 16**10:010x}"


class RequestIdMiddleware:
    """Adds `request-id: req_...` to every response; a last-resort 500 envelope."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                headers.append((b"request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error in the backend")
            if started:
                raise
            response = envelope_response(500, "unknown_error", "The backend failed unexpectedly.")
            await response(scope, receive, send_with_id)
