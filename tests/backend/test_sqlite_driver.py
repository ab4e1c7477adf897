"""The backend's SQLite driver (flora_backend/sqlite.py): a statement that cannot wait for a lock
runs without a trip to the connection's thread, one that can is one trip, commit and rollback
outside a transaction are none; write transactions of one engine take turns in the event loop
(a second writer waits for the first one's end, never in SQLite's busy handler), a turn is
given back however the transaction ends, and a turn waited for too long fails as SQLite would."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import event, select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from flora_backend import sqlite as driver
from flora_backend.db import create_engine, init_db, session_factory, utcnow
from flora_backend.settings import BackendSettings
from flora_backend.store import Project, Workspace


@pytest.fixture
async def engine(tmp_path):
    engine = create_engine(BackendSettings(data_dir=tmp_path, database_url=None))
    assert engine.dialect.driver == driver.DRIVER
    await init_db(engine)
    async with session_factory(engine)() as s, s.begin():
        s.add(Workspace(id="ws_a", name="a", credits=10, webhook_secret="whsec_x",
                        is_default=False, created_at=utcnow()))  # fmt: skip
    yield engine
    await engine.dispose()


class Trips:
    """Counts the functions queued to aiosqlite connections' threads."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = aiosqlite.Connection._execute

        async def counted(conn: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return await original(conn, fn, *args, **kwargs)

        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)


async def test_reads_and_a_write_transaction_make_no_trip(engine, monkeypatch):
    sessions = session_factory(engine)
    async with sessions() as s:  # warm the pool: connecting is trips of its own
        await s.get(Workspace, "ws_a")
    trips = Trips(monkeypatch)
    async with sessions() as s:
        ws = await s.get(Workspace, "ws_a")
        rows = (await s.execute(select(Workspace.id, Workspace.credits))).all()
    assert ws is not None and ws.credits == 10 and rows == [("ws_a", 10)]
    assert trips.count == 0  # two SELECTs on the loop, no rollback to make
    async with sessions() as s, s.begin():
        await s.execute(update(Workspace).values(credits=Workspace.credits - 1))
        await s.execute(update(Workspace).values(credits=Workspace.credits - 1))
        assert (await s.get(Workspace, "ws_a", populate_existing=True)).credits == 8
    assert trips.count == 0  # the statement that opened the transaction, the commit: the loop
    async with sessions() as s:
        assert (await s.get(Workspace, "ws_a")).credits == 8


async def test_results_rowcounts_and_errors_as_sqlite_gives_them(engine):
    sessions = session_factory(engine)
    async with sessions() as s, s.begin():
        matched = await s.execute(
            update(Workspace).where(Workspace.id == "ws_none").values(credits=1)
        )
        assert matched.rowcount == 0
        s.add(Project(id="prj_1", workspace_id="ws_a", name="p", created_at=utcnow()))
    with pytest.raises(Exception) as caught:
        async with sessions() as s, s.begin():
            s.add(Project(id="prj_1", workspace_id="ws_a", name="again", created_at=utcnow()))
    assert "UNIQUE" in str(caught.value)
    async with sessions() as s:
        names = (await s.execute(select(Project.name))).scalars().all()
        assert names == ["p"]
        assert (await s.execute(text("SELECT 1 + 1"))).scalar() == 2


