"""asyncio in the sandbox: tasks on greenlets, so gathered client calls are in flight at once.

No coroutine object exists in the sandbox (desugar.py turns `async def` into `def`): calling a
script's `async def` function gives an `Awaitable` (the function and its arguments, not yet
run), and `await x` runs it in the current flow of control. A task (`create_task`, each branch
of `gather`, `wait_for`, `as_completed`, `wait`, `TaskGroup`) runs an awaitable on a greenlet of
its own. When a task makes a client call, its call frame is queued and the task switches out to
the hub, which runs the next ready task; the queued frames go to the host together, in one
write, before the hub resumes anything but a task's first step and before it waits for a reply
(so a gather's calls wake the host once; a branch that computes before its first call holds
back the calls of the branches started before it until it waits). When nothing is ready,
the hub reads the next reply (replies come back in completion order, matched to their calls by
id) and switches back to the task that waits for it. So twenty gathered `client.*` calls are
twenty call frames in flight, and the host runs them as twenty asyncio tasks.

What the sandbox promises here, the host enforces on its own (sandbox/pool.py): at most
`CALLS_IN_FLIGHT_MAX` calls in flight (the child queues the rest itself, and the host ends an
execution whose child sends more), and `max_calls` in all. A script without tasks never
touches this module's scheduler: its calls go one by one, as before.

Why greenlets: a branch must be suspended in the middle of the script's own call stack (its
function calls a helper that calls the client), which generators cannot do and threads may not
(seccomp refuses `clone`). The greenlet C extension adds about 1.1 MB to the zygote's RSS and
no measurable time to a fork (0.64 to 0.69 ms minimum fork + exit + wait, within the noise);
it is imported in the zygote, so children share it.

Scheduling follows asyncio: a task starts when the flow that made it next waits; `gather` keeps
its results in order and raises the first exception in completion order (the other branches go
on) unless `return_exceptions=True`; cancelling a gather cancels its branches; `wait_for`
cancels its awaitable at the timeout and raises TimeoutError; `as_completed` yields in
completion order. A task waiting for nothing that can ever happen (every flow waits, no call in
flight, no timer) is an error instead of a hang until the deadline.
"""

from __future__ import annotations

import functools
import heapq
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from greenlet import getcurrent, greenlet  # type: ignore[import-untyped]

from sandbox.messages import CALLS_IN_FLIGHT_MAX, Reply
from sandbox.sealed import Final, Sealed

MAX_TASKS = 10_000  # tasks one execution may make (each is a greenlet)

_PENDING, _RUNNING, _DONE = 0, 1, 2


class CancelledError(BaseException):
    """The task or awaitable was cancelled (asyncio.CancelledError)."""


class InvalidStateError(Exception):
    """A task's result was asked for before it was done (asyncio.InvalidStateError)."""


class Awaitable(Final):
    """What calling an `async def` function gives: the function and its arguments, not yet run."""

    __slots__ = ("_fn", "_args", "_kwargs", "_flatten", "_used", "_label", "_script")
    _fn: Callable[..., Any]
    _args: tuple[Any, ...]
    _kwargs: dict[str, Any]
    _flatten: bool
    _used: bool
    _label: str
    _script: bool  # made by calling the script's own `async def` (its function, its arguments)

    def close(self) -> None:
        self._used = True

    def __repr__(self) -> str:
        return f"<coroutine object {self._label}>"


def _awaitable(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], flatten: bool = False
) -> Awaitable:
    aw = object.__new__(Awaitable)
    aw._fn, aw._args, aw._kwargs, aw._flatten, aw._used = fn, args, kwargs, flatten, False
    aw._script = False
    aw._label = str(getattr(fn, "__qualname__", "") or getattr(fn, "__name__", "") or "?")[:100]
    return aw


def _run_awaitable(aw: Awaitable) -> Any:
    if aw._used:
        raise RuntimeError("cannot reuse already awaited coroutine")
    aw._used = True
    value = aw._fn(*aw._args, **aw._kwargs)
    if aw._flatten and type(value) in (Awaitable, Task):
        value = await_(value)
    return value


