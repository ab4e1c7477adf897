"""What an operator needs around `Terrarium.execute`: tenants, admission, records, async runs,
replica heartbeats and metrics.

    operator = Operator(terrarium)
    await operator.start()            # migrate, default tenant, heartbeat, reap dead replicas
    tenant = await operator.authenticate("trk_...")
    body = await operator.run(tenant, code, inputs=..., limits=...)         # recorded
    summary = await operator.submit(tenant, code, ...)                      # async, 202
    await operator.stop()

Admission (runtime/admission.py) is decided in the database on PostgreSQL, so a tenant's limits
hold across replicas, and in memory on SQLite, which serves one server process. Records are
written by a background writer (runtime/record_writer.py), many executions per transaction; the
reading methods flush it first, so a client reads what it was just answered. On PostgreSQL an
execution's final state is written before it is answered (other replicas count and show it);
on SQLite the answer does not wait for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import os
import secrets
import socket
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from client_surface import AsyncFlora
from runtime.admission import Admission, DatabaseAdmission, LocalAdmission
from runtime.db import create_engine, init_db, session_factory, utcnow
from runtime.metrics import Metrics
from runtime.record_writer import RecordWriter
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
from runtime.schemas import NotAnswerable, check_result, clean_text
from runtime.service import LimitRequest, RequestRejected, Terrarium, new_execution_id
from runtime.tenants import Tenant, TenantStore
from sandbox.limits import Limits

log = logging.getLogger("terrarium.executions")

# On SQLite, how long a new record waits for its final update, so that most synchronous runs
# are written once (an INSERT of the finished row) rather than twice.
LOCAL_LINGER_S = 0.005


@functools.lru_cache(maxsize=256)
def limits_json(limits: Limits) -> dict[str, Any]:
    """`limits.to_json()`, once per distinct limits (most requests share a few); do not mutate."""
    return limits.to_json()


def not_found(execution_id: str) -> RequestRejected:
    """The one answer for an execution this tenant cannot read, whether it is missing or
    another tenant's: the two are not told apart, so ids cannot be probed."""
    return RequestRejected(404, "not_found", f"no execution {execution_id[:80]!r} for this key")


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
        self.writer: RecordWriter | None = None
        self.admission: Admission | None = None
        # True on PostgreSQL: the final state is in the database before the answer.
        self._write_before_answer = False
        self._floras: dict[str, tuple[AsyncFlora, str]] = {}
        # (defaults, maxima) per tenant caps (max_timeout_s, max_memory_mb, max_calls)
        self._bounds: dict[tuple[Any, ...], tuple[Limits, Limits]] = {}
        self._tasks: dict[str, asyncio.Task] = {}
        # Admitted and not yet finished: each is released and given a final state exactly once.
        self._open: set[str] = set()
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
        if self.db.dialect.name == "sqlite":
            self.writer = RecordWriter(self.db, linger_s=LOCAL_LINGER_S)
            local = LocalAdmission(self.writer, self.metrics)
            await local.seed(self.sessions, now)
            self.admission = local
        else:
            self.writer = RecordWriter(self.db)
            self.admission = DatabaseAdmission(self.db, self.metrics)
            self._write_before_answer = True
        self.writer.start()
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
        if self.writer is not None:
            await self.writer.stop()
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
        for flora, _ in self._floras.values():
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
        caps = (tenant.max_timeout_s, tenant.max_memory_mb, tenant.max_calls)
        bounds = self._bounds.get(caps)
        if bounds is None:
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
            if len(self._bounds) >= 1024:
                self._bounds.clear()
            bounds = self._bounds[caps] = (defaults, maxima)
        return self.terrarium.limits_for(request, *bounds)

    def _flora_for(self, tenant: Tenant) -> tuple[AsyncFlora, tuple[str, ...]]:
        if tenant.flora_kind == "server":
            assert self.terrarium.flora is not None
            return self.terrarium.flora, ()
        cached = self._floras.get(tenant.id)
        if cached is not None:
            return cached[0], (cached[1],)
        key = self.tenants.flora_key(tenant) if self.tenants else None
        if not key:
            raise RequestRejected(503, "flora_unconfigured", "this tenant has no FLORA key")
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
        self._floras[tenant.id] = (flora, key)
        return flora, (key,)

    # ------------------------------------------------------------------ admission

    async def _admit(
        self, tenant: Tenant, code: str, intent: str | None, limits: Limits, mode: str
    ) -> str:
        assert self.admission is not None, "start() first"
        execution_id = new_execution_id()
        now = utcnow()
        await self.admission.admit(
            tenant,
            {
                "id": execution_id,
                "tenant_id": tenant.id,
                "instance_id": self.instance_id,
                "mode": mode,
                "state": RUNNING if mode == "sync" else QUEUED,
                "status": None,
                "intent": intent,
                "code": code,
                "code_sha256": hashlib.sha256(code.encode()).hexdigest(),
                "result": None,
                "result_truncated": False,
                "stdout": "",
                "stdout_truncated": False,
                "error": None,
                "calls": None,
                "warnings": None,
                "limits": dict(limits_json(limits)),
                "duration_ms": 0.0,
                "cpu_ms": 0.0,
                "call_count": 0,
                "created_at": now,
                "started_at": now if mode == "sync" else None,
                "finished_at": None,
            },
        )
        self._open.add(execution_id)
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
            self._record(tenant, execution_id, body)
        except BaseException as exc:
            reason = (
                SERVER_STOPPED
                if isinstance(exc, asyncio.CancelledError)
                else str(getattr(exc, "message", None) or type(exc).__name__)
            )
            self._settle(tenant, execution_id, reason)
            if self._write_before_answer:
                await asyncio.shield(self.flush())
            raise
        finally:
            # Whatever happened above (a body nobody expected, a cancellation anywhere), the
            # execution does not stay admitted.
            self._settle(tenant, execution_id, "the runtime failed while it ran")
        if self._write_before_answer:
            await self.flush()
        return body

    def _finish(self, tenant: Tenant, execution_id: str, values: dict[str, Any]) -> None:
        """The execution no longer runs: released and its final values queued, in one step (no
        await between), so a reader who sees it finished can start another at once."""
        assert self.admission is not None and self.writer is not None
        self._open.discard(execution_id)
        self.admission.release(tenant.id, execution_id)
        self.writer.update(execution_id, values, when=ACTIVE_STATES)

    def _settle(self, tenant: Tenant, execution_id: str, reason: str) -> None:
        """Release and fail the execution unless it already finished; idempotent."""
        if execution_id not in self._open:
            return
        try:
            self._record_failure(tenant, execution_id, reason)
        finally:
            if execution_id in self._open:  # the failure could not even be queued
                self._open.discard(execution_id)
                assert self.admission is not None
                self.admission.release(tenant.id, execution_id)

    def _record(self, tenant: Tenant, execution_id: str, body: dict[str, Any]) -> None:
        """The one place a result becomes a record. `body` comes from `Terrarium.execute`,
        which made it strict JSON (runtime/schemas.py `safe_body`); the record caps sizes."""
        try:
            self._finish(tenant, execution_id, self._record_values(body))
        except Exception:
            log.exception(
                "execution record could not be made", extra={"execution_id": execution_id}
            )
            self._settle(tenant, execution_id, "its record could not be made from its result")
            return
        try:  # figures and a log line: never a reason to fail an answer that is ready
            self.metrics.observe(body)
            log.info(
                "execution finished",
                extra={
                    "execution_id": execution_id,
                    "tenant": tenant.name,
                    "status": body.get("status"),
                    "duration_ms": round(float(body.get("duration_ms") or 0.0), 3),
                    "calls": len(body.get("calls") or []),
                },
            )
        except Exception:
            log.exception("execution metrics failed", extra={"execution_id": execution_id})

    def _record_values(self, body: dict[str, Any]) -> dict[str, Any]:
        result, truncated = body.get("result"), False
        try:
            if check_result(result) > self.settings.record_result_bytes:
                result, truncated = None, True
        except NotAnswerable:
            result, truncated = None, True
        stdout = clean_text(body.get("stdout") or "")
        cap = self.settings.record_stdout_bytes
        stdout_cut = len(stdout.encode()) > cap
        if stdout_cut:
            stdout = stdout.encode()[:cap].decode(errors="ignore")
        calls = body.get("calls") or []
        return {
            "state": DONE,
            "status": body.get("status"),
            "result": result,
            "result_truncated": truncated,
            "stdout": stdout,
            "stdout_truncated": bool(body.get("stdout_truncated")) or stdout_cut,
            "error": body.get("error"),
            "calls": calls,
            "call_count": len(calls),
            "warnings": body.get("warnings") or [],
            "duration_ms": float(body.get("duration_ms") or 0.0),
            "cpu_ms": float(body.get("cpu_ms") or 0.0),
            "finished_at": utcnow(),
        }

    def _record_failure(self, tenant: Tenant, execution_id: str, reason: str) -> None:
        error = {"type": "ExecutionFailed", "message": reason, "line": None, "source": None,
                 "traceback": None, "hint": None}  # fmt: skip
        self._finish(
            tenant,
            execution_id,
            {"state": FAILED, "status": "error", "error": error, "finished_at": utcnow()},
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

        def forget(_task: asyncio.Task) -> None:
            self._tasks.pop(execution_id, None)
            # A task cancelled before it started never ran its own finally.
            self._settle(tenant, execution_id, SERVER_STOPPED)

        task.add_done_callback(forget)
        return {"execution_id": execution_id, "state": QUEUED, "status": None}

    async def _run_async(
        self,
        tenant: Tenant,
        execution_id: str,
        code: str,
        inputs: dict[str, Any] | None,
        limits: Limits,
    ) -> None:
        assert self.writer is not None
        self.writer.update(execution_id, {"state": RUNNING, "started_at": utcnow()}, when=(QUEUED,))
        with contextlib.suppress(Exception):
            await self._execute(tenant, execution_id, code, inputs, limits)

    # ------------------------------------------------------------------ reading records

    async def flush(self) -> None:
        """Every record this replica has answered for is in the database once this returns."""
        if self.writer is not None:
            await self.writer.flush()

    async def get(self, tenant: Tenant, execution_id: str) -> dict[str, Any]:
        await self.flush()
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
        await self.flush()
        async with self.sessions() as s:
            rows = list((await s.execute(q)).scalars().all())
        more = len(rows) > limit
        rows = rows[:limit]
        return {
            "data": [summary(r) for r in rows],
            "next_cursor": encode_cursor(rows[-1]) if more and rows else None,
        }
