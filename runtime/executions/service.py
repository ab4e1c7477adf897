"""The executions service: the one path every execution takes, whoever asks (HTTP, MCP, the CLI).

    executions = Executions(settings)
    await executions.start()      # FLORA connections, sandbox pool, database, default tenant
    body = await executions.run(tenant, ExecutionRequest(code))       # recorded, answered
    queued = await executions.submit(tenant, request)                 # async; poll get()
    await executions.get(tenant, execution_id) / list(tenant, ...) / cancel(tenant, id)
    await executions.drain(grace_s)  # SIGTERM: refuse new ones, let these finish, fail the rest
    await executions.stop()

It is composed of the limit policy (limits.py), the FLORA connections (connections.py, the only
place an `AsyncFlora` is made), the script runner (runner.py: the pool), admission and the
recorder (recorder.py), this replica's heartbeat (replicas.py), the completion webhooks
(webhooks.py) and the retention prune (retention.py). Every run takes the same
steps: limits resolved, code checked, admitted and recorded, run, finished exactly once.
Errors are domain errors (runtime/errors.py); the adapters translate them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from runtime.db import create_engine, init_db, session_factory
from runtime.errors import (
    InputsTooLarge,
    InvalidCursor,
    InvalidStatusFilter,
    NotCancellable,
    NotFound,
    ShuttingDown,
)  # fmt: skip
from runtime.executions import idempotency
from runtime.executions.connections import FloraConnections
from runtime.executions.limits import LimitPolicy
from runtime.executions.outcome import EXECUTION_STATUSES, ExecuteResponse, Outcome, cancelled
from runtime.executions.recorder import Recorder
from runtime.executions.records import (
    DONE,
    FAILED,
    QUEUED,
    RUNNING,
    SERVER_STOPPED,
    ExecutionRow,
    decode_cursor,
    detail,
    encode_cursor,
    summary,
)  # fmt: skip
from runtime.executions.replicas import Replica
from runtime.executions.request import ExecutionRequest
from runtime.executions.retention import RetentionPrune
from runtime.executions.runner import ScriptRunner, check_code
from runtime.executions.webhooks import WebhookSender, check_url
from runtime.infra.metrics import Metrics
from runtime.settings import Settings
from runtime.tenancy.auth import BearerAuth
from runtime.tenancy.tenants import Tenant, TenantRow, TenantStore
from sandbox.limits import Limits
from sandbox.pool import PoolUnavailable, WarmPool

log = logging.getLogger("terrarium.executions")

# What `GET /v1/executions?status=` may name: a state, or how a finished execution ended.
LIST_FILTERS: tuple[str, ...] = (QUEUED, RUNNING, DONE, FAILED, *EXECUTION_STATUSES)
IDEMPOTENT_POLL_S = 0.2  # how often a repeated request looks whether the first one ended
IDEMPOTENT_WAIT_MARGIN_S = 30.0  # past the longest timeout, for the first one's record
CANCEL_WAIT_S = 10.0  # how long a cancel asked for another replica's execution waits for its end
CANCEL_POLL_S = 0.1  # how often that wait reads the record
DRAIN_WEBHOOKS_S = 5.0  # at the end of a drain, how long the webhooks of what ended may take
NOT_ADMITTING = (
    "this server is shutting down and starts no new executions; retry in a few seconds "
    "(another replica answers)"
)


def shut_down_message(settings: Settings, execution_id: str) -> str:
    return (
        f"execution {execution_id}: the server shut down before the execution finished: it "
        "did not end within the "
        f"{settings.drain_s:g} s drain period (TERRARIUM_DRAIN_S) and was failed; submit it "
        "again (another replica runs it)"
    )


def new_execution_id() -> str:
    return "exe_" + secrets.token_hex(12)


def not_found(execution_id: str) -> NotFound:
    """The one answer for an execution this tenant cannot read, whether it is missing or
    another tenant's: the two are not told apart, so ids cannot be probed."""
    return NotFound(f"no execution {execution_id[:80]!r} for this key")


