"""A child that closes its channel and goes on running is killed at its deadline, as one that
keeps its channel open: the host's wait for the zygote's report of how it ended does not outlast
the deadline with the child alive."""

from __future__ import annotations

import pytest
from hostile import script

from sandbox.limits import Limits
from sandbox.selftest import RawSandbox

CLOSE_AND_GO_ON = """
import signal, socket
signal.signal(signal.SIGALRM, signal.SIG_IGN)
sock.shutdown(socket.SHUT_RDWR)
time.sleep(60)
"""


@pytest.mark.parametrize("timeout_s", [0.3, 1.0])
def test_a_child_that_closes_its_channel_and_goes_on_is_killed_at_its_deadline(
    raw: RawSandbox, timeout_s: float
) -> None:
    result = raw.run(script(CLOSE_AND_GO_ON), Limits(timeout_s=timeout_s))
    assert result.status == "timeout", result
    assert result.error is not None and "killed" in result.error["message"], result.error
    assert (raw.health()["running"], raw.health()["waiting"]) == (0, 0)


def test_a_child_that_closes_its_channel_and_exits_is_reported_as_before(raw: RawSandbox) -> None:
    code = "sock.shutdown(socket.SHUT_RDWR)\nos._exit(3)\n"
    result = raw.run(script("import socket\n" + code), Limits(timeout_s=5))
    assert result.status == "error", result
    assert result.error is not None and "exit code 3" in result.error["message"], result.error
