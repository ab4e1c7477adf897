"""Execution records written in the background: batched, in order, flushed before reads and at
shutdown, conditional on the row's state, and the per-minute count kept across a restart."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from sqlalchemy import select

from runtime.db import create_engine, init_db, session_factory, utcnow
from runtime.executions import record_writer
from runtime.executions.record_writer import RecordWriter, _Update, fold
from runtime.executions.records import ACTIVE_STATES, DONE, FAILED, QUEUED, RUNNING, ExecutionRow
from runtime.settings import Settings
from runtime.tenancy.tenants import TenantRow

_ids = (f"exe_{i:04d}" for i in itertools.count())


def row(state: str = RUNNING, tenant_id: str = "ten_w") -> dict[str, Any]:
    now = utcnow()
    return {
        "id": next(_ids), "tenant_id": tenant_id, "instance_id": "ins_w", "mode": "sync",
        "state": state, "status": None, "intent": None, "code": "1", "code_sha256": "0" * 64,
        "result": None, "result_truncated": False, "stdout": "", "stdout_truncated": False,
        "error": None, "calls": None, "warnings": None, "limits": {}, "duration_ms": 0.0,
        "cpu_ms": 0.0, "call_count": 0, "created_at": now, "started_at": now, "finished_at": None,
    }  # fmt: skip


def test_fold_puts_updates_of_waiting_rows_into_their_insert_and_orders_the_rest():
    new = row()
    ops = [
        new,
        _Update(new["id"], {"state": DONE, "status": "ok"}, ACTIVE_STATES),
        _Update(new["id"], {"state": RUNNING}, (QUEUED,)),  # not queued any more: ignored
        _Update("exe_old", {"state": RUNNING}, (QUEUED,)),
        _Update("exe_other", {"state": RUNNING}, (QUEUED,)),
        _Update("exe_old", {"state": DONE, "status": "ok"}, ACTIVE_STATES),
    ]
    rows, updates = fold(ops)
    assert [(r["id"], r["state"], r["status"]) for r in rows] == [(new["id"], DONE, "ok")]
    assert updates == [
        ((("state",), (QUEUED,)), [{"_id": "exe_old", "state": RUNNING},
                                   {"_id": "exe_other", "state": RUNNING}]),
        ((("state", "status"), ACTIVE_STATES), [{"_id": "exe_old", "state": DONE,
                                                 "status": "ok"}]),
    ]  # fmt: skip


@pytest.fixture
async def database(tmp_path):  # type: ignore[no-untyped-def]
    engine = create_engine(Settings(data_dir=tmp_path))
    await init_db(engine)
    sessions = session_factory(engine)
    async with sessions() as s, s.begin():
        s.add(TenantRow(id="ten_w", name="w", flora_kind="server", workspaces=[],
                        created_at=utcnow()))  # fmt: skip
    yield engine, sessions
    await engine.dispose()


async def states(sessions, ids: list[str]) -> dict[str, tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    async with sessions() as s:
        found = await s.execute(
            select(ExecutionRow.id, ExecutionRow.state, ExecutionRow.status).where(
                ExecutionRow.id.in_(ids)
            )
        )
        return {i: (state, status) for i, state, status in found}


async def test_writes_are_in_the_database_after_flush_and_nothing_before_the_linger(database):
    engine, sessions = database
    writer = RecordWriter(engine, linger_s=10)
    writer.start()
    try:
        first, second = row(), row(QUEUED)
        writer.insert(first)
        writer.insert(second)
        await asyncio.sleep(0.05)
        assert await states(sessions, [first["id"]]) == {}  # still lingering
        await writer.flush()
        assert await states(sessions, [first["id"], second["id"]]) == {
            first["id"]: (RUNNING, None),
            second["id"]: (QUEUED, None),
        }
        writer.update(second["id"], {"state": RUNNING}, when=(QUEUED,))
        writer.update(second["id"], {"state": DONE, "status": "ok"}, when=ACTIVE_STATES)
        writer.update(first["id"], {"state": FAILED, "status": "error"}, when=ACTIVE_STATES)
        writer.update(first["id"], {"state": DONE, "status": "ok"}, when=ACTIVE_STATES)
        await writer.flush()
        assert await states(sessions, [first["id"], second["id"]]) == {
            first["id"]: (FAILED, "error"),  # the later update found it no longer active
            second["id"]: (DONE, "ok"),
        }
        await writer.flush()  # nothing waiting: returns at once
    finally:
        await writer.stop()


async def test_stop_writes_what_is_waiting(database):
    engine, sessions = database
    writer = RecordWriter(engine, linger_s=10)
    writer.start()
    waiting = row()
    writer.insert(waiting)
    writer.update(waiting["id"], {"state": DONE, "status": "ok"}, when=ACTIVE_STATES)
    await writer.stop()
    assert await states(sessions, [waiting["id"]]) == {waiting["id"]: (DONE, "ok")}


async def test_a_record_made_after_stop_is_said_not_dropped_unseen(
    database: Any, caplog: pytest.LogCaptureFixture
) -> None:
    engine, sessions = database
    writer = RecordWriter(engine, linger_s=0.01)
    writer.start()
    await writer.stop()
    late = row()
    with caplog.at_level("ERROR", logger="terrarium.records"):
        writer.insert(late)
        await asyncio.sleep(0.05)  # past its linger: nothing would write it
    said = [r for r in caplog.records if r.name == "terrarium.records"]
    assert len(said) == 1 and "after the record writer stopped" in said[0].getMessage()
    assert getattr(said[0], "execution_id", None) == late["id"]
    assert await states(sessions, [late["id"]]) == {}


async def test_a_batch_that_keeps_failing_is_dropped_and_later_batches_are_written(
    database, monkeypatch
):
    engine, sessions = database
    monkeypatch.setattr(record_writer, "RETRY_DELAYS_S", (0.0, 0.0))
    writer = RecordWriter(engine)
    writer.start()
    try:
        orphan = row(tenant_id="ten_missing")  # the foreign key refuses it
        writer.insert(orphan)
        await writer.flush()
        good = row()
        writer.insert(good)
        await writer.flush()
        assert await states(sessions, [orphan["id"], good["id"]]) == {good["id"]: (RUNNING, None)}
    finally:
        await writer.stop()


def test_records_are_readable_right_after_the_answer_and_survive_a_restart(api_with):
    with api_with() as api:
        tenant, key = api.tenant("restart", per_minute=3)
        ids = [api.execute(key, f"{i}").json()["execution_id"] for i in range(3)]
        for execution_id in ids:  # each read flushes what is waiting first
            record = api.client.get(f"/v1/executions/{execution_id}", headers=api.auth(key))
            assert record.json()["state"] == "done", record.text
    with api_with() as api:
        key = api.call(api.executions.tenants.add_key, tenant.id)
        listed = api.client.get("/v1/executions", headers=api.auth(key)).json()["data"]
        assert sorted(e["execution_id"] for e in listed) == sorted(ids)
        assert {e["state"] for e in listed} == {"done"}
        # The last minute's executions still count after the restart.
        refused = api.execute(key, "1")
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "rate_limited"


def test_records_waiting_at_shutdown_are_written(api_with):
    with api_with() as api:
        tenant, key = api.tenant("shutdown")
        ids = [api.execute(key, f"{i}").json()["execution_id"] for i in range(5)]
        submitted = api.client.post("/v1/executions", json={"code": "1"}, headers=api.auth(key))
        ids.append(submitted.json()["execution_id"])

    async def read() -> dict[str, tuple[str, str | None]]:
        engine = create_engine(api.executions.settings)
        try:
            return await states(session_factory(engine), ids)
        finally:
            await engine.dispose()

    found = asyncio.run(read())
    assert set(found) == set(ids)
    assert all(state in ("done", "failed") for state, _ in found.values()), found


async def read_rows(sessions, ids: list[str]) -> dict[str, ExecutionRow]:  # type: ignore[no-untyped-def]
    async with sessions() as s:
        found = await s.execute(select(ExecutionRow).where(ExecutionRow.id.in_(ids)))
        return {r.id: r for r in found.scalars()}


def finished(**values: Any) -> dict[str, Any]:
    return {"state": DONE, "status": "ok", "result": [1], "stdout": "printed", "cpu_ms": 2.0,
            "finished_at": utcnow(), **values}  # fmt: skip


@pytest.mark.parametrize(
    "bad",
    [
        {"cpu_ms": float("nan")},
        {"duration_ms": float("inf")},
        {"result": {"x": float("nan")}},
        {"stdout": "lone \ud800 surrogate"},
        {"error": {"type": "E", "message": "\udfff"}},
        {"call_count": 2**70},
    ],
    ids=[
        "cpu_nan",
        "duration_inf",
        "result_nan",
        "stdout_surrogate",
        "error_surrogate",
        "count_overflow",
    ],  # fmt: skip
)
async def test_one_unstorable_record_loses_no_other_and_is_stored_as_failed(
    database, monkeypatch, bad
):
    engine, sessions = database
    monkeypatch.setattr(record_writer, "RETRY_DELAYS_S", ())
    writer = RecordWriter(engine, linger_s=10)
    writer.start()
    try:
        inserted = [row() for _ in range(12)]
        for r in inserted:
            writer.insert(r)
        await writer.flush()
        running = [row() for _ in range(12)]
        for r in running:  # inserted and finished in the same batch as the bad update
            writer.insert(r)
        everyone = inserted + running
        poisoned = inserted[5]["id"]
        for r in everyone:
            values = finished(**bad) if r["id"] == poisoned else finished()
            writer.update(r["id"], values, when=ACTIVE_STATES)
        await writer.flush()
        rows = await read_rows(sessions, [r["id"] for r in everyone])
    finally:
        await writer.stop()
    assert len(rows) == len(everyone)
    honest = [r for i, r in rows.items() if i != poisoned]
    assert {(r.state, r.status, r.stdout, r.cpu_ms) for r in honest} == {
        (DONE, "ok", "printed", 2.0)
    }
    failed = rows[poisoned]
    assert (failed.state, failed.status) == (FAILED, "error")
    assert failed.error["type"] == "RecordNotStored"
    assert "could not be stored" in failed.error["message"]
    assert failed.finished_at is not None and failed.code == "1"  # what could be kept, kept


async def test_an_unstorable_new_row_finished_in_its_insert_is_stored_as_failed(
    database, monkeypatch
):
    engine, sessions = database
    monkeypatch.setattr(record_writer, "RETRY_DELAYS_S", ())
    writer = RecordWriter(engine, linger_s=10)
    writer.start()
    try:
        good, bad = row(), row()
        writer.insert(good)
        writer.insert(bad)
        writer.update(good["id"], finished(), when=ACTIVE_STATES)
        writer.update(bad["id"], finished(cpu_ms=float("nan")), when=ACTIVE_STATES)
        await writer.flush()
        rows = await read_rows(sessions, [good["id"], bad["id"]])
    finally:
        await writer.stop()
    assert (rows[good["id"]].state, rows[good["id"]].cpu_ms) == (DONE, 2.0)
    assert (rows[bad["id"]].state, rows[bad["id"]].cpu_ms) == (FAILED, 0.0)
    assert rows[bad["id"]].stdout == "printed"


def test_storable_replaces_what_json_and_the_database_cannot_hold():
    assert record_writer.storable("cpu_ms", float("nan")) == 0.0
    assert record_writer.storable("stdout", "a\ud800b") == "a\ufffdb"
    assert record_writer.storable("result", {"k": [float("inf"), "\udc00"]}) == {
        "k": [None, "\ufffd"]
    }
    assert record_writer.storable("code_sha256", "0" * 64) == "0" * 64


def gated_writer(
    engine: Any, linger_s: float, later_s: float = 0.0
) -> tuple[RecordWriter, asyncio.Event, list[list[str]]]:
    """A writer whose first batch is being written until the gate is set, each later one taking
    `later_s`; with the gate, and the ids of each batch as its write began."""
    writer = RecordWriter(engine, linger_s=linger_s)
    gate = asyncio.Event()
    begun: list[list[str]] = []
    write = writer._write

    async def gated(ops: list[Any]) -> None:
        begun.append([op["id"] for op in ops])
        if len(begun) == 1:
            await gate.wait()
        elif later_s:
            await asyncio.sleep(later_s)
        await write(ops)

    writer._write = gated  # type: ignore[method-assign]
    return writer, gate, begun


async def test_a_write_made_during_a_batchs_write_waits_its_own_linger_not_a_new_one(database):
    """The linger runs from a batch's first write: one whose linger passed while the batch
    before it was being written goes as soon as that write ends, not a whole linger later."""
    engine, _sessions = database
    writer, gate, begun = gated_writer(engine, 0.05)
    writer.start()
    try:
        first, second = row(), row()
        writer.insert(first)
        first_written = writer.written(urgent=True)
        await asyncio.sleep(0.01)
        assert begun == [[first["id"]]]
        writer.insert(second)
        await asyncio.sleep(0.2)  # its linger passes while the first batch is written
        gate.set()
        await first_written
        for _ in range(10):  # turns of the loop, no linger
            await asyncio.sleep(0)
        assert begun == [[first["id"]], [second["id"]]]
    finally:
        gate.set()
        await writer.stop()


async def test_a_batch_taken_while_the_writer_stops_is_written_whole_not_cut_off(
    database: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A write made while stop() flushes (an execution ending as the server stops) whose linger
    passes meanwhile goes as the next batch once the one being written ends: stop() lets that
    batch be written before it ends the writer, it does not cancel it in the middle (its
    records would be lost, with nothing logged)."""
    engine, sessions = database
    writer, gate, begun = gated_writer(engine, 0.01, later_s=0.05)  # the next one takes a while
    writer.start()
    first, late = row(), row()
    writer.insert(first)
    writer.written(urgent=True)
    await asyncio.sleep(0.01)
    assert begun == [[first["id"]]]
    stopping = asyncio.create_task(writer.stop())
    await asyncio.sleep(0)  # stop() waits for the batch being written
    writer.insert(late)
    await asyncio.sleep(0.05)  # its linger passes while the first batch is written
    with caplog.at_level("ERROR", logger="terrarium.records"):
        gate.set()
        await stopping
    assert begun == [[first["id"]], [late["id"]]]
    assert not [r for r in caplog.records if r.name == "terrarium.records"]
    assert await states(sessions, [first["id"], late["id"]]) == {
        first["id"]: (RUNNING, None),
        late["id"]: (RUNNING, None),
    }