@dataclass(eq=False)
class _Running:
    """An execution admitted on this replica and not yet ended: what a cancel request reaches.
    `task` is the task running it while it awaits its script (the script runs in the task that
    runs the execution, not in a task of its own); cancelling it there kills the child
    (sandbox/pool.py). `cancels`: how many of the task's cancellations were asked for here,
    for it to take back (`Task.uncancel`) once the script has ended."""

    tenant: Tenant
    task: asyncio.Task[Any] | None = None
    # SQLite: set once its first row is in the database; the answer waits for it.
    first_row: asyncio.Future[None] | None = None
    cancel_requested: bool = False
    shut_down: bool = False  # the server's drain period ended before it did
    cancels: int = 0
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    def cancel(self) -> None:
        self.cancel_requested = True
        self._cancel_task()

    def shut_down_now(self) -> None:
        self.shut_down = True
        self._cancel_task()

    def _cancel_task(self) -> None:
        if self.task is not None and self.task.cancel():
            self.cancels += 1

    def take_back(self, task: asyncio.Task[Any]) -> None:
        """The script has ended: the cancellations asked for here are taken back, so only the
        task's own (the server stopping, the caller gone) remain counted."""
        self.task = None
        while self.cancels:
            self.cancels -= 1
            task.uncancel()

    def end(self) -> None:
        self.ended.set()


