"""Calls made together go out together: a gather's calls in one write from the child, and the
replies of concurrent calls ready in one turn of the host's loop in one write back, each frame
still whole, counted and answered on its own."""

from __future__ import annotations

import asyncio
import functools
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox import concurrency, protocol
from sandbox.child import Channel
from sandbox.limits import Limits
from sandbox.messages import CALLS_IN_FLIGHT_MAX
from sandbox.pool import _Exchange


class CountingSocket:
    """A socket whose writes are recorded (the bytes of each one)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.writes: list[bytes] = []

    def sendall(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self.sock.sendall(data)

    def send(self, data: bytes) -> int:
        self.writes.append(bytes(data))
        return self.sock.send(data)

    def recv(self, n: int, flags: int = 0) -> bytes:
        return self.sock.recv(n, flags)

    def fileno(self) -> int:
        return self.sock.fileno()

    def gettimeout(self) -> float | None:
        return self.sock.gettimeout()


def frames_in(data: bytes) -> list[Any]:
    return [json.loads(body) for body in protocol.FrameBuffer().feed(data)]


@pytest.fixture
def scheduler() -> Iterator[None]:
    concurrency._current = None  # one execution's scheduler, as in a fresh child
    yield
    concurrency._current = None


def test_the_calls_a_gather_makes_together_reach_the_host_in_one_write(scheduler: None) -> None:
    host, child = socket.socketpair()
    counting = CountingSocket(child)
    channel = Channel(counting)  # type: ignore[arg-type]
    for i in range(1, 6):  # the replies are there before the calls: only the writes matter
        host.sendall(protocol.frame(b'{"t":"reply","id":%d,"ok":true,"value":%d}' % (i, i * 10)))

    def call(i: int) -> Any:
        return channel.call("f", {"i": i}).value

    calls = [concurrency.defer(functools.partial(call, i)) for i in range(5)]
    gathered = concurrency.gather(*calls)
    assert concurrency.await_(gathered) == [10, 20, 30, 40, 50]
    assert len(counting.writes) == 1
    sent = frames_in(counting.writes[0])
    assert [(f["t"], f["id"], f["args"], f.get("concurrent")) for f in sent] == [
        ("call", i + 1, {"i": i}, True) for i in range(5)
    ]


def test_a_call_held_back_goes_out_before_another_flow_resumes(scheduler: None) -> None:
    host, child = socket.socketpair()
    counting = CountingSocket(child)
    channel = Channel(counting)  # type: ignore[arg-type]
    host.sendall(protocol.frame(b'{"t":"reply","id":1,"ok":true,"value":null}'))
    task = concurrency.create_task(
        concurrency._awaitable(lambda: channel.call("f", None).value, (), {})
    )
    concurrency.await_(concurrency.sleep(0))  # the task starts and makes its call
    # The main flow runs again (it may compute for long): its call is with the host already.
    assert [f["id"] for f in frames_in(b"".join(counting.writes))] == [1]
    assert concurrency.await_(task) is None


def test_the_done_frame_takes_the_calls_held_back_with_it() -> None:
    host, child = socket.socketpair()
    channel = Channel(child)
    channel.send_call("f", None, concurrent=True, later=True)
    channel.send_call("f", None, concurrent=True, later=True)
    host.setblocking(False)
    with pytest.raises(BlockingIOError):
        host.recv(1 << 16)  # held back: nothing written yet
    channel.send_encoded(protocol.frame(b'{"t":"done","status":"ok"}'))
    got = frames_in(host.recv(1 << 16))
    assert [(f["t"], f.get("id")) for f in got] == [("call", 1), ("call", 2), ("done", None)]


class StubChild:
    """The host's view of a child, without a process to signal."""

    def __init__(self, sock: CountingSocket) -> None:
        self.sock = sock
        self.pid = 0
        self.pidfd = None

    def signal(self, signum: int) -> None:
        pass

    def kill(self) -> None:
        pass