class Task(Final):
    """An awaitable running on its own flow of control (asyncio.Task)."""

    __slots__ = ("_g", "_aw", "_state", "_result", "_exc", "_cancelled", "_cancel_asked",
                 "_observers", "_label")  # fmt: skip
    _g: Any
    _aw: Awaitable | None
    _state: int
    _result: Any
    _exc: BaseException | None
    _cancelled: bool
    _cancel_asked: bool
    _observers: list[Any]
    _label: str

    def done(self) -> bool:
        return self._state == _DONE

    def cancelled(self) -> bool:
        return self._state == _DONE and self._cancelled

    def result(self) -> Any:
        if self._state != _DONE:
            raise InvalidStateError("Result is not set.")
        if self._cancelled:
            raise CancelledError()
        if self._exc is not None:
            raise self._exc
        return self._result

    def exception(self) -> BaseException | None:
        if self._state != _DONE:
            raise InvalidStateError("Exception is not set.")
        if self._cancelled:
            raise CancelledError()
        return self._exc

    def cancel(self, msg: Any = None) -> bool:
        return _scheduler().cancel(self)

    def get_name(self) -> str:
        return self._label

    def set_name(self, value: Any) -> None:
        self._label = str(value)[:100]

    def __repr__(self) -> str:
        state = ("pending", "pending", "finished")[self._state]
        return f"<Task {state} name={self._label!r}>"


def _new_task(label: str) -> Task:
    task = object.__new__(Task)
    task._g, task._aw, task._state, task._result, task._exc = None, None, _PENDING, None, None
    task._cancelled = task._cancel_asked = False
    task._observers, task._label = [], label
    return task


def _done_task(value: Any) -> Task:
    task = _new_task("done")
    task._state, task._result = _DONE, value
    return task


class _Waiter:
    """One suspension of one greenlet; only its first wake counts."""

    __slots__ = ("g", "fired")

    def __init__(self) -> None:
        self.g = getcurrent()
        self.fired = False

    def wake(self, sched: Scheduler, value: Any = None, throw: bool = False) -> bool:
        if self.fired:
            return False
        self.fired = True
        sched.ready.append((self.g, throw, value))
        return True

    def on_done(self, sched: Scheduler, task: Task) -> None:
        self.wake(sched)


