"""The host reads the zygote's control messages as it reads a child's frames: a `children`
message whose pids are not each one process's (a negative pid or 0 would make a signal by pid
reach a whole process group, or every process; one out of range raises), or whose descriptors
do not match its pids (too few, too many, cut short by the kernel), or that names a pid twice,
is refused whole, and every descriptor it carried is closed; so is any descriptor carried by
a message of another kind."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest
from descriptors import children_message, copies, fake_zygote

from sandbox.pool import CONTROL_FDS_MAX, GROUP_MAX

NOT_A_PROCESS = [b"-1", b"0", b"-4242", b"2147483648", b'"12"', b"12.0", b"true", b"null"]


@pytest.fixture
def pipes() -> Iterator[list[int]]:
    """Descriptors to pass as pidfds (any descriptor travels alike), closed after."""
    fds = [os.memfd_create(f"pidfd-{i}") for i in range(CONTROL_FDS_MAX)]  # each its own name
    try:
        yield fds
    finally:
        for fd in fds:
            os.close(fd)


@pytest.mark.parametrize("pid", NOT_A_PROCESS)
async def test_a_children_message_with_a_pid_that_is_not_a_process_is_refused(pid: bytes) -> None:
    with fake_zygote() as z:
        z.says(children_message(pid), 1)
        assert not z.pool._idle, z.pool._idle
        assert copies(z.channel) == 1  # what it carried is closed


async def test_one_bad_pid_refuses_the_whole_group(pipes: list[int]) -> None:
    with fake_zygote() as z:
        message = children_message(b"4242, 0", b"true")
        fds = [z.channel.fileno(), pipes[0], z.channel.fileno(), pipes[1]]
        z.says(message, fds=fds)
        assert not z.pool._idle
        assert copies(z.channel) == 1 and copies(pipes[0]) == 1


@pytest.mark.parametrize(
    ("message", "carried"),
    [
        (children_message(b"4242"), 0),  # a child without its channel
        (children_message(b"4242"), 2),  # one descriptor too many
        (children_message(b"4242", b"true"), 1),  # its pidfd missing
        (children_message(b"4242, 4243", b"true"), 3),
        (children_message(b"4242, 4242"), 2),  # one process named twice
        (children_message(b""), 0),  # no child at all
        (children_message(b"4242", b"1"), 1),  # "pidfds" is not a boolean
        (children_message(b"4242", b"null"), 1),
        (b'{"op": "children", "pids": 4242, "pidfds": false, "exits": []}', 1),
        (b'{"op": "children", "pidfds": false}', 1),
        (
            children_message(b", ".join(b"%d" % (5000 + i) for i in range(GROUP_MAX + 1))),
            GROUP_MAX + 1,
        ),
    ],
)
async def test_a_children_message_whose_descriptors_do_not_match_is_refused(
    message: bytes, carried: int
) -> None:
    with fake_zygote() as z:
        z.pool._pending_spawns = 4
        z.says(message, carried)
        assert not z.pool._idle, z.pool._idle
        assert copies(z.channel) == 1
        assert z.pool._pending_spawns < 4  # asked for again


async def test_descriptors_beyond_what_the_host_reads_refuse_the_message(
    pipes: list[int],
) -> None:
    # The kernel drops (and closes) what does not fit and says the control data was cut short.
    with fake_zygote() as z:
        n = CONTROL_FDS_MAX // 2 + 1
        pids = b", ".join(b"%d" % (5000 + i) for i in range(n))
        fds = [fd for i in range(n) for fd in (z.channel.fileno(), pipes[i])]
        z.says(children_message(pids, b"true"), fds=fds)
        assert not z.pool._idle
        assert copies(z.channel) == 1 and copies(pipes[0]) == 1


async def test_a_group_is_taken_each_child_with_its_channel_and_pidfd(pipes: list[int]) -> None:
    with fake_zygote() as z:
        other_a, other_b = socket.socketpair()
        try:
            fds = [z.channel.fileno(), pipes[0], other_a.fileno(), pipes[1]]
            z.says(children_message(b"4242, 4243", b"true"), fds=fds)
            taken = list(z.pool._idle)
            assert [child.pid for child in taken] == [4242, 4243]
            assert os.path.sameopenfile(taken[0].sock.fileno(), z.channel.fileno())
            assert os.path.sameopenfile(taken[1].sock.fileno(), other_a.fileno())
            assert taken[0].pidfd is not None and os.path.sameopenfile(taken[0].pidfd, pipes[0])
            assert taken[1].pidfd is not None and os.path.sameopenfile(taken[1].pidfd, pipes[1])
        finally:
            other_a.close()
            other_b.close()


async def test_a_group_without_pidfds_is_taken() -> None:
    with fake_zygote() as z:
        z.says(children_message(b"4242"), 1)
        assert [(child.pid, child.pidfd) for child in z.pool._idle] == [(4242, None)]


async def test_exit_reports_riding_with_a_group_are_read() -> None:
    with fake_zygote() as z:
        z.pool._running_pids.add(77)
        reports = b'[{"pid": 77, "code": 3, "signal": null, "cpu_ms": 2.5}, 5, {"pid": "x"}]'
        z.says(children_message(b"4242", exits=reports), 1)
        assert [child.pid for child in z.pool._idle] == [4242]
        assert z.pool._exits[77]["code"] == 3 and list(z.pool.child_cpu_ms) == [2.5]


@pytest.mark.parametrize(
    "body",
    [
        b'{"op": "exits", "exits": []}',
        b'{"op": "child", "pid": 4242}',  # the one-child message this host no longer reads
        b'{"op": "what"}',
        b'{"op": "children", "pids": [4242]',
        b"[1, 2]",
    ],
)
async def test_descriptors_carried_by_any_other_message_are_closed(body: bytes) -> None:
    with fake_zygote() as z:
        socket.send_fds(z.zygote_end, [body], [z.channel.fileno()])
        try:
            z.pool._on_control()
        except ValueError:
            pass  # not JSON, or not an object: refused as before
        assert not z.pool._idle
        assert copies(z.channel) == 1


@pytest.mark.parametrize(
    "message",
    [
        b"not json",
        b"[4242]",  # JSON, not an object
        b'{"op": "children", "pids": 4242, "pidfds": false, "exits": []}',  # stood for a group
    ],
)
async def test_a_refused_message_leaves_the_pool_short_of_no_child(message: bytes) -> None:
    # It may have stood for a whole group (eight children asked for): the count of children
    # on their way starts again, so the pool asks for every child it is missing, not one less
    # for each it cannot see, and the reader goes on to the next message.
    with fake_zygote() as z:
        z.pool.warm = 8
        z.pool._pending_spawns = 8
        socket.send_fds(z.zygote_end, [message], [z.channel.fileno()])
        z.says(children_message(b"4242"), 1)  # neither raises
        assert copies(z.channel) == 2  # the refused message's closed; the child's taken
        assert [child.pid for child in z.pool._idle] == [4242]
        assert z.pool._pending_spawns == 0
        assert z.pool._missing() == 7
