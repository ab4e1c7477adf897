"""Writes execution records in the background, many executions per transaction, so a request
never waits for the database.

    writer = RecordWriter(engine, linger_s=0.002)
    writer.start()
    writer.insert(row)                                   # a new execution row (every column)
    writer.update(execution_id, {"state": ...}, when=ACTIVE_STATES)
    await writer.flush()                                 # before reading records
    await writer.stop()                                  # flushes, then stops

On a SQLite file a batch is written by one thread of the writer's own with a plain (synchronous)
connection, handed the whole batch at once: one wake-up there and one back per batch, where the
async driver takes a thread round trip for each step of it (checkout, cursor, statement, commit,
the pool's rollback on return). Elsewhere (PostgreSQL, or SQLite in memory) the engine itself.

Writes wait at most `linger_s` (plus the write in progress) and are applied in the order they
were made: the rows inserted in one batch first (an update of a row still waiting is folded
into its insert), then the updates, grouped so that each shape is one executemany. An update
applies only while the row's state is one of `when` (a reaper on another replica may have failed
it meanwhile).

One bad record never takes others with it: a batch that fails is written again one execution at
a time; an execution that still fails is written as a failed one (status error, an error saying
its record could not be stored, the values that can be stored kept). What fails even then (the
database is down, the tenant is gone) is retried a few times, then dropped and logged with its
ids. Values that JSON or the database cannot hold (NaN, Infinity, lone surrogates) are never
written: `storable` replaces them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Dialect,
    Engine,
    Table,
    bindparam,
    create_engine,
    event,
    insert,
    or_,
    update,
)
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Executable
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from runtime.db import sqlite_pragmas, table_of
from runtime.executions.outcome import clean_text, scrub
from runtime.executions.records import FAILED, ExecutionRow, StrictJSON

log = logging.getLogger("terrarium.records")

TABLE = table_of(ExecutionRow)
RETRY_DELAYS_S = (0.1, 0.5, 2.0)
JSON_COLUMNS = frozenset(c.name for c in TABLE.columns if isinstance(c.type, StrictJSON))
INT_BOUND = 2**31  # what every database's INTEGER holds
NOT_STORED = "its record could not be stored as it was"
MAX_SHAPES = 256  # SQL texts kept per kind of statement (a batch holds a few shapes)


@dataclass
class _Update:
    execution_id: str
    values: dict[str, Any]
    when: tuple[str, ...]


# An update's shape: the columns it sets, and the states the row may be in for it to apply.
_Shape = tuple[tuple[str, ...], tuple[str, ...]]


@dataclass
class _Batch:
    """The writes made since the last batch was taken, and who waits for them to be written."""

    ops: list[dict[str, Any] | _Update] = field(default_factory=list)
    written: asyncio.Future[None] | None = None


class RecordWriter:
    def __init__(self, engine: AsyncEngine, linger_s: float = 0.0) -> None:
        self.engine = engine
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.linger_s = linger_s
        self._batch = _Batch()
        self._in_flight: asyncio.Future[None] | None = None
        self._wake = asyncio.Event()  # set: the batch goes now
        # Started by a batch's first write: sets `_wake` once the linger has passed. The task
        # sleeps until then, so a write made meanwhile costs the loop nothing but its append.
        self._linger: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopped = False  # stop() has ended: a write now cannot be stored
        self._local = _SqliteThread.for_engine(engine)

    # ------------------------------------------------------------------ what callers do

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="terrarium-record-writer")

    def insert(self, row: dict[str, Any]) -> None:
        """A new row (rows naming different columns are inserted by separate statements)."""
        self._add(row)

    def update(self, execution_id: str, values: dict[str, Any], when: tuple[str, ...]) -> None:
        self._add(_Update(execution_id, values, when))

    def written(self, urgent: bool = False) -> asyncio.Future[None]:
        """Set once every write made so far is in the database (done at once when the writer is
        not running); `urgent`: the batch goes now, without waiting out the linger."""
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or not self._batch.ops:
            waiter = self._in_flight
            if waiter is None or self._task is None or self._task.done():
                waiter = loop.create_future()
                waiter.set_result(None)
            return waiter
        if self._batch.written is None:
            self._batch.written = loop.create_future()
        if urgent:
            self.send_now()
        return self._batch.written

    async def flush(self) -> None:
        """Return once every write made before this call is in the database (at once when the
        writer is not running: before start(), after stop())."""
        if self._task is None or self._task.done():
            return
        if self._batch.ops:
            if self._batch.written is None:
                self._batch.written = asyncio.get_running_loop().create_future()
            waiter = self._batch.written
            self.send_now()
        elif self._in_flight is not None:
            waiter = self._in_flight
        else:
            return
        await asyncio.shield(waiter)

    async def stop(self) -> None:
        if self._task is None:
            return
        with contextlib.suppress(Exception):
            await self.flush()
        # A batch the task took meanwhile (writes made during the flush, whose linger passed)
        # is written whole: cancelling the task in the middle of it would lose it, unlogged.
        while self._in_flight is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._in_flight)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        self._stop_linger()
        try:
            if self._batch.ops:  # made while the task was being stopped: written here
                batch, self._batch = self._batch, _Batch()
                try:
                    await self._write_with_retries(batch.ops)
                finally:
                    if batch.written is not None and not batch.written.done():
                        batch.written.set_result(None)
        finally:
            if self._local is not None:
                self._local.close()
        self._stopped = True
        if self._batch.ops:
            count = len(self._batch.ops)
            log.error("execution records not written at shutdown", extra={"count": count})

    # ------------------------------------------------------------------ the background task

    def _add(self, op: dict[str, Any] | _Update) -> None:
        if self._stopped:  # said, not dropped unseen: nothing will write it now
            log.error(
                "an execution record was made after the record writer stopped; not stored",
                extra={"execution_id": _op_id(op)},
            )
            return
        self._batch.ops.append(op)
        if self._wake.is_set() or self._linger is not None:
            return  # the batch is already due, or its linger timer runs
        if self.linger_s <= 0:
            self._wake.set()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop: nothing to wait on, the batch is due
            self._wake.set()
            return
        self._linger = loop.call_later(self.linger_s, self._wake.set)

    def send_now(self) -> None:
        """The batch waiting goes without waiting out the rest of its linger."""
        if self._batch.ops:
            self._stop_linger()
            self._wake.set()

    def _stop_linger(self) -> None:
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            self._stop_linger()
            batch, self._batch = self._batch, _Batch()
            written = batch.written or asyncio.get_running_loop().create_future()
            self._in_flight = written
            try:
                await self._write_with_retries(batch.ops)
            finally:
                self._in_flight = None
                if not written.done():
                    written.set_result(None)

    async def _write_with_retries(self, ops: list[dict[str, Any] | _Update]) -> None:
        for attempt, delay in enumerate((*RETRY_DELAYS_S, None)):
            try:
                await self._write(ops)
                return
            except Exception:
                log.warning(
                    "writing execution records failed; writing them one execution at a time",
                    exc_info=True,
                    extra={"attempt": attempt + 1, "count": len(ops)},
                )
            ops = await self._write_each(ops)
            if not ops:
                return
            if delay is None:
                ids = sorted({_op_id(op) for op in ops})
                log.error(
                    "execution records could not be written; dropped",
                    extra={"count": len(ids), "execution_ids": ",".join(ids[:50])},
                )
                return
            await asyncio.sleep(delay)

    async def _write_each(
        self, ops: list[dict[str, Any] | _Update]
    ) -> list[dict[str, Any] | _Update]:
        """Each execution's writes on their own, then as a failed execution when they fail;
        returns the writes of the executions that could not be written either way."""
        by_id: dict[str, list[dict[str, Any] | _Update]] = {}
        for op in ops:
            by_id.setdefault(_op_id(op), []).append(op)
        left: list[dict[str, Any] | _Update] = []
        for execution_id, own in by_id.items():
            try:
                await self._write(own)
                continue
            except Exception as exc:
                reason = type(exc).__name__
            try:
                await self._write([as_failed(op, reason) for op in own])
                log.error(
                    "an execution record could not be stored; stored as failed",
                    extra={"execution_id": execution_id, "reason": reason},
                )
            except Exception:
                left.extend(own)
        return left

    async def _write(self, ops: list[dict[str, Any] | _Update]) -> None:
        if self._local is not None:
            await self._local.write(ops)
            return
        async with self._connect() as conn:
            for statement, params in statements(ops):
                await conn.execute(statement, params)

    def _connect(self) -> Any:
        """SQLite: one transaction per batch (one commit). Elsewhere each statement commits by
        itself, which spares a server two round trips (BEGIN, COMMIT); nothing in a batch
        depends on another statement of it."""
        if self.engine.dialect.name == "sqlite":
            return self.engine.begin()
        return self._autocommit.connect()


class _SqliteThread:
    """A SQLite file's batches, written by one thread with a synchronous connection of its own
    (the same pragmas as the runtime's engine: WAL, synchronous=NORMAL, busy_timeout, foreign
    keys): the loop hands it a whole batch and is woken once when it is committed. The thread
    runs the batch's statements on the driver's connection itself (`SqliteStatements`): the
    same SQL and the same bound values as SQLAlchemy would run, without its per-statement
    execution machinery, which was most of a batch's CPU."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="terrarium-records")
        self._sql = SqliteStatements(engine.dialect)
        self._connection: Any = None  # the pool's connection, held by the thread

    @classmethod
    def for_engine(cls, engine: AsyncEngine) -> _SqliteThread | None:
        url = engine.url
        if engine.dialect.name != "sqlite" or url.database in (None, "", ":memory:"):
            return None  # an in-memory database is private to its connection: not shared
        sync = create_engine(
            url.set(drivername="sqlite"),
            connect_args={"timeout": 30, "check_same_thread": False},
        )
        event.listen(sync, "connect", sqlite_pragmas)
        return cls(sync)

    async def write(self, ops: list[dict[str, Any] | _Update]) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self._write, ops)

    def _write(self, ops: list[dict[str, Any] | _Update]) -> None:
        if self._connection is None:
            self._connection = self.engine.raw_connection()  # the pragmas set on connect
        driver = self._connection.driver_connection
        try:  # one transaction per batch
            for sql, params in self._sql.batch(ops):
                driver.executemany(sql, params)
            driver.commit()
        except BaseException:
            driver.rollback()
            raise

    def close(self) -> None:
        self._thread.shutdown(wait=True)  # a batch being written is finished first
        if self._connection is not None:
            self._connection.close()  # back to the pool, which dispose() closes
            self._connection = None
        self.engine.dispose()