class Scheduler:
    """The execution's tasks, the hub that runs them, and the host calls they have in flight."""

    def __init__(self) -> None:
        self.main = getcurrent()
        self.hub: Any = None
        self.ready: deque[tuple[Any, bool, Any]] = deque()
        self.replies: dict[int, _Waiter] = {}
        self.slots: deque[_Waiter] = deque()
        self.timers: list[tuple[float, int, _Waiter]] = []
        self.suspended: dict[Any, _Waiter] = {}
        self.task_of: dict[Any, Task] = {}
        self.tasks: list[Task] = []
        self.channel: Any = None
        self.in_flight = 0
        self.live = 0
        self.counter = 0
        self.timeouts = 0  # `asyncio.timeout` blocks open: their waits must go through the hub
        self.cancel_asked: set[Any] = set()  # flows (main included) cancelled while running

    # --- suspension ----------------------------------------------------------------------
    def _hub(self) -> Any:
        if self.hub is None or self.hub.dead:
            self.hub = greenlet(self._loop, parent=self.main)
        return self.hub

    def wait(self, waiter: _Waiter) -> Any:
        """Switch to the hub until `waiter` is woken; what it was woken with."""
        current = waiter.g
        task = self.task_of.get(current)
        if task is not None and task._cancel_asked:
            task._cancel_asked = False
            waiter.fired = True
            raise CancelledError()
        if current in self.cancel_asked:
            self.cancel_asked.discard(current)
            waiter.fired = True
            raise CancelledError()
        self.suspended[current] = waiter
        try:
            return self._hub().switch()
        finally:
            self.suspended.pop(current, None)

    def _loop(self) -> None:
        while True:
            while self.ready:
                g, throw, value = self.ready.popleft()
                if g.dead:
                    continue
                if self.channel is not None and not (type(value) is Task and value._g is g):
                    # Calls that tasks made are held back while more tasks start (a gather's
                    # branches send theirs in one write); any other flow may compute a while
                    # before it waits, so they go out before it resumes.
                    self.channel.flush()
                if throw:
                    g.throw(value)
                else:
                    g.switch(value)
            now = time.monotonic()
            while self.timers and (self.timers[0][2].fired or self.timers[0][0] <= now):
                heapq.heappop(self.timers)[2].wake(self)
            if self.ready:
                continue
            delay = max(0.0, self.timers[0][0] - now) if self.timers else None
            if self.replies:
                reply = self.channel.next_reply(delay)
                if reply is not None:
                    self._on_reply(reply)
            elif delay is not None:
                time.sleep(delay)
            else:
                self._deadlock()

    def _deadlock(self) -> None:
        waiter = self.suspended.get(self.main)
        if waiter is not None:
            waiter.fired = True
        self.main.throw(
            RuntimeError(
                "the script waits for something that will never happen: every task is waiting, "
                "no client call is in flight and no sleep will end"
            )
        )

    def _on_reply(self, reply: Reply) -> None:
        waiter = self.replies.pop(reply.id, None)
        if waiter is None:
            raise RuntimeError("the host answered a call that was not made")
        self.in_flight -= 1
        while self.slots:
            if self.slots.popleft().wake(self):
                break
        waiter.wake(self, reply)

    # --- host calls ----------------------------------------------------------------------
    def call(self, channel: Any, name: str, payload: Any) -> Reply:
        """One host call from any flow: sent at once, its reply awaited in the hub."""
        self.channel = channel
        while self.in_flight >= CALLS_IN_FLIGHT_MAX:
            slot = _Waiter()
            self.slots.append(slot)
            self.wait(slot)
        call_id = channel.send_call(name, payload, concurrent=True, later=True)
        self.in_flight += 1
        waiter = _Waiter()
        self.replies[call_id] = waiter
        reply: Reply = self.wait(waiter)
        return reply

    @property
    def busy(self) -> bool:
        return bool(self.live or self.in_flight)

    # --- tasks ---------------------------------------------------------------------------
    def spawn(self, aw: Awaitable, label: str | None = None) -> Task:
        if len(self.tasks) >= MAX_TASKS:
            raise RuntimeError(f"more than {MAX_TASKS} tasks in one execution")
        self.counter += 1
        task = _new_task(label or f"Task-{self.counter}")
        task._aw = aw
        task._g = greenlet(self._run_task, parent=self._hub())
        self.task_of[task._g] = task
        self.tasks.append(task)
        self.live += 1
        self.ready.append((task._g, False, task))
        return task

    def _run_task(self, task: Task) -> None:
        if task._state == _DONE:
            return
        task._state = _RUNNING
        aw, task._aw = task._aw, None
        try:
            value = await_(aw)
        except CancelledError:
            self._finish(task, cancelled=True)
        except BaseException as exc:  # noqa: BLE001 - the task's outcome, raised where awaited
            self._finish(task, exc=exc)
        else:
            self._finish(task, value=value)

    def _finish(
        self, task: Task, value: Any = None, exc: BaseException | None = None,
        cancelled: bool = False,
    ) -> None:  # fmt: skip
        task._state, task._result, task._exc, task._cancelled = _DONE, value, exc, cancelled
        self.live -= 1
        self.task_of.pop(task._g, None)
        observers, task._observers = task._observers, []
        for observer in observers:
            observer.on_done(self, task)

    def cancel(self, task: Task) -> bool:
        if task._state == _DONE:
            return False
        if task._state == _PENDING:
            self._finish(task, cancelled=True)
            return True
        waiter = self.suspended.get(task._g)
        if waiter is None or not waiter.wake(self, CancelledError(), throw=True):
            task._cancel_asked = True  # it is running now: cancelled at its next wait
        return True

    def cancel_flow(self, g: Any) -> None:
        """Cancel whatever flow `g` waits for (a task or the main flow): CancelledError where
        it waits now, or at its next wait."""
        task = self.task_of.get(g)
        if task is not None:
            self.cancel(task)
            return
        waiter = self.suspended.get(g)
        if waiter is None or not waiter.wake(self, CancelledError(), throw=True):
            self.cancel_asked.add(g)

    def join(self, task: Task) -> None:
        if task._state != _DONE:
            waiter = _Waiter()
            task._observers.append(waiter)
            self.wait(waiter)

    def sleep(self, delay: float) -> None:
        waiter = _Waiter()
        if delay <= 0:
            waiter.wake(self)
        else:
            self.counter += 1
            heapq.heappush(self.timers, (time.monotonic() + delay, self.counter, waiter))
        self.wait(waiter)

    def timer(self, delay: float, waiter: _Waiter) -> None:
        self.counter += 1
        heapq.heappush(self.timers, (time.monotonic() + max(delay, 0.0), self.counter, waiter))

    def task_for(self, value: Any) -> Task:
        kind = type(value)
        if kind is Task:
            return value  # type: ignore[no-any-return]
        if kind is Awaitable:
            return self.spawn(value)
        return _done_task(value)  # a plain value (a call made without await) is already done


