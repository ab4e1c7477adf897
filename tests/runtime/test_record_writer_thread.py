"""On a SQLite file, execution records are written by the writer's own thread and connection,
with the runtime engine's pragmas; what it wrote is what the runtime's engine reads."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from runtime.db import create_engine, init_db, session_factory, utcnow
from runtime.executions.record_writer import RecordWriter
from runtime.executions.records import ACTIVE_STATES, DONE, RUNNING, ExecutionRow
from runtime.settings import Settings
from runtime.tenancy.tenants import TenantRow


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[tuple[AsyncEngine, Any]]:
    """A migrated SQLite file with one tenant: the runtime engine and its session factory."""
    engine = create_engine(Settings(data_dir=tmp_path))
    await init_db(engine)
    sessions = session_factory(engine)
    async with sessions() as s, s.begin():
        s.add(TenantRow(id="ten_t", name="t", flora_kind="server", workspaces=[],
                        created_at=utcnow()))  # fmt: skip
    yield engine, sessions
    await engine.dispose()


def a_row(execution_id: str) -> dict[str, object]:
    now = utcnow()
    return {
        "id": execution_id, "tenant_id": "ten_t", "instance_id": "ins_t", "mode": "sync",
        "state": RUNNING, "status": None, "intent": None, "code": "1", "code_sha256": "0" * 64,
        "result": None, "result_truncated": False, "stdout": "", "stdout_truncated": False,
        "error": None, "calls": None, "warnings": None, "limits": {}, "duration_ms": 0.0,
        "cpu_ms": 0.0, "call_count": 0, "created_at": now, "started_at": now, "finished_at": None,
    }  # fmt: skip


async def test_a_sqlite_files_records_are_written_by_the_writers_own_thread(database):
    engine, sessions = database
    writer = RecordWriter(engine, linger_s=0)
    local = writer._local
    assert local is not None
    threads: list[str] = []
    statements = local._sql.batch

    def batch(ops: Any) -> Any:  # where the batch's statements are made and run
        threads.append(threading.current_thread().name)
        return statements(ops)

    local._sql.batch = batch  # type: ignore[method-assign]
    writer.start()
    try:
        writer.insert(a_row("exe_t1"))
        writer.update("exe_t1", {"state": DONE, "status": "ok"}, when=ACTIVE_STATES)
        await writer.flush()
        async with sessions() as s:
            found = (await s.execute(select(ExecutionRow.state, ExecutionRow.status))).all()
        assert [tuple(r) for r in found] == [(DONE, "ok")]
        assert threads and all(name.startswith("terrarium-records") for name in threads)
        with local.engine.connect() as conn:  # the runtime engine's pragmas
            pragmas = [conn.execute(text(f"PRAGMA {p}")).scalar() for p in
                       ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")]  # fmt: skip
        assert pragmas == ["wal", 1, 30000, 1]
    finally:
        await writer.stop()


def test_an_in_memory_database_is_written_through_the_engine_itself():
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine("sqlite+aiosqlite://")
    assert RecordWriter(engine)._local is None


async def test_a_batch_of_finished_and_running_rows_is_written_at_once(database, caplog):
    """A row whose final values were folded in names more columns than a running one: the
    batch is written as it is, not refused and written again one execution at a time."""
    engine, sessions = database
    writer = RecordWriter(engine, linger_s=10)
    writer.start()
    try:
        writer.insert(a_row("exe_done"))
        writer.update("exe_done", {"state": DONE, "status": "ok", "cost_usd": 0.5},
                      when=ACTIVE_STATES)  # fmt: skip
        writer.insert(a_row("exe_running"))
        with caplog.at_level("WARNING", logger="terrarium.records"):
            await writer.flush()
        assert not [r for r in caplog.records if r.name == "terrarium.records"]
        async with sessions() as s:
            found = await s.execute(
                select(ExecutionRow.id, ExecutionRow.state, ExecutionRow.cost_usd)
            )
            assert sorted(tuple(r) for r in found) == [
                ("exe_done", DONE, 0.5), ("exe_running", RUNNING, 0.0)
            ]  # fmt: skip
    finally:
        await writer.stop()


async def test_stop_ends_the_writers_thread_and_closes_its_connection(database):
    engine, sessions = database
    writer = RecordWriter(engine, linger_s=0)
    local = writer._local
    assert local is not None
    closed: list[object] = []
    event.listen(local.engine, "close", lambda *args: closed.append(args))
    writer.start()
    try:
        writer.insert(a_row("exe_t2"))
        await writer.flush()
        assert any(t.name.startswith("terrarium-records") for t in threading.enumerate())
    finally:
        await writer.stop()
    assert not any(t.name.startswith("terrarium-records") for t in threading.enumerate())
    assert len(closed) == 1  # its one connection, closed


async def test_a_write_made_while_the_writer_stops_is_written_not_dropped(database, caplog):
    """A write made after stop()'s flush, while the writer's task is being cancelled (an
    execution failed as the server stops), is written by stop() itself."""
    engine, sessions = database
    writer = RecordWriter(engine, linger_s=10)
    writer.start()
    try:
        writer.insert(a_row("exe_first"))
        # runs once stop()'s flush has written the first row, before the task is cancelled
        writer.written().add_done_callback(lambda _: writer.insert(a_row("exe_late")))
        with caplog.at_level("ERROR", logger="terrarium.records"):
            await writer.stop()
        assert not [r for r in caplog.records if r.name == "terrarium.records"]
        async with sessions() as s:
            found = await s.execute(select(ExecutionRow.id))
            assert sorted(r[0] for r in found) == ["exe_first", "exe_late"]
    finally:
        await writer.stop()  # does nothing once stopped; ends the writer if the test failed first


async def test_the_threads_statements_store_exactly_what_sqlalchemys_would(tmp_path: Path) -> None:
    """The thread runs its own SQL on the driver's connection: every column of every row it
    writes is what SQLAlchemy's statements for the same batches store (values converted by the
    column types, defaults for columns a row leaves out, updates only in the states named)."""
    from datetime import UTC, datetime, timedelta, timezone

    from runtime.executions.record_writer import statements

    later = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=5)))
    finished = {
        "state": DONE, "status": "ok", "result": {"é": [1, 2.5, True, None, "x\n"]},
        "stdout": "printed ü", "stdout_truncated": True, "error": None, "calls": [{"m": 1}],
        "warnings": [], "duration_ms": 1.25, "cpu_ms": 0.5, "call_count": 3, "cost_usd": 0.125,
        "finished_at": later,
    }  # fmt: skip
    webhook = {**a_row("exe_w"), "mode": "async", "state": "queued", "started_at": None,
               "webhook_url": "https://example.com/h", "webhook_state": "pending",
               "webhook_next_at": datetime(2026, 1, 1, tzinfo=UTC)}  # fmt: skip
    for each in (a_row("exe_a"), a_row("exe_b"), webhook):
        each["created_at"] = datetime(2026, 1, 1, 12, tzinfo=UTC)
        if each["started_at"] is not None:
            each["started_at"] = datetime(2026, 1, 1, 12, tzinfo=UTC)
    batches: list[list[Any]] = [
        [a_row("exe_a"), a_row("exe_b"), webhook],
        [a_row("exe_c"), a_row("exe_a") | {"id": "exe_d"}],
    ]
    for each in batches[1]:
        each["created_at"] = each["started_at"] = datetime(2026, 1, 1, 13, tzinfo=UTC)
    from runtime.executions.record_writer import _Update

    batches[1] += [
        _Update("exe_a", finished, ACTIVE_STATES),  # a row of an earlier batch
        _Update("exe_c", finished, ACTIVE_STATES),  # folded into its insert
        _Update("exe_b", {"state": "failed", "status": "error"}, ("queued",)),  # not applied
        _Update("exe_w", {"state": RUNNING, "started_at": later}, ("queued",)),
    ]
    stored = []
    for way in ("thread", "sqlalchemy"):
        engine = create_engine(Settings(data_dir=tmp_path / way))
        await init_db(engine)
        async with session_factory(engine)() as s, s.begin():
            s.add(TenantRow(id="ten_t", name="t", flora_kind="server", workspaces=[],
                            created_at=utcnow()))  # fmt: skip
        writer = RecordWriter(engine)
        local = writer._local
        assert local is not None
        for ops in batches:
            if way == "thread":
                local._write(list(ops))
            else:
                with local.engine.begin() as conn:
                    for statement, params in statements(list(ops)):
                        conn.execute(statement, params)
        local.close()
        with local.engine.connect() as conn:
            stored.append(
                [
                    tuple(r)
                    for r in conn.execute(text("SELECT * FROM runtime_executions ORDER BY id"))
                ]
            )
        local.engine.dispose()
        await engine.dispose()
    assert len(stored[0]) == 5 and stored[0] == stored[1]


@pytest.mark.parametrize("computed", ["default", "onupdate"])
def test_a_column_that_computes_its_value_is_refused_by_the_sqlite_statements(
    computed: str,
) -> None:
    """The writer's SQL gives a column left out only its fixed default: a table whose column
    computes a default, or sets itself on update, is refused when the writer is made, not
    written without the value."""
    from sqlalchemy import Column, Integer, MetaData, String, Table
    from sqlalchemy.dialects import sqlite

    from runtime.executions.record_writer import SqliteStatements

    SqliteStatements(sqlite.dialect())  # the records' own table has fixed defaults only
    extra: dict[str, Any] = {computed: lambda: 1}
    table = Table(
        "t", MetaData(), Column("id", String, primary_key=True), Column("n", Integer, **extra)
    )
    with pytest.raises(TypeError, match=r"t: .*columns n compute"):
        SqliteStatements(sqlite.dialect(), table)
