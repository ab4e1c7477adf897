"""Execution records and replica heartbeats: the tables that make replicas interchangeable.

Every execution, synchronous or not, is a row: who ran it, the code and its sha256, the intent,
its state (queued -> running -> done, or failed when the server running it stopped), the
response body's parts (result and stdout capped), calls, timings and the limits applied. The row
is written by the replica that runs it and readable from any replica.

Each replica is a row in `runtime_instances` with a heartbeat; executions owned by a replica
whose heartbeat went stale are failed, never left running.

The record's JSON and float columns refuse, when a row is written, what strict JSON cannot hold
(NaN, Infinity, lone surrogates): such a row fails alone and the record writer stores it as a
failed execution (runtime/record_writer.py), instead of a record that could never be answered.
"""

from __future__ import annotations

import base64
import json
import math
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from runtime.db import Base, UTCDateTime

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
ACTIVE_STATES = (QUEUED, RUNNING)
FINAL_STATES = (DONE, FAILED)
# A completion webhook's delivery: pending until an attempt succeeds or the attempts run out.
WEBHOOK_PENDING, WEBHOOK_DELIVERED, WEBHOOK_FAILED = "pending", "delivered", "failed"
SERVER_STOPPED = "the server running it stopped"


class StrictJSON(TypeDecorator[Any]):
    """JSON that refuses, on write, NaN, Infinity and lone surrogates (same column type)."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is not None:
            json.dumps(value, ensure_ascii=False, allow_nan=False).encode()
        return value


class FiniteFloat(TypeDecorator[float]):
    """A float column that refuses NaN and Infinity on write (same column type)."""

    impl = Float
    cache_ok = True

    def process_bind_param(self, value: float | None, dialect: Dialect) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError(f"{value!r} is not a finite number")
        return value


class ExecutionRow(Base):
    __tablename__ = "runtime_executions"
    __table_args__ = (
        Index("ix_runtime_executions_tenant_created", "tenant_id", "created_at"),
        Index("ix_runtime_executions_state_instance", "state", "instance_id"),
        Index("ix_runtime_executions_created_at", "created_at"),
        Index(
            "ix_runtime_executions_webhook_due",
            "webhook_next_at",
            postgresql_where=text("webhook_state = 'pending'"),
            sqlite_where=text("webhook_state = 'pending'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("runtime_tenants.id"))
    instance_id: Mapped[str] = mapped_column(String(40))
    mode: Mapped[str] = mapped_column(String(8))  # sync | async
    state: Mapped[str] = mapped_column(String(12))
    status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    intent: Mapped[str | None] = mapped_column(Text, nullable=True)
    code: Mapped[str] = mapped_column(Text)
    code_sha256: Mapped[str] = mapped_column(String(64))
    result: Mapped[Any] = mapped_column(StrictJSON, nullable=True)
    result_truncated: Mapped[bool] = mapped_column(default=False)
    stdout: Mapped[str] = mapped_column(Text, default="")
    stdout_truncated: Mapped[bool] = mapped_column(default=False)
    error: Mapped[Any] = mapped_column(StrictJSON, nullable=True)
    calls: Mapped[Any] = mapped_column(StrictJSON, nullable=True)
    warnings: Mapped[Any] = mapped_column(StrictJSON, nullable=True)
    limits: Mapped[Any] = mapped_column(StrictJSON)
    duration_ms: Mapped[float] = mapped_column(FiniteFloat, default=0.0)
    cpu_ms: Mapped[float] = mapped_column(FiniteFloat, default=0.0)
    call_count: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(FiniteFloat, default=0.0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Set when a cancel was asked of a replica other than the one running it (that one cancels).
    cancel_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Asynchronous executions only: where the record is POSTed when it ends, and how that went.
    webhook_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    webhook_state: Mapped[str | None] = mapped_column(String(12), nullable=True)
    webhook_attempts: Mapped[int] = mapped_column(Integer, default=0)
    webhook_next_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    webhook_outcome: Mapped[str | None] = mapped_column(String(300), nullable=True)


class InstanceRow(Base):
    __tablename__ = "runtime_instances"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


# ------------------------------------------------------------------------------------ views


def response_body(row: ExecutionRow) -> dict[str, Any]:
    """The same body as POST /v1/execute, from a finished record."""
    return {
        "execution_id": row.id,
        "status": row.status,
        "result": row.result,
        "stdout": row.stdout or "",
        "stdout_truncated": bool(row.stdout_truncated),
        "error": row.error,
        "calls": row.calls or [],
        "duration_ms": row.duration_ms or 0.0,
        "cpu_ms": row.cpu_ms or 0.0,
        "warnings": row.warnings or [],
        "cost_usd": row.cost_usd or 0.0,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def summary(row: ExecutionRow) -> dict[str, Any]:
    return {
        "execution_id": row.id,
        "state": row.state,
        "status": row.status,
        "mode": row.mode,
        "intent": row.intent,
        "code_sha256": row.code_sha256,
        "call_count": row.call_count,
        "duration_ms": row.duration_ms,
        "created_at": _iso(row.created_at),
        "started_at": _iso(row.started_at),
        "finished_at": _iso(row.finished_at),
    }


def detail(row: ExecutionRow) -> dict[str, Any]:
    """Everything about one execution; when it is finished, the /v1/execute body's fields too."""
    out = summary(row)
    out.update(
        code=row.code,
        limits=row.limits,
        result_truncated=bool(row.result_truncated),
    )
    if row.state in (DONE, FAILED):
        out.update(response_body(row))
        out["state"] = row.state
    if row.webhook_url:
        out["webhook"] = {
            "url": row.webhook_url,
            "state": row.webhook_state,
            "attempts": row.webhook_attempts or 0,
            "last_outcome": row.webhook_outcome,
        }
    return out


def encode_cursor(row: ExecutionRow) -> str:
    raw = f"{row.created_at.isoformat()}|{row.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    padded = cursor + "=" * (-len(cursor) % 4)
    created, _, ident = base64.urlsafe_b64decode(padded.encode()).decode().partition("|")
    return datetime.fromisoformat(created), ident