_current: Scheduler | None = None


def _scheduler() -> Scheduler:
    global _current
    if _current is None:
        _current = Scheduler()
    return _current


def active() -> Scheduler | None:
    """The scheduler when tasks are alive or calls in flight (a host call must go through it)."""
    sched = _current
    if sched is not None and (sched.live or sched.in_flight or sched.timeouts):
        return sched
    return None


# --- what desugared code calls -------------------------------------------------------------
def await_(value: Any) -> Any:
    """`await value`: run an awaitable here, wait for a task; anything else is its own value."""
    kind = type(value)
    if kind is Awaitable:
        return _run_awaitable(value)
    if kind is Task:
        if value._state != _DONE:
            _scheduler().join(value)
        return value.result()
    return value


def await_call(value: Any) -> Callable[[], Any]:
    """`await value` as compiled: what to call. Awaiting the script's own `async def` calls its
    function through a C-level partial, with no frame of this module beneath it, so each level
    of a recursive `async def` costs one frame, as in plain recursion; the partial holds only
    the script's own function and arguments. Anything else is awaited by `await_`, through a
    closure. Calling it gives what `await_(value)` gives."""
    if type(value) is Awaitable and value._script and not value._flatten:
        if value._used:
            raise RuntimeError("cannot reuse already awaited coroutine")
        value._used = True
        return functools.partial(value._fn, *value._args, **value._kwargs)
    return lambda: await_(value)


