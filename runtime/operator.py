"""What an operator needs around `Terrarium.execute`: tenants, admission, records, async runs,
replica heartbeats and metrics.

    operator = Operator(terrarium)
    await operator.start()            # migrate, default tenant, heartbeat, reap dead replicas
    tenant = await operator.authenticate("trk_...")
    body = await operator.run(tenant, code, inputs=..., limits=...)         # recorded
    summary = await operator.submit(tenant, code, ...)                      # async, 202
    await operator.stop()

Admission counts a tenant's running executions and its executions of the last minute in the
database, in one transaction that first updates the tenant's row (a row lock on PostgreSQL, the
write lock on SQLite), so the limits hold across replicas sharing one database.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import secrets
import socket
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from client_surface import AsyncFlora
from runtime.db import create_engine, init_db, session_factory, utcnow
from runtime.metrics import Metrics
from runtime.records import (
    ACTIVE_STATES,
    DONE,
    FAILED,
    QUEUED,
    RUNNING,
    SERVER_STOPPED,
    ExecutionRow,
    InstanceRow,
    decode_cursor,
    detail,
    encode_cursor,
    summary,
)
from runtime.service import LimitRequest, RequestRejected, Terrarium, new_execution_id
from runtime.tenants import Tenant, TenantRow, TenantStore
from sandbox.limits import Limits

log = logging.getLogger("terrarium.executions")


class Refused(RequestRejected):
    """Over a tenant's concurrency or rate limit: 429, with when to retry."""

    def __init__(self, code: str, message: str, retry_after: float) -> None:
        super().__init__(429, code, message)
        self.retry_after = max(1, int(retry_after + 0.999))


class NotYours(RequestRejected):
    def __init__(self) -> None:
        super().__init__(403, "forbidden", "this execution belongs to another tenant")


