"""Admission: whether a tenant may start one more execution now (its concurrency and its
executions per minute), waiting its turn when it may not yet, and recording the new execution's
row when it may.

Above its concurrency limit a request waits in its tenant's line, for at most `tenant_queue_s`
(TERRARIUM_TENANT_QUEUE_S), and is then refused (429) with a retry-after estimated from how fast
its line moved while it waited. The per-minute rate is a hard limit: over it, 429 at once.

`FairQueue` holds this replica's slots (the sandbox pool's size) and the tenants' lines. A freed
slot goes to the next tenant in round robin that has someone waiting and room under its limit,
so one tenant's burst never starves another; within a tenant, first come first served. At most
`queue_max` requests wait on a replica: beyond that, 503 (every slot busy) or 429 at once.

Two ways to count, one per kind of deployment:

- `LocalAdmission` (SQLite, which serves one server process): the counts are kept in memory,
  the fair queue alone decides, and the row goes to the background `RecordWriter`, so admission
  never waits for the database. It starts from the database's executions of the last minute, so
  a restart does not reset the per-minute count.
- `DatabaseAdmission` (PostgreSQL, several replicas share the database): a request the fair
  queue lets through is checked in one transaction that updates the tenant's row (a row lock
  serializing the tenant's admissions across replicas), counts its running executions and its
  executions of the last minute, and inserts the row. When the tenant is full across replicas
  the request keeps its place at the head of its line: it checks again when one of the tenant's
  slots frees here, and polls with backoff (up to `POLL_MAX_S`) for slots freed elsewhere.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from runtime.db import table_of, utcnow
from runtime.errors import RateLimited, TooManyRunning
from runtime.executions.record_writer import RecordWriter
from runtime.executions.records import ACTIVE_STATES, ExecutionRow
from runtime.infra.metrics import Metrics
from runtime.tenancy.tenants import Tenant, TenantRow
from sandbox.pool import PoolBusy

WINDOW_S = 60.0
EXECUTIONS = table_of(ExecutionRow)
TENANTS = table_of(TenantRow)
# PostgreSQL: how long a line whose tenant is full across replicas waits before it asks the
# database again (unless one of its slots frees here first): doubling from the first to the last.
POLL_MIN_S = 0.05
POLL_MAX_S = 1.0
HOLD_SMOOTHING = 0.2  # weight of the newest hold time in a tenant's running mean

# The row of an admitted execution, given the moment it was admitted.
RowAt = Callable[[datetime], dict[str, Any]]


def too_many(
    metrics: Metrics, tenant: Tenant, active: int, limit: int, retry_after_s: float,
    waited_s: float = 0.0,
) -> TooManyRunning:  # fmt: skip
    metrics.rejected.labels(reason="concurrency").inc()
    waited = f"; waited {waited_s:.1f} s in its queue" if waited_s >= 0.05 else ""
    return TooManyRunning(
        f"this key already has {active} executions running, its limit is {limit}{waited}; "
        "retry when one finishes",
        retry_after_s,
    )


def too_fast(metrics: Metrics, tenant: Tenant, recent: int, wait_s: float) -> RateLimited:
    metrics.rejected.labels(reason="rate").inc()
    return RateLimited(
        f"this key started {recent} executions in the last minute, its limit is "
        f"{tenant.per_minute}",
        wait_s,
    )


# ------------------------------------------------------------------------------ the fair queue


@dataclass(eq=False)
class Ticket:
    """One request's place: waiting in its tenant's line, or holding one of the slots."""

    tenant_id: str
    limit: int
    deadline: float  # loop time
    enqueued_at: float = 0.0
    moved_before: int = 0  # its line's admissions when it joined (how fast the line moves)
    future: asyncio.Future[None] | None = None
    holding: bool = False
    queued: bool = False


@dataclass(eq=False)
class _Line:
    name: str
    running: int = 0  # slots this replica holds for the tenant
    waiting: deque[Ticket] = field(default_factory=deque)
    admitted: int = 0
    blocked_until: float = 0.0  # PostgreSQL: full across replicas, not tried before this
    backoff_s: float = 0.0


class QueueTimeout(Exception):
    def __init__(self, retry_after_s: float, waited_s: float) -> None:
        super().__init__(retry_after_s)
        self.retry_after_s = retry_after_s
        self.waited_s = waited_s


class QueueFull(Exception):
    """As many requests wait on this replica as it lets wait (`queue_max`)."""

    def __init__(self, retry_after_s: float, pool_full: bool) -> None:
        super().__init__(retry_after_s)
        self.retry_after_s = retry_after_s
        self.pool_full = pool_full  # every slot is in use, not only the tenant's own


class FairQueue:
    """This replica's `capacity` slots shared by tenants' lines, round robin across tenants;
    at most `queue_max` requests wait at once (beyond that, `QueueFull` at once)."""

    def __init__(self, capacity: int, queue_max: int = 1 << 30) -> None:
        self.capacity = capacity
        self.queue_max = queue_max
        self.in_use = 0
        self._lines: dict[str, _Line] = {}
        self._turns: deque[str] = deque()  # tenants with someone waiting, next turn first
        self._hold_s: dict[str, float] = {}  # tenant id -> running mean of how long slots hold
        self._timer: asyncio.TimerHandle | None = None
        self.admissions = 0  # every slot ever given: the order of admission

    def waiting(self) -> dict[str, int]:
        """Tenant name -> requests waiting in its line, for the tenants with any."""
        return {line.name: len(line.waiting) for line in self._lines.values() if line.waiting}

    def waiting_of(self, tenant_id: str) -> int:
        line = self._lines.get(tenant_id)
        return len(line.waiting) if line is not None else 0

    def running_of(self, tenant_id: str) -> int:
        line = self._lines.get(tenant_id)
        return line.running if line is not None else 0

    def ticket(self, tenant: Tenant, limit: int, queue_s: float) -> Ticket:
        return Ticket(tenant.id, limit, asyncio.get_running_loop().time() + queue_s)

    def _line(self, tenant_id: str, name: str) -> _Line:
        line = self._lines.get(tenant_id)
        if line is None:
            line = self._lines[tenant_id] = _Line(name)
        return line

    def take_now(self, ticket: Ticket, name: str) -> bool:
        """A slot at once, if the tenant has room, nobody waits before it, and one is free."""
        line = self._line(ticket.tenant_id, name)
        if line.waiting or not self._open(line, ticket.limit, asyncio.get_running_loop().time()):
            self._drop_if_idle(ticket.tenant_id)
            return False
        self._grant(line, ticket)
        return True

    async def acquire(self, ticket: Ticket, name: str) -> None:
        """Wait in the tenant's line until a slot is granted, or raise `QueueTimeout` at the
        deadline. Cancelled, it leaves its line and gives back a slot granted meanwhile."""
        if not ticket.queued and not ticket.holding:
            self._join(ticket, name, front=False)
        loop = asyncio.get_running_loop()
        line = self._lines[ticket.tenant_id]
        try:
            if not ticket.holding:
                assert ticket.future is not None
                async with asyncio.timeout_at(ticket.deadline):
                    await ticket.future
        except TimeoutError:
            if ticket.holding:  # granted as the deadline passed: it is admitted
                return
            retry = self._retry_after(line, ticket, loop.time())
            self._leave(ticket)
            raise QueueTimeout(retry, loop.time() - ticket.enqueued_at) from None
        except BaseException:  # cancelled while waiting: nothing stays behind
            self._leave(ticket)
            self.give_back(ticket)
            raise

    def _join(self, ticket: Ticket, name: str, *, front: bool) -> None:
        loop = asyncio.get_running_loop()
        line = self._line(ticket.tenant_id, name)
        waiting = sum(len(each.waiting) for each in self._lines.values())
        if not front and waiting >= self.queue_max:
            self._drop_if_idle(ticket.tenant_id)
            holds = list(self._hold_s.values())
            hold = sum(holds) / len(holds) if holds else None
            retry = (waiting + 1) * hold / max(1, self.capacity) if hold else 1.0
            raise QueueFull(retry, pool_full=self.in_use >= self.capacity)
        if not ticket.enqueued_at:
            ticket.enqueued_at = loop.time()
            ticket.moved_before = line.admitted
        ticket.queued = True
        ticket.future = loop.create_future()
        if front:
            line.waiting.appendleft(ticket)
        else:
            line.waiting.append(ticket)
        if ticket.tenant_id not in self._turns:
            self._turns.append(ticket.tenant_id)
        self._dispatch()

    def give_back(self, ticket: Ticket) -> None:
        """The slot was granted but not used (refused later, or cancelled)."""
        if ticket.holding:
            ticket.holding = False
            line = self._lines.get(ticket.tenant_id)
            if line is not None:
                line.admitted -= 1
            self.release(ticket.tenant_id, None)

    def full_elsewhere(self, ticket: Ticket, name: str) -> None:
        """PostgreSQL: the tenant is full across replicas. Its slot here is given back (another
        tenant may use it) and the request goes back to the head of its line, which waits before
        asking the database again: POLL_MIN_S at first, doubling up to POLL_MAX_S. One of the
        tenant's slots freeing here ends that wait at once."""
        line = self._lines[ticket.tenant_id]
        if ticket.holding:
            ticket.holding = False
            line.running -= 1
            line.admitted -= 1
            self.in_use -= 1
        line.backoff_s = min(POLL_MAX_S, max(POLL_MIN_S, line.backoff_s * 2))
        line.blocked_until = asyncio.get_running_loop().time() + line.backoff_s
        self._join(ticket, name, front=True)

    def admitted(self, ticket: Ticket) -> None:
        """The slot is in use: the database agreed (PostgreSQL) or the rate allowed it."""
        line = self._lines.get(ticket.tenant_id)
        if line is not None:
            line.backoff_s = 0.0

    def release(self, tenant_id: str, held_s: float | None) -> None:
        """A slot of the tenant is free: it may be one a waiting request of any tenant takes."""
        line = self._lines.get(tenant_id)
        if line is None:
            return
        line.running -= 1
        self.in_use -= 1
        line.blocked_until = 0.0  # one of its own freed here: worth asking the database again
        if held_s is not None:
            mean = self._hold_s.get(tenant_id)
            self._hold_s[tenant_id] = (
                held_s if mean is None else mean + HOLD_SMOOTHING * (held_s - mean)
            )
        self._drop_if_idle(tenant_id)
        self._dispatch()

    # -------------------------------------------------------------- inside

    def _open(self, line: _Line, limit: int, now: float) -> bool:
        return self.in_use < self.capacity and line.running < limit and line.blocked_until <= now

    def _grant(self, line: _Line, ticket: Ticket) -> None:
        line.running += 1
        line.admitted += 1
        self.in_use += 1
        self.admissions += 1
        ticket.holding = True
        ticket.queued = False
        if ticket.future is not None and not ticket.future.done():
            ticket.future.set_result(None)

    def _dispatch(self) -> None:
        """Give free slots to waiting requests: the next tenant in turn with room is served
        one, then goes to the back of the turns."""
        now = asyncio.get_running_loop().time()
        while self.in_use < self.capacity:
            chosen = None
            for tenant_id in self._turns:
                line = self._lines[tenant_id]
                if line.waiting and self._open(line, line.waiting[0].limit, now):
                    chosen = tenant_id
                    break
            if chosen is None:
                break
            self._turns.remove(chosen)
            line = self._lines[chosen]
            self._grant(line, line.waiting.popleft())
            if line.waiting:
                self._turns.append(chosen)
        self._poll_later(now)

    def _poll_later(self, now: float) -> None:
        """Wake the dispatcher when the first blocked line may ask the database again."""
        blocked = [
            self._lines[t].blocked_until for t in self._turns if self._lines[t].blocked_until > now
        ]
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if blocked:
            self._timer = asyncio.get_running_loop().call_at(min(blocked), self._dispatch)

    def _leave(self, ticket: Ticket) -> None:
        ticket.queued = False
        line = self._lines.get(ticket.tenant_id)
        if line is None:
            return
        try:
            line.waiting.remove(ticket)
        except ValueError:
            pass
        if not line.waiting and ticket.tenant_id in self._turns:
            self._turns.remove(ticket.tenant_id)
        self._drop_if_idle(ticket.tenant_id)
        self._dispatch()  # a request that left may have kept others of its line behind it

    def _drop_if_idle(self, tenant_id: str) -> None:
        line = self._lines.get(tenant_id)
        if line is not None and not line.waiting and line.running <= 0:
            del self._lines[tenant_id]
            if tenant_id in self._turns:
                self._turns.remove(tenant_id)

    def _retry_after(self, line: _Line, ticket: Ticket, now: float) -> float:
        """When its turn would likely come, from what it saw: its place in the line over the
        rate the line moved while it waited; if the line did not move, how long slots of the
        tenant are held; if that is not known either, as long as it waited."""
        try:
            ahead = line.waiting.index(ticket) + 1
        except ValueError:
            ahead = 1
        waited = now - ticket.enqueued_at
        moved = line.admitted - ticket.moved_before
        if moved > 0 and waited > 0:
            return ahead * waited / moved
        hold = self._hold_s.get(ticket.tenant_id)
        if hold is not None:
            return ahead * hold / max(1, ticket.limit)
        return max(waited, 1.0)


