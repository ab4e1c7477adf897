"""asyncio.Queue, timeout(), shield and TaskGroup in the sandbox behave as asyncio's; the
collections.abc facade works in isinstance and as bases; recursive `async def`s recurse as
deep as plain functions."""

from __future__ import annotations

import ast
import contextlib
import io
import json
from typing import Any

import pytest
from sandboxed import sandboxed


def cpython(code: str) -> tuple[Any, str, str | None]:
    tree = ast.parse(code)
    last = ast.Expression(tree.body.pop().value) if isinstance(tree.body[-1], ast.Expr) else None
    scope: dict[str, Any] = {"__name__": "__main__", "__doc__": None}
    out, value, error = io.StringIO(), None, None
    with contextlib.redirect_stdout(out):
        try:
            exec(compile(tree, "<cpython>", "exec"), scope)
            if last is not None:
                value = eval(compile(last, "<cpython>", "eval"), scope)
        except Exception as exc:  # noqa: BLE001 - compared by type
            error = type(exc).__name__
    return json.loads(json.dumps(value)), out.getvalue(), error


PROGRAMS = {
    "queue_producer_consumer": """
import asyncio
async def producer(q, n):
    for i in range(n):
        await q.put(i)
        print('put', i, q.qsize(), q.full())
    await q.put(None)
async def consumer(q):
    got = []
    while (item := await q.get()) is not None:
        got.append(item)
        q.task_done()
    q.task_done()
    return got
async def main():
    q = asyncio.Queue(maxsize=2)
    got, _ = await asyncio.gather(consumer(q), producer(q, 5))
    await q.join()
    return [got, q.empty(), q.maxsize]
asyncio.run(main())
""",
    "queue_nowait_errors": """
import asyncio
q = asyncio.Queue(1)
out = []
try:
    q.get_nowait()
except asyncio.QueueEmpty:
    out.append('empty')
q.put_nowait(1)
try:
    q.put_nowait(2)
except asyncio.QueueFull:
    out.append('full')
q.get_nowait()
try:
    q.task_done()
    q.task_done()
except ValueError as e:
    out.append(str(e))
pq, lq = asyncio.PriorityQueue(), asyncio.LifoQueue()
for x in (3, 1, 2):
    pq.put_nowait(x)
    lq.put_nowait(x)
out + [[pq.get_nowait() for _ in range(3)], [lq.get_nowait() for _ in range(3)]]
""",
    "queue_join_waits_for_workers": """
import asyncio
async def worker(name, q, done):
    while True:
        item = await q.get()
        await asyncio.sleep(0.001 * item)
        done.append((name, item))
        q.task_done()
async def main():
    q, done = asyncio.Queue(), []
    for i in range(6):
        q.put_nowait(i)
    workers = [asyncio.create_task(worker(f'w{i}', q, done)) for i in range(3)]
    await q.join()
    for w in workers:
        w.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    return [sorted(i for _, i in done), all(w.cancelled() for w in workers)]
asyncio.run(main())
""",
    "timeout_expires": """
import asyncio
async def main():
    out = []
    try:
        async with asyncio.timeout(0.02) as cm:
            await asyncio.sleep(5)
        out.append('not reached')
    except TimeoutError:
        out.append(['timed out', cm.expired()])
    async with asyncio.timeout(5) as cm:
        await asyncio.sleep(0.001)
    out.append(cm.expired())
    async with asyncio.timeout(None) as cm:
        await asyncio.sleep(0)
    out.append(cm.when())
    try:
        async with asyncio.timeout(5):
            async with asyncio.timeout(0.01):
                await asyncio.sleep(5)
    except TimeoutError:
        out.append('inner')
    return out
asyncio.run(main())
""",
    "timeout_in_a_task_and_reschedule": """
import asyncio
async def slow():
    async with asyncio.timeout(0.01):
        await asyncio.sleep(5)
async def later():
    async with asyncio.timeout(None) as cm:
        cm.reschedule(None)
        await asyncio.sleep(0.001)
    return 'fine'
async def main():
    results = await asyncio.gather(slow(), later(), return_exceptions=True)
    return [type(r).__name__ if isinstance(r, BaseException) else r for r in results]
asyncio.run(main())
""",
    "shield_keeps_the_inner_task": """
import asyncio
async def main():
    done = []
    async def inner():
        await asyncio.sleep(0.3)
        done.append('inner finished')
        return 7
    task = asyncio.create_task(inner())
    try:
        await asyncio.wait_for(asyncio.shield(task), 0.01)
    except TimeoutError:
        done.append('outer timed out')
    value = await task
    return [done, value, task.cancelled()]
asyncio.run(main())
""",
    "taskgroup_collects_and_cancels": """
import asyncio
async def ok(x):
    await asyncio.sleep(0.001)
    return x
async def boom():
    await asyncio.sleep(0.002)
    raise ValueError('boom')
async def forever(log):
    try:
        await asyncio.sleep(5)
    except asyncio.CancelledError:
        log.append('cancelled')
        raise
async def main():
    async with asyncio.TaskGroup() as tg:
        a, b = tg.create_task(ok(1)), tg.create_task(ok(2))
    log = []
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(boom())
            tg.create_task(forever(log))
    except* ValueError as eg:
        pass
    return [a.result(), b.result(), log]
asyncio.run(main())
""",
    "collections_abc": """
from collections.abc import Mapping, MutableSequence, Sequence, Iterable, Callable, Sized
import collections.abc
class Config(Mapping):
    def __init__(self, data):
        self.data = dict(data)
    def __getitem__(self, key):
        return self.data[key]
    def __iter__(self):
        return iter(self.data)
    def __len__(self):
        return len(self.data)
class Stack(MutableSequence):
    def __init__(self):
        self.items = []
    def __getitem__(self, i):
        return self.items[i]
    def __setitem__(self, i, v):
        self.items[i] = v
    def __delitem__(self, i):
        del self.items[i]
    def __len__(self):
        return len(self.items)
    def insert(self, i, v):
        self.items.insert(i, v)
c, s = Config({'a': 1, 'b': 2}), Stack()
s.append(1)
s.extend([2, 3])
s.reverse()
try:
    type('Half', (Mapping,), {})()
except TypeError as e:
    half = type(e).__name__
[isinstance(c, Mapping), isinstance([], Sequence), isinstance(3, Iterable),
 isinstance(len, Callable), isinstance(s, Sized), c.get('a'), sorted(c), dict(c.items()),
 c == {'a': 1, 'b': 2}, s.items, s.pop(), half, issubclass(dict, collections.abc.Mapping)]
""",
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_runs_as_asyncio_and_cpython_run_it(name: str) -> None:
    code = PROGRAMS[name].strip()
    if "except*" in code:  # RestrictedPython refuses except*: the sandbox's form catches the group
        code = code.replace("except* ValueError as eg", "except ExceptionGroup as eg")
    expected = cpython(PROGRAMS[name].strip())
    assert expected[2] is None, expected
    assert sandboxed(code) == expected


def test_recursive_async_functions_recurse_as_deep_as_plain_ones() -> None:
    code = (
        "import asyncio\n"
        "def plain(n):\n    try:\n        return plain(n + 1)\n"
        "    except RecursionError:\n        return n\n"
        "async def coro(n):\n    try:\n        return await coro(n + 1)\n"
        "    except RecursionError:\n        return n\n"
        "async def main():\n    return await coro(1)\n"
        "[plain(1), asyncio.run(main())]"
    )
    (plain, awaited), _, error = sandboxed(code)
    assert error is None
    assert plain > 900
    assert awaited >= plain - 10, (plain, awaited)


def test_awaiting_a_coroutine_twice_is_still_refused() -> None:
    code = (
        "async def c():\n    return 1\n"
        "aw = c()\nfirst = await aw\n"
        "try:\n    await aw\nexcept RuntimeError as e:\n    second = str(e)\n[first, second]"
    )
    assert sandboxed(code)[0] == [1, "cannot reuse already awaited coroutine"]


def test_timeout_interrupts_a_top_level_sleep() -> None:
    code = (
        "import asyncio\n"
        "try:\n    async with asyncio.timeout(0.01):\n        await asyncio.sleep(5)\n"
        "except TimeoutError:\n    r = 'timed out'\nr"
    )
    assert sandboxed(code)[0] == "timed out"
