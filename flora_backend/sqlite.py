"""The backend's SQLite driver: SQLAlchemy's aiosqlite dialect with at most one trip to the
connection's thread per statement instead of four, none for a statement that cannot wait for a
lock (a write transaction of the backend's own makes none, but for the few commits that
checkpoint the WAL or start it again), and the engine's write transactions taking turns in the
event loop instead of in SQLite's busy handler.

aiosqlite runs each sqlite3 call on the connection's own thread and wakes the event loop with
its answer. SQLAlchemy's adapter makes a statement four such calls (make a cursor, execute,
fetch the rows, close the cursor), and every connection's return to the pool a fifth (the
rollback); on a virtual machine each wake-up of the other thread costs more than SQLite's own
work on a small statement. Here:
- a statement that cannot wait for a lock runs on the loop's thread, in the microseconds SQLite
  takes: a SELECT outside a transaction (WAL: readers never wait for the writer) and any
  statement inside the write transaction the connection holds (it has SQLite's write lock);
- the statement that opens a write transaction, once it holds the engine's turn (below), is
  tried on the loop's thread with SQLite's busy timeout at 0: no writer of this engine holds the
  lock then, so it is taken at once; only when another process holds it does the statement go
  to the connection's thread, where SQLite's busy handler waits;
- the commit of a write transaction runs on the loop's thread (WAL with synchronous=NORMAL: it
  appends to the WAL, waits for no lock and syncs nothing). SQLite's automatic checkpoint
  (which syncs) is off for these connections; every `CHECKPOINT_EVERY`-th commit of the engine
  is made on the connection's thread instead and checkpoints the WAL there. A commit that may
  write the WAL's first frame (into a new WAL, or after any connection's checkpoint copied
  every frame back, as the WAL index shared by every connection says: SQLite then starts the
  WAL again and syncs its header, whatever `synchronous` says) is made on the connection's
  thread too (`WalIndex`), and so is every commit where the WAL index cannot be read;
- any other statement (DDL, pragmas, a rollback) is one call that does all four on the
  connection's thread;
- commit and rollback are skipped when SQLite says no transaction is open (what sqlite3's own
  commit and rollback would then do: nothing).
Either way the rows, the description, the row count and the last row id come back with the
statement. The SQL, the transactions and their isolation are the same.

SQLite lets one connection write at a time. A second writer of the same process used to wait in
SQLite's busy handler, which sleeps 1, 2, 5, 10 ms and more between tries on its thread while the
first one's transaction had long ended. Here a connection's write transaction first takes the
engine's turn (an asyncio lock, taken when the statement that opens the transaction is about to
run, the point at which SQLite would take its own lock, and given back when the transaction
ends), so writers of one engine go one after another with no sleep in between; a statement that
does not write (a read, a pragma) takes no turn. Another process, or another engine on the same
file, is still waited for by SQLite's busy handler. A turn waited for longer than the busy
timeout (`BUSY_TIMEOUT_S`, as db.py sets SQLite's) fails as SQLite would ("database is locked").

`register()` makes the dialect known as `sqlite+terrarium_aiosqlite`; `one_hop_url(url)` gives
that URL for an aiosqlite one (any other is returned as it is).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import sqlite3
import struct
import weakref
from typing import Any

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
    SQLiteDialect_aiosqlite,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

DRIVER = "terrarium_aiosqlite"
BUSY_TIMEOUT_S = 30.0  # how long a write waits for its turn, as SQLite's busy timeout (db.py)
# An engine's WAL is checkpointed by its every this-many-th commit (SQLite's own automatic
# checkpoint, after 1,000 pages, is off for this driver's connections: see `commit`).
CHECKPOINT_EVERY = 64

log = logging.getLogger("terrarium.backend.sqlite")

# (description, rowcount, lastrowid, rows) of one statement, read on the connection's thread.
_Outcome = tuple[Any, int, "int | None", "list[Any] | None"]

# The statements that take SQLite's write lock or open the transaction that will (sqlite3 opens
# one before INSERT, UPDATE, DELETE and REPLACE): only they wait for the engine's turn. Any
# other (a plain or CTE read, a pragma, a new connection's setup) waits for none, as WAL lets
# it; one that writes all the same (a CTE's INSERT, a pragma that sets) is an autocommit
# statement on the connection's thread, where SQLite's busy handler waits as it always did.
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "BEGIN", "SAVEPOINT", "CREATE", "DROP", "ALTER")


def _writes(operation: str) -> bool:
    return operation[:9].upper().startswith(_WRITES)


# The statements sqlite3 begins a transaction for (it sends BEGIN before them): the statement
# that opens a write transaction is one of these.
_DML = ("INSERT", "UPDATE", "DELETE", "REPLACE")


def _opens_write(operation: str) -> bool:
    return operation[:7].upper().startswith(_DML)


def _run(conn: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> _Outcome:
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description else None
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor whose statement is executed, fetched and closed in one call on the
    connection's thread; what the caller reads afterwards is kept here."""

    __slots__ = ("_description", "_rowcount", "_lastrowid", "_arraysize")

    def __init__(self, adapt_connection: Any) -> None:  # no aiosqlite cursor is made
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1  # sqlite3's: `fetchmany()` with no size reads it

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    async def _call(self, operation: Any, parameters: Any, many: bool) -> None:
        adapt: OneHopConnection = self._adapt_connection  # type: ignore[assignment]
        connection = self._connection
        outcome: _Outcome
        if adapt.cannot_wait(operation):
            outcome = _run(connection._conn, operation, parameters, many)
        else:
            await adapt.take_turn(operation)
            try:
                tried = adapt.try_without_waiting(operation, parameters, many)
                if tried is not None:
                    outcome = tried
                else:
                    async with adapt._execute_mutex:
                        outcome = await adapt.on_thread(
                            _run, connection._conn, operation, parameters, many
                        )
            finally:
                adapt.end_turn_unless_writing()
        self._description, self._rowcount, self._lastrowid, rows = outcome
        self._rows = collections.deque(rows or ())

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        await self._call(operation, parameters, False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        await self._call(operation, seq_of_parameters, True)

    async def _async_soft_close(self) -> None:
        return None  # closed on its thread already

    def close(self) -> None:
        self._rows.clear()


class WriteTurns:
    """One engine's turns to write: an asyncio lock, made on first use (in the loop that uses
    the engine), and its commits since the last that checkpointed the WAL."""

    def __init__(self) -> None:
        self._lock: asyncio.Lock | None = None
        self.commits = 0

    def count_commit(self) -> bool:
        """A commit counted: False for the one that is to checkpoint the WAL."""
        self.commits = (self.commits + 1) % CHECKPOINT_EVERY
        return self.commits != 0

    @property
    def lock(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    """Statements through `OneHopCursor`; commit and rollback only inside a transaction; the
    engine's write turn held for as long as this connection's write transaction is open."""

    __slots__ = ("_turns", "_turn", "_wal_index", "_queued", "_finished", "__weakref__")
    _cursor_cls = OneHopCursor

    def __init__(self, dbapi: Any, connection: Any, turns: WriteTurns) -> None:
        super().__init__(dbapi, connection)
        self._turns = turns
        # Set while this connection holds the turn: gives it back if the connection is dropped
        # without its transaction ending (garbage collected, as SQLite's lock would be).
        self._turn: weakref.finalize[Any, Any] | None = None
        # The database's WAL index (`-shm`), opened to read at this connection's first commit;
        # None before, or when there is none to read (then every commit goes to the thread).
        self._wal_index: WalIndex | None = None
        # Calls queued to the connection's thread, and calls it finished (each written by one
        # thread only): equal when the thread is idle. A call whose caller was cancelled still
        # runs there, so the loop's thread uses the connection only when they are equal.
        self._queued = 0
        self._finished = 0

    async def on_thread(self, fn: Any, *args: Any) -> Any:
        """`fn(*args)` on the connection's thread."""

        def call() -> Any:
            try:
                return fn(*args)
            finally:
                self._finished += 1

        self._queued += 1
        return await self._connection._execute(call)

    def _thread_idle(self) -> bool:
        return self._queued == self._finished

    def _in_transaction(self) -> bool:
        # Read on the loop's thread while the connection's thread is idle (or, where it is
        # not, only to decide to queue what would come after): a flag SQLite keeps, no I/O.
        conn = self._connection._connection
        return conn is not None and conn.in_transaction

    def _end_on_thread(self, name: str) -> None:
        """Commit or roll back on the connection's thread, unless its thread is idle and no
        transaction is open (sqlite3 would then do nothing)."""
        conn = self._connection._connection
        if conn is None or (self._thread_idle() and not conn.in_transaction):
            return
        try:
            await_(self.on_thread(getattr(conn, name)))
        except Exception as error:
            self._handle_exception(error)

    def cannot_wait(self, operation: str) -> bool:
        """Whether the statement can run on the loop's thread: it cannot wait for a lock. A
        SELECT outside a transaction reads a snapshot of the WAL (readers never wait for the
        writer); any statement inside the write transaction this connection holds has SQLite's
        write lock already. (SQLite makes a reader wait only while a crashed writer's WAL index
        is rebuilt; the busy handler then waits as on the thread.) The rest (the statement
        that opens a write transaction, a commit, DDL and pragmas) goes to the thread."""
        if not self._thread_idle():
            return False
        if self._turn is not None:
            return self._in_transaction()
        return operation[:6].upper() == "SELECT" and not self._in_transaction()

    def try_without_waiting(self, operation: str, parameters: Any, many: bool) -> _Outcome | None:
        """The statement that opens this connection's write transaction, run on the loop's
        thread with SQLite's busy timeout at 0 while it holds the engine's turn: no other
        writer of this engine can hold SQLite's lock then, so it is taken at once. None (and
        nothing left open) when another process holds the lock or this is no such statement:
        the caller then runs it on the connection's thread, where SQLite's busy handler waits."""
        if self._turn is None or not self._thread_idle() or not _opens_write(operation):
            return None
        conn: sqlite3.Connection = self._connection._conn
        if conn.in_transaction:
            return None
        busy_ms = conn.execute("PRAGMA busy_timeout").fetchone()[0]
        conn.execute("PRAGMA busy_timeout=0").close()
        try:
            return _run(conn, operation, parameters, many)
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                raise
            if conn.in_transaction:  # the transaction sqlite3 began for it, with no lock
                conn.rollback()
            return None
        finally:
            conn.execute(f"PRAGMA busy_timeout={int(busy_ms)}").close()

    async def take_turn(self, operation: str) -> None:
        """Wait for the engine's turn before a statement that may open a write transaction
        (`_WRITES`), outside a transaction this connection already has."""
        if self._turn is not None or not _writes(operation):
            return
        if self._in_transaction():
            return  # a transaction opened before the turns were taken (none here): as before
        lock = self._turns.lock
        if not lock.locked():
            await lock.acquire()  # free: taken without waiting
        else:
            try:  # not wait_for: on 3.11 it loses a cancel that comes with the lock
                async with asyncio.timeout(BUSY_TIMEOUT_S):
                    await lock.acquire()
            except TimeoutError:
                raise sqlite3.OperationalError("database is locked") from None
        self._turn = weakref.finalize(self, _give_back, lock, asyncio.get_running_loop())

    def end_turn_unless_writing(self) -> None:
        if self._turn is not None and self._thread_idle() and not self._in_transaction():
            self._end_turn()

    def _end_turn(self) -> None:
        turn, self._turn = self._turn, None
        if turn is not None:
            turn.detach()
            lock = self._turns.lock
            if lock.locked():
                lock.release()

    def rollback(self) -> None:
        try:
            self._end_on_thread("rollback")
        finally:
            self._end_turn()

    def commit(self) -> None:
        """A write transaction this connection holds the turn for is committed on the loop's
        thread (WAL with synchronous=NORMAL: the commit appends to the WAL; it neither waits
        for a lock nor syncs), except the engine's every `CHECKPOINT_EVERY`-th commit, which
        is made on the connection's thread and checkpoints the WAL there (this driver's
        connections make no automatic checkpoint, which syncs both files), and a commit that
        may start the WAL again (`WalIndex.starts_again`: SQLite syncs the WAL's header then),
        also made there. Any other commit goes to the connection's thread, as before."""
        try:
            conn = self._connection._connection
            if conn is None or (self._thread_idle() and not conn.in_transaction):
                return
            checkpoint = not self._turns.count_commit()
            try:
                if (
                    checkpoint
                    or self._turn is None
                    or not self._thread_idle()
                    or self._wal_starts_again(conn)
                ):
                    await_(self.on_thread(_commit, conn, checkpoint))
                else:
                    conn.commit()
            except Exception as error:
                self._handle_exception(error)
        finally:
            self.end_turn_unless_writing()

    def _wal_starts_again(self, conn: sqlite3.Connection) -> bool:
        """Whether this commit may write the WAL's first frame (read on the loop's thread while
        the connection's thread is idle): True where the WAL index cannot be read."""
        index = self._wal_index
        if index is None:
            index = self._wal_index = WalIndex.of(conn)
        return index.starts_again()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._wal_index = None  # SQLite's descriptor, not to be read once closed
            self._end_turn()

    def terminate(self) -> None:
        # SQLAlchemy terminates a dropped connection from the garbage collector, on whatever
        # thread collects it, mid-way through whatever that thread was doing: the turn is given
        # back on the loop's thread, in a turn of its own (asyncio's lock is not thread-safe).
        try:
            super().terminate()
        finally:
            self._wal_index = None  # SQLite's descriptor, not to be read once closed
            turn, self._turn = self._turn, None
            if turn is not None:
                turn()  # _give_back


class WalIndex:
    """A database's WAL index (the `-shm` file SQLite shares between the connections of every
    process on the database, in a layout all SQLite versions keep: sqlite.org/walformat.html),
    read for two of its numbers: the last frame committed to the WAL (`mxFrame`, in the index's
    header) and the last one checkpointed into the database (`nBackfill`).

    A commit's first frame is the WAL's first when the WAL is new, or when every frame was
    copied back (by any connection's checkpoint, of any process) before its transaction began:
    SQLite then starts the WAL again, writing its header, which it syncs whatever `synchronous`
    says. That is so when the two numbers are equal while the committing connection holds the
    write lock (no other writer can add a frame meanwhile; a checkpoint during the transaction
    may make them equal too, and such a commit goes to the thread for nothing).

    The index is read through SQLite's own descriptor of the file (found in /proc/self/fd),
    never one opened here: closing any descriptor of a file drops every POSIX lock the process
    holds on it, SQLite's included. That descriptor stays open while a connection of this
    process uses the index, so it is read only for the connection that found it, while it is
    open. Where it cannot be found (not Linux, not WAL, a database in memory), every commit is
    made on the connection's thread."""

    __slots__ = ("_fd",)
    _HEAD = 100  # mxFrame at 16 in the first header copy, nBackfill at 96 (native byte order)

    def __init__(self, fd: int | None) -> None:
        self._fd = fd

    @classmethod
    def of(cls, conn: sqlite3.Connection) -> WalIndex:
        """The WAL index of the connection's database, as its open connection holds it."""
        try:
            if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                return cls(None)
            path = next(
                (row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main"), ""
            )
            if not path:
                return cls(None)
            shm = os.path.realpath(f"{path}-shm")
            for name in os.listdir("/proc/self/fd"):
                try:
                    if os.readlink(f"/proc/self/fd/{name}") == shm:
                        return cls(int(name))
                except OSError:
                    continue  # closed meanwhile, or the directory's own descriptor
        except (sqlite3.Error, OSError):
            pass
        return cls(None)

    def starts_again(self) -> bool:
        if self._fd is None:
            return True
        try:
            head = os.pread(self._fd, self._HEAD, 0)
        except OSError:
            return True
        if len(head) < self._HEAD:
            return True
        committed, copied = _U32.unpack_from(head, 16)[0], _U32.unpack_from(head, 96)[0]
        return bool(committed == copied)


_U32 = struct.Struct("=I")


def _commit(conn: sqlite3.Connection, checkpoint: bool) -> None:
    conn.commit()
    if not checkpoint:
        return
    # As SQLite's automatic checkpoint: PASSIVE (it waits for no reader or writer), and its
    # failure (a full disk, say) leaves the commit made; the next checkpoint tries again.
    try:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").close()
    except sqlite3.Error:
        log.warning("the WAL's checkpoint failed; the next one tries again", exc_info=True)


def _give_back(lock: asyncio.Lock, loop: asyncio.AbstractEventLoop) -> None:
    """A dropped connection's turn given back, in its loop (collection may run anywhere)."""
    if not loop.is_closed():
        loop.call_soon_threadsafe(lambda: lock.release() if lock.locked() else None)


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI module of one engine (SQLAlchemy makes one per engine): its connections and
    their write turns."""

    def __init__(self, aiosqlite: Any, sqlite: Any) -> None:
        super().__init__(aiosqlite, sqlite)
        self.turns = WriteTurns()

    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        # The loop's thread reads `in_transaction` (above), so sqlite3 must allow it.
        kw["check_same_thread"] = False
        connection = self.aiosqlite.connect(*arg, **kw)
        connection._thread.daemon = True
        adapted = OneHopConnection(self, await_(connection), self.turns)
        # No automatic checkpoint at a commit, which may run on the loop's thread: the engine's
        # every `CHECKPOINT_EVERY`-th commit checkpoints on the connection's thread instead.
        adapted._connection._conn.execute("PRAGMA wal_autocheckpoint=0").close()
        return adapted


class OneHopDialect(SQLiteDialect_aiosqlite):
    driver = DRIVER
    supports_statement_cache = True
    supports_server_side_cursors = False  # every result is fetched with its statement

    @classmethod
    def import_dbapi(cls) -> AsyncAdapt_aiosqlite_dbapi:
        return OneHopDBAPI(__import__("aiosqlite"), __import__("sqlite3"))


dialect = OneHopDialect


def available() -> bool:
    """Whether the installed aiosqlite has what this driver calls: a connection that holds its
    thread (0.22 and later) and queues a function to it (`_execute`)."""
    import threading

    import aiosqlite

    connection = aiosqlite.Connection
    return hasattr(connection, "_execute") and not issubclass(connection, threading.Thread)


def register() -> None:
    registry.register(f"sqlite.{DRIVER}", __name__, "OneHopDialect")


def one_hop_url(url: str) -> str | URL:
    """`url` with this driver when it names aiosqlite (and the driver can run), else `url`."""
    parsed = make_url(url)
    if parsed.drivername != "sqlite+aiosqlite" or not available():
        return url
    register()
    return parsed.set(drivername=f"sqlite+{DRIVER}")
