"""Retention on PostgreSQL, as several replicas run it: one prune at a time (the others skip the
round while one holds the advisory lock), batches that add up, and only finished records past
the cutoff deleted."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select, text
from test_replicas_postgres import database_url  # noqa: F401  (module fixture)

from runtime.db import create_engine, init_db, session_factory, utcnow
from runtime.executions.idempotency import IdempotencyRow
from runtime.executions.records import ExecutionRow
from runtime.executions.retention import LOCK_KEY, cutoff, prune
from runtime.settings import Settings
from runtime.tenancy.tenants import TenantStore

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def row(execution_id: str, tenant_id: str, days_old: float, **values: object) -> ExecutionRow:
    fields: dict[str, object] = {
        "id": execution_id, "tenant_id": tenant_id, "instance_id": "ins_test", "mode": "async",
        "state": "done", "status": "ok", "code": "1",
        "code_sha256": hashlib.sha256(b"1").hexdigest(), "limits": {},
        "created_at": utcnow() - timedelta(days=days_old),
    }  # fmt: skip
    fields.update(values)
    return ExecutionRow(**fields)


async def test_replicas_prune_one_at_a_time_and_only_what_is_old(database_url, tmp_path: Path):  # noqa: F811
    settings = Settings(
        database_url=database_url, data_dir=tmp_path, secret_key=Fernet.generate_key().decode()
    )
    engine = create_engine(settings)
    try:
        await init_db(engine)
        sessions = session_factory(engine)
        tenant, _ = await TenantStore(settings, sessions).create("retention", flora_kind="server")
        before = cutoff(30)
        old = [f"exe_old{i}" for i in range(5)]
        kept = ["exe_new1", "exe_new2", "exe_running", "exe_hooked"]
        async with sessions() as s, s.begin():
            s.add_all(row(i, tenant.id, 40) for i in old)
            s.add_all([row("exe_new1", tenant.id, 1), row("exe_new2", tenant.id, 29)])
            s.add(row("exe_running", tenant.id, 40, state="running", status=None))
            s.add(row("exe_hooked", tenant.id, 40, webhook_url="https://example.com/h",
                      webhook_state="pending"))  # fmt: skip
            s.add(
                IdempotencyRow(
                    tenant_id=tenant.id, key="k", execution_id="exe_old0",
                    request_sha256="0" * 64, created_at=before - timedelta(1),
                )
            )  # fmt: skip

        counted = await prune(engine, before, dry_run=True)
        assert (counted.executions, counted.idempotency_keys) == (5, 1)

        async with engine.connect() as holder:  # another replica is pruning
            await holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": LOCK_KEY})
            skipped = await prune(engine, before)
            await holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
        assert skipped.skipped and skipped.executions == 0

        both = await asyncio.gather(prune(engine, before, batch=2), prune(engine, before, batch=2))
        assert sum(p.executions for p in both) == 5
        assert sum(p.idempotency_keys for p in both) == 1
        assert not all(p.skipped for p in both)
        async with sessions() as s:
            left = set((await s.execute(select(ExecutionRow.id))).scalars())
            keys = await s.scalar(select(func.count()).select_from(IdempotencyRow))
        assert left == set(kept)
        assert keys == 0
    finally:
        await engine.dispose()