def async_function(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The decorator desugar.py gives every `async def`: calling it gives an Awaitable."""

    def coroutine_function(*args: Any, **kwargs: Any) -> Awaitable:
        aw = _awaitable(fn, args, kwargs)
        aw._script = True
        return aw

    for name in ("__name__", "__qualname__", "__doc__"):
        setattr(coroutine_function, name, getattr(fn, name, None))
    return coroutine_function


def defer(fn: Callable[[], Any]) -> Awaitable:
    """A call placed where asyncio expects an awaitable (`gather(client.x(), ...)`), not yet made;
    awaited, it gives what awaiting the call's value would."""
    if not callable(fn):
        raise TypeError("defer() takes a function")
    return _awaitable(fn, (), {}, flatten=True)


class _AsyncContext(Sealed):
    __slots__ = ("_cm",)

    def __init__(self, cm: Any) -> None:
        self._cm = cm

    def __enter__(self) -> Any:
        return await_(type(self._cm).__aenter__(self._cm))

    def __exit__(self, *exc: Any) -> Any:
        return await_(type(self._cm).__aexit__(self._cm, *exc))


def async_with(cm: Any) -> Any:
    """`async with cm`: the script's own `__aenter__`/`__aexit__` when it has them."""
    kind = type(cm)
    if kind in _OWN_CONTEXTS or not hasattr(kind, "__aenter__"):
        return cm
    return _AsyncContext(cm)


# --- the asyncio facade's functions ----------------------------------------------------------
def run(main: Any, *, debug: Any = None) -> Any:
    """asyncio.run: await `main` here; tasks it left running are cancelled and waited for."""
    try:
        return await_(main)
    finally:
        sched = _current
        if sched is not None and sched.live:
            left = [t for t in sched.tasks if t._state != _DONE]
            for task in left:
                sched.cancel(task)
            for task in left:
                sched.join(task)


def create_task(aw: Any, *, name: Any = None, context: Any = None) -> Task:
    if type(aw) is not Awaitable:
        raise TypeError(f"a coroutine was expected, got {aw!r}"[:300])
    return _scheduler().spawn(aw, None if name is None else str(name)[:100])


def ensure_future(aw: Any, *, loop: Any = None) -> Task:
    return _scheduler().task_for(aw)


def _shielded(inner: Task) -> Any:
    sched = _scheduler()
    if inner._state != _DONE:
        waiter = _Waiter()
        inner._observers.append(waiter)
        sched.wait(waiter)  # a CancelledError here cancels this outer task only
    return inner.result()


def shield(aw: Any) -> Task:
    """asyncio.shield: the awaitable runs as its own task; cancelling what shield returns (or
    the flow awaiting it) leaves that task running."""
    sched = _scheduler()
    inner = sched.task_for(aw)
    if inner._state == _DONE:
        return inner
    return sched.spawn(_awaitable(_shielded, (inner,), {}), "shield")


class _GatherState:
    __slots__ = ("waiter", "first_error", "left", "return_exceptions")

    def __init__(self, left: int, return_exceptions: bool) -> None:
        self.waiter: _Waiter | None = None
        self.first_error: Task | None = None
        self.left = left
        self.return_exceptions = return_exceptions

    def on_done(self, sched: Scheduler, task: Task) -> None:
        self.left -= 1
        failed = task._cancelled or task._exc is not None
        if failed and not self.return_exceptions and self.first_error is None:
            self.first_error = task
        if self.waiter is not None and (self.left == 0 or self.first_error is not None):
            self.waiter.wake(sched)


def _gathered(children: list[Task], return_exceptions: bool) -> list[Any]:
    sched = _scheduler()
    pending = [t for t in children if t._state != _DONE]
    state = _GatherState(len(pending), return_exceptions)
    if not return_exceptions:
        state.first_error = next((t for t in children if t._cancelled or t._exc), None)
    for task in pending:
        task._observers.append(state)
    try:
        while state.left and state.first_error is None:
            state.waiter = _Waiter()
            sched.wait(state.waiter)
    except CancelledError:
        for task in children:
            sched.cancel(task)
        raise
    if state.first_error is not None:
        return [state.first_error.result()]  # raises
    out: list[Any] = []
    for task in children:
        if task._cancelled:
            out.append(CancelledError())
        else:
            out.append(task._exc if task._exc is not None else task._result)
    return out


def gather(*aws: Any, return_exceptions: bool = False) -> Task:
    """asyncio.gather: every awaitable starts now as a task; awaited, the results in order."""
    sched = _scheduler()
    children = [sched.task_for(aw) for aw in aws]
    if all(t._state == _DONE and t._exc is None and not t._cancelled for t in children):
        return _done_task([t._result for t in children])
    return sched.spawn(_awaitable(_gathered, (children, bool(return_exceptions)), {}), "gather")


def _wait_for(aw: Any, timeout: float | None) -> Any:
    if timeout is None or type(aw) not in (Awaitable, Task):
        return await_(aw)
    sched = _scheduler()
    task = sched.task_for(aw)
    if task._state != _DONE:
        waiter = _Waiter()
        task._observers.append(waiter)
        sched.timer(float(timeout), waiter)
        try:
            sched.wait(waiter)
        except CancelledError:
            sched.cancel(task)
            raise
    if task._state != _DONE:
        sched.cancel(task)
        sched.join(task)
        raise TimeoutError()
    return task.result()


def wait_for(aw: Any, timeout: float | None) -> Awaitable:
    return _awaitable(_wait_for, (aw, timeout), {})


def _sleep(delay: float, result: Any) -> Any:
    if not isinstance(delay, (int, float)):
        raise TypeError("sleep() takes a number of seconds")
    sched = active()
    if sched is None:
        if delay > 0:
            time.sleep(delay)
    else:
        sched.sleep(float(delay))
    return result


def sleep(delay: float, result: Any = None) -> Awaitable:
    return _awaitable(_sleep, (delay, result), {})


FIRST_COMPLETED = "FIRST_COMPLETED"
FIRST_EXCEPTION = "FIRST_EXCEPTION"
ALL_COMPLETED = "ALL_COMPLETED"


def _wait(
    tasks: list[Task], timeout: float | None, return_when: str
) -> tuple[set[Task], set[Task]]:
    sched = _scheduler()

    def finished() -> bool:
        done = [t for t in tasks if t._state == _DONE]
        if return_when == FIRST_COMPLETED:
            return bool(done)
        if return_when == FIRST_EXCEPTION and any(t._exc or t._cancelled for t in done):
            return True
        return len(done) == len(tasks)

    deadline = None if timeout is None else time.monotonic() + float(timeout)
    while not finished():
        waiter = _Waiter()
        for task in tasks:
            if task._state != _DONE:
                task._observers.append(waiter)
        if deadline is not None:
            if time.monotonic() >= deadline:
                break
            sched.timer(deadline - time.monotonic(), waiter)
        sched.wait(waiter)
    done = {t for t in tasks if t._state == _DONE}
    return done, {t for t in tasks if t._state != _DONE}


def wait(
    aws: Iterable[Any], *, timeout: float | None = None, return_when: str = ALL_COMPLETED
) -> Awaitable:
    tasks = [_scheduler().task_for(aw) for aw in aws]
    if not tasks:
        raise ValueError("Set of Tasks/Futures is empty.")
    return _awaitable(_wait, (tasks, timeout, return_when), {})


class _Completions:
    __slots__ = ("done", "waiter")

    def __init__(self) -> None:
        self.done: deque[Task] = deque()
        self.waiter: _Waiter | None = None

    def on_done(self, sched: Scheduler, task: Task) -> None:
        self.done.append(task)
        if self.waiter is not None:
            self.waiter.wake(sched)


class AsCompleted(Final):
    """asyncio.as_completed: awaitables to await, each giving the next result to complete."""

    __slots__ = ("_state", "_left", "_deadline")
    _state: _Completions
    _left: int
    _deadline: float | None

    def __iter__(self) -> AsCompleted:
        return self

    def __next__(self) -> Awaitable:
        if self._left <= 0:
            raise StopIteration
        self._left -= 1
        return _awaitable(self._next, (), {})

    def _next(self) -> Any:
        sched, state = _scheduler(), self._state
        while not state.done:
            state.waiter = _Waiter()
            if self._deadline is not None:
                left = self._deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError()
                sched.timer(left, state.waiter)
            sched.wait(state.waiter)
        return state.done.popleft().result()


def as_completed(aws: Iterable[Any], *, timeout: float | None = None) -> AsCompleted:
    sched = _scheduler()
    tasks = [sched.task_for(aw) for aw in aws]
    state = _Completions()
    for task in tasks:
        if task._state == _DONE:
            state.done.append(task)
        else:
            task._observers.append(state)
    out = object.__new__(AsCompleted)
    out._state, out._left = state, len(tasks)
    out._deadline = None if timeout is None else time.monotonic() + float(timeout)
    return out


class Semaphore(Sealed):
    """asyncio.Semaphore: `async with sem:` waits while `value` holders are inside."""

    __slots__ = ("_value", "_initial", "_waiters")

    def __init__(self, value: int = 1) -> None:
        if type(value) is not int or value < 0:
            raise ValueError("Semaphore initial value must be an int >= 0")
        self._value = self._initial = value
        self._waiters: deque[_Waiter] = deque()

    def locked(self) -> bool:
        return self._value == 0

    def acquire(self) -> bool:
        while self._value <= 0:
            waiter = _Waiter()
            self._waiters.append(waiter)
            _scheduler().wait(waiter)
        self._value -= 1
        return True

    def release(self) -> None:
        self._value += 1
        sched = _current
        while self._waiters and sched is not None:
            if self._waiters.popleft().wake(sched):
                break

    def __enter__(self) -> None:
        self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} value={self._value}>"