class Operator:
    def __init__(self, terrarium: Terrarium) -> None:
        self.terrarium = terrarium
        self.settings = terrarium.settings
        self.instance_id = "ins_" + secrets.token_hex(8)
        self.metrics = Metrics(lambda: self.terrarium.pool.health())
        self.db: AsyncEngine | None = None
        self.sessions: Any = None
        self.tenants: TenantStore | None = None
        self.default_tenant: Tenant | None = None
        self.default_key: str | None = None
        self._floras: dict[str, AsyncFlora] = {}
        self._tasks: dict[str, asyncio.Task] = {}
        self._heartbeat: asyncio.Task | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self.db = create_engine(self.settings)
        await init_db(self.db)
        self.sessions = session_factory(self.db)
        self.tenants = TenantStore(self.settings, self.sessions)
        workspaces = []
        if self.terrarium.dev_credentials is not None:
            workspaces = [self.terrarium.dev_credentials[0]]
        self.default_tenant, self.default_key = await self.tenants.ensure_default(workspaces)
        now = utcnow()
        async with self.sessions() as s, s.begin():
            s.add(
                InstanceRow(
                    id=self.instance_id,
                    host=socket.gethostname()[:200],
                    pid=os.getpid(),
                    started_at=now,
                    heartbeat_at=now,
                )
            )
        await self.reap()
        self._heartbeat = asyncio.create_task(self._beat(), name="terrarium-heartbeat")

    async def stop(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._heartbeat
        for task in list(self._tasks.values()):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        if self.sessions is not None:
            with contextlib.suppress(Exception):
                now = utcnow()
                async with self.sessions() as s, s.begin():
                    await self._fail_where(s, ExecutionRow.instance_id == self.instance_id, now)
                    await s.execute(
                        update(InstanceRow)
                        .where(InstanceRow.id == self.instance_id)
                        .values(stopped_at=now)
                    )
        for flora in self._floras.values():
            with contextlib.suppress(Exception):
                await flora.aclose()
        self._floras.clear()
        if self.db is not None:
            await self.db.dispose()
            self.db = None

    async def ready(self) -> dict[str, Any]:
        """Readiness: the database answers and the sandbox pool is alive."""
        checks: dict[str, Any] = {}
        try:
            async with self.sessions() as s:
                await s.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
        alive = bool(self.terrarium.pool.health().get("zygote_alive"))
        checks["pool"] = "ok" if alive else "not alive"
        checks["ready"] = checks["database"] == "ok" and alive
        checks["instance_id"] = self.instance_id
        return checks

    # ------------------------------------------------------------------ heartbeat and reaping

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_interval_s)
            try:
                async with self.sessions() as s, s.begin():
                    await s.execute(
                        update(InstanceRow)
                        .where(InstanceRow.id == self.instance_id)
                        .values(heartbeat_at=utcnow())
                    )
                await self.reap()
            except Exception:
                log.exception("heartbeat failed", extra={"instance_id": self.instance_id})

    async def _fail_where(self, s: Any, condition: Any, now: datetime) -> int:
        error = {
            "type": "ServerStopped",
            "message": f"{SERVER_STOPPED} before the execution finished",
            "line": None,
            "source": None,
            "traceback": None,
            "hint": "submit it again; if it made client calls, check what they created first",
        }
        result = await s.execute(
            update(ExecutionRow)
            .where(ExecutionRow.state.in_(ACTIVE_STATES), condition)
            .values(state=FAILED, status="error", error=error, finished_at=now)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount or 0

    async def reap(self) -> int:
        """Fail executions owned by replicas that stopped, or whose heartbeat went stale."""
        now = utcnow()
        stale = now - timedelta(seconds=self.settings.instance_stale_s)
        dead = select(InstanceRow.id).where(
            or_(InstanceRow.heartbeat_at < stale, InstanceRow.stopped_at.is_not(None))
        )
        known = select(InstanceRow.id)
        async with self.sessions() as s, s.begin():
            count = await self._fail_where(
                s,
                (ExecutionRow.instance_id != self.instance_id)
                & (ExecutionRow.instance_id.in_(dead) | ExecutionRow.instance_id.not_in(known)),
                now,
            )
        if count:
            self.metrics.executions.labels(status="failed").inc(count)
            log.warning("failed executions of stopped replicas", extra={"count": count})
        return count

    # ------------------------------------------------------------------ tenants

    async def authenticate(self, key: str) -> Tenant | None:
        assert self.tenants is not None, "start() first"
        return await self.tenants.authenticate(key)

    def limits_for(self, tenant: Tenant, request: LimitRequest) -> Limits:
        """The request's limits, refused above the operator's or the tenant's maxima."""
        t = self.terrarium
        maxima = replace(
            t.maxima,
            timeout_s=min(t.maxima.timeout_s, tenant.max_timeout_s or t.maxima.timeout_s),
            memory_mb=min(t.maxima.memory_mb, tenant.max_memory_mb or t.maxima.memory_mb),
            max_calls=min(t.maxima.max_calls, tenant.max_calls or t.maxima.max_calls),
        )
        defaults = replace(
            t.defaults,
            timeout_s=min(t.defaults.timeout_s, maxima.timeout_s),
            memory_mb=min(t.defaults.memory_mb, maxima.memory_mb),
            max_calls=min(t.defaults.max_calls, maxima.max_calls),
        )
        return t.limits_for(request, defaults, maxima)

    def _flora_for(self, tenant: Tenant) -> tuple[AsyncFlora, tuple[str, ...]]:
        if tenant.flora_kind == "server":
            assert self.terrarium.flora is not None
            return self.terrarium.flora, ()
        key = self.tenants.flora_key(tenant) if self.tenants else None
        if not key:
            raise RequestRejected(503, "flora_unconfigured", "this tenant has no FLORA key")
        flora = self._floras.get(tenant.id)
        if flora is None:
            if tenant.flora_kind == "builtin":
                if self.terrarium.backend is None:
                    raise RequestRejected(
                        503,
                        "flora_unconfigured",
                        "this tenant uses the built-in backend, which this server does not run "
                        "(FLORA_API_KEY is set)",
                    )
                flora = AsyncFlora(
                    api_key=key,
                    base_url="http://backend/api/v1",
                    transport=self.terrarium.backend.transport(),
                )
            else:
                flora = AsyncFlora(api_key=key, base_url=self.settings.flora_base_url)
            self._floras[tenant.id] = flora
        return flora, (key,)

    # ------------------------------------------------------------------ admission

    async def _admit(
        self, tenant: Tenant, code: str, intent: str | None, limits: Limits, mode: str
    ) -> str:
        execution_id = new_execution_id()
        now = utcnow()
        async with self.sessions() as s, s.begin():
            # The row lock that serializes this tenant's admissions across replicas.
            await s.execute(
                update(TenantRow).where(TenantRow.id == tenant.id).values(admitted_at=now)
            )
            active = (
                await s.execute(
                    select(func.count())
                    .select_from(ExecutionRow)
                    .where(
                        ExecutionRow.tenant_id == tenant.id,
                        ExecutionRow.state.in_(ACTIVE_STATES),
                    )
                )
            ).scalar_one()
            if active >= tenant.max_concurrent:
                self.metrics.rejected.labels(reason="concurrency").inc()
                raise Refused(
                    "too_many_executions",
                    f"this key already has {active} executions running, its limit is "
                    f"{tenant.max_concurrent}; retry when one finishes",
                    1,
                )
            window = now - timedelta(seconds=60)
            recent, oldest = (
                await s.execute(
                    select(func.count(), func.min(ExecutionRow.created_at)).where(
                        ExecutionRow.tenant_id == tenant.id, ExecutionRow.created_at >= window
                    )
                )
            ).one()
            if recent >= tenant.per_minute:
                self.metrics.rejected.labels(reason="rate").inc()
                wait = 60 - (now - oldest).total_seconds() if oldest else 1
                raise Refused(
                    "rate_limited",
                    f"this key started {recent} executions in the last minute, its limit is "
                    f"{tenant.per_minute}",
                    wait,
                )
            s.add(
                ExecutionRow(
                    id=execution_id,
                    tenant_id=tenant.id,
                    instance_id=self.instance_id,
                    mode=mode,
                    state=RUNNING if mode == "sync" else QUEUED,
                    intent=intent,
                    code=code,
                    code_sha256=hashlib.sha256(code.encode()).hexdigest(),
                    limits=limits.to_json(),
                    stdout="",
                    result_truncated=False,
                    stdout_truncated=False,
                    duration_ms=0.0,
                    cpu_ms=0.0,
                    call_count=0,
                    created_at=now,
                    started_at=now if mode == "sync" else None,
                )
            )
        return execution_id

    # ------------------------------------------------------------------ running

    async def _execute(
        self,
        tenant: Tenant,
        execution_id: str,
        code: str,
        inputs: dict[str, Any] | None,
        limits: Limits,
    ) -> dict[str, Any]:
        try:
            flora, tenant_secrets = self._flora_for(tenant)
            body = await self.terrarium.execute(
                code,
                inputs=inputs,
                limits=limits,
                execution_id=execution_id,
                flora=flora,
                workspaces=frozenset(tenant.workspaces) if tenant.workspaces else None,
                secrets=tenant_secrets,
            )
        except BaseException as exc:
            reason = (
                SERVER_STOPPED
                if isinstance(exc, asyncio.CancelledError)
                else getattr(exc, "message", None) or type(exc).__name__
            )
            await asyncio.shield(self._record_failure(tenant, execution_id, reason))
            raise
        await self._record(tenant, execution_id, body)
        return body

    async def _record(self, tenant: Tenant, execution_id: str, body: dict[str, Any]) -> None:
        result, truncated = body.get("result"), False
        try:
            if len(json.dumps(result)) > self.settings.record_result_bytes:
                result, truncated = None, True
        except (TypeError, ValueError):
            result, truncated = None, True
        stdout = body.get("stdout") or ""
        cap = self.settings.record_stdout_bytes
        stdout_cut = len(stdout.encode()) > cap
        if stdout_cut:
            stdout = stdout.encode()[:cap].decode(errors="ignore")
        calls = body.get("calls") or []
        async with self.sessions() as s, s.begin():
            await s.execute(
                update(ExecutionRow)
                .where(ExecutionRow.id == execution_id, ExecutionRow.state.in_(ACTIVE_STATES))
                .values(
                    state=DONE,
                    status=body.get("status"),
                    result=result,
                    result_truncated=truncated,
                    stdout=stdout,
                    stdout_truncated=bool(body.get("stdout_truncated")) or stdout_cut,
                    error=body.get("error"),
                    calls=calls,
                    call_count=len(calls),
                    warnings=body.get("warnings") or [],
                    duration_ms=float(body.get("duration_ms") or 0.0),
                    cpu_ms=float(body.get("cpu_ms") or 0.0),
                    finished_at=utcnow(),
                )
            )
        self.metrics.observe(body)
        log.info(
            "execution finished",
            extra={
                "execution_id": execution_id,
                "tenant": tenant.name,
                "status": body.get("status"),
                "duration_ms": round(float(body.get("duration_ms") or 0.0), 3),
                "calls": len(calls),
            },
        )

    async def _record_failure(self, tenant: Tenant, execution_id: str, reason: str) -> None:
        error = {"type": "ExecutionFailed", "message": reason, "line": None, "source": None,
                 "traceback": None, "hint": None}  # fmt: skip
        with contextlib.suppress(Exception):
            async with self.sessions() as s, s.begin():
                await s.execute(
                    update(ExecutionRow)
                    .where(ExecutionRow.id == execution_id, ExecutionRow.state.in_(ACTIVE_STATES))
                    .values(state=FAILED, status="error", error=error, finished_at=utcnow())
                )
        self.metrics.executions.labels(status="failed").inc()
        log.warning(
            "execution failed",
            extra={"execution_id": execution_id, "tenant": tenant.name, "reason": reason},
        )

    async def _accept(
        self, tenant: Tenant, code: str, limits: Limits | None, intent: str | None, mode: str
    ) -> tuple[Limits, str]:
        """Limits settled, code checked, admitted and recorded: what every run starts with."""
        limits = limits or self.limits_for(tenant, LimitRequest())
        self.terrarium.check_code(code, limits)
        return limits, await self._admit(tenant, code, intent, limits, mode)

    async def run(
        self,
        tenant: Tenant,
        code: str,
        *,
        inputs: dict[str, Any] | None = None,
        limits: Limits | None = None,
        intent: str | None = None,
    ) -> dict[str, Any]:
        """Run now, recorded: the one call HTTP and MCP handlers make for a synchronous run."""
        limits, execution_id = await self._accept(tenant, code, limits, intent, "sync")
        return await self._execute(tenant, execution_id, code, inputs, limits)

    async def submit(
        self,
        tenant: Tenant,
        code: str,
        *,
        inputs: dict[str, Any] | None = None,
        limits: Limits | None = None,
        intent: str | None = None,
    ) -> dict[str, Any]:
        """Queue an asynchronous run on this replica; its record is readable from any replica."""
        limits, execution_id = await self._accept(tenant, code, limits, intent, "async")
        task = asyncio.create_task(
            self._run_async(tenant, execution_id, code, inputs, limits), name=execution_id
        )
        self._tasks[execution_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(execution_id, None))
        return {"execution_id": execution_id, "state": QUEUED, "status": None}

    async def _run_async(
        self,
        tenant: Tenant,
        execution_id: str,
        code: str,
        inputs: dict[str, Any] | None,
        limits: Limits,
    ) -> None:
        async with self.sessions() as s, s.begin():
            await s.execute(
                update(ExecutionRow)
                .where(ExecutionRow.id == execution_id, ExecutionRow.state == QUEUED)
                .values(state=RUNNING, started_at=utcnow())
            )
        with contextlib.suppress(Exception):
            await self._execute(tenant, execution_id, code, inputs, limits)

    # ------------------------------------------------------------------ reading records

    async def get(self, tenant: Tenant, execution_id: str) -> dict[str, Any]:
        async with self.sessions() as s:
            row = await s.get(ExecutionRow, execution_id)
        if row is None:
            raise RequestRejected(404, "not_found", f"no execution {execution_id!r}")
        if row.tenant_id != tenant.id:
            raise NotYours()
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
        q = select(ExecutionRow).where(ExecutionRow.tenant_id == tenant.id)
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
                raise RequestRejected(
                    422, "invalid_cursor", "cursor is not valid", "cursor"
                ) from None
            q = q.where(
                or_(
                    ExecutionRow.created_at < created,
                    (ExecutionRow.created_at == created) & (ExecutionRow.id < ident),
                )
            )
        q = q.order_by(ExecutionRow.created_at.desc(), ExecutionRow.id.desc()).limit(limit + 1)
        async with self.sessions() as s:
            rows = list((await s.execute(q)).scalars().all())
        more = len(rows) > limit
        rows = rows[:limit]
        return {
            "data": [summary(r) for r in rows],
            "next_cursor": encode_cursor(rows[-1]) if more and rows else None,
        }