class Executions:
    def __init__(self, settings: Settings, *, pool: WarmPool | None = None) -> None:
        self.settings = settings
        self.instance_id = "ins_" + secrets.token_hex(8)
        self.limits = LimitPolicy(settings)
        self.connections = FloraConnections(settings)
        self.runner = ScriptRunner(settings, pool)
        self.metrics = Metrics(self.runner.pool.health)
        self.recorder = Recorder(settings, self.metrics, self.instance_id)
        self.db: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None
        self._tenants: TenantStore | None = None
        self._replica: Replica | None = None
        self._webhooks: WebhookSender | None = None
        self._retention: RetentionPrune | None = None
        self._auth: BearerAuth | None = None
        self.default_tenant: Tenant | None = None
        self.default_key: str | None = None
        self._tasks: dict[str, tuple[Tenant, asyncio.Task[None]]] = {}
        self._running: dict[str, _Running] = {}  # sync and async, until each has ended
        self.draining = False  # SIGTERM: no new execution is admitted
        self._drained = False  # the drain period is over: what is admitted now is failed

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self.connections.start()
        try:
            await self.runner.start()
            await self._start_database()
        except BaseException:
            await self.runner.stop()
            await self.connections.stop()
            raise

    async def _start_database(self) -> None:
        self.db = create_engine(self.settings)
        await init_db(self.db)
        self._sessions = session_factory(self.db)
        self._tenants = TenantStore(self.settings, self._sessions)
        dev = self.connections.dev_credentials
        self.default_tenant, self.default_key = await self._tenants.ensure_default(
            [dev[0]] if dev else []
        )
        self._auth = BearerAuth(self._tenants, self.default_tenant, self.settings.auth)
        await self.recorder.start(
            self.db, self._sessions, self.runner.pool.size_max, await self._whole_pool()
        )
        self._replica = Replica(
            self.settings,
            self._sessions,
            self.metrics,
            self.instance_id,
            on_cancel=self._cancel_requested,
            listen_url=self.db.url if self.db.dialect.name == "postgresql" else None,
        )
        await self._replica.start()
        self._webhooks = WebhookSender(self.settings, self._sessions, self.recorder.flush)
        self._webhooks.start()
        self._retention = RetentionPrune(self.db, self.settings.retention_days)
        self._retention.start()

    async def _whole_pool(self) -> list[str]:
        """On the embedded default (SQLite: one server process), the default tenant may use the
        whole sandbox pool, unless its row sets a concurrency of its own."""
        tenant = self.default_tenant
        if tenant is None or self.db is None or self.db.dialect.name != "sqlite":
            return []
        async with self.sessions() as s:
            own = await s.scalar(select(TenantRow.max_concurrent).where(TenantRow.id == tenant.id))
        return [tenant.id] if own is None else []

    async def stop(self) -> None:
        if self._replica is not None:
            await self._replica.stop_heartbeat()
        if self._retention is not None:
            await self._retention.stop()
        await self._cancel_tasks()
        if self._webhooks is not None:
            await self._webhooks.stop()
        await self.recorder.stop()
        if self._replica is not None:
            await self._replica.retire()
        if self.db is not None:
            await self.db.dispose()
            self.db = None
        await self.runner.stop()
        await self.connections.stop()

    async def _cancel_tasks(self) -> None:
        tasks = [task for _, task in self._tasks.values()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # The parts adapters and operator tools reach, available once started.

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        assert self._sessions is not None, "start() first"
        return self._sessions

    @property
    def tenants(self) -> TenantStore:
        assert self._tenants is not None, "start() first"
        return self._tenants

    @property
    def auth(self) -> BearerAuth:
        assert self._auth is not None, "start() first"
        return self._auth

    @property
    def replica(self) -> Replica:
        assert self._replica is not None, "start() first"
        return self._replica

    @property
    def webhooks(self) -> WebhookSender:
        assert self._webhooks is not None, "start() first"
        return self._webhooks

    @property
    def retention(self) -> RetentionPrune:
        assert self._retention is not None, "start() first"
        return self._retention

    def health(self) -> dict[str, Any]:
        return {**self.runner.health(), "flora": self.connections.mode}

    async def ready(self) -> dict[str, Any]:
        """Readiness: the database answers, and the sandbox pool is alive and can start an
        execution (a child warm, or its zygote still forking)."""
        checks: dict[str, Any] = {}
        try:
            async with self.sessions() as s:
                await s.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
        pool = self.runner.pool.health()
        alive = bool(pool.get("zygote_alive"))
        # At its process limit with no child left warm, a replica cannot start an execution:
        # not ready, so a balancer sends work to the others until the zygote forks again.
        stuck = alive and pool.get("forking") is False and not pool.get("warm")
        checks["pool"] = (
            "cannot fork new children (process limit)" if stuck else "ok" if alive else "not alive"
        )
        checks["ready"] = checks["database"] == "ok" and alive and not stuck and not self.draining
        if self.draining:
            checks["draining"] = True
        checks["instance_id"] = self.instance_id
        return checks

    # ------------------------------------------------------------------ running

    async def run(self, tenant: Tenant, request: ExecutionRequest) -> dict[str, Any]:
        """Run now, recorded, and answer with the execution's body; a request whose
        idempotency key was used before answers that execution's body, once it has ended."""
        self._refuse_if_draining()
        execution_id, earlier = await self._claim(tenant, request)
        if earlier:
            return await self._wait_for(tenant, execution_id)
        limits = await self._accept(tenant, execution_id, request, "sync")
        return (await self._execute(tenant, execution_id, request, limits)).body

    async def submit(self, tenant: Tenant, request: ExecutionRequest) -> dict[str, Any]:
        """Queue an asynchronous run on this replica; its record is readable from any replica.
        A request whose idempotency key was used before answers that execution instead.
        A `webhook_url` is checked here (WebhookUrlRefused names the rule it breaks)."""
        self._refuse_if_draining()
        if request.webhook_url:
            await check_url(request.webhook_url, self.settings, self.webhooks.resolver)
        execution_id, earlier = await self._claim(tenant, request)
        if earlier:
            try:
                record = await self.get(tenant, execution_id)
            except NotFound:  # claimed an instant ago, its row not yet written
                return {"execution_id": execution_id, "state": QUEUED, "status": None}
            return {k: record[k] for k in ("execution_id", "state", "status")}
        limits = await self._accept(tenant, execution_id, request, "async")
        task = asyncio.create_task(
            self._run_queued(tenant, execution_id, request, limits), name=execution_id
        )
        self._tasks[execution_id] = (tenant, task)

        def forget(_task: asyncio.Task[None]) -> None:
            self._tasks.pop(execution_id, None)
            # A task cancelled before it started never ran its own finally.
            self.recorder.fail(tenant, execution_id, SERVER_STOPPED)
            running = self._running.pop(execution_id, None)
            if running is not None:
                running.end()

        task.add_done_callback(forget)
        return {"execution_id": execution_id, "state": QUEUED, "status": None}

    async def cancel(self, tenant: Tenant, execution_id: str) -> dict[str, Any]:
        """Stop a queued or running execution, synchronous or not: its child is killed and it
        is recorded with status `cancelled` (a synchronous caller is answered with that body).
        One another replica runs (PostgreSQL) is cancelled by that replica: the request is
        recorded and announced, and its record is answered once it has ended, or after
        CANCEL_WAIT_S still running, with a `message` saying the cancel was requested. An
        ended one is NotCancellable; another tenant's id is not found, as a missing one is."""
        running = self._running.get(execution_id)
        if running is not None and running.tenant.id == tenant.id:
            running.cancel()
            await running.ended.wait()
            return await self.get(tenant, execution_id)
        record = await self.get(tenant, execution_id)  # not found
        if record["state"] in (QUEUED, RUNNING) and self.replica.listen_url is not None:
            await self.replica.reap()  # a dead replica's executions are failed, not waited for
            if await self.replica.request_cancel(tenant.id, execution_id) is not None:
                return await self._wait_cancelled(tenant, execution_id)
        raise NotCancellable(
            f"execution {execution_id[:80]!r} is not queued or running (it has ended)"
            if self.replica.listen_url is not None
            else f"execution {execution_id[:80]!r} is not queued or running on this server "
            "(it has ended, or another replica runs it)",
            "execution_id",
        )

    async def _wait_cancelled(self, tenant: Tenant, execution_id: str) -> dict[str, Any]:
        """The record of an execution whose cancel was requested of another replica, once it
        has ended, or after CANCEL_WAIT_S as it stands, with a message."""
        deadline = time.monotonic() + CANCEL_WAIT_S
        while True:
            record = await self.get(tenant, execution_id)
            if record["state"] in (DONE, FAILED):
                return record
            if time.monotonic() > deadline:
                return {
                    **record,
                    "message": "cancel requested: the replica running this execution stops "
                    "it; read the record later by its id",
                }
            await asyncio.sleep(CANCEL_POLL_S)

    def _cancel_requested(self, execution_id: str) -> None:
        """Another replica asked to cancel an execution: cancel it if it is one of this
        replica's (the request was checked against its tenant where it was made)."""
        running = self._running.get(execution_id)
        if running is not None and not running.cancel_requested:
            running.cancel()

    def _refuse_if_draining(self) -> None:
        if self.draining:
            raise ShuttingDown(NOT_ADMITTING)

    async def _accept(
        self, tenant: Tenant, execution_id: str, request: ExecutionRequest, mode: str
    ) -> Limits:
        """Limits settled, code checked, admitted and recorded: what every run starts with."""
        try:
            limits = self.limits.resolve(tenant, request.limits)
            check_code(request.code, limits)
            self._check_inputs(request.inputs)
            self._refuse_if_draining()
            first_row = await self.recorder.admit(tenant, execution_id, request, limits, mode)
            if self._drained:  # admitted from the queue after the drain period: failed at once
                message = shut_down_message(self.settings, execution_id)
                self.recorder.fail(tenant, execution_id, message)
                raise ShuttingDown(message)
        except BaseException:
            if request.idempotency_key:  # never admitted: the retry may run
                await idempotency.release(
                    self.sessions, tenant.id, request.idempotency_key, execution_id
                )
            raise
        self._running[execution_id] = _Running(tenant, first_row=first_row)
        return limits

    async def _claim(self, tenant: Tenant, request: ExecutionRequest) -> tuple[str, bool]:
        """The new execution's id, or the one the request's idempotency key already started
        (then True): the key is claimed for the new one first, so only one request runs."""
        execution_id = new_execution_id()
        if not request.idempotency_key:
            return execution_id, False
        earlier = await idempotency.claim(self.sessions, tenant.id, request, execution_id)
        return (earlier, True) if earlier is not None else (execution_id, False)

    async def _wait_for(self, tenant: Tenant, execution_id: str) -> dict[str, Any]:
        """The body of an execution started by an earlier request with the same key, when it
        has ended (it may still run, here or on another replica)."""
        deadline = time.monotonic() + self.settings.max_timeout_s + IDEMPOTENT_WAIT_MARGIN_S
        while True:
            try:
                record = await self.get(tenant, execution_id)
            except NotFound:
                record = None  # claimed, its first row not yet written
            if record is not None and record["state"] in (DONE, FAILED):
                return {k: record[k] for k in ExecuteResponse.model_fields if k in record}
            if time.monotonic() > deadline:
                raise NotCancellable(
                    f"execution {execution_id} with this idempotency key has not ended; read "
                    "it later by its id",
                    "idempotency_key",
                )
            await asyncio.sleep(IDEMPOTENT_POLL_S)

    def _check_inputs(self, inputs: dict[str, Any] | None) -> None:
        """Refuse `inputs` over `max_inputs_bytes` as JSON, before anything is admitted."""
        if not inputs:
            return
        cap = self.settings.max_inputs_bytes
        try:
            size = len(json.dumps(inputs, ensure_ascii=False, separators=(",", ":")).encode())
        except (TypeError, ValueError, UnicodeEncodeError):
            return  # not JSON: the sandbox's own encoding refuses it, with its reason
        if size > cap:
            raise InputsTooLarge(
                f"inputs are {size} bytes as JSON, over the {cap}-byte limit "
                "(TERRARIUM_MAX_INPUTS_BYTES); pass large data by reference (an id, a URL)",
                "inputs",
            )

    async def _run_queued(
        self, tenant: Tenant, execution_id: str, request: ExecutionRequest, limits: Limits
    ) -> None:
        self.recorder.started(execution_id)
        try:
            with contextlib.suppress(Exception):
                await self._execute(tenant, execution_id, request, limits)
        finally:
            if request.webhook_url and self._webhooks is not None:
                self._webhooks.kick()  # its final state is queued: deliver the record

    async def _execute(
        self, tenant: Tenant, execution_id: str, request: ExecutionRequest, limits: Limits
    ) -> Outcome:
        running = self._running.get(execution_id) or _Running(tenant)
        started = time.perf_counter()
        recorded = False
        try:
            flora, tenant_secrets = self.connections.for_tenant(tenant, self.tenants.flora_key)
            if running.shut_down:  # the drain period ended while it was queued
                raise ShuttingDown(shut_down_message(self.settings, execution_id))
            if running.cancel_requested:  # cancelled while it was queued
                outcome = cancelled(execution_id, 0.0)
            else:
                # The script runs in this task (no task of its own: one task and one loop turn
                # fewer per execution); a cancel asked for meanwhile cancels this task, and is
                # taken back once the script has ended.
                current = asyncio.current_task()
                assert current is not None
                own_before = current.cancelling()
                running.task = current
                try:
                    outcome = await self.runner.run(
                        execution_id,
                        request.code,
                        inputs=request.inputs,
                        limits=limits,
                        flora=flora,
                        workspaces=frozenset(tenant.workspaces) if tenant.workspaces else None,
                        secrets=tenant_secrets,
                        max_cost_usd=(
                            request.max_cost_usd
                            if request.max_cost_usd is not None
                            else tenant.max_cost_usd
                        ),
                        transport=request.transport,
                    )
                except asyncio.CancelledError:
                    running.take_back(current)
                    if current.cancelling() > own_before:
                        raise  # this task's own cancellation (server stopping, caller gone)
                    if running.shut_down:
                        raise ShuttingDown(shut_down_message(self.settings, execution_id)) from None
                    if not running.cancel_requested:
                        raise
                    elapsed_ms = (time.perf_counter() - started) * 1000
                    outcome = cancelled(execution_id, elapsed_ms)
                finally:
                    running.take_back(current)
            recorded = self.recorder.finish(tenant, execution_id, outcome)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                reason = SERVER_STOPPED
            elif isinstance(exc, PoolUnavailable):  # the pool's own words: why no child came
                reason = str(exc) or type(exc).__name__
            else:
                reason = str(getattr(exc, "message", None) or type(exc).__name__)
            self.recorder.fail(tenant, execution_id, reason)
            if self.recorder.write_before_answer:
                await asyncio.shield(self.recorder.flush())
            elif running.first_row is not None and not running.first_row.done():
                await asyncio.shield(running.first_row)
            raise
        finally:
            # Whatever happened above (a body nobody expected, a cancellation anywhere), the
            # execution does not stay admitted.
            self.recorder.fail(tenant, execution_id, "the runtime failed while it ran")
            self._running.pop(execution_id, None)
            running.end()
        try:
            if self.recorder.write_before_answer:
                await self.recorder.flush()
            elif running.first_row is not None and not running.first_row.done():
                await asyncio.shield(running.first_row)  # written while it ran, as a rule
        finally:
            if recorded:  # once the answer is sent, where a door waits for it
                self.recorder.observe_after_answer(tenant, execution_id, outcome)
        return outcome

    # ------------------------------------------------------------------ draining

    async def drain(self, grace_s: float) -> int:
        """Stop admitting (new requests are refused with `ShuttingDown`, readiness says no), let
        the executions running here finish for at most `grace_s`, then fail the rest, saying
        the server shut down (a synchronous caller is answered `ShuttingDown`). Returns how many
        were failed. The webhooks of what ended get a few seconds to go out."""
        self.draining = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_s
        while self._running and loop.time() < deadline:
            waits = [r.ended.wait() for r in list(self._running.values())]
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(deadline):
                    await asyncio.gather(*waits)
        self._drained = True
        left = list(self._running.values())
        for running in left:
            running.shut_down_now()
        if left:
            await asyncio.gather(*(r.ended.wait() for r in left))
            log.warning("executions failed at shutdown", extra={"count": len(left)})
        await self.recorder.flush()
        if self._webhooks is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(DRAIN_WEBHOOKS_S):
                    await self._webhooks.start_due()
                    await self._webhooks.idle()
        return len(left)

    # ------------------------------------------------------------------ reading records

    async def get(self, tenant: Tenant, execution_id: str) -> dict[str, Any]:
        await self.recorder.flush()
        async with self.sessions() as s:
            row = await s.get(ExecutionRow, execution_id)
        if row is None or row.tenant_id != tenant.id:
            raise not_found(execution_id)
        return detail(row)

    async def list(
        self,
        tenant: Tenant,
        *,
        status: str | None = None,
        since: datetime | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> dict[str, Any]:
        if status and status not in LIST_FILTERS:
            raise InvalidStatusFilter(
                f"unknown status {status[:80]!r}; the statuses are: {', '.join(LIST_FILTERS)}",
                "status",
            )
        rows, next_cursor = await self.page_rows(tenant.id, status, since, cursor, limit)
        return {"data": [summary(r) for r in rows], "next_cursor": next_cursor}

    async def page_rows(
        self,
        tenant_id: str | None,
        status: str | None,
        since: datetime | None,
        cursor: str | None,
        limit: int,
    ) -> tuple[Sequence[ExecutionRow], str | None]:
        """One page of execution rows, newest first: one tenant's, or every tenant's (None, for
        the operator's views); and the cursor of the next page, if there is one."""
        q = select(ExecutionRow)
        if tenant_id is not None:
            q = q.where(ExecutionRow.tenant_id == tenant_id)
        if status:
            if status in (QUEUED, RUNNING, DONE, FAILED):
                q = q.where(ExecutionRow.state == status)
            else:
                q = q.where(ExecutionRow.status == status, ExecutionRow.state == DONE)
        if since is not None:
            q = q.where(ExecutionRow.created_at >= since)
        if cursor:
            try:
                created, ident = decode_cursor(cursor)
            except Exception:
                raise InvalidCursor("cursor is not valid", "cursor") from None
            q = q.where(
                or_(
                    ExecutionRow.created_at < created,
                    (ExecutionRow.created_at == created) & (ExecutionRow.id < ident),
                )
            )
        q = q.order_by(ExecutionRow.created_at.desc(), ExecutionRow.id.desc()).limit(limit + 1)
        await self.recorder.flush()
        async with self.sessions() as s:
            rows = list((await s.execute(q)).scalars().all())
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, encode_cursor(rows[-1]) if more and rows else None