class BoundedSemaphore(Semaphore):
    __slots__ = ()

    def release(self) -> None:
        if self._value >= self._initial:
            raise ValueError("BoundedSemaphore released too many times")
        super().release()


class Lock(Semaphore):
    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(1)

    def release(self) -> None:
        if self._value >= 1:
            raise RuntimeError("Lock is not acquired.")
        super().release()


class Event(Sealed):
    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[_Waiter] = []

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, []
        sched = _current
        for waiter in waiters:
            if sched is not None:
                waiter.wake(sched)

    def clear(self) -> None:
        self._set = False

    def _wait(self) -> bool:
        while not self._set:
            waiter = _Waiter()
            self._waiters.append(waiter)
            _scheduler().wait(waiter)
        return True

    def wait(self) -> Awaitable:
        return _awaitable(self._wait, (), {})


class TaskGroup(Sealed):
    """asyncio.TaskGroup: `async with TaskGroup() as tg: tg.create_task(...)` waits for all."""

    __slots__ = ("_tasks",)

    def __init__(self) -> None:
        self._tasks: list[Task] = []

    def create_task(self, aw: Any, *, name: Any = None, context: Any = None) -> Task:
        task = create_task(aw, name=name)
        self._tasks.append(task)
        return task

    def __enter__(self) -> TaskGroup:
        return self

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        sched = _scheduler()
        if exc is not None:
            for task in self._tasks:
                sched.cancel(task)
        errors: list[BaseException] = []
        for task in list(self._tasks):
            sched.join(task)
            if task._exc is not None:
                if not errors:
                    for other in self._tasks:
                        sched.cancel(other)
                errors.append(task._exc)
        if errors:
            raise BaseExceptionGroup("unhandled errors in a TaskGroup", errors)