class SqliteStatements:
    """A batch as the SQL text and positional parameters SQLite's driver runs: the statements
    `statements()` describes (one insert per set of columns, then the updates in their rounds),
    each text made once per shape, each value bound by its column type's own processor (the
    conversion SQLAlchemy applies: JSON and its checks, UTC timestamps as text, finite floats),
    and a column left out of an insert given its default, as SQLAlchemy gives it."""

    def __init__(self, dialect: Dialect, table: Table = TABLE) -> None:
        # Only fixed-value defaults are given here: a column whose default is computed, or
        # that sets itself on update, is refused at once rather than written without it.
        computed = [
            c.name
            for c in table.columns
            if c.onupdate is not None
            or (c.default is not None and not isinstance(c.default, ScalarElementColumnDefault))
        ]
        if computed:
            raise TypeError(
                f"{table.name}: the SQLite record writer gives only fixed-value defaults; "
                f"columns {', '.join(computed)} compute theirs or set themselves on update"
            )
        quote = dialect.identifier_preparer.quote
        self._quote = quote
        self._table = quote(table.name)
        self._order = [c.name for c in table.columns]
        self._processors: dict[str, Callable[[Any], Any] | None] = {
            c.name: c.type.dialect_impl(dialect).bind_processor(dialect) for c in table.columns
        }
        self._defaults: dict[str, Any] = {
            c.name: c.default.arg
            for c in table.columns
            if isinstance(c.default, ScalarElementColumnDefault)
        }
        self._inserts: dict[frozenset[str], tuple[str, tuple[str, ...]]] = {}
        self._updates: dict[_Shape, str] = {}

    def batch(self, ops: list[dict[str, Any] | _Update]) -> list[tuple[str, list[tuple[Any, ...]]]]:
        rows, updates = fold(ops)
        out: list[tuple[str, list[tuple[Any, ...]]]] = []
        shapes: dict[frozenset[str], list[dict[str, Any]]] = {}
        for row in rows:
            shapes.setdefault(frozenset(row), []).append(row)
        for keys, same in shapes.items():
            sql, names = self._insert(keys)
            out.append((sql, [self._bind(sql, names, row) for row in same]))
        for shape, params in updates:
            columns, when = shape
            sql = self._update(shape)
            names = (*columns, "_id")
            out.append((sql, [(*self._bind(sql, names, p), *when) for p in params]))
        return out

    def _insert(self, keys: frozenset[str]) -> tuple[str, tuple[str, ...]]:
        made = self._inserts.get(keys)
        if made is None:
            names = tuple(n for n in self._order if n in keys or n in self._defaults)
            columns = ", ".join(self._quote(n) for n in names)
            marks = ", ".join("?" for _ in names)
            made = (f"INSERT INTO {self._table} ({columns}) VALUES ({marks})", names)
            if len(self._inserts) < MAX_SHAPES:
                self._inserts[keys] = made
        return made

    def _update(self, shape: _Shape) -> str:
        sql = self._updates.get(shape)
        if sql is None:
            columns, when = shape
            sets = ", ".join(f"{self._quote(n)} = ?" for n in columns)
            states = " OR ".join(f"{self._quote('state')} = ?" for _ in when)
            sql = f"UPDATE {self._table} SET {sets} WHERE {self._quote('id')} = ? AND ({states})"
            if len(self._updates) < MAX_SHAPES:
                self._updates[shape] = sql
        return sql

    def _bind(self, sql: str, names: tuple[str, ...], values: dict[str, Any]) -> tuple[Any, ...]:
        out = []
        for name in names:
            value = values[name] if name in values else self._defaults[name]
            process = self._processors.get(name)
            if process is not None:
                try:
                    value = process(value)
                except Exception as exc:  # worded as SQLAlchemy words a value it cannot bind
                    raise StatementError(
                        f"({type(exc).__module__}.{type(exc).__name__}) {exc}", sql, None, exc
                    ) from exc
            out.append(value)
        return tuple(out)