# ------------------------------------------------------------------------------ admissions


class Admission(Protocol):
    fair: FairQueue

    async def admit(self, tenant: Tenant, row_at: RowAt) -> dict[str, Any]:
        """Admit a new execution of `tenant` and record its row (`row_at(now)`, every column),
        waiting its turn for at most the queue time, or raise `Throttled`. Returns the row."""

    def release(self, tenant_id: str, execution_id: str) -> None:
        """The execution finished (or failed): it no longer counts as running."""


class _Queued:
    """What both admissions share: the fair queue, the queue time, the wait's figures."""

    def __init__(self, metrics: Metrics, capacity: int, queue_s: float, queue_max: int) -> None:
        self.metrics = metrics
        self.fair = FairQueue(capacity, queue_max)
        self.queue_s = queue_s
        self.whole_pool: set[str] = set()  # tenants whose concurrency is the whole pool
        self._held: dict[str, tuple[str, float]] = {}  # execution id -> tenant id, admitted at
        metrics.watch_queue(self.fair.waiting)

    def limit(self, tenant: Tenant) -> int:
        return self.fair.capacity if tenant.id in self.whole_pool else tenant.max_concurrent

    async def _wait(self, tenant: Tenant, ticket: Ticket) -> None:
        try:
            await self.fair.acquire(ticket, tenant.name)
        except QueueTimeout as timeout:
            self.metrics.queue_wait.labels(outcome="timeout").observe(timeout.waited_s)
            active = self.fair.running_of(tenant.id)
            raise too_many(
                self.metrics, tenant, active, ticket.limit, timeout.retry_after_s,
                timeout.waited_s,
            ) from None  # fmt: skip
        except QueueFull as full:
            if full.pool_full:  # the whole replica is busy: the pool's own answer, 503
                raise PoolBusy(retry_after=full.retry_after_s) from None
            active = self.fair.running_of(tenant.id)
            raise too_many(self.metrics, tenant, active, ticket.limit, full.retry_after_s) from None
        except asyncio.CancelledError:
            self.metrics.queue_wait.labels(outcome="cancelled").observe(self._waited(ticket))
            raise

    def _waited(self, ticket: Ticket) -> float:
        return asyncio.get_running_loop().time() - ticket.enqueued_at if ticket.enqueued_at else 0

    def _hold(self, ticket: Ticket, execution_id: str) -> None:
        self.fair.admitted(ticket)
        self.metrics.queue_wait.labels(outcome="admitted").observe(self._waited(ticket))
        self._held[execution_id] = (ticket.tenant_id, time.monotonic())

    def _unhold(self, execution_id: str) -> None:
        held = self._held.pop(execution_id, None)
        if held is not None:
            self.fair.release(held[0], time.monotonic() - held[1])