class Timeout(Sealed):
    """asyncio.timeout(delay): `async with asyncio.timeout(1):` cancels the flow inside at the
    deadline and raises TimeoutError where the block ends (None: no deadline)."""

    __slots__ = ("_when", "_deadline", "_state", "_flow")

    def __init__(self, when: float | None) -> None:
        self._when = when
        self._deadline: _Deadline | None = None
        self._state = "created"  # entered, expired, exited
        self._flow: Any = None

    def when(self) -> float | None:
        return self._when

    def expired(self) -> bool:
        return self._state == "expired"

    def reschedule(self, when: float | None) -> None:
        if self._state not in ("created", "entered"):
            raise RuntimeError("cannot reschedule after exit")
        self._when = when
        if self._state == "entered":
            self._arm()

    def _arm(self) -> None:
        if self._deadline is not None:
            self._deadline.fired = True  # the old deadline no longer counts
            self._deadline = None
        if self._when is not None:
            self._deadline = _Deadline(self)
            _scheduler().timer(self._when - time.monotonic(), self._deadline)  # type: ignore[arg-type]

    def __enter__(self) -> Timeout:
        if self._state != "created":
            raise RuntimeError("Timeout has already been entered")
        self._state, self._flow = "entered", getcurrent()
        _scheduler().timeouts += 1
        self._arm()
        return self

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        sched = _scheduler()
        sched.timeouts -= 1
        if self._deadline is not None:
            self._deadline.fired = True
        expired = self._state == "expired"
        self._state = "expired" if expired else "exited"
        sched.cancel_asked.discard(self._flow)
        if expired and kind is CancelledError:
            raise TimeoutError() from exc

    def __repr__(self) -> str:
        return f"<Timeout [{self._state}] when={self._when}>"


class _Deadline:
    """A timer entry: at its time, the flow inside the Timeout block is cancelled."""

    __slots__ = ("timeout", "fired")

    def __init__(self, timeout: Timeout) -> None:
        self.timeout = timeout
        self.fired = False

    def wake(self, sched: Scheduler, value: Any = None, throw: bool = False) -> bool:
        if self.fired:
            return False
        self.fired = True
        self.timeout._state = "expired"
        sched.cancel_flow(self.timeout._flow)
        return True