def statements(
    ops: list[dict[str, Any] | _Update],
) -> list[tuple[Executable, list[dict[str, Any]]]]:
    """The batch as statements and their parameters, in the order they are executed."""
    rows, updates = fold(ops)
    out: list[tuple[Executable, list[dict[str, Any]]]] = []
    # One insert per set of columns: a row whose final values were folded in names more of
    # them (cost_usd) than one still running, and one executemany takes one shape of row.
    shapes: dict[frozenset[str], list[dict[str, Any]]] = {}
    for row in rows:
        shapes.setdefault(frozenset(row), []).append(row)
    out.extend((_INSERT, same) for same in shapes.values())
    for (_columns, when), params in updates:
        out.append((_update_when(when), params))
    return out


_INSERT = insert(TABLE)


@functools.lru_cache(maxsize=16)  # a few sets of states, each statement built once
def _update_when(when: tuple[str, ...]) -> Executable:
    """The update of one row while its state is one of `when`. No .values(): the SET clause is
    the parameters' columns, `_id` aside."""
    return update(TABLE).where(
        TABLE.c.id == bindparam("_id"), or_(*(TABLE.c.state == s for s in when))
    )


def _op_id(op: dict[str, Any] | _Update) -> str:
    return op["id"] if isinstance(op, dict) else op.execution_id