class DatabaseAdmission(_Queued):
    def __init__(
        self, engine: AsyncEngine, metrics: Metrics, capacity: int, queue_s: float,
        queue_max: int,
    ) -> None:  # fmt: skip
        super().__init__(metrics, capacity, queue_s, queue_max)
        self.engine = engine

    async def admit(self, tenant: Tenant, row_at: RowAt) -> dict[str, Any]:
        ticket = self.fair.ticket(tenant, self.limit(tenant), self.queue_s)
        if not self.fair.take_now(ticket, tenant.name):
            await self._check_rate(tenant)  # a hard limit: refused now, not after a wait
            await self._wait(tenant, ticket)
        while True:
            try:
                row = row_at(utcnow())
                active = await self._try(tenant, ticket.limit, row)
            except BaseException:
                self.fair.give_back(ticket)
                raise
            if active is None:
                self._hold(ticket, row["id"])
                return row
            # Full across replicas: back to the head of its line, to ask again when a slot frees
            # here or after a backoff (one may have freed on another replica).
            self.fair.full_elsewhere(ticket, tenant.name)
            await self._wait(tenant, ticket)

    async def _check_rate(self, tenant: Tenant) -> None:
        now = utcnow()
        window = now - timedelta(seconds=WINDOW_S)
        async with self.engine.connect() as conn:
            started, oldest = (
                await conn.execute(
                    select(func.count(), func.min(EXECUTIONS.c.created_at)).where(
                        EXECUTIONS.c.tenant_id == tenant.id, EXECUTIONS.c.created_at >= window
                    )
                )
            ).one()
        if started + self.fair.waiting_of(tenant.id) >= tenant.per_minute:
            wait = WINDOW_S - (now - oldest).total_seconds() if oldest else WINDOW_S
            raise too_fast(self.metrics, tenant, started, wait)

    async def _try(self, tenant: Tenant, limit: int, row: dict[str, Any]) -> int | None:
        """Insert the row if the tenant is under its limits across replicas (None), or the
        number it runs when it is full; over the rate, `RateLimited`."""
        now: datetime = row["created_at"]
        window = now - timedelta(seconds=WINDOW_S)
        running = EXECUTIONS.c.state.in_(ACTIVE_STATES)
        recent = EXECUTIONS.c.created_at >= window
        async with self.engine.begin() as conn:
            # The row lock that serializes this tenant's admissions across replicas. The counts
            # are a later statement, so they see every admission committed before the lock.
            await conn.execute(
                update(TENANTS).where(TENANTS.c.id == tenant.id).values(admitted_at=now)
            )
            active, started, oldest = (
                await conn.execute(
                    select(
                        func.count().filter(running),
                        func.count().filter(recent),
                        func.min(EXECUTIONS.c.created_at).filter(recent),
                    ).where(EXECUTIONS.c.tenant_id == tenant.id, or_(running, recent))
                )
            ).one()
            if started >= tenant.per_minute:
                wait = WINDOW_S - (now - oldest).total_seconds() if oldest else 1
                raise too_fast(self.metrics, tenant, started, wait)
            if active >= limit:
                return int(active)
            await conn.execute(insert(EXECUTIONS), [row])
        return None

    def release(self, tenant_id: str, execution_id: str) -> None:
        # The row's state is what counts across replicas; the slot here frees for the line.
        self._unhold(execution_id)


