"""The recorder: admission and each execution's record, from its admission to its final state.

An execution is admitted (runtime/executions/admission.py: its tenant's concurrency and rate,
waiting its turn in its tenant's queue, and its first row) and then finished exactly once: with
its outcome, or failed with a reason. Finishing releases the admission slot and queues the final
values in one step, so a reader who sees it finished can start another at once. Rows are written
by the background `RecordWriter`, many per transaction; on PostgreSQL the final state is written
before the answer (other replicas count and show it). On SQLite a synchronous run's first row is
written as it starts, while its script runs, and the answer waits until it is in the database
(a record exists for every answered execution); its final state follows behind the answer.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from runtime.db import utcnow
from runtime.executions.admission import Admission, DatabaseAdmission, LocalAdmission
from runtime.executions.outcome import Outcome
from runtime.executions.record_writer import RecordWriter
from runtime.executions.records import ACTIVE_STATES, FAILED, QUEUED, RUNNING, WEBHOOK_PENDING
from runtime.executions.request import ExecutionRequest
from runtime.infra import after_answer
from runtime.infra.metrics import Metrics
from runtime.settings import Settings
from runtime.tenancy.tenants import Tenant
from sandbox.limits import Limits

log = logging.getLogger("terrarium.executions")

# On SQLite, how long a write waits for others to share its transaction (final states, queued
# runs' rows; a synchronous run's first row goes at once).
LOCAL_LINGER_S = 0.005


@functools.lru_cache(maxsize=256)
def limits_json(limits: Limits) -> dict[str, Any]:
    """`limits.to_json()`, once per distinct limits (most requests share a few); do not mutate."""
    return limits.to_json()


class Recorder:
    def __init__(self, settings: Settings, metrics: Metrics, instance_id: str) -> None:
        self.settings = settings
        self.metrics = metrics
        self.instance_id = instance_id
        self.writer: RecordWriter | None = None
        self.admission: Admission | None = None
        # True on PostgreSQL: the final state is in the database before the answer.
        self.write_before_answer = False
        # Admitted and not yet finished: each is released and given a final state exactly once.
        self._open: set[str] = set()

    async def start(
        self, db: AsyncEngine, sessions: async_sessionmaker[AsyncSession], capacity: int,
        whole_pool: Collection[str] = (),
    ) -> None:  # fmt: skip
        """`capacity`: the slots this replica shares among tenants (the sandbox pool's size);
        `whole_pool`: tenants whose concurrency is all of them (the embedded default's)."""
        queue_s, queue_max = self.settings.tenant_queue_s, self.settings.queue_max
        if db.dialect.name == "sqlite":
            self.writer = RecordWriter(db, linger_s=LOCAL_LINGER_S)
            local = LocalAdmission(self.writer, self.metrics, capacity, queue_s, queue_max)
            await local.seed(sessions, utcnow())
            self.admission = local
        else:
            self.writer = RecordWriter(db)
            self.admission = DatabaseAdmission(db, self.metrics, capacity, queue_s, queue_max)
            self.write_before_answer = True
        self.admission.whole_pool.update(whole_pool)
        self.writer.start()

    async def stop(self) -> None:
        if self.writer is not None:
            await self.writer.stop()

    async def flush(self) -> None:
        """Every record this replica has answered for is in the database once this returns."""
        if self.writer is not None:
            await self.writer.flush()

    async def admit(
        self, tenant: Tenant, execution_id: str, request: ExecutionRequest, limits: Limits,
        mode: str,
    ) -> asyncio.Future[None] | None:  # fmt: skip
        """Admit the execution (waiting its turn) and record its first row, or raise
        `Throttled`. On SQLite, a synchronous run's first row is written at once and this
        returns what is set once it is in the database (PostgreSQL's admission wrote it)."""
        assert self.admission is not None, "start() first"
        sync = mode == "sync"
        code_sha256 = hashlib.sha256(request.code.encode()).hexdigest()
        limits_value = limits_json(limits)

        def row_at(now: datetime) -> dict[str, Any]:
            return {
                "id": execution_id, "tenant_id": tenant.id, "instance_id": self.instance_id,
                "mode": mode, "state": RUNNING if sync else QUEUED, "status": None,
                "intent": request.intent, "code": request.code,
                "code_sha256": code_sha256,
                "result": None, "result_truncated": False, "stdout": "",
                "stdout_truncated": False, "error": None, "calls": None, "warnings": None,
                "limits": dict(limits_value), "duration_ms": 0.0, "cpu_ms": 0.0,
                "call_count": 0, "created_at": now, "started_at": now if sync else None,
                "finished_at": None, "webhook_url": request.webhook_url,
                "webhook_state": WEBHOOK_PENDING if request.webhook_url else None,
                "webhook_attempts": 0, "webhook_next_at": None, "webhook_outcome": None,
            }  # fmt: skip

        await self.admission.admit(tenant, row_at)
        self._open.add(execution_id)
        if sync and not self.write_before_answer and self.writer is not None:
            # SQLite: the first row is written now, while the script runs, so that a record
            # exists before the answer without the answer waiting for a write.
            return self.writer.written(urgent=True)
        return None

    def started(self, execution_id: str) -> None:
        """A queued execution began to run."""
        assert self.writer is not None
        self.writer.update(execution_id, {"state": RUNNING, "started_at": utcnow()}, when=(QUEUED,))

    def finish(self, tenant: Tenant, execution_id: str, outcome: Outcome) -> bool:
        """The one place an outcome becomes a record (released and its final values queued);
        False when its record could not be made (it was failed instead). Its figures and log
        line follow (`observe_after_answer`)."""
        try:
            values = outcome.record_values(
                self.settings.record_result_bytes, self.settings.record_stdout_bytes
            )
            self._close(tenant, execution_id, values)
        except Exception:
            log.exception(
                "execution record could not be made", extra={"execution_id": execution_id}
            )
            self.fail(tenant, execution_id, "its record could not be made from its result")
            return False
        return True

    def observe_after_answer(self, tenant: Tenant, execution_id: str, outcome: Outcome) -> None:
        """A finished execution's figures and its log line, once its answer is sent: at the door
        of a `/v1` request, before its access line (runtime/infra/after_answer.py); now where no
        door waits for an answer. The line keeps this context (the request's id)."""
        after_answer.defer(functools.partial(self.observe, tenant, execution_id, outcome))

    def observe(self, tenant: Tenant, execution_id: str, outcome: Outcome) -> None:
        try:  # figures and a log line: never a reason to fail an answer that is ready
            body = outcome.body
            self.metrics.observe(body)
            log.info(
                "execution finished",
                extra={
                    "execution_id": execution_id, "tenant": tenant.name,
                    "status": body["status"], "duration_ms": round(body["duration_ms"], 3),
                    "calls": len(body["calls"]),
                },
            )  # fmt: skip
        except Exception:
            log.exception("execution metrics failed", extra={"execution_id": execution_id})

    def fail(self, tenant: Tenant, execution_id: str, reason: str) -> None:
        """Release and fail the execution unless it already finished; idempotent."""
        if execution_id not in self._open:
            return
        try:
            error = {"type": "ExecutionFailed", "message": reason, "line": None, "source": None,
                     "traceback": None, "hint": None}  # fmt: skip
            values = {"state": FAILED, "status": "error", "error": error, "finished_at": utcnow()}
            self._close(tenant, execution_id, values)
            self.metrics.executions.labels(status="failed").inc()
            log.warning(
                "execution failed",
                extra={"execution_id": execution_id, "tenant": tenant.name, "reason": reason},
            )
        finally:
            if execution_id in self._open:  # the failure could not even be queued
                self._release(tenant, execution_id)

    def _close(self, tenant: Tenant, execution_id: str, values: dict[str, Any]) -> None:
        """Released and its final values queued, with no await between."""
        assert self.writer is not None
        self._release(tenant, execution_id)
        self.writer.update(execution_id, values, when=ACTIVE_STATES)

    def _release(self, tenant: Tenant, execution_id: str) -> None:
        assert self.admission is not None
        self._open.discard(execution_id)
        self.admission.release(tenant.id, execution_id)