def storable(column: str, value: Any) -> Any:
    """`value` as the database can hold it: finite numbers, integers in range, text without
    lone surrogates, and in JSON columns strict JSON (what is not becomes null)."""
    if column in JSON_COLUMNS:
        value = scrub(value)
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            return None
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return 0.0
    if type(value) is int and not -INT_BOUND <= value < INT_BOUND:
        return 0
    if isinstance(value, str):
        return clean_text(value)
    return value


def as_failed(op: dict[str, Any] | _Update, reason: str) -> dict[str, Any] | _Update:
    """The same write for an execution whose record could not be stored: failed, saying so,
    with every value made storable. A write that does not finish the execution only has its
    values made storable."""
    values = op if isinstance(op, dict) else op.values
    fixed = {k: storable(k, v) for k, v in values.items()}
    if values.get("finished_at") is not None:
        fixed.update(
            state=FAILED,
            status="error",
            error={
                "type": "RecordNotStored",
                "message": f"the execution finished but {NOT_STORED} ({reason}); what could "
                "not be stored was left out",
                "line": None,
                "source": None,
                "traceback": None,
                "hint": None,
            },
        )
    if isinstance(op, dict):
        return fixed
    return _Update(op.execution_id, fixed, op.when)


def fold(
    ops: list[dict[str, Any] | _Update],
) -> tuple[list[dict[str, Any]], list[tuple[_Shape, list[dict[str, Any]]]]]:
    """The batch as statements: rows to insert (with their later updates applied), then groups
    of updates of one shape, in rounds so that two updates of one row keep their order."""
    rows: dict[str, dict[str, Any]] = {}
    rounds: list[dict[_Shape, list[dict[str, Any]]]] = []
    seen: dict[str, int] = {}  # updates of each existing row so far: its next round
    for op in ops:
        if isinstance(op, dict):
            rows[op["id"]] = dict(op)
            continue
        row = rows.get(op.execution_id)
        if row is not None:
            if row["state"] in op.when:
                row.update(op.values)
            continue
        index = seen.get(op.execution_id, 0)
        seen[op.execution_id] = index + 1
        if index == len(rounds):
            rounds.append({})
        shape = (tuple(sorted(op.values)), op.when)
        rounds[index].setdefault(shape, []).append({"_id": op.execution_id, **op.values})
    return list(rows.values()), [item for group in rounds for item in group.items()]
