"""HTTP routes of the built-in backend, registered by iterating `client_surface.table.SURFACE`:
one handler per method's full name, input validated with the method's own argument model,
answers checked against its response model. The table's flags are applied here, not in each
handler: the arguments it declares workspace ids must name the key's own workspace, and a list
handler answers `Items`, put under the method's items key (with `meta` when the method pages).
Also the file route and the shared plumbing (auth, rate limit, request ids, error envelope)."""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import ValidationError
from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from client_surface.table import (
    ID_ARGUMENTS,
    ID_KINDS,
    SURFACE,
    FeedbackRecordArgs,
    GenerationsCreateArgs,
    GenerationsListArgs,
    Method,
    ModelsListArgs,
    NoArgs,
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
from flora_backend import catalog, runs
from flora_backend.db import rows_matched, utcnow
from flora_backend.errors import ApiError, envelope_response, from_validation, invalid, not_found
from flora_backend.pagination import page
from flora_backend.settings import BackendSettings
from flora_backend.store import (
    ApiKey,
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

if TYPE_CHECKING:
    from flora_backend import Backend

log = logging.getLogger("terrarium.backend")

IDEMPOTENCY_WINDOW_S = 2 * 3600
SIMULATE_HEADER = "terrarium-simulate-error"
FILE_ID = re.compile(r"^file_[a-z0-9]{1,40}$")


@dataclass
class Ctx:
    backend: Backend
    request: Request
    workspace_id: str
    idempotency_key: str | None = None

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


async def reserve_idempotency(session: AsyncSession, ctx: Ctx) -> IdempotencyKey | None:
    """Claim the request's idempotency key inside the caller's transaction (released with it)."""
    key = ctx.idempotency_key
    if not key:
        return None
    now = utcnow()
    row = await session.get(IdempotencyKey, (ctx.workspace_id, key))
    if row is not None:
        if (now - row.created_at).total_seconds() < IDEMPOTENCY_WINDOW_S:
            raise duplicate(key, row.run_id)
        await session.delete(row)
        await session.flush()
    row = IdempotencyKey(workspace_id=ctx.workspace_id, key=key, created_at=now)
    session.add(row)
    try:
        await session.flush()
    except IntegrityError:
        raise duplicate(key, None) from None
    return row


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
    result = await session.execute(
        update(Workspace)
        .where(Workspace.id == workspace_id, Workspace.credits >= cost)
        .values(credits=Workspace.credits - cost)
    )
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
) -> Run:
    """A new run, charged; callback_url must have passed `check_callback` already."""
    idem = await reserve_idempotency(session, ctx)
    await charge(session, ctx.workspace_id, cost)
    seconds = model.seconds(params)
    created, started, due = runs.timeline(ctx.settings, seconds)
    fail_code, fail_message = runs.plan_failure(ctx.settings, prompt)
    run = Run(
        id=new_id("run_"),
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
    session.add(run)
    if idem is not None:
        idem.run_id = run.id
    if project_id:
        await session.execute(
            update(Project).where(Project.id == project_id).values(last_modified=created)
        )
    return run


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
    async with ctx.sessions() as s:
        ws = await s.get(Workspace, ctx.workspace_id)
    if ws is None:  # the key's workspace is gone: this key can use none
        return Items([])
    item = {
        "workspace_id": ws.id,
        "name": ws.name,
        "role": "owner",
        "created_at": runs.ms_or_none(ws.created_at),
    }
    return Items([item])


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
    project = Project(
        id=new_id("prj_"), workspace_id=ws, name=args.name, created_at=now, last_modified=now
    )
    async with ctx.sessions() as s, s.begin():
        s.add(project)
    return project_json(project)


@handles("projects.retrieve")
async def projects_retrieve(ctx: Ctx, args: ProjectsRetrieveArgs) -> dict[str, Any]:
    async with ctx.sessions() as s:
        return project_json(await own_project(s, ctx, args.project_id))


@handles("projects.list_nodes")
async def projects_list_nodes(ctx: Ctx, args: ProjectsListNodesArgs) -> Items:
    await ctx.backend.run_engine().finalize_due(ctx.workspace_id)
    async with ctx.sessions() as s:
        project = await own_project(s, ctx, args.project_id)
        stmt = select(Run).where(Run.project_id == project.id)
        rows, cursor = await page(s, stmt, Run.created_at, Run.id, args.cursor, args.limit)
    nodes = [runs.node_json(ctx.settings, r) for r in rows]
    return Items(nodes, cursor)


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
    async with ctx.sessions() as s, s.begin():
        project = await own_project(s, ctx, args.project_id)
        run = await start_run(
            s,
            ctx,
            kind="generation",
            model=model,
            prompt=args.prompt,
            params=params,
            cost=model.cost(params),
            project_id=project.id,
            callback_url=args.callback_url,
        )
    return run_start_json(ctx, run)


HANDLERS["runs.start_generation"] = generations_create


@handles("generations.retrieve")
async def generations_retrieve(ctx: Ctx, args: RunIdArgs) -> dict[str, Any]:
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
    async with ctx.sessions() as s, s.begin():
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
        )
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
    return runs.run_json(ctx.settings, run)


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
        names = dict((await s.execute(select(Technique.id, Technique.name))).tuples().all())
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


async def authenticate(backend: Backend, request: Request) -> str:
    header = request.headers.get("authorization", "")
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
    async with backend.sessions() as s:
        row = await s.get(ApiKey, key_hash)
    if row is None:
        raise ApiError(
            401,
            "invalid_api_key",
            "The API key is not valid. Check FLORA_API_KEY: the development key is the "
            "`dev-key` file in the server's data directory, and `terrarium keys create` "
            "makes another.",
            headers={"www-authenticate": "Bearer"},
        )
    wait = backend.rate_limiter.check(key_hash)
    if wait is not None:
        raise rate_limited(wait)
    return row.workspace_id


async def read_arguments(method: Method, request: Request) -> dict[str, Any]:
    if method.verb == "GET":
        data: dict[str, Any] = {}
        for key in request.query_params:
            values = request.query_params.getlist(key)
            data[key] = values[0] if len(values) == 1 else values
    else:
        raw = await request.body()
        if not raw.strip():
            data = {}
        else:
            try:  # strict JSON: NaN and Infinity are not JSON, and no param may be either
                data = json.loads(raw, parse_constant=_not_json)
            except (ValueError, UnicodeDecodeError) as exc:
                raise ApiError(
                    400, "invalid_json", f"The request body is not valid JSON: {exc}"
                ) from None
            if not isinstance(data, dict):
                raise ApiError(400, "invalid_json", "The request body must be a JSON object.")
    data.update(request.path_params)
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


def make_endpoint(backend: Backend, method: Method) -> Callable[[Request], Awaitable[Response]]:
    handler = HANDLERS.get(method.full_name)

    async def endpoint(request: Request) -> Response:
        try:
            if handler is None:
                raise ApiError(501, "not_implemented", f"{method.full_name} is not implemented.")
            workspace_id = await authenticate(backend, request)
            simulated = request.headers.get(SIMULATE_HEADER)
            if simulated == "rate_limited":
                raise rate_limited(1)
            if simulated == "unknown_error":
                raise RuntimeError("simulated failure requested by the " + SIMULATE_HEADER)
            data = await read_arguments(method, request)
            try:
                args = method.args.model_validate(data)
            except ValidationError as exc:
                raise from_validation(exc, list(method.args.model_fields)) from None
            ctx = Ctx(backend, request, workspace_id)
            for name in method.workspace_args:
                check_own_workspace(ctx, name, getattr(args, name))
            if method.idempotency == "header":
                ctx.idempotency_key = request.headers.get("idempotency-key") or None
            answer = await handler(ctx, args)
            body = listing(method, answer) if isinstance(answer, Items) else answer
            problems = response_problems(method.response, body)  # the answer must fit the table
            if problems:
                raise TypeError(f"{method.full_name} answered outside its type: {problems}")
            return JSONResponse(body, status_code=method.success_status)
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
        root = backend.files_dir.resolve()
        path = (root / row.filename).resolve()
        if path.parent != root or not path.is_file():
            return missing
        return FileResponse(
            path, media_type=row.content_type, headers={"cache-control": "max-age=86400"}
        )

    return serve_file


def build_app(backend: Backend) -> FastAPI:
    """The backend's app: routes under /v1, meant to be mounted at /api."""
    app = FastAPI(title="Terrarium built-in FLORA backend", docs_url=None, redoc_url=None)
    for method in SURFACE:
        app.add_api_route(
            "/v1" + method.path,
            make_endpoint(backend, method),
            methods=[method.verb],
            summary=method.summary,
            deprecated=method.deprecated,
        )
    app.add_api_route("/v1/files/{file_id}", file_endpoint(backend), methods=["GET", "HEAD"])

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
            exc.status_code if exc.status_code >= 400 else 404,
            "not_found",
            f"No route {request.method} {request.url.path}.",
        )

    app.add_middleware(RequestIdMiddleware)
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


class RequestIdMiddleware:
    """Adds `request-id: req_...` to every response; a last-resort 500 envelope."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_id("req_", 24)
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
