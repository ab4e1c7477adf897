"""The host reads the zygote's control messages as it reads a child's frames: a `child` message
whose pid is not one process's (a negative pid or 0 would make a signal by pid reach a whole
process group, or every process; one out of range raises) is refused, and the descriptors it
carried are closed."""

from __future__ import annotations

import socket

import pytest
from descriptors import copies, fake_zygote

NOT_A_PROCESS = [b"-1", b"0", b"-4242", b"2147483648", b'"12"', b"12.0", b"true", b"null"]


@pytest.mark.parametrize("pid", NOT_A_PROCESS)
async def test_a_child_message_with_a_pid_that_is_not_a_process_is_refused(pid: bytes) -> None:
    with fake_zygote() as z:
        message = b'{"op": "child", "pid": %s}' % pid
        socket.send_fds(z.zygote_end, [message], [z.channel.fileno()])
        z.pool._on_control()
        assert not z.pool._idle, z.pool._idle
        assert copies(z.channel) == 1  # what it carried is closed


async def test_a_child_message_with_a_process_id_is_taken() -> None:
    with fake_zygote() as z:
        message = b'{"op": "child", "pid": 4242}'
        socket.send_fds(z.zygote_end, [message], [z.channel.fileno()])
        z.pool._on_control()
        assert [(child.pid, child.pidfd) for child in z.pool._idle] == [(4242, None)]


@pytest.mark.parametrize(
    "body",
    [
        b'{"op": "exit", "pid": 4242, "code": 0, "signal": null, "cpu_ms": 1.0}',
        b'{"op": "what"}',
        b'{"op": "child", "pid": 4242',
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