def timeout(delay: float | None) -> Timeout:
    return Timeout(None if delay is None else time.monotonic() + float(delay))


def timeout_at(when: float | None) -> Timeout:
    return Timeout(when)


class QueueEmpty(Exception):
    """asyncio.QueueEmpty: get_nowait() on an empty queue."""


class QueueFull(Exception):
    """asyncio.QueueFull: put_nowait() on a full queue."""


class Queue(Sealed):
    """asyncio.Queue: FIFO; `await q.put(x)` waits while it is full, `await q.get()` while it
    is empty; `task_done()` and `await q.join()` count the items still being worked on."""

    __slots__ = ("_maxsize", "_items", "_getters", "_putters", "_unfinished", "_joiners")

    def __init__(self, maxsize: int = 0) -> None:
        self._maxsize = maxsize
        self._items: Any = self._new_items()
        self._getters: deque[_Waiter] = deque()
        self._putters: deque[_Waiter] = deque()
        self._unfinished = 0
        self._joiners: list[_Waiter] = []

    def _new_items(self) -> Any:
        return deque()

    def _put_item(self, item: Any) -> None:
        self._items.append(item)

    def _get_item(self) -> Any:
        return self._items.popleft()

    @property
    def maxsize(self) -> int:
        return self._maxsize

    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items

    def full(self) -> bool:
        return 0 < self._maxsize <= len(self._items)

    @staticmethod
    def _wake_one(waiters: deque[_Waiter]) -> None:
        sched = _current
        while waiters and sched is not None:
            if waiters.popleft().wake(sched):
                break

    def put_nowait(self, item: Any) -> None:
        if self.full():
            raise QueueFull()
        self._put_item(item)
        self._unfinished += 1
        self._wake_one(self._getters)

    def get_nowait(self) -> Any:
        if self.empty():
            raise QueueEmpty()
        item = self._get_item()
        self._wake_one(self._putters)
        return item

    def _put(self, item: Any) -> None:
        while self.full():
            waiter = _Waiter()
            self._putters.append(waiter)
            _scheduler().wait(waiter)
        self.put_nowait(item)

    def _get(self) -> Any:
        while self.empty():
            waiter = _Waiter()
            self._getters.append(waiter)
            _scheduler().wait(waiter)
        return self.get_nowait()

    def put(self, item: Any) -> Awaitable:
        return _awaitable(self._put, (item,), {})

    def get(self) -> Awaitable:
        return _awaitable(self._get, (), {})

    def task_done(self) -> None:
        if self._unfinished <= 0:
            raise ValueError("task_done() called too many times")
        self._unfinished -= 1
        if self._unfinished == 0:
            joiners, self._joiners = self._joiners, []
            sched = _current
            for waiter in joiners:
                if sched is not None:
                    waiter.wake(sched)

    def _join(self) -> None:
        while self._unfinished:
            waiter = _Waiter()
            self._joiners.append(waiter)
            _scheduler().wait(waiter)

    def join(self) -> Awaitable:
        return _awaitable(self._join, (), {})

    def __repr__(self) -> str:
        return f"<{type(self).__name__} maxsize={self._maxsize} qsize={len(self._items)}>"


class PriorityQueue(Queue):
    """asyncio.PriorityQueue: the smallest item first (heapq order)."""

    __slots__ = ()

    def _new_items(self) -> Any:
        return []

    def _put_item(self, item: Any) -> None:
        heapq.heappush(self._items, item)

    def _get_item(self) -> Any:
        return heapq.heappop(self._items)


class LifoQueue(Queue):
    """asyncio.LifoQueue: the last item put first."""

    __slots__ = ()

    def _new_items(self) -> Any:
        return []

    def _get_item(self) -> Any:
        return self._items.pop()


# Context managers of this module: `async with` uses their own __enter__/__exit__.
_OWN_CONTEXTS = (Semaphore, BoundedSemaphore, Lock, TaskGroup, Timeout)