def no_busy_wait(engine) -> None:
    """SQLite answers "database is locked" at once instead of waiting (busy timeout 0)."""

    @event.listens_for(engine.sync_engine, "connect")
    def _no_wait(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=0")
        cursor.close()


async def test_write_transactions_take_turns_instead_of_sqlite_waiting(tmp_path):
    engine = create_engine(BackendSettings(data_dir=tmp_path, database_url=None))
    no_busy_wait(engine)
    await init_db(engine)
    sessions = session_factory(engine)
    async with sessions() as s, s.begin():
        s.add(Workspace(id="ws_a", name="a", credits=10, webhook_secret="whsec_x",
                        is_default=False, created_at=utcnow()))  # fmt: skip
    first_wrote, second_may_go = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with sessions() as s, s.begin():
            await s.execute(update(Workspace).values(credits=Workspace.credits - 1))
            first_wrote.set()
            await second_may_go.wait()  # holds SQLite's write lock meanwhile

    async def second() -> None:
        await first_wrote.wait()
        async with sessions() as s, s.begin():
            await s.execute(update(Workspace).values(credits=Workspace.credits - 2))

    one, two = asyncio.create_task(first()), asyncio.create_task(second())
    await first_wrote.wait()
    await asyncio.sleep(0.05)
    assert not two.done()  # waiting for its turn (SQLite, not waiting, would have refused it)
    second_may_go.set()
    await asyncio.gather(one, two)
    async with sessions() as s:
        assert (await s.get(Workspace, "ws_a")).credits == 7
    await engine.dispose()


async def test_a_failed_or_abandoned_transaction_gives_its_turn_back(engine):
    sessions = session_factory(engine)
    with pytest.raises(RuntimeError):
        async with sessions() as s, s.begin():
            await s.execute(update(Workspace).values(credits=1))
            raise RuntimeError("the handler failed")
    task_wrote = asyncio.Event()

    async def abandoned() -> None:
        async with sessions() as s, s.begin():
            await s.execute(update(Workspace).values(credits=2))
            task_wrote.set()
            await asyncio.sleep(3600)

    task = asyncio.create_task(abandoned())
    await task_wrote.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with asyncio.timeout(5), sessions() as s, s.begin():
        await s.execute(update(Workspace).values(credits=Workspace.credits + 5))
    async with sessions() as s:
        assert (await s.get(Workspace, "ws_a")).credits == 15  # neither write was kept


async def test_a_turn_waited_for_too_long_fails_as_sqlite_would(engine, monkeypatch):
    monkeypatch.setattr(driver, "BUSY_TIMEOUT_S", 0.1)
    sessions = session_factory(engine)
    holding, done = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with sessions() as s, s.begin():
            await s.execute(update(Workspace).values(credits=1))
            holding.set()
            await done.wait()

    task = asyncio.create_task(hold())
    await holding.wait()
    with pytest.raises(OperationalError) as caught:
        async with sessions() as s, s.begin():
            await s.execute(update(Workspace).values(credits=2))
    assert isinstance(caught.value.orig, sqlite3.OperationalError)
    assert "database is locked" in str(caught.value)
    done.set()
    await task
    async with sessions() as s:
        assert (await s.get(Workspace, "ws_a")).credits == 1


async def test_statements_that_do_not_write_never_wait_for_a_turn(engine, monkeypatch):
    """Only a statement that writes (or opens a transaction) waits for the engine's turn: a read
    that is not a plain SELECT (a CTE, a pragma) and a new connection's own pragmas go on while
    another connection's write transaction is open, as SQLite's WAL lets them."""
    monkeypatch.setattr(driver, "BUSY_TIMEOUT_S", 0.2)
    async with engine.connect() as writing:
        await writing.execute(update(Workspace).values(credits=1))  # holds the turn
        reads = [
            "WITH x AS (SELECT credits FROM backend_workspaces) SELECT credits FROM x",
            "PRAGMA foreign_keys",
        ]
        async with engine.connect() as other:  # a new connection: its pragmas run first
            assert (await other.execute(text(reads[0]))).all() == [(10,)]
            assert (await other.execute(text(reads[1]))).all() == [(1,)]
        await writing.rollback()


async def test_fetchmany_without_a_size_takes_the_cursors_arraysize(engine):
    """`Result.fetchmany()` with no size asks the DBAPI cursor for its `arraysize` (1 in sqlite3),
    as it did through aiosqlite."""
    async with engine.connect() as c:
        result = await c.execute(text("SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3"))
        assert result.fetchmany() == [(1,)]
        assert result.fetchmany(5) == [(2,), (3,)]


class ThreadNotingLock(asyncio.Lock):
    """An asyncio lock that notes the thread each release ran on."""

    def __init__(self) -> None:
        super().__init__()
        self.released_on: list[int] = []

    def release(self) -> None:
        self.released_on.append(threading.get_ident())
        super().release()


async def a_writer_waiting_for_its_turn(engine: AsyncEngine) -> asyncio.Task[None]:
    """A task adding 5 to every workspace's credits, started and found waiting for the turn
    another connection holds."""

    async def write() -> None:
        async with engine.begin() as c:
            await c.execute(update(Workspace).values(credits=Workspace.credits + 5))

    waiting = asyncio.create_task(write())
    await asyncio.sleep(0.05)
    assert not waiting.done()  # waiting for the turn
    return waiting


async def test_a_terminated_connection_gives_its_turn_back_through_its_loop(engine):
    """SQLAlchemy terminates a dropped connection from the garbage collector, on whatever thread
    collects it: the turn it held is given back on its event loop's thread (asyncio's lock is
    not thread-safe), and the writer waiting for it goes on."""
    holder = await engine.connect()
    raw = (await holder.get_raw_connection()).dbapi_connection
    assert isinstance(raw, driver.OneHopConnection)
    lock = raw._turns._lock = ThreadNotingLock()
    await holder.execute(update(Workspace).values(credits=1))  # holds the turn

    waiting = await a_writer_waiting_for_its_turn(engine)
    await asyncio.to_thread(raw.terminate)  # as the collector would, off the loop's thread
    async with asyncio.timeout(5):
        await waiting
    assert lock.released_on[0] == threading.get_ident()
    # The terminated connection's thread stops once it has closed SQLite's connection; closing
    # it again before then would queue a stop that thread never runs (aiosqlite), so the test
    # waits for it (the waiting writer can end between SQLite's close and that stop).
    await asyncio.to_thread(raw._connection._thread.join, 5)
    await holder.invalidate()
    await holder.close()
    async with engine.connect() as c:
        assert (await c.execute(select(Workspace.credits))).scalar() == 15  # 1 was not kept


async def test_a_writer_cancelled_as_its_turn_comes_is_cancelled(engine):
    """A writer cancelled in the very turn of the loop its turn is handed to it stops there (it
    neither writes nor keeps the turn), as any cancelled await does."""
    holder = await engine.connect()
    await holder.execute(update(Workspace).values(credits=1))  # holds the turn

    waiting = await a_writer_waiting_for_its_turn(engine)
    await holder.rollback()  # gives the turn back: the waiter is woken in the next turn
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await holder.close()
    async with asyncio.timeout(5), engine.begin() as c:  # the turn was not kept
        await c.execute(update(Workspace).values(credits=Workspace.credits + 1))
    async with engine.connect() as c:
        assert (await c.execute(select(Workspace.credits))).scalar() == 11


def database_file(engine: AsyncEngine) -> str:
    database = engine.url.database
    assert database
    return database


async def busy_timeout_ms(engine: AsyncEngine) -> int:
    async with engine.connect() as c:
        return int((await c.execute(text("PRAGMA busy_timeout"))).scalar_one())


async def test_a_write_while_another_process_holds_the_lock_waits_on_the_thread(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The statement that opens a write transaction is tried on the loop without waiting; when
    another process holds SQLite's lock it waits on the connection's thread (SQLite's busy
    handler, the loop free meanwhile), and the connection keeps its busy timeout."""
    before = await busy_timeout_ms(engine)
    other = sqlite3.connect(database_file(engine), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process's write lock
    other.execute("UPDATE backend_workspaces SET credits = 20")
    trips = Trips(monkeypatch)

    async def write() -> None:
        async with session_factory(engine)() as s, s.begin():
            await s.execute(update(Workspace).values(credits=Workspace.credits + 1))

    task = asyncio.create_task(write())
    ticks = 0
    for _ in range(20):  # the loop goes on while the write waits
        await asyncio.sleep(0.01)
        ticks += 1
    assert ticks == 20 and not task.done()
    other.execute("COMMIT")
    other.close()
    async with asyncio.timeout(10):
        await task
    assert trips.count == 1  # the write, on the thread once it had failed on the loop
    async with session_factory(engine)() as s:
        ws = await s.get(Workspace, "ws_a")
    assert ws is not None and ws.credits == 21  # after the other's write
    assert await busy_timeout_ms(engine) == before > 0


async def test_every_few_commits_checkpoint_the_wal_on_the_thread(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The driver's connections make no automatic checkpoint (it syncs the files, and commits
    run on the loop); every `CHECKPOINT_EVERY`-th commit of the engine is made on the
    connection's thread and checkpoints the WAL there (and the commit after it, which starts
    the WAL again, is made there too)."""
    monkeypatch.setattr(driver, "CHECKPOINT_EVERY", 4)
    async with engine.connect() as c:
        assert (await c.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one() == 0
    dbapi = engine.dialect.dbapi
    assert isinstance(dbapi, driver.OneHopDBAPI)
    dbapi.turns.commits = 0  # the count from the start
    sessions = session_factory(engine)
    trips = Trips(monkeypatch)
    path = Path(database_file(engine))
    for n in range(1, 9):
        before = path.read_bytes()
        async with sessions() as s, s.begin():
            await s.execute(update(Workspace).values(credits=Workspace.credits + 1))
        assert trips.count == n // 4 + (n - 1) // 4, n  # each checkpoint, and the next commit
        # a commit appends to the WAL; only a checkpoint writes the database file
        assert (path.read_bytes() != before) == (n % 4 == 0), n


def wal_header(engine: AsyncEngine) -> bytes:
    """The WAL's header (its salts change when SQLite starts the WAL again from its first
    frame, which it writes with the header and syncs, whatever `synchronous` says)."""
    wal = Path(database_file(engine) + "-wal")
    return wal.read_bytes()[:32] if wal.exists() else b""


async def test_a_commit_that_starts_the_wal_again_is_made_on_the_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit that writes the WAL's first frame (the engine's first; the one after a
    checkpoint, once every frame was copied back) syncs the WAL's header: it is made on the
    connection's thread, never on the loop's."""
    monkeypatch.setattr(driver, "CHECKPOINT_EVERY", 4)
    settings = BackendSettings(data_dir=tmp_path, database_url=None)
    first = create_engine(settings)
    await init_db(first)
    async with session_factory(first)() as s, s.begin():
        s.add(Workspace(id="ws_a", name="a", credits=10, webhook_secret="whsec_x",
                        is_default=False, created_at=utcnow()))  # fmt: skip
    await first.dispose()  # the last connection closed: the WAL checkpointed and removed
    engine = create_engine(settings)
    try:
        sessions = session_factory(engine)
        async with sessions() as s:  # the pool warmed: connecting is trips of its own
            await s.get(Workspace, "ws_a")
        trips = Trips(monkeypatch)
        restarted = 0
        for n in range(13):
            header, before = wal_header(engine), trips.count
            async with sessions() as s, s.begin():
                await s.execute(update(Workspace).values(credits=Workspace.credits + 1))
            if wal_header(engine) != header:
                restarted += 1
                assert trips.count > before, n  # written on the thread
        assert restarted >= 3  # the first commit, and after each full checkpoint
        async with sessions() as s:
            ws = await s.get(Workspace, "ws_a")
        assert ws is not None and ws.credits == 23
    finally:
        await engine.dispose()


async def test_a_commit_after_the_engines_connections_closed_is_made_on_the_thread(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last connection to close checkpoints the WAL and removes it: the engine's next
    commit writes a new WAL's header, which SQLite syncs, so it is made on the thread."""
    sessions = session_factory(engine)
    for _ in range(2):  # commits on the loop, the engine's first made already
        async with sessions() as s, s.begin():
            await s.execute(update(Workspace).values(credits=Workspace.credits + 1))
    await engine.dispose()  # its connections closed; the engine is used again below
    assert wal_header(engine) == b""
    async with sessions() as s:  # a new connection: connecting is trips of its own
        await s.get(Workspace, "ws_a")
    trips = Trips(monkeypatch)
    async with sessions() as s, s.begin():
        await s.execute(update(Workspace).values(credits=Workspace.credits + 1))
    assert wal_header(engine) != b""
    assert trips.count == 1  # the commit, on the thread
    async with sessions() as s, s.begin():
        await s.execute(update(Workspace).values(credits=Workspace.credits + 1))
    assert trips.count == 1  # the next on the loop again
    async with sessions() as s:
        ws = await s.get(Workspace, "ws_a")
    assert ws is not None and ws.credits == 14


async def test_a_commit_after_another_connections_checkpoint_is_made_on_the_thread(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another connection on the file (the runtime's engine and record writer share the
    backend's database; a tool) may checkpoint the whole WAL: the engine's next commit starts
    the WAL again and syncs its header, so it is made on the thread; the one after is not."""
    sessions = session_factory(engine)
    for _ in range(2):
        async with sessions() as s, s.begin():
            await s.execute(update(Workspace).values(credits=Workspace.credits + 1))
    other = sqlite3.connect(database_file(engine))
    try:
        busy, frames, copied = other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    finally:
        other.close()
    assert busy == 0 and frames == copied > 0  # every frame copied back
    trips = Trips(monkeypatch)
    header = wal_header(engine)
    async with sessions() as s, s.begin():
        await s.execute(update(Workspace).values(credits=Workspace.credits + 1))
    assert wal_header(engine) != header  # started again
    assert trips.count == 1  # the commit, on the thread
    async with sessions() as s, s.begin():
        await s.execute(update(Workspace).values(credits=Workspace.credits + 1))
    assert trips.count == 1
    async with sessions() as s:
        ws = await s.get(Workspace, "ws_a")
    assert ws is not None and ws.credits == 14


class CheckpointFails(sqlite3.Connection):
    """A connection whose checkpoints fail (as on a full disk); anything else as sqlite3's."""

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql.upper().startswith("PRAGMA WAL_CHECKPOINT"):
            raise sqlite3.OperationalError("database or disk is full")
        return super().execute(sql, *args)


async def test_a_commit_whose_checkpoint_fails_is_still_a_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The commit that checkpoints the WAL has committed when its checkpoint fails: it answers
    as a commit (as SQLite's automatic checkpoint, whose failure leaves the commit alone), the
    failure logged; the next checkpoint tries again."""
    monkeypatch.setattr(driver, "CHECKPOINT_EVERY", 2)
    engine = create_async_engine(
        driver.one_hop_url(f"sqlite+aiosqlite:///{tmp_path / 'backend.db'}"),
        connect_args={"timeout": 30, "factory": CheckpointFails},
    )
    try:
        await init_db(engine)
        async with session_factory(engine)() as s, s.begin():
            s.add(Workspace(id="ws_a", name="a", credits=10, webhook_secret="whsec_x",
                            is_default=False, created_at=utcnow()))  # fmt: skip
        for _ in range(4):  # two of them checkpoint
            async with session_factory(engine)() as s, s.begin():
                await s.execute(update(Workspace).values(credits=Workspace.credits + 1))
        async with session_factory(engine)() as s:
            ws = await s.get(Workspace, "ws_a")
        assert ws is not None and ws.credits == 14
        assert "checkpoint" in caplog.text
    finally:
        await engine.dispose()