class LocalAdmission(_Queued):
    def __init__(
        self, writer: RecordWriter, metrics: Metrics, capacity: int, queue_s: float,
        queue_max: int,
    ) -> None:  # fmt: skip
        super().__init__(metrics, capacity, queue_s, queue_max)
        self.writer = writer
        self._running: dict[str, set[str]] = {}  # tenant id -> its running execution ids
        self._started: dict[str, deque[float]] = {}  # tenant id -> start times, oldest first
        self._next_sweep = time.time() + WINDOW_S

    async def seed(self, sessions: async_sessionmaker[AsyncSession], now: datetime) -> None:
        """Count the executions the database has from the last minute (before a restart)."""
        since = now - timedelta(seconds=WINDOW_S)
        async with sessions() as s:
            rows = await s.execute(
                select(ExecutionRow.tenant_id, ExecutionRow.created_at)
                .where(ExecutionRow.created_at >= since)
                .order_by(ExecutionRow.created_at)
            )
            for tenant_id, created_at in rows:
                self._started.setdefault(tenant_id, deque()).append(created_at.timestamp())

    def _check_rate(self, tenant: Tenant, now: float, waiting: int) -> None:
        started = self._started.get(tenant.id) or deque()
        while started and started[0] < now - WINDOW_S:
            started.popleft()
        if len(started) + waiting >= tenant.per_minute:
            wait = WINDOW_S - (now - started[0]) if started else WINDOW_S
            raise too_fast(self.metrics, tenant, len(started), wait)

    async def admit(self, tenant: Tenant, row_at: RowAt) -> dict[str, Any]:
        # A hard limit, counting those already waiting: refused now, not after a wait.
        self._check_rate(tenant, time.time(), self.fair.waiting_of(tenant.id))
        ticket = self.fair.ticket(tenant, self.limit(tenant), self.queue_s)
        if not self.fair.take_now(ticket, tenant.name):
            await self._wait(tenant, ticket)
        try:
            row = row_at(utcnow())
            now = row["created_at"].timestamp()
            self._check_rate(tenant, now, 0)
        except BaseException:
            self.fair.give_back(ticket)
            raise
        self._started.setdefault(tenant.id, deque()).append(now)
        self._running.setdefault(tenant.id, set()).add(row["id"])
        self._hold(ticket, row["id"])
        self.writer.insert(row)
        return row

    def release(self, tenant_id: str, execution_id: str) -> None:
        running = self._running.get(tenant_id)
        if running is not None:
            running.discard(execution_id)
            if not running:
                del self._running[tenant_id]
        self._unhold(execution_id)
        now = time.time()
        if now >= self._next_sweep:  # once a minute, forget tenants idle for a whole window
            self._next_sweep = now + WINDOW_S
            horizon = now - WINDOW_S
            for idle in [t for t, q in self._started.items() if not q or q[-1] < horizon]:
                del self._started[idle]
