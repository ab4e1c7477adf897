"""A `children` message the host refuses makes the pool ask for its children again once, not in
a loop. A host out of descriptors gets every group cut short by the kernel (MSG_CTRUNC): were
each refusal to ask again, the zygote would fork group after group for as long as it lasts.
A second refusal in a row asks for nothing more until an execution ends or waits for a child
(each asks, as always); a group taken makes the next refusal ask again."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import socket
from collections.abc import Iterator

from descriptors import FakeZygote, children_message, copies, fake_zygote


@contextlib.contextmanager
def _out_of_descriptors(room: int) -> Iterator[None]:
    """This process may open only `room` more descriptors (RLIMIT_NOFILE bounds their
    numbers), as a host at its limit."""
    lowest = os.dup(0)
    os.close(lowest)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowest + room, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _cut_short(z: FakeZygote, pid: int, pidfd: int) -> None:
    """A well-formed group of one child with its pidfd, read by a host with room for one
    descriptor: the kernel hands over the first and cuts the control data short."""
    message = children_message(b"%d" % pid, b"true")
    socket.send_fds(z.zygote_end, [message], [z.channel.fileno(), pidfd])
    with _out_of_descriptors(1):
        z.pool._on_control()


def _requests(zygote_end: socket.socket) -> list[str]:
    out = []
    while True:
        try:
            out.append(json.loads(zygote_end.recv(1 << 16, socket.MSG_DONTWAIT))["op"])
        except BlockingIOError:
            return out


async def _turns() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_groups_cut_short_are_asked_for_again_once_not_in_a_loop() -> None:
    pidfd = os.memfd_create("pidfd")
    try:
        with fake_zygote() as z:
            z.pool.warm = 1  # one child kept warm: asked for one at a time
            z.pool._asking = False  # requests go out on the control socket
            z.pool._pending_spawns = 1
            _cut_short(z, 5000, pidfd)
            await _turns()
            assert not z.pool._idle and copies(z.channel) == 1
            assert _requests(z.zygote_end) == ["spawn"]  # asked for again
            _cut_short(z, 5001, pidfd)  # and that came back cut short too
            await _turns()
            assert not z.pool._idle and copies(z.channel) == 1
            assert _requests(z.zygote_end) == []  # not asked for again by itself
            z.pool._replenish()  # an execution that ends, or one that waits for a child
            await _turns()
            assert _requests(z.zygote_end) == ["spawn"]
    finally:
        os.close(pidfd)


async def test_a_group_taken_lets_the_next_refusal_ask_again() -> None:
    pidfd = os.memfd_create("pidfd")
    other_a, other_b = socket.socketpair()
    try:
        with fake_zygote() as z:
            z.pool.warm = 1
            z.pool._asking = False
            z.pool._pending_spawns = 1
            _cut_short(z, 5000, pidfd)
            await _turns()
            assert _requests(z.zygote_end) == ["spawn"]
            z.says(children_message(b"4242"), fds=[other_a.fileno()])
            assert [child.pid for child in z.pool._idle] == [4242]
            z.pool._idle.popleft().close()  # an execution took it ...
            z.pool._replenish()  # ... and ended
            await _turns()
            assert _requests(z.zygote_end) == ["spawn"]
            _cut_short(z, 5001, pidfd)
            await _turns()
            assert _requests(z.zygote_end) == ["spawn"]  # asked for again
    finally:
        os.close(pidfd)
        other_a.close()
        other_b.close()