async def test_replies_of_concurrent_calls_ready_in_one_turn_go_out_in_one_write() -> None:
    loop = asyncio.get_running_loop()
    host_end, child_end = socket.socketpair()
    host_end.setblocking(False)
    counting = CountingSocket(host_end)
    served: list[Any] = []

    async def f(args: Any) -> Any:
        served.append(args)
        return args * 2

    exchange = _Exchange(StubChild(counting), Limits(timeout_s=10), {"f": f}, loop)  # type: ignore[arg-type]
    running = asyncio.ensure_future(exchange.run(protocol.frame(b'{"t":"run"}')))
    child_end.setblocking(False)
    assert frames_in(await loop.sock_recv(child_end, 1 << 16)) == [{"t": "run"}]
    calls = b"".join(
        protocol.frame(b'{"t":"call","id":%d,"fn":"f","args":%d,"concurrent":true}' % (i, i))
        for i in range(1, 6)
    )
    await loop.sock_sendall(child_end, calls)
    got: list[Any] = []
    while len(got) < 5:
        got += frames_in(await loop.sock_recv(child_end, 1 << 16))
    assert sorted((r["id"], r["value"]) for r in got) == [(i, i * 2) for i in range(1, 6)]
    assert served == [1, 2, 3, 4, 5]  # each call served on its own
    replies = counting.writes[1:]  # after the run frame
    assert len(replies) == 1 and len(frames_in(replies[0])) == 5
    assert exchange.in_flight == 0 and exchange.calls == 5
    await loop.sock_sendall(child_end, protocol.frame(b'{"t":"done","status":"ok"}'))
    result = await asyncio.wait_for(running, 5)
    assert result is not None and result.status == "ok"


async def test_a_reply_read_from_a_batch_still_being_written_is_no_longer_in_flight() -> None:
    """An honest child reads the first replies of a batch the host is still writing and sends
    its next call at once: each reply leaves the host's count of calls in flight when its own
    bytes are written, not when the whole batch is."""
    loop = asyncio.get_running_loop()
    host_end, child_end = socket.socketpair()
    host_end.setblocking(False)
    child_end.setblocking(False)
    release = asyncio.Event()
    arrived: list[Any] = []

    async def f(args: Any) -> Any:
        arrived.append(args)
        if args <= CALLS_IN_FLIGHT_MAX:
            await release.wait()  # they all end in the same turn of the loop: one batch
        return "x" * 40_000  # the batch is far larger than the socket's buffers

    exchange = _Exchange(StubChild(host_end), Limits(timeout_s=10), {"f": f}, loop)  # type: ignore[arg-type]
    running = asyncio.ensure_future(exchange.run(protocol.frame(b'{"t":"run"}')))
    buffer = protocol.FrameBuffer()
    got: list[Any] = []

    async def read_replies(count: int) -> None:
        while len(got) < count:
            bodies = buffer.feed(await loop.sock_recv(child_end, 4096))
            got.extend(json.loads(body) for body in bodies)

    await read_replies(1)
    assert got.pop() == {"t": "run"}

    def call(i: int) -> bytes:
        return protocol.frame(b'{"t":"call","id":%d,"fn":"f","args":%d,"concurrent":true}' % (i, i))

    await loop.sock_sendall(child_end, b"".join(call(i) for i in range(1, CALLS_IN_FLIGHT_MAX + 1)))
    while len(arrived) < CALLS_IN_FLIGHT_MAX:
        await asyncio.sleep(0.001)
    release.set()
    await read_replies(1)  # the first reply of the batch, the rest not yet written
    assert exchange.outbox and len(got) < CALLS_IN_FLIGHT_MAX
    await loop.sock_sendall(child_end, call(CALLS_IN_FLIGHT_MAX + 1))  # one slot is free
    reading = asyncio.ensure_future(read_replies(CALLS_IN_FLIGHT_MAX + 1))
    await asyncio.wait({reading, running}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    if running.done():
        running.result()  # the exchange ended early: raises what ended it
    assert reading.done()
    assert sorted(r["id"] for r in got) == list(range(1, CALLS_IN_FLIGHT_MAX + 2))
    assert exchange.in_flight == 0
    await loop.sock_sendall(child_end, protocol.frame(b'{"t":"done","status":"ok"}'))
    result = await asyncio.wait_for(running, 5)
    assert result is not None and result.status == "ok"
    host_end.close()
    child_end.close()
