"""The backend's SQLite driver: SQLAlchemy's aiosqlite dialect with at most one trip to the
connection's thread per statement instead of four, none for a statement that cannot wait for a
lock, and the engine's write transactions taking turns in the event loop instead of in SQLite's
busy handler.

aiosqlite runs each sqlite3 call on the connection's own thread and wakes the event loop with
its answer. SQLAlchemy's adapter makes a statement four such calls (make a cursor, execute,
fetch the rows, close the cursor), and every connection's return to the pool a fifth (the
rollback); on a virtual machine each wake-up of the other thread costs more than SQLite's own
work on a small statement. Here:
- a statement that cannot wait for a lock runs on the loop's thread, in the microseconds SQLite
  takes: a SELECT outside a transaction (WAL: readers never wait for the writer) and any
  statement inside the write transaction the connection holds (it has SQLite's write lock);
- any other statement (the one that opens a write transaction, a commit, DDL, pragmas) is one
  call that does all four on the connection's thread;
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
import sqlite3
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
    the engine)."""

    def __init__(self) -> None:
        self._lock: asyncio.Lock | None = None

    @property
    def lock(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    """Statements through `OneHopCursor`; commit and rollback only inside a transaction; the
    engine's write turn held for as long as this connection's write transaction is open."""

    __slots__ = ("_turns", "_turn", "_queued", "_finished", "__weakref__")
    _cursor_cls = OneHopCursor

    def __init__(self, dbapi: Any, connection: Any, turns: WriteTurns) -> None:
        super().__init__(dbapi, connection)
        self._turns = turns
        # Set while this connection holds the turn: gives it back if the connection is dropped
        # without its transaction ending (garbage collected, as SQLite's lock would be).
        self._turn: weakref.finalize[Any, Any] | None = None
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
        try:
            self._end_on_thread("commit")
        finally:
            self.end_turn_unless_writing()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._end_turn()

    def terminate(self) -> None:
        # SQLAlchemy terminates a dropped connection from the garbage collector, on whatever
        # thread collects it, mid-way through whatever that thread was doing: the turn is given
        # back on the loop's thread, in a turn of its own (asyncio's lock is not thread-safe).
        try:
            super().terminate()
        finally:
            turn, self._turn = self._turn, None
            if turn is not None:
                turn()  # _give_back


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
        return OneHopConnection(self, await_(connection), self.turns)


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
