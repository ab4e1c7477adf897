"""What the operator views read: every tenant's executions, tenants and their keys, and a
small live summary of the last minutes (executions per minute by status, latency, cost).

Cost here is what the runtime measures of each execution: wall and CPU time and client calls
(FLORA's own charges are the backend's, per workspace, and are not in the record).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from runtime.errors import NotFound
from runtime.executions.records import (
    DONE,
    ExecutionRow,
    detail,
    summary,
)  # fmt: skip
from runtime.executions.service import Executions
from runtime.tenancy.tenants import TenantRow

WINDOW_MIN = 30


async def _tenant_names(service: Executions) -> dict[str, str]:
    async with service.sessions() as s:
        rows = (await s.execute(select(TenantRow.id, TenantRow.name))).all()
    return {row[0]: row[1].split("~revoked~")[0] for row in rows}


async def list_all(
    service: Executions,
    *,
    tenant_id: str | None,
    status: str | None,
    since: datetime | None,
    cursor: str | None,
    limit: int,
) -> dict[str, Any]:
    """Every tenant's executions (or one tenant's), newest first, as GET /v1/executions pages."""
    rows, next_cursor = await service.page_rows(tenant_id or None, status, since, cursor, limit)
    names = await _tenant_names(service)
    data = []
    for row in rows:
        item = summary(row)
        item["tenant"] = names.get(row.tenant_id, row.tenant_id)
        data.append(item)
    return {"data": data, "next_cursor": next_cursor}


async def get_any(service: Executions, execution_id: str) -> dict[str, Any]:
    """One execution of any tenant, with its tenant's name."""
    await service.recorder.flush()
    async with service.sessions() as s:
        row = await s.get(ExecutionRow, execution_id)
    if row is None:
        raise NotFound(f"no execution {execution_id[:80]!r}")
    out = detail(row)
    out["tenant"] = (await _tenant_names(service)).get(row.tenant_id, row.tenant_id)
    return out


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return round(ordered[index], 1)


async def live_metrics(service: Executions, window_min: int = WINDOW_MIN) -> dict[str, Any]:
    """The last `window_min` minutes: executions per minute by status, p50/p99, cost."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = now - timedelta(minutes=window_min - 1)
    await service.recorder.flush()
    q = select(
        ExecutionRow.created_at,
        ExecutionRow.state,
        ExecutionRow.status,
        ExecutionRow.duration_ms,
        ExecutionRow.cpu_ms,
        ExecutionRow.call_count,
    ).where(ExecutionRow.created_at >= start)
    async with service.sessions() as s:
        rows = (await s.execute(q)).all()
    minutes = [start + timedelta(minutes=i) for i in range(window_min)]
    buckets: dict[str, list[int]] = {}
    durations: list[float] = []
    cpu_ms = 0.0
    calls = 0
    for created, state, status, duration, cpu, call_count in rows:
        label = status if state == DONE and status else state
        created = created if created.tzinfo else created.replace(tzinfo=UTC)
        index = int((created - start).total_seconds() // 60)
        if 0 <= index < window_min:
            buckets.setdefault(label, [0] * window_min)[index] += 1
        if state == DONE:
            durations.append(float(duration or 0.0))
        cpu_ms += float(cpu or 0.0)
        calls += int(call_count or 0)
    return {
        "window_min": window_min,
        "minutes": [m.isoformat() for m in minutes],
        "per_minute": buckets,
        "total": len(rows),
        "p50_ms": _percentile(durations, 0.5),
        "p99_ms": _percentile(durations, 0.99),
        "cost": {"cpu_s": round(cpu_ms / 1000, 3), "client_calls": calls},
    }
